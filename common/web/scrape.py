"""The gate of both ends' Prometheus endpoint ``GET /metrics``: off (404) until its token setting is set, then
only for ``Authorization: Bearer <token>`` (401 without it), and at a node only for the centre's LAN (403)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.datastructures import State

from common.metrics import bearer_allowed, lan_client


def scrape_refusal(
    request: Request[Any, Any, State], token: str, *, setting: str, lan_only: bool
) -> Response[str] | None:
    """The plain-text refusal for a scrape the gate stops, or None when it may go on."""
    if not token:
        return Response(f"指标接口未启用（{setting}）\n", status_code=404, media_type="text/plain")
    if lan_only and not lan_client(request.client.host if request.client else None):
        return Response("指标接口只对本中心局域网开放\n", status_code=403, media_type="text/plain")
    if not bearer_allowed(request.headers.get("authorization"), token):
        return Response(
            "需要指标令牌：Authorization: Bearer …\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return None
