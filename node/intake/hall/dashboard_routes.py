"""The centre lead's page for the day: the queue and waiting times, the flow curve with the Table 1 staffing
recommendation and the off-peak hours for the public, and the day's ratings with open follow-ups."""

from __future__ import annotations

from datetime import date, datetime
from statistics import mean
from typing import Any

from litestar import MediaType, Request, get
from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.response import Template

from node.intake.hall.flow import (
    flow_chart_svg,
    half_hour_counts,
    off_peak_hours,
    outside_hours_count,
    peak_five_minutes,
    recommend_staffing,
)
from node.intake.hall.ratings import list_ratings
from node.intake.hall.tickets import queue
from node.runtime import CST
from node.staff import LEADS
from node.web import current_user, runtime_of
from protocol.errors import VALIDATION, OneWindowError
from protocol.hall import SATISFACTION_LABELS


@get("/hall", media_type=MediaType.HTML)
async def hall_page(request: Request[Any, Any, State], pcs: FromQuery[int] = 2) -> Template:
    user = current_user(request, *LEADS)
    if not 0 <= pcs <= 200:
        raise OneWindowError(VALIDATION, "自助电脑台数应为0至200", field="pcs")
    runtime = runtime_of(request)
    today = runtime.today()
    rows = await queue(runtime, today)
    times = [datetime.fromisoformat(r.ticket.issued_at) for r in rows]
    counts = half_hour_counts(times, day=today)
    peak, peak_at = peak_five_minutes(times)
    waits = [r.wait_s for r in rows if r.wait_s is not None]
    services = [r.service_s for r in rows if r.service_s is not None]
    all_ratings = await list_ratings(runtime)
    ratings = [r for r in all_ratings if _local_day(r.rated_at) == today]
    return Template(
        template_name="hall.html",
        context={
            "user": user,
            "today": today,
            "tickets": rows,
            "waiting": sum(1 for r in rows if r.ticket.status == "waiting"),
            "avg_wait": round(mean(waits) / 60, 1) if waits else None,
            "max_wait": round(max(waits) / 60, 1) if waits else None,
            "avg_service": round(mean(services) / 60, 1) if services else None,
            "chart": flow_chart_svg(counts, title=f"{today:%Y年%m月%d日} 取号流量（每半小时）", peak=peak),
            "peak": peak,
            "peak_at": peak_at.astimezone(CST) if peak_at else None,
            "outside": outside_hours_count(times, day=today),
            "staffing": recommend_staffing(peak, pcs),
            "pcs": pcs,
            "off_peak": off_peak_hours(counts),
            "ratings": ratings,
            "rating_counts": {k: sum(1 for r in ratings if r.level == k) for k in SATISFACTION_LABELS},
            "labels": SATISFACTION_LABELS,
            "open_followups": [r for r in all_ratings if r.followup_open],
            "active": "hall",
        },
    )


def _local_day(iso: str) -> date:
    return datetime.fromisoformat(iso).astimezone(CST).date()


ROUTES = [hall_page]
