"""Central's audit trail on the web: the middleware that records every back-office request, the county admin's
and supervisors' search page (审计日志), the chain check and the JSON API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import MediaType, Request, get
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.params import FromQuery
from litestar.response import Template

from central.audit.service import record, search, verify
from central.db import CentralDatabase
from central.models import AuditEntry
from central.web import current_user
from protocol.audit import ACTION_LABELS, OBJECT_LABELS, AuditEvent, AuditMiddleware, AuditQuery, labelled
from protocol.errors import OneWindowError
from protocol.staff import CENTRAL_ROLES

#: The county admin (县管理员) keeps the trail; supervisors (督查) may read it too.
AUDITORS = ("admin", "supervisor")

#: Not recorded: nodes' sync traffic (authenticated by signatures, kept in the up and down logs) and static files.
NOT_AUDITED_PREFIXES = ("/sync/v1/", "/static/")
NOT_AUDITED = frozenset({"/healthz"})


def _db(scope_or_request: Any) -> CentralDatabase:
    app = scope_or_request["app"] if isinstance(scope_or_request, Mapping) else scope_or_request.app
    db: CentralDatabase = app.state.central.db
    return db


async def _record(scope: Mapping[str, Any], event: AuditEvent) -> None:
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    await record(_db(scope), event, at=at)


def audit_middleware() -> DefineMiddleware:
    """The middleware recording every request by a logged-in user; listed after the session middleware."""
    return DefineMiddleware(
        AuditMiddleware, record=_record, skip_routes=NOT_AUDITED, skip_prefixes=NOT_AUDITED_PREFIXES
    )


def _user(request: Request[Any, Any, State]) -> dict[str, str]:
    return current_user(request, *AUDITORS)


@get("/api/v1/audit", media_type=MediaType.JSON)
async def api_audit(
    request: Request[Any, Any, State],
    actor: FromQuery[str] = "",
    action: FromQuery[str] = "",
    object: FromQuery[str] = "",
    date_from: FromQuery[str] = "",
    date_to: FromQuery[str] = "",
    text: FromQuery[str] = "",
    before: FromQuery[int | None] = None,
) -> dict[str, Any]:
    _user(request)
    query = AuditQuery(actor, action, object, date_from, date_to, text, before).checked()
    rows, more = await search(_db(request), query)
    return {
        "entries": [labelled(r.model_dump()) for r in rows],
        "next_before": rows[-1].id if more and rows else None,
    }


@get("/api/v1/audit/verify", media_type=MediaType.JSON)
async def api_audit_verify(request: Request[Any, Any, State]) -> dict[str, Any]:
    _user(request)
    report = await verify(_db(request))
    return {
        "intact": report.intact,
        "rows": report.rows,
        "head": report.head,
        "broken_at": report.broken_at,
        "problem": report.problem,
    }


@get("/audit", media_type=MediaType.HTML)
async def audit_page(
    request: Request[Any, Any, State],
    actor: FromQuery[str] = "",
    action: FromQuery[str] = "",
    object: FromQuery[str] = "",
    date_from: FromQuery[str] = "",
    date_to: FromQuery[str] = "",
    text: FromQuery[str] = "",
    before: FromQuery[int | None] = None,
) -> Template:
    user = _user(request)
    filters = {
        "actor": actor,
        "action": action,
        "object": object,
        "date_from": date_from,
        "date_to": date_to,
        "text": text,
    }
    error: str | None = None
    rows: list[AuditEntry] = []
    more = False
    try:
        rows, more = await search(
            _db(request), AuditQuery(actor, action, object, date_from, date_to, text, before).checked()
        )
    except OneWindowError as exc:
        error = exc.reason
    kept = {k: v for k, v in filters.items() if v}
    return Template(
        template_name="audit.html",
        context={
            "user": user,
            "active": "audit",
            "filters": filters,
            "actions": ACTION_LABELS,
            "objects": OBJECT_LABELS,
            "roles": CENTRAL_ROLES,
            "rows": rows,
            "error": error,
            "older": f"/audit?{urlencode({**kept, 'before': rows[-1].id})}" if more and rows else None,
            "newest": f"/audit?{urlencode(kept)}" if before is not None else None,
        },
    )


@get("/audit/verify", media_type=MediaType.HTML)
async def audit_verify(request: Request[Any, Any, State]) -> Template:
    _user(request)
    return Template(template_name="audit_chain.html", context={"report": await verify(_db(request))})


ROUTES = [api_audit, api_audit_verify, audit_page, audit_verify]
