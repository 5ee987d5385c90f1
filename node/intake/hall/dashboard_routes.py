"""The centre lead's page for the day (`node.intake.hall.dashboard` works it out): the queue and waiting times,
the flow curve with the Table 1 staffing recommendation and the off-peak hours for the public, and the day's
ratings with open follow-ups."""

from __future__ import annotations

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


ROUTES = [hall_page]
