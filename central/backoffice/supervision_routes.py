"""The supervision page and API (督查): findings read from the event history (overdue, over-authority,
out-of-order, stuck) and the statistics by centre, item, department and staff. Thin handlers over
`central.backoffice.supervision`."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get
from litestar.datastructures import State
from litestar.response import Template

from central.backoffice.jobs import calendar_of
from central.backoffice.supervision import KIND_LABELS, findings, statistics
from central.clock import cst_today
from central.registry import people_names
from central.web import central_of, current_user

#: Who may read the supervision findings and statistics.
SUPERVISORS = ("supervisor", "admin")


@get("/api/v1/supervision/findings", media_type=MediaType.JSON)
async def api_findings(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request, *SUPERVISORS)
    central = central_of(request)
    async with central.db.transaction() as session:
        found = await findings(
            session,
            calendar=calendar_of(central.settings.county_dir),
            catalogue=central.catalogue,
            today=cst_today(),
        )
    return {"findings": [f.to_dict() for f in found]}


@get("/api/v1/supervision/statistics", media_type=MediaType.JSON)
async def api_statistics(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request, *SUPERVISORS)
    central = central_of(request)
    async with central.db.transaction() as session:
        stats = await statistics(
            session,
            calendar=calendar_of(central.settings.county_dir),
            catalogue=central.catalogue,
            today=cst_today(),
        )
    return stats.to_dict()


@get("/supervision", media_type=MediaType.HTML)
async def supervision_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request, *SUPERVISORS)
    central = central_of(request)
    calendar, today = calendar_of(central.settings.county_dir), cst_today()
    async with central.db.transaction() as session:
        found = await findings(session, calendar=calendar, catalogue=central.catalogue, today=today)
        stats = await statistics(session, calendar=calendar, catalogue=central.catalogue, today=today)
        people = await people_names(session)
    counts = {kind: sum(1 for f in found if f.kind == kind) for kind in KIND_LABELS}
    return Template(
        template_name="supervision.html",
        context={
            "user": user,
            "people": people,
            "findings": found,
            "counts": counts,
            "kinds": KIND_LABELS,
            "stats": stats,
            "today": today.isoformat(),
            "active": "supervision",
        },
    )


ROUTES = [api_findings, api_statistics, supervision_page]
