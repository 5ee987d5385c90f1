"""The node's audit trail on the web (`common.web.audit`): the middleware that records every request, the node
admin's search page (审计日志), the chain check and the JSON API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from litestar import Request
from litestar.datastructures import State

from common.audit import AuditColumns
from common.web.audit import AuditTrail
from node.audit.service import record, search, verify
from node.runtime import NodeRuntime
from node.web import runtime_of
from protocol.audit import AuditEvent, AuditQuery, ChainReport
from protocol.staff import NODE_ROLES


async def _record(scope: Mapping[str, Any], event: AuditEvent) -> None:
    runtime: NodeRuntime = scope["app"].state.runtime
    await record(runtime.db, event, at=runtime.now_iso())


async def _search(
    request: Request[Any, Any, State], query: AuditQuery
) -> tuple[Sequence[AuditColumns], bool]:
    return await search(runtime_of(request).db, query)


async def _verify(request: Request[Any, Any, State]) -> ChainReport:
    return await verify(runtime_of(request).db)


TRAIL = AuditTrail(
    auditors=("node_admin",),
    roles=NODE_ROLES,
    record=_record,
    search=_search,
    verify=_verify,
    # GET routes polled by HTMX only to refresh counters and panels: the page that holds them is recorded instead.
    skip_routes=frozenset(
        {
            "/healthz",
            "/board/state",
            "/sync/progress",
            "/devices/panel",
            "/devices/badge",
            "/devices/sim/controls",
            "/window/waiting",
            "/api/v1/tickets/board",
            "/cases/{case_id}/capture",
            "/cases/alert",
        }
    ),
    skip_prefixes=("/static/",),
)
ROUTES = TRAIL.routes()


def audit_middleware() -> Any:
    """The middleware recording every request by a logged-in user; listed after the session middleware."""
    return TRAIL.middleware()
