"""The centre lead's view of the day (R-HALL-2): the queue and its waiting and service times, the flow curve with
the Table 1 staffing recommendation and the off-peak hours for the public (`node.intake.hall.flow`), and the
day's ratings with the follow-ups still open. The dashboard page only renders it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from statistics import mean

from node.intake.hall.flow import (
    Staffing,
    flow_chart_svg,
    half_hour_counts,
    off_peak_hours,
    outside_hours_count,
    peak_five_minutes,
    recommend_staffing,
)
from node.intake.hall.ratings import list_ratings
from node.intake.hall.tickets import QueueRow, queue
from node.runtime import CST, NodeRuntime, local_date
from protocol.errors import VALIDATION, OneWindowError
from protocol.hall import SATISFACTION_LABELS, RatingState

#: The self-service PCs a hall may declare for Table 1 (N).
MAX_SELF_SERVICE_PCS = 200


@dataclass(frozen=True)
class HallDay:
    """The hall's day so far."""

    today: date
    tickets: list[QueueRow]
    waiting: int
    #: Minutes, one decimal; None before anyone waited or was served.
    avg_wait: float | None
    max_wait: float | None
    avg_service: float | None
    #: The half-hour flow chart (SVG).
    chart: str
    #: Most tickets taken in any five minutes, and when that window started (local time).
    peak: int
    peak_at: datetime | None
    #: Tickets taken outside the working day's slots.
    outside: int
    staffing: Staffing
    pcs: int
    off_peak: list[tuple[time, time]]
    #: Today's ratings, and how many at each level.
    ratings: list[RatingState]
    rating_counts: dict[int, int]
    #: Follow-ups of bad ratings not closed yet (any day).
    open_followups: list[RatingState]


async def hall_day(runtime: NodeRuntime, *, pcs: int, day: date | None = None) -> HallDay:
    """The dashboard for `day` (default today) with `pcs` self-service PCs in the hall (0–200)."""
    if not 0 <= pcs <= MAX_SELF_SERVICE_PCS:
        raise OneWindowError(VALIDATION, "自助电脑台数应为0至200", field="pcs")
    today = day or runtime.today()
    rows = await queue(runtime, today)
    times = [datetime.fromisoformat(r.ticket.issued_at) for r in rows]
    counts = half_hour_counts(times, day=today)
    peak, peak_at = peak_five_minutes(times)
    outside = outside_hours_count(times, day=today)
    waits = [r.wait_s for r in rows if r.wait_s is not None]
    services = [r.service_s for r in rows if r.service_s is not None]
    all_ratings = await list_ratings(runtime)
    ratings = [r for r in all_ratings if local_date(r.rated_at) == today]
    return HallDay(
        today=today,
        tickets=rows,
        waiting=sum(1 for r in rows if r.ticket.status == "waiting"),
        avg_wait=round(mean(waits) / 60, 1) if waits else None,
        max_wait=round(max(waits) / 60, 1) if waits else None,
        avg_service=round(mean(services) / 60, 1) if services else None,
        chart=flow_chart_svg(
            counts, title=f"{today:%Y年%m月%d日} 取号流量（每半小时）", peak=peak, outside=outside
        ),
        peak=peak,
        peak_at=peak_at.astimezone(CST) if peak_at else None,
        outside=outside,
        staffing=recommend_staffing(peak, pcs),
        pcs=pcs,
        off_peak=off_peak_hours(counts),
        ratings=ratings,
        rating_counts={k: sum(1 for r in ratings if r.level == k) for k in SATISFACTION_LABELS},
        open_followups=[r for r in all_ratings if r.followup_open],
    )
