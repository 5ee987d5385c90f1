"""The audit trail on the web, for either app: the middleware that records every request by a logged-in user,
the search page (审计日志), the chain check and the JSON API.

An app describes its trail once (`AuditTrail`: who may read it, its role names, how to record, search and
verify against its own database) and takes the route handlers and the middleware from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import MediaType, Request, get
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from common.audit import AuditColumns
from common.web.session import current_user
from protocol.audit import (
    ACTION_LABELS,
    OBJECT_LABELS,
    AuditEvent,
    AuditMiddleware,
    AuditQuery,
    ChainReport,
    labelled,
)
from protocol.errors import OneWindowError
from protocol.limits import MAX_ROW_ID

Scope = Mapping[str, Any]


@dataclass(frozen=True)
class AuditTrail:
    """One app's audit trail.

    - `auditors`: the roles that may read it; `roles`: role code → name, for the page's filter.
    - `record(scope, event)`: append a row (after the response; its own transaction).
    - `search(request, query)`: a page of rows, newest first, and whether older ones remain.
    - `verify(request)`: re-read and check the whole chain.
    - `skip_routes` / `skip_prefixes`: requests not recorded (polled counters, static files, signed sync)."""

    auditors: tuple[str, ...]
    roles: Mapping[str, str]
    record: Callable[[Scope, AuditEvent], Awaitable[None]]
    search: Callable[[Request[Any, Any, State], AuditQuery], Awaitable[tuple[Sequence[AuditColumns], bool]]]
    verify: Callable[[Request[Any, Any, State]], Awaitable[ChainReport]]
    skip_routes: Collection[str] = frozenset({"/healthz"})
    skip_prefixes: tuple[str, ...] = ("/static/",)

    def middleware(self) -> DefineMiddleware:
        """The middleware recording every request by a logged-in user; list it after the session middleware."""
        return DefineMiddleware(
            AuditMiddleware,
            record=self.record,
            skip_routes=frozenset(self.skip_routes),
            skip_prefixes=self.skip_prefixes,
        )

    def routes(self) -> list[HTTPRouteHandler]:
        """`/audit`, `/audit/verify`, `/api/v1/audit`, `/api/v1/audit/verify`."""
        return _routes(self)


def _routes(trail: AuditTrail) -> list[HTTPRouteHandler]:
    @get("/api/v1/audit", media_type=MediaType.JSON)
    async def api_audit(
        request: Request[Any, Any, State],
        actor: FromQuery[str] = "",
        action: FromQuery[str] = "",
        object: FromQuery[str] = "",
        date_from: FromQuery[str] = "",
        date_to: FromQuery[str] = "",
        text: FromQuery[str] = "",
        before: Annotated[int | None, QueryParameter(ge=0, le=MAX_ROW_ID)] = None,
    ) -> dict[str, Any]:
        current_user(request, *trail.auditors)
        query = AuditQuery(actor, action, object, date_from, date_to, text, before).checked()
        rows, more = await trail.search(request, query)
        return {
            "entries": [labelled(r.model_dump()) for r in rows],
            "next_before": rows[-1].id if more and rows else None,
        }

    @get("/api/v1/audit/verify", media_type=MediaType.JSON)
    async def api_audit_verify(request: Request[Any, Any, State]) -> dict[str, Any]:
        current_user(request, *trail.auditors)
        report = await trail.verify(request)
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
        before: Annotated[int | None, QueryParameter(ge=0, le=MAX_ROW_ID)] = None,
    ) -> Template:
        user = current_user(request, *trail.auditors)
        filters = {
            "actor": actor,
            "action": action,
            "object": object,
            "date_from": date_from,
            "date_to": date_to,
            "text": text,
        }
        error: str | None = None
        rows: Sequence[AuditColumns] = []
        more = False
        try:
            query = AuditQuery(actor, action, object, date_from, date_to, text, before).checked()
            rows, more = await trail.search(request, query)
        except OneWindowError as exc:
            error = exc.reason
        kept = {k: v for k, v in filters.items() if v}
        return Template(
            template_name="common/audit.html",
            context={
                "user": user,
                "active": "audit",
                "filters": filters,
                "actions": ACTION_LABELS,
                "objects": OBJECT_LABELS,
                "roles": trail.roles,
                "rows": rows,
                "error": error,
                "older": f"/audit?{urlencode({**kept, 'before': rows[-1].id})}" if more and rows else None,
                "newest": f"/audit?{urlencode(kept)}" if before is not None else None,
            },
        )

    @get("/audit/verify", media_type=MediaType.HTML)
    async def audit_verify(request: Request[Any, Any, State]) -> Template:
        current_user(request, *trail.auditors)
        report = await trail.verify(request)
        return Template(template_name="common/audit_chain.html", context={"report": report})

    return [api_audit, api_audit_verify, audit_page, audit_verify]
