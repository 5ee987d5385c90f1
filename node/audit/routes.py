"""The node's audit trail on the web: the middleware that records every request, the node admin's search page
(审计日志), the chain check and the JSON API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from litestar import MediaType, Request, get
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.params import FromQuery
from litestar.response import Template

from node.audit.models import AuditEntry
from node.audit.service import record, search, verify
from node.runtime import NodeRuntime
from node.web import current_user, runtime_of
from protocol.audit import ACTION_LABELS, OBJECT_LABELS, AuditEvent, AuditMiddleware, AuditQuery, labelled
from protocol.errors import OneWindowError
from protocol.staff import NODE_ROLES

AUDITORS = ("node_admin",)

#: GET routes polled by HTMX only to refresh counters and panels: the page that holds them is recorded instead.
NOT_AUDITED = frozenset(
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
    }
)


async def _record(scope: Mapping[str, Any], event: AuditEvent) -> None:
    runtime: NodeRuntime = scope["app"].state.runtime
    await record(runtime.db, event, at=runtime.now_iso())


def audit_middleware() -> DefineMiddleware:
    """The middleware recording every request by a logged-in user; listed after the session middleware."""
    return DefineMiddleware(
        AuditMiddleware, record=_record, skip_routes=NOT_AUDITED, skip_prefixes=("/static/",)
    )


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
    current_user(request, *AUDITORS)
    query = AuditQuery(actor, action, object, date_from, date_to, text, before).checked()
    rows, more = await search(runtime_of(request).db, query)
    return {
        "entries": [labelled(r.model_dump()) for r in rows],
        "next_before": rows[-1].id if more and rows else None,
    }


@get("/api/v1/audit/verify", media_type=MediaType.JSON)
async def api_audit_verify(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request, *AUDITORS)
    report = await verify(runtime_of(request).db)
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
    user = current_user(request, *AUDITORS)
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
        query = AuditQuery(actor, action, object, date_from, date_to, text, before).checked()
        rows, more = await search(runtime_of(request).db, query)
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
            "roles": NODE_ROLES,
            "rows": rows,
            "error": error,
            "older": f"/audit?{urlencode({**kept, 'before': rows[-1].id})}" if more and rows else None,
            "newest": f"/audit?{urlencode(kept)}" if before is not None else None,
        },
    )


@get("/audit/verify", media_type=MediaType.HTML)
async def audit_verify(request: Request[Any, Any, State]) -> Template:
    current_user(request, *AUDITORS)
    report = await verify(runtime_of(request).db)
    return Template(template_name="audit_chain.html", context={"report": report})


ROUTES = [api_audit, api_audit_verify, audit_page, audit_verify]
