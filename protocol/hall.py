"""Hall events besides cases: ratings (好差评) with their follow-ups, and complaints (投诉, R-HALL-3/4).

Like a case, a rating and a complaint are each the fold of their own events (the event's ``case_id`` carries the
aggregate's id); the node authors them and they travel in the same up log. The fold is total: an event that
does not fit is an anomaly, never an exception.

Satisfaction is kept in the GB/T 39046-2020 A.8 direction (1 = 非常满意 … 5 = 非常不满意). The provincial and
national push interfaces count the other way (1 = 非常不满意 … 5 = 非常满意), and Zhejiang numbers its channels
differently from the national style (domain-facts §4.2, §10): every conversion goes through the explicit maps
below, never through arithmetic at a call site.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from protocol.events import Event, sort_key

# --- satisfaction -------------------------------------------------------------------------------------------

SATISFACTION_LABELS: dict[int, str] = {1: "非常满意", 2: "满意", 3: "基本满意", 4: "不满意", 5: "非常不满意"}
"""GB/T 39046-2020 A.8 满意度代码 → label (1 is the best)."""

BAD_LEVELS = frozenset({4, 5})
"""不满意 and 非常不满意 open a follow-up (差评整改)."""

GBT39046_TO_PROVINCIAL: dict[int, int] = {1: 5, 2: 4, 3: 3, 4: 2, 5: 1}
"""To the provincial/national 好差评 push ``satisfaction`` field, where 1 = 非常不满意 and 5 = 非常满意."""
PROVINCIAL_TO_GBT39046: dict[int, int] = {v: k for k, v in GBT39046_TO_PROVINCIAL.items()}

RATING_REASONS: dict[str, str] = {
    "attitude": "服务态度",
    "efficiency": "办事效率",
    "policy": "政策解释",
    "facilities": "环境设施",
    "other": "其他",
}
"""差评原因类别: a 不满意 or 非常不满意 rating names one of these (the one list, for the screen, the node and central)."""
UNASKED_REASON_CHANNELS = frozenset({"evaluator"})
"""Channels whose device has only the five buttons: their 差评 carries no category; the follow-up call asks."""

# --- channels ----------------------------------------------------------------------------------------------

RATING_CHANNELS: dict[str, str] = {
    "tablet": "政务大厅平板电脑",
    "evaluator": "简易评价器",
    "sms": "短信",
    "phone": "电话",
}
ZHEJIANG_PF: dict[str, int] = {"tablet": 4, "evaluator": 5, "sms": 6}
"""Zhejiang ``pf``: 4 政务大厅平板电脑, 5 政务大厅其他终端, 6 短信 (7 is 系统默认评价; phone has no code there)."""
NATIONAL_CHANNEL: dict[str, int] = {"tablet": 4, "evaluator": 5, "phone": 6, "sms": 7}
"""National-style channel codes: 6 电话, 7 短信."""

COMPLAINT_CHANNELS: dict[str, str] = {"letter": "来信", "onsite": "现场", "phone": "电话", "wechat": "微信"}

# --- event types -------------------------------------------------------------------------------------------

RATING_RECORDED = "rating.recorded"  # 评价: one per visit, with the follow-up it opens when bad
RATING_FOLLOWUP_CALLED = "rating.followup_called"  # 差评回访: the applicant was called back
RATING_FOLLOWUP_CLOSED = "rating.followup_closed"  # 整改完成 (or 解释说明 where there is nothing to fix)
COMPLAINT_REGISTERED = "complaint.registered"  # 投诉登记
COMPLAINT_ASSIGNED = "complaint.assigned"  # 交办, with a deadline
COMPLAINT_RESOLVED = "complaint.resolved"  # 办结答复

RATING_EVENT_TYPES = frozenset({RATING_RECORDED, RATING_FOLLOWUP_CALLED, RATING_FOLLOWUP_CLOSED})
COMPLAINT_EVENT_TYPES = frozenset({COMPLAINT_REGISTERED, COMPLAINT_ASSIGNED, COMPLAINT_RESOLVED})
HALL_EVENT_TYPES = RATING_EVENT_TYPES | COMPLAINT_EVENT_TYPES

HALL_EVENT_LABELS = {
    RATING_RECORDED: "评价",
    RATING_FOLLOWUP_CALLED: "差评回访",
    RATING_FOLLOWUP_CLOSED: "整改完成",
    COMPLAINT_REGISTERED: "投诉登记",
    COMPLAINT_ASSIGNED: "投诉交办",
    COMPLAINT_RESOLVED: "投诉办结",
}


def aggregate_kind(event_type: str) -> str:
    """ "rating", "complaint" or "case": which fold an event belongs to."""
    if event_type in RATING_EVENT_TYPES:
        return "rating"
    if event_type in COMPLAINT_EVENT_TYPES:
        return "complaint"
    return "case"


# --- ratings -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RatingState:
    """A rating and, for a bad one, its follow-up."""

    rating_id: str
    level: int = 0
    channel: str = ""
    rated_at: str = ""
    case_id: str = ""
    case_number: str = ""
    item_code: str = ""
    item_name: str = ""
    staff: str = ""
    window: str = ""
    visit: str = ""
    comment: str = ""
    reason: str = ""  # RATING_REASONS key, for a bad rating
    origin_node: str = ""
    followup_due: str = ""  # YYYY-MM-DD: rectify by, in working days after the rating
    called_back_at: str = ""
    callback_note: str = ""
    closed_at: str = ""
    rectification: str = ""
    anomalies: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return SATISFACTION_LABELS.get(self.level, "")

    @property
    def is_bad(self) -> bool:
        return self.level in BAD_LEVELS

    @property
    def reason_label(self) -> str:
        return RATING_REASONS.get(self.reason, "")

    @property
    def followup_open(self) -> bool:
        return self.is_bad and not self.closed_at

    @property
    def provincial_satisfaction(self) -> int:
        return GBT39046_TO_PROVINCIAL[self.level]


def _rating_step(state: RatingState, event: Event) -> RatingState:
    p = event.payload
    if event.type == RATING_RECORDED:
        if state.level:
            return replace(state, anomalies=(*state.anomalies, f"{event.id}: rated twice"))
        level = int(p["level"])
        if level not in SATISFACTION_LABELS:
            return replace(state, anomalies=(*state.anomalies, f"{event.id}: level {level}"))
        return replace(
            state,
            level=level,
            channel=str(p["channel"]),
            rated_at=str(p["rated_at"]),
            case_id=str(p.get("case_id") or ""),
            case_number=str(p.get("case_number") or ""),
            item_code=str(p.get("item_code") or ""),
            item_name=str(p.get("item_name") or ""),
            staff=str(p.get("staff") or ""),
            window=str(p.get("window") or ""),
            visit=str(p.get("visit") or ""),
            comment=str(p.get("comment") or ""),
            reason=str(p.get("reason") or ""),
            origin_node=event.authority,
            followup_due=str(p.get("followup_due") or ""),
        )
    if not state.followup_open:
        return replace(state, anomalies=(*state.anomalies, f"{event.id}: no open follow-up"))
    if event.type == RATING_FOLLOWUP_CALLED:
        return replace(state, called_back_at=str(p["called_at"]), callback_note=str(p.get("note", "")))
    if event.type == RATING_FOLLOWUP_CLOSED:
        return replace(state, closed_at=str(p["closed_at"]), rectification=str(p["rectification"]))
    return replace(state, anomalies=(*state.anomalies, f"{event.id}: unknown {event.type}"))


def fold_rating(rating_id: str, events: Iterable[Event]) -> RatingState:
    return _fold(RatingState(rating_id), rating_id, events, _rating_step)


# --- complaints --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComplaintState:
    """A complaint from registration to its answer."""

    complaint_id: str
    channel: str = ""
    complainant: str = ""
    phone: str = ""
    content: str = ""
    case_number: str = ""
    registered_at: str = ""
    registered_by: str = ""
    origin_node: str = ""
    assignee: str = ""
    due: str = ""
    resolution: str = ""
    resolved_at: str = ""
    anomalies: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.resolved_at:
            return "resolved"
        if self.assignee:
            return "assigned"
        return "registered" if self.registered_at else ""

    @property
    def status_label(self) -> str:
        return {"registered": "待交办", "assigned": "办理中", "resolved": "已办结"}.get(self.status, "")


def _complaint_step(state: ComplaintState, event: Event) -> ComplaintState:
    p: Mapping[str, Any] = event.payload
    if event.type == COMPLAINT_REGISTERED:
        if state.registered_at:
            return replace(state, anomalies=(*state.anomalies, f"{event.id}: registered twice"))
        return replace(
            state,
            channel=str(p["channel"]),
            complainant=str(p["complainant"]),
            phone=str(p.get("phone", "")),
            content=str(p["content"]),
            case_number=str(p.get("case_number", "")),
            registered_at=str(p["registered_at"]),
            registered_by=event.actor,
            origin_node=event.authority,
        )
    if not state.registered_at or state.resolved_at:
        return replace(
            state, anomalies=(*state.anomalies, f"{event.id}: {event.type} in status {state.status}")
        )
    if event.type == COMPLAINT_ASSIGNED:
        return replace(state, assignee=str(p["assignee"]), due=str(p["due"]))
    if event.type == COMPLAINT_RESOLVED:
        return replace(state, resolution=str(p["resolution"]), resolved_at=str(p["resolved_at"]))
    return replace(state, anomalies=(*state.anomalies, f"{event.id}: unknown {event.type}"))


def fold_complaint(complaint_id: str, events: Iterable[Event]) -> ComplaintState:
    return _fold(ComplaintState(complaint_id), complaint_id, events, _complaint_step)


_S = TypeVar("_S", RatingState, ComplaintState)


def _fold(state: _S, aggregate_id: str, events: Iterable[Event], step: Callable[[_S, Event], _S]) -> _S:
    """(hlc, id) order, each event once, only this aggregate's; a malformed event is an anomaly."""
    seen: set[str] = set()
    for event in sorted(events, key=sort_key):
        if event.id in seen or event.case_id != aggregate_id:
            continue
        seen.add(event.id)
        try:
            state = step(state, event)
        except (KeyError, TypeError, ValueError) as exc:
            state = replace(state, anomalies=(*state.anomalies, f"{event.id}: malformed ({exc})"))
    return state
