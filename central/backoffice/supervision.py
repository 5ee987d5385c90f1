"""Supervision (督查, Zhejiang §8; SPEC R-SUP-1, R-SUP-2): anomalies found in the event history, and statistics.

Everything here is read from the cases' events (the fold, plus the order the events happened in), the
department memberships and the catalogue, never from what a page once showed. Four kinds of finding:

- overdue (超期): not decided by the due date (promised limit + pauses + extension), or decided after it;
- over-authority (越权): a decision by someone outside the lead department, or a 承诺件/联办件 decided on the spot
  at a window (only 即办件 may be, DB22/T 2871.2 §6.3.5);
- out-of-order (逆程序): a result issued, mailed, licensed or dispatched before any decision; a decision before
  acceptance, while the clock is paused, or on a joint case before every department gave its opinion;
- stuck (滞留): an open case with no event for `STUCK_WORKING_DAYS` working days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.deadlines import case_clock
from central.backoffice.departments import item_of
from central.cases.bulk import event_of
from central.clock import CST, local_date
from central.models import ComplaintRecord, DepartmentMemberRecord, EventRecord, NodeRecord, RatingRecord
from protocol.calendar import WorkingCalendar
from protocol.catalogue import Catalogue
from protocol.events import (
    ACCEPTED,
    CASE_ACCEPTED,
    CASE_ACCEPTED_WITH_WAIVER,
    CASE_CLOCK_PAUSED,
    CASE_CLOCK_RESUMED,
    CASE_DECIDED,
    CASE_DECIDED_ON_SPOT,
    CASE_DEEMED_ACCEPTED,
    CASE_HANDED_TO_LOGISTICS,
    CASE_ISSUED,
    CASE_LICENCE_ISSUED,
    CASE_OPINION_GIVEN,
    CASE_RESULT_DISPATCHED,
    CASE_ROUTED,
    CORRECTION_REQUESTED,
    EVENT_LABELS,
    RECEIVED,
    RESULT_READY,
    CaseState,
    Event,
    fold,
    round_trip,
    sort_key,
)
from protocol.hlc import to_datetime

STUCK_WORKING_DAYS = 10
KIND_LABELS = {
    "overdue": "超期",
    "over_authority": "越权审批",
    "out_of_order": "逆程序",
    "stuck": "滞留",
}
_RESULT_STEPS = frozenset(
    {CASE_ISSUED, CASE_HANDED_TO_LOGISTICS, CASE_LICENCE_ISSUED, CASE_RESULT_DISPATCHED}
)
_OPEN = frozenset({RECEIVED, CORRECTION_REQUESTED, ACCEPTED}) | RESULT_READY


@dataclass(frozen=True, slots=True)
class Finding:
    """One supervision finding on one case."""

    case_id: str
    case_number: str
    centre_name: str
    kind: str
    detail: str
    event_id: str = ""

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "case_number": self.case_number,
            "centre_name": self.centre_name,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "detail": self.detail,
            "event_id": self.event_id,
        }


def _finding(state: CaseState, kind: str, detail: str, event: Event | None = None) -> Finding:
    return Finding(
        state.case_id, state.case_number, state.centre_name, kind, detail, event.id if event else ""
    )


def order_findings(state: CaseState, events: Iterable[Event]) -> list[Finding]:
    """逆程序: steps in an order the procedure forbids, read from the events in the order they happened."""
    found: list[Finding] = []
    accepted = decided = paused = False
    departments: list[str] = []
    joint = False
    opinions: set[str] = set()
    for event in sorted(events, key=sort_key):
        label = EVENT_LABELS.get(event.type, event.type)
        if event.type in (CASE_ACCEPTED, CASE_ACCEPTED_WITH_WAIVER, CASE_DEEMED_ACCEPTED):
            accepted = True
        elif event.type == CASE_ROUTED:
            departments = [str(d.get("code", "")) for d in event.payload.get("departments", [])]
            joint = bool(event.payload.get("joint"))
        elif event.type == CASE_OPINION_GIVEN:
            opinions.add(str(event.payload.get("department", "")))
        elif event.type == CASE_CLOCK_PAUSED:
            paused = True
        elif event.type == CASE_CLOCK_RESUMED:
            paused = False
        elif event.type in (CASE_DECIDED, CASE_DECIDED_ON_SPOT):
            if not accepted:
                found.append(_finding(state, "out_of_order", f"{label}早于受理", event))
            if paused:
                found.append(
                    _finding(state, "out_of_order", "计时暂停（补正或特别程序）未结束即作出决定", event)
                )
            missing = [code for code in departments[1:] if code not in opinions]
            if event.type == CASE_DECIDED and joint and missing:
                found.append(
                    _finding(
                        state, "out_of_order", f"联办部门意见未齐即作决定（缺 {len(missing)} 个部门）", event
                    )
                )
            decided = True
        elif event.type in _RESULT_STEPS and not decided:
            found.append(_finding(state, "out_of_order", f"{label}早于办理决定", event))
    return found


def authority_findings(
    state: CaseState,
    events: Iterable[Event],
    *,
    members: Mapping[str, str],
    catalogue: Catalogue | None,
) -> list[Finding]:
    """越权: a decision by someone the lead department does not hold, or an on-the-spot decision of a case
    that is not 即办件. `members` maps a back-office username to its department's credit code."""
    found: list[Finding] = []
    item = item_of(catalogue, state.item_code)
    for event in sorted(events, key=sort_key):
        if event.type == CASE_DECIDED_ON_SPOT and item is not None and item.case_type != 1:
            kind = "联办件" if item.is_joint else "承诺件"
            found.append(
                _finding(
                    state,
                    "over_authority",
                    f"{kind}由窗口 {event.actor} 当场办结（仅即办件可当场办结）",
                    event,
                )
            )
        if event.type != CASE_DECIDED:
            continue
        lead = (state.routing or {}).get("lead") or (item.lead_department.code if item else "")
        held = members.get(event.actor)
        if held is None:
            found.append(_finding(state, "over_authority", f"决定人 {event.actor} 不属于任何办理部门", event))
        elif lead and held != lead:
            found.append(_finding(state, "over_authority", f"决定人 {event.actor} 不属于牵头部门", event))
    return found


def _last_activity(events: Iterable[Event]) -> date:
    newest = max(e.hlc for e in events)
    return to_datetime(newest).astimezone(CST).date()


def case_findings(
    state: CaseState,
    events: list[Event],
    *,
    calendar: WorkingCalendar,
    today: date,
    members: Mapping[str, str],
    catalogue: Catalogue | None,
) -> list[Finding]:
    """Every finding on one case."""
    if state.status is None:
        return []
    found = order_findings(state, events)
    found += authority_findings(state, events, members=members, catalogue=catalogue)
    clock = case_clock(state, calendar, today=today, item=item_of(catalogue, state.item_code))
    if (
        clock is not None
        and clock.level == "overdue"
        and (state.decision is None or not state.decision.on_spot)
    ):
        when = "作出决定" if state.decision else "仍未办结"
        found.append(
            _finding(
                state,
                "overdue",
                f"应于 {clock.due_on.isoformat()} 前办结，{when}（超期 {-clock.remaining_days} 个工作日）",
            )
        )
    if state.status in _OPEN and state.open_pause is None:
        idle = calendar.working_days_between(_last_activity(events), today)
        if idle >= STUCK_WORKING_DAYS:
            found.append(_finding(state, "stuck", f"「{state.status_label}」已 {idle} 个工作日无任何办理"))
    return found


async def load_histories(session: AsyncSession) -> dict[str, list[Event]]:
    """Every case's events, by case (ratings and complaints, which share the table, are left out)."""
    query = select(EventRecord).where(col(EventRecord.type).startswith("case."))
    rows = (await session.exec(query)).all()
    by_case: dict[str, list[Event]] = defaultdict(list)
    for row in rows:
        by_case[row.case_id].append(event_of(row))
    return by_case


async def member_departments(session: AsyncSession) -> dict[str, str]:
    rows = (await session.exec(select(DepartmentMemberRecord))).all()
    return {r.username: r.department_code for r in rows}


async def findings(
    session: AsyncSession, *, calendar: WorkingCalendar, catalogue: Catalogue | None, today: date
) -> list[Finding]:
    """All findings on all cases, grouped by kind (over-authority and out-of-order first)."""
    histories = await load_histories(session)
    members = await member_departments(session)
    found: list[Finding] = []
    for case_id, events in histories.items():
        state = fold(case_id, events)
        found += case_findings(
            state, events, calendar=calendar, today=today, members=members, catalogue=catalogue
        )
    order = list(KIND_LABELS)
    return sorted(found, key=lambda f: (order.index(f.kind), f.case_number))


# ---- statistics ------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Figures for one centre, item, department or staff member."""

    name: str
    cases: int = 0
    decided: int = 0
    overdue: int = 0
    waiting_hours: list[float] = field(default_factory=list)
    processing_days: list[int] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)
    #: The round trip (受理 → 决定 → 结果到窗 → 领取): hours from the decision to the result at the window, and
    #: from there to pickup (or mailing); days from acceptance to pickup.
    to_window_hours: list[float] = field(default_factory=list)
    to_pickup_hours: list[float] = field(default_factory=list)
    round_trip_days: list[float] = field(default_factory=list)

    @staticmethod
    def _mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    @property
    def at_window(self) -> int:
        return len(self.to_window_hours)

    @property
    def collected(self) -> int:
        return len(self.round_trip_days)

    @property
    def mean_to_window_hours(self) -> float | None:
        return self._mean(self.to_window_hours)

    @property
    def mean_to_pickup_hours(self) -> float | None:
        return self._mean(self.to_pickup_hours)

    @property
    def mean_round_trip_days(self) -> float | None:
        return self._mean(self.round_trip_days)

    @property
    def overdue_rate(self) -> float:
        return self.overdue / self.decided if self.decided else 0.0

    @property
    def mean_waiting_hours(self) -> float:
        return sum(self.waiting_hours) / len(self.waiting_hours) if self.waiting_hours else 0.0

    @property
    def mean_processing_days(self) -> float:
        return sum(self.processing_days) / len(self.processing_days) if self.processing_days else 0.0

    @property
    def satisfaction(self) -> float | None:
        """Share of ratings 非常满意 / 满意 / 基本满意 (GB/T 39046 levels 1–3)."""
        return sum(1 for r in self.ratings if r <= 3) / len(self.ratings) if self.ratings else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cases": self.cases,
            "decided": self.decided,
            "overdue": self.overdue,
            "overdue_rate": round(self.overdue_rate, 4),
            "mean_waiting_hours": round(self.mean_waiting_hours, 2),
            "mean_processing_days": round(self.mean_processing_days, 2),
            "ratings": len(self.ratings),
            "satisfaction": None if self.satisfaction is None else round(self.satisfaction, 4),
            "at_window": self.at_window,
            "collected": self.collected,
            "mean_to_window_hours": _rounded(self.mean_to_window_hours),
            "mean_to_pickup_hours": _rounded(self.mean_to_pickup_hours),
            "mean_round_trip_days": _rounded(self.mean_round_trip_days),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass
class Statistics:
    by_centre: dict[str, Tally]
    by_item: dict[str, Tally]
    by_department: dict[str, Tally]
    by_staff: dict[str, Tally]
    followups_open: int
    followups_overdue: int
    complaints_open: int
    complaints_overdue: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "by_centre": [t.to_dict() for t in self.by_centre.values()],
            "by_item": [t.to_dict() for t in self.by_item.values()],
            "by_department": [t.to_dict() for t in self.by_department.values()],
            "by_staff": [t.to_dict() for t in self.by_staff.values()],
            "followups_open": self.followups_open,
            "followups_overdue": self.followups_overdue,
            "complaints_open": self.complaints_open,
            "complaints_overdue": self.complaints_overdue,
        }


def _hours(start: str, end: str) -> float:
    a = datetime.fromisoformat(start.replace("Z", "+00:00"))
    b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return max((b - a).total_seconds() / 3600, 0.0)


async def statistics(
    session: AsyncSession, *, calendar: WorkingCalendar, catalogue: Catalogue | None, today: date
) -> Statistics:
    """Volumes, waiting (收件→受理) and processing (受理→决定, working days) times, overdue rate and ratings,
    and the round trip (决定→结果到窗→领取, 受理→领取), by centre, item, lead department and staff (who
    accepted, who decided)."""
    histories = await load_histories(session)
    tallies: dict[str, dict[str, Tally]] = {k: {} for k in ("centre", "item", "department", "staff")}

    def tally(kind: str, name: str) -> Tally:
        return tallies[kind].setdefault(name, Tally(name))

    for case_id, events in histories.items():
        state = fold(case_id, events)
        if state.status is None:
            continue
        clock = case_clock(state, calendar, today=today, item=item_of(catalogue, state.item_code))
        department = (
            state.routing["departments"][0]["name"]
            if state.routing
            else (state.decision.department if state.decision else "")
        )
        trip = {step.key: step.at for step in round_trip(state)}
        decided_at, at_window, collected = trip["decided"], trip["at_window"], trip["collected"]
        groups = [tally("centre", state.centre_name), tally("item", state.item_name)]
        if department:
            groups.append(tally("department", department))
        staff = [s for s in (state.accepted_by or state.received_by,) if s]
        if state.decision and state.decision.decided_by not in staff:
            staff.append(state.decision.decided_by)
        groups += [tally("staff", s) for s in staff]
        for group in groups:
            group.cases += 1
            if state.accepted_at:
                group.waiting_hours.append(_hours(state.received_at, state.accepted_at))
            if state.decision is not None:
                group.decided += 1
                if clock is not None and not state.decision.on_spot:
                    group.processing_days.append(
                        calendar.working_days_between(
                            clock.accepted_on, local_date(state.decision.decided_at)
                        )
                    )
            if clock is not None and clock.level == "overdue":
                group.overdue += 1
            if decided_at and at_window:
                group.to_window_hours.append(_hours(decided_at, at_window))
            if at_window and collected:
                group.to_pickup_hours.append(_hours(at_window, collected))
            if state.accepted_at and collected:
                group.round_trip_days.append(_hours(state.accepted_at, collected) / 24)
    node_names = {n.node_id: n.name for n in (await session.exec(select(NodeRecord))).all()}
    ratings = (await session.exec(select(RatingRecord))).all()
    followups_open = followups_overdue = 0
    for rating in ratings:
        for kind, name in (("item", rating.item_name), ("staff", rating.staff)):
            if name and name in tallies[kind]:
                tallies[kind][name].ratings.append(rating.level)
        centre = node_names.get(rating.origin_node, "")  # a rating names its node, the tally its centre
        if centre in tallies["centre"]:
            tallies["centre"][centre].ratings.append(rating.level)
        if rating.level >= 4 and not rating.closed_at:
            followups_open += 1
            if rating.followup_due and rating.followup_due < today.isoformat():
                followups_overdue += 1
    complaints = (await session.exec(select(ComplaintRecord))).all()
    complaints_open = sum(1 for c in complaints if not c.resolved_at)
    complaints_overdue = sum(
        1 for c in complaints if not c.resolved_at and c.due and c.due < today.isoformat()
    )
    return Statistics(
        by_centre=tallies["centre"],
        by_item=tallies["item"],
        by_department=tallies["department"],
        by_staff=tallies["staff"],
        followups_open=followups_open,
        followups_overdue=followups_overdue,
        complaints_open=complaints_open,
        complaints_overdue=complaints_overdue,
    )
