"""The centre lead's page for the day (`node.intake.hall.dashboard` works it out): the queue and waiting times,
the flow curve with the Table 1 staffing recommendation and the off-peak hours for the public, and the day's
ratings with open follow-ups."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from litestar import MediaType, Request, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Template

from node.intake.hall.dashboard import hall_day
from node.staff import LEADS
from node.web import current_user, runtime_of
from protocol.hall import SATISFACTION_LABELS


@get("/hall", media_type=MediaType.HTML)
async def hall_page(
    request: Request[Any, Any, State], pcs: Annotated[int, QueryParameter(ge=1, le=1000)] = 2
) -> Template:
    user = current_user(request, *LEADS)
    day = await hall_day(runtime_of(request), pcs=pcs)
    return Template(
        template_name="hall.html",
        context={
            "user": user,
            "today": day.today,
            "tickets": day.tickets,
            "waiting": day.waiting,
            "avg_wait": day.avg_wait,
            "max_wait": day.max_wait,
            "avg_service": day.avg_service,
            "chart": day.chart,
            "peak": day.peak,
            "peak_at": day.peak_at,
            "outside": day.outside,
            "staffing": day.staffing,
            "pcs": day.pcs,
            "off_peak": day.off_peak,
            "ratings": day.ratings,
            "rating_counts": day.rating_counts,
            "labels": SATISFACTION_LABELS,
            "open_followups": day.open_followups,
            "active": "hall",
        },
    )


@get("/api/v1/hall", media_type=MediaType.JSON)
async def api_hall(
    request: Request[Any, Any, State], pcs: Annotated[int, QueryParameter(ge=0, le=1000)] = 2
) -> dict[str, Any]:
    """The lead's day as JSON: tickets, waiting and service times (minutes), the busiest five minutes and the
    Table 1 staffing they call for with `pcs` self-service PCs."""
    current_user(request, *LEADS)
    day = await hall_day(runtime_of(request), pcs=pcs)
    return {
        "today": day.today.isoformat(),
        "tickets": len(day.tickets),
        "waiting": day.waiting,
        "avg_wait_min": day.avg_wait,
        "max_wait_min": day.max_wait,
        "avg_service_min": day.avg_service,
        "peak_5min": day.peak,
        "peak_at": day.peak_at.isoformat() if day.peak_at else None,
        "outside_hours": day.outside,
        "staffing": asdict(day.staffing),
        "pcs": day.pcs,
        "off_peak": [[a.strftime("%H:%M"), b.strftime("%H:%M")] for a, b in day.off_peak],
        "rating_counts": day.rating_counts,
        "open_followups": len(day.open_followups),
    }


ROUTES = [hall_page, api_hall]
