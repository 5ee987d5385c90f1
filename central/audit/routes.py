"""Central's audit trail on the web (`common.web.audit`): the middleware that records every back-office request,
the county admin's and supervisors' search page (审计日志), the chain check and the JSON API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from litestar import Request
from litestar.datastructures import State

from central.audit.service import record, search, verify
from central.clock import utc_iso
from central.db import CentralDatabase
from common.audit import AuditColumns
from common.web.audit import AuditTrail
from protocol.audit import AuditEvent, AuditQuery, ChainReport
from protocol.staff import CENTRAL_ROLES


def _db(scope_or_request: Any) -> CentralDatabase:
    app = scope_or_request["app"] if isinstance(scope_or_request, Mapping) else scope_or_request.app
    db: CentralDatabase = app.state.central.db
    return db


async def _record(scope: Mapping[str, Any], event: AuditEvent) -> None:
    await record(_db(scope), event, at=utc_iso())


async def _search(
    request: Request[Any, Any, State], query: AuditQuery
) -> tuple[Sequence[AuditColumns], bool]:
    return await search(_db(request), query)


async def _verify(request: Request[Any, Any, State]) -> ChainReport:
    return await verify(_db(request))


TRAIL = AuditTrail(
    # The county admin (县管理员) keeps the trail; supervisors (督查) may read it too.
    auditors=("admin", "supervisor"),
    roles=CENTRAL_ROLES,
    record=_record,
    search=_search,
    verify=_verify,
    # Not recorded: nodes' sync traffic (authenticated by signatures, kept in the up and down logs), static files.
    skip_routes=frozenset({"/healthz"}),
    skip_prefixes=("/sync/v1/", "/static/"),
)
ROUTES = TRAIL.routes()


def audit_middleware() -> Any:
    """The middleware recording every request by a logged-in user; listed after the session middleware."""
    return TRAIL.middleware()
