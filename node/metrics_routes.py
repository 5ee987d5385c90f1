"""The node's Prometheus endpoint ``GET /metrics`` (issue 21): off unless ``ONEWINDOW_NODE_METRICS_TOKEN`` is set;
then only for a client on the centre's LAN or this machine (403 otherwise) with ``Authorization: Bearer
<token>`` (401 without it). Open to the login guard (a scraper has no session); the token is the gate."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from common.metrics import CONTENT_TYPE, Metrics, bearer_allowed, lan_client
from node.sync.metrics import node_families


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, State]) -> Response[str]:
    token = str(request.app.state.get("metrics_token") or "")
    if not token:
        return Response(
            "指标接口未启用（ONEWINDOW_NODE_METRICS_TOKEN）\n", status_code=404, media_type="text/plain"
        )
    if not lan_client(request.client.host if request.client else None):
        return Response("指标接口只对本中心局域网开放\n", status_code=403, media_type="text/plain")
    if not bearer_allowed(request.headers.get("authorization"), token):
        return Response(
            "需要指标令牌：Authorization: Bearer …\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry: Metrics = request.app.state.metrics
    devices = request.app.state.get("devices")
    status = devices.status() if devices is not None else None
    families = await node_families(request.app.state.runtime, status)
    return Response(registry.render(families), media_type=CONTENT_TYPE)


ROUTES = [metrics]
