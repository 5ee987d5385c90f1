"""Ratings (好差评) with their follow-ups, and complaints (投诉), at the centre (R-HALL-3, R-HALL-4).

A rating is one per visit: its id is derived from the visit (the case, or the ticket when no case was opened), so
a second rating of the same visit — a double tap, a resent form, the evaluator and the tablet both — is refused
instead of counted twice. A bad rating (不满意, 非常不满意) opens a follow-up due a configurable number of working
days later on the county calendar. Ratings and complaints are events like a case's: durable before the window
moves on, sealed into the up log, and they keep the time they were made however late they reach the county.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import case_events, get_case, new_event, record, row_to_event
from node.meta import get_meta, set_meta
from node.models import CaseEvent
from node.runtime import NodeRuntime
from node.staff import LEADS, Actor
from protocol.errors import (
    FORBIDDEN,
    INVALID_TRANSITION,
    NOT_FOUND,
    REQUIRED_FIELD,
    VALIDATION,
    OneWindowError,
)
from protocol.hall import (
    BAD_LEVELS,
    COMPLAINT_ASSIGNED,
    COMPLAINT_CHANNELS,
    COMPLAINT_EVENT_TYPES,
    COMPLAINT_REGISTERED,
    COMPLAINT_RESOLVED,
    RATING_CHANNELS,
    RATING_EVENT_TYPES,
    RATING_FOLLOWUP_CALLED,
    RATING_FOLLOWUP_CLOSED,
    RATING_REASONS,
    RATING_RECORDED,
    SATISFACTION_LABELS,
    UNASKED_REASON_CHANNELS,
    ComplaintState,
    RatingState,
    fold_complaint,
    fold_rating,
)
from protocol.ids import uuid7

DEFAULT_RECTIFY_WORKING_DAYS = 15  # domain-facts §4.1: set locally; 四川 15, 德州 5
DEFAULT_COMPLAINT_WORKING_DAYS = 5
_RATING_NAMESPACE = uuid.UUID("6f1d2a52-3c1e-4b8e-9a55-0e0b7d4f6a11")


def rating_id_for(node_id: str, visit: str) -> str:
    """The rating's id, the same for every attempt to rate the same visit at this node."""
    return str(uuid.uuid5(_RATING_NAMESPACE, f"{node_id}/{visit}"))


async def _record(
    session: AsyncSession,
    runtime: NodeRuntime,
    actor: Actor,
    aggregate_id: str,
    type_: str,
    payload: dict[str, Any],
) -> None:
    await record(session, runtime, new_event(runtime, actor, aggregate_id, type_, payload))


async def record_rating(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    level: int,
    channel: str,
    case_id: str = "",
    visit: str = "",
    window: str = "",
    comment: str = "",
    reason: str = "",
    rectify_days: int = DEFAULT_RECTIFY_WORKING_DAYS,
) -> RatingState:
    """评价: one rating of one visit, linked to its case, item, staff, window and channel.

    A 差评 names its reason category (``RATING_REASONS``), except from a device that has only the five buttons.
    The rating is credited to the staff member who handled the visit — for a case, whoever received it at the
    window — not to whoever's session happens to be open on the tablet."""
    if isinstance(level, bool) or level not in SATISFACTION_LABELS:
        raise OneWindowError(VALIDATION, "评价等级应为1（非常满意）至5（非常不满意）", field="level")
    if channel not in RATING_CHANNELS:
        raise OneWindowError(VALIDATION, f"未知评价渠道 {channel!r}", field="channel")
    reason = reason.strip() if level in BAD_LEVELS else ""
    if reason and reason not in RATING_REASONS:
        raise OneWindowError(
            VALIDATION, f"原因类别应为{'、'.join(RATING_REASONS.values())}之一", field="reason"
        )
    if level in BAD_LEVELS and not reason and channel not in UNASKED_REASON_CHANNELS:
        raise OneWindowError(REQUIRED_FIELD, "请选择不满意的原因类别（原因类别为必填项）", field="reason")
    link: dict[str, str] = {}
    staff = actor.username
    if case_id:
        case = await get_case(runtime, case_id)  # NOT_FOUND names case_id
        staff = case.received_by or case.accepted_by or staff
        link = {
            "case_id": case.case_id,
            "case_number": case.case_number,
            "item_code": case.item_code,
            "item_name": case.item_name,
        }
        visit = visit or case.case_id
    if not visit.strip():
        raise OneWindowError(REQUIRED_FIELD, "评价须关联办件或取号（一次办事一评）", field="visit")
    rating_id = rating_id_for(runtime.node_id, visit.strip())
    payload: dict[str, Any] = {
        "level": level,
        "channel": channel,
        "rated_at": runtime.now_iso(),
        "visit": visit.strip()[:100],
        "staff": staff,
        "window": window.strip()[:50],
        "comment": comment.strip()[:500],
        **link,
    }
    if reason:
        payload["reason"] = reason
    if level in BAD_LEVELS:
        payload["followup_due"] = runtime.calendar.add_working_days(runtime.today(), rectify_days).isoformat()
    async with runtime.db.write() as session:
        if await case_events(session, rating_id):
            raise OneWindowError(INVALID_TRANSITION, "本次办事已经评价过（一次办事一评）", field="visit")
        await _record(session, runtime, actor, rating_id, RATING_RECORDED, payload)
        return fold_rating(rating_id, await case_events(session, rating_id))


# --- the evaluator device (简易评价器) ------------------------------------------------------------------------
# The clerk asks for a rating at the end of a visit; the device at that window then rates that visit. The
# request is kept in the database, so a restart between the request and the button press loses nothing.


def _request_key(window: str) -> str:
    return f"rating_request:{window}"


async def request_rating(
    runtime: NodeRuntime, *, actor: Actor, window: str, case_id: str = "", visit: str = ""
) -> None:
    """Point the window's evaluator at this visit (the case, or the ticket when no case was opened)."""
    if not window.strip():
        raise OneWindowError(REQUIRED_FIELD, "请先设置本窗口名称", field="window")
    if case_id:
        await get_case(runtime, case_id)
    if not (case_id or visit.strip()):
        raise OneWindowError(REQUIRED_FIELD, "评价须关联办件或取号", field="visit")
    if await rating_of_visit(runtime, case_id or visit):
        raise OneWindowError(INVALID_TRANSITION, "本次办事已经评价过（一次办事一评）", field="visit")
    request = {"case_id": case_id, "visit": visit.strip(), "staff": actor.username, "role": actor.role}
    async with runtime.db.write() as session:
        await set_meta(session, _request_key(window.strip()), json.dumps(request))


async def evaluator_pressed(runtime: NodeRuntime, *, window: str, level: int) -> RatingState:
    """A button on the window's evaluator: rates the visit the clerk asked about, then the device goes idle."""
    async with runtime.db.read() as session:
        raw = await get_meta(session, _request_key(window))
    request = json.loads(raw) if raw else None
    if not request:
        raise OneWindowError(INVALID_TRANSITION, f"{window} 当前没有待评价的办事", field="window")
    state = await record_rating(
        runtime,
        actor=Actor(username=request["staff"], role=request["role"]),
        level=level,
        channel="evaluator",
        case_id=request["case_id"],
        visit=request["visit"],
        window=window,
    )
    async with runtime.db.write() as session:
        await set_meta(session, _request_key(window), "")
    return state


async def rating_of_visit(runtime: NodeRuntime, visit: str) -> RatingState | None:
    """The rating already given for this visit (a case id or a ticket), or None."""
    rating_id = rating_id_for(runtime.node_id, visit.strip())
    async with runtime.db.read() as session:
        state = fold_rating(rating_id, await case_events(session, rating_id))
    return state if state.level else None


async def get_rating(runtime: NodeRuntime, rating_id: str) -> RatingState:
    async with runtime.db.read() as session:
        state = fold_rating(rating_id, await case_events(session, rating_id))
    if not state.level:
        raise OneWindowError(NOT_FOUND, f"评价 {rating_id} 不存在", field="rating_id")
    return state


async def record_callback(runtime: NodeRuntime, *, actor: Actor, rating_id: str, note: str) -> RatingState:
    """差评回访: the applicant was called back; what they said."""
    return await _followup(
        runtime,
        actor,
        rating_id,
        RATING_FOLLOWUP_CALLED,
        {"called_at": runtime.now_iso(), "note": note},
        "note",
    )


async def close_followup(
    runtime: NodeRuntime, *, actor: Actor, rating_id: str, rectification: str
) -> RatingState:
    """整改完成: what was put right (or explained where there was nothing to put right)."""
    return await _followup(
        runtime,
        actor,
        rating_id,
        RATING_FOLLOWUP_CLOSED,
        {"closed_at": runtime.now_iso(), "rectification": rectification},
        "rectification",
    )


async def _followup(
    runtime: NodeRuntime, actor: Actor, rating_id: str, type_: str, payload: dict[str, Any], text_field: str
) -> RatingState:
    if actor.role not in LEADS:
        raise OneWindowError(FORBIDDEN, "差评回访和整改由中心负责人办理", field="role")
    text = str(payload[text_field]).strip()
    if not text:
        raise OneWindowError(REQUIRED_FIELD, "请填写回访或整改情况", field=text_field)
    payload[text_field] = text[:1000]
    async with runtime.db.write() as session:
        state = fold_rating(rating_id, await case_events(session, rating_id))
        if not state.level:
            raise OneWindowError(NOT_FOUND, f"评价 {rating_id} 不存在", field="rating_id")
        if not state.followup_open:
            raise OneWindowError(INVALID_TRANSITION, "该评价没有待办的回访整改", field="rating_id")
        await _record(session, runtime, actor, rating_id, type_, payload)
        return fold_rating(rating_id, await case_events(session, rating_id))


async def _aggregates(runtime: NodeRuntime, types: frozenset[str]) -> dict[str, list[Any]]:
    async with runtime.db.read() as session:
        rows = (
            await session.exec(
                select(CaseEvent).where(col(CaseEvent.type).in_(sorted(types))).order_by(col(CaseEvent.hlc))
            )
        ).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.case_id, []).append(row_to_event(row))
    return grouped


async def list_ratings(runtime: NodeRuntime) -> list[RatingState]:
    """Every rating made at this centre, newest first."""
    grouped = await _aggregates(runtime, RATING_EVENT_TYPES)
    states = [fold_rating(rating_id, events) for rating_id, events in grouped.items()]
    return sorted((s for s in states if s.level), key=lambda s: s.rated_at, reverse=True)


# --- complaints --------------------------------------------------------------------------------------------


async def register_complaint(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    channel: str,
    complainant: str,
    content: str,
    phone: str = "",
    case_number: str = "",
) -> ComplaintState:
    """投诉登记 ("最多跑一次跑不成" window): by letter, on site, phone or WeChat."""
    if channel not in COMPLAINT_CHANNELS:
        raise OneWindowError(
            VALIDATION, f"未知投诉渠道 {channel!r}（来信、现场、电话、微信）", field="channel"
        )
    complainant, content = complainant.strip(), content.strip()
    if not complainant:
        raise OneWindowError(REQUIRED_FIELD, "请填写投诉人", field="complainant")
    if not content:
        raise OneWindowError(REQUIRED_FIELD, "请填写投诉内容", field="content")
    complaint_id = uuid7()
    payload = {
        "channel": channel,
        "complainant": complainant[:100],
        "phone": phone.strip()[:30],
        "content": content[:2000],
        "case_number": case_number.strip()[:50],
        "registered_at": runtime.now_iso(),
    }
    async with runtime.db.write() as session:
        await _record(session, runtime, actor, complaint_id, COMPLAINT_REGISTERED, payload)
        return fold_complaint(complaint_id, await case_events(session, complaint_id))


async def assign_complaint(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    complaint_id: str,
    assignee: str,
    working_days: int = DEFAULT_COMPLAINT_WORKING_DAYS,
) -> ComplaintState:
    """交办: who handles it and by when (working days on the county calendar)."""
    if actor.role not in LEADS:
        raise OneWindowError(FORBIDDEN, "投诉由中心负责人交办", field="role")
    if not assignee.strip():
        raise OneWindowError(REQUIRED_FIELD, "请填写承办人", field="assignee")
    if not 1 <= working_days <= 60:
        raise OneWindowError(VALIDATION, "办理期限应为1至60个工作日", field="working_days")
    due: date = runtime.calendar.add_working_days(runtime.today(), working_days)
    return await _complaint_step(
        runtime,
        actor,
        complaint_id,
        COMPLAINT_ASSIGNED,
        {"assignee": assignee.strip()[:100], "due": due.isoformat()},
    )


async def resolve_complaint(
    runtime: NodeRuntime, *, actor: Actor, complaint_id: str, resolution: str
) -> ComplaintState:
    """办结答复: the answer given to the complainant."""
    if not resolution.strip():
        raise OneWindowError(REQUIRED_FIELD, "请填写办理结果", field="resolution")
    payload = {"resolution": resolution.strip()[:2000], "resolved_at": runtime.now_iso()}
    return await _complaint_step(runtime, actor, complaint_id, COMPLAINT_RESOLVED, payload)


async def _complaint_step(
    runtime: NodeRuntime, actor: Actor, complaint_id: str, type_: str, payload: dict[str, Any]
) -> ComplaintState:
    async with runtime.db.write() as session:
        state = fold_complaint(complaint_id, await case_events(session, complaint_id))
        if not state.registered_at:
            raise OneWindowError(NOT_FOUND, f"投诉 {complaint_id} 不存在", field="complaint_id")
        if state.resolved_at:
            raise OneWindowError(INVALID_TRANSITION, "该投诉已办结", field="complaint_id")
        if type_ == COMPLAINT_RESOLVED and not state.assignee:
            raise OneWindowError(INVALID_TRANSITION, "请先交办再办结", field="complaint_id")
        await _record(session, runtime, actor, complaint_id, type_, payload)
        return fold_complaint(complaint_id, await case_events(session, complaint_id))


async def list_complaints(runtime: NodeRuntime) -> list[ComplaintState]:
    grouped = await _aggregates(runtime, COMPLAINT_EVENT_TYPES)
    states = [fold_complaint(cid, events) for cid, events in grouped.items()]
    return sorted((s for s in states if s.registered_at), key=lambda s: s.registered_at, reverse=True)
