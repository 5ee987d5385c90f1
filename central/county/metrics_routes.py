"""Central's Prometheus endpoint ``GET /metrics`` (issue 21): off unless ``ONEWINDOW_CENTRAL_METRICS_TOKEN`` is
set, then only for ``Authorization: Bearer <token>`` (401 without it). Open to the login guard (a scraper has no
session) and left out of the audit trail (no staff member acts); the token is the gate."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from central.clock import cst_today
from central.county.metrics import central_families
from central.web import central_of
from common.metrics import CONTENT_TYPE, Metrics, bearer_allowed


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, State]) -> Response[str]:
    central = central_of(request)
    token = central.settings.metrics_token
    if not token:
        return Response(
            "指标接口未启用（ONEWINDOW_CENTRAL_METRICS_TOKEN）\n", status_code=404, media_type="text/plain"
        )
    if not bearer_allowed(request.headers.get("authorization"), token):
        return Response(
            "需要指标令牌：Authorization: Bearer …\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry: Metrics = request.app.state.metrics
    families = await central_families(central, today=cst_today())
    return Response(registry.render(families), media_type=CONTENT_TYPE)


ROUTES = [metrics]
