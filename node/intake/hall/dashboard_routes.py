"""The centre lead's page for the day (`node.intake.hall.dashboard` works it out): the queue and waiting times,
the flow curve with the Table 1 staffing recommendation and the off-peak hours for the public, and the day's
ratings with open follow-ups."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from litestar import MediaType, Request, get
from litestar.datastructures import State
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from node.intake.hall.dashboard import hall_day
from node.staff import LEADS
from node.web import current_user, runtime_of
from protocol.errors import VALIDATION, OneWindowError
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
    request: Request[Any, Any, State],
    pcs: Annotated[int, QueryParameter(ge=0, le=1000)] = 2,
    day: FromQuery[str] = "",
) -> dict[str, Any]:
    """The lead's day (`day`, 年-月-日; default today) as JSON: tickets, waiting and service times (minutes), the
    busiest five minutes and the Table 1 staffing they call for with `pcs` self-service PCs."""
    current_user(request, *LEADS)
    try:
        which = date.fromisoformat(day) if day else None
    except ValueError:
        raise OneWindowError(VALIDATION, "日期格式应为 年-月-日，如 2026-12-01", field="day") from None
    day_ = await hall_day(runtime_of(request), pcs=pcs, day=which)
    return {
        "today": day_.today.isoformat(),
        "tickets": len(day_.tickets),
        "waiting": day_.waiting,
        "avg_wait_min": day_.avg_wait,
        "max_wait_min": day_.max_wait,
        "avg_service_min": day_.avg_service,
        "peak_5min": day_.peak,
        "peak_at": day_.peak_at.isoformat() if day_.peak_at else None,
        "outside_hours": day_.outside,
        "staffing": asdict(day_.staffing),
        "pcs": day_.pcs,
        "off_peak": [[a.strftime("%H:%M"), b.strftime("%H:%M")] for a, b in day_.off_peak],
        "rating_counts": day_.rating_counts,
        "open_followups": len(day_.open_followups),
    }


ROUTES = [hall_page, api_hall]
