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
from common.metrics import CONTENT_TYPE, Metrics
from common.web.scrape import scrape_refusal


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, State]) -> Response[str]:
    central = central_of(request)
    refusal = scrape_refusal(
        request, central.settings.metrics_token, setting="ONEWINDOW_CENTRAL_METRICS_TOKEN", lan_only=False
    )
    if refusal is not None:
        return refusal
    registry: Metrics = request.app.state.metrics
    families = await central_families(central, today=cst_today())
    return Response(registry.render(families), media_type=CONTENT_TYPE)


ROUTES = [metrics]
