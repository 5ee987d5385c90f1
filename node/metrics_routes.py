"""The node's Prometheus endpoint ``GET /metrics`` (issue 21): off unless ``ONEWINDOW_NODE_METRICS_TOKEN`` is set;
then only for a client on the centre's LAN or this machine (403 otherwise) with ``Authorization: Bearer
<token>`` (401 without it). Open to the login guard (a scraper has no session); the token is the gate."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from common.metrics import CONTENT_TYPE, Metrics
from common.web.scrape import scrape_refusal
from node.sync.metrics import node_families


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, State]) -> Response[str]:
    token = str(request.app.state.get("metrics_token") or "")
    refusal = scrape_refusal(request, token, setting="ONEWINDOW_NODE_METRICS_TOKEN", lan_only=True)
    if refusal is not None:
        return refusal
    registry: Metrics = request.app.state.metrics
    devices = request.app.state.get("devices")
    status = devices.status() if devices is not None else None
    families = await node_families(request.app.state.runtime, status)
    return Response(registry.render(families), media_type=CONTENT_TYPE)


ROUTES = [metrics]
