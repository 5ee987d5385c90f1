"""The back-office workflow on a routed case (后台分类办理, DB22/T 2871.2 §7.2; SPEC R-BO-1, R-BO-2): a joint
case's opinions (联办意见), the steps that stop the clock (补正, hearing, site survey, expert review) paused and
resumed, one extension with the head's approval and a reason, and the decision — by the lead department of a
routed case, and only by it: every route that decides (the workbench, the case page, the JSON API) comes here.
Routing itself (分办) is `central.backoffice.routing`.

Every step is a central-authored case event recorded with `central.cases.record.record_central_event`: stored,
projected and written to the origin node's down log in the caller's transaction, so the window sees what the
county did.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.deadlines import EXTENSION_DAYS, JOINT_EXTENSION_DAYS, PAUSE_KINDS
from central.backoffice.departments import membership
from central.cases.queries import load_case
from central.cases.record import record_central_event
from central.clock import iso
from central.keys import CountyKeys
from central.models import DepartmentMemberRecord
from protocol.errors import (
    FORBIDDEN,
    INVALID_TRANSITION,
    REQUIRED_FIELD,
    VALIDATION,
    OneWindowError,
)
from protocol.events import (
    ACCEPTED,
    CASE_CLOCK_PAUSED,
    CASE_CLOCK_RESUMED,
    CASE_DECIDED,
    CASE_EXTENDED,
    CASE_OPINION_GIVEN,
    CaseState,
)
from protocol.ids import uuid7


def require_accepted(state: CaseState, what: str) -> None:
    """Refuse a back-office step (`what`, as staff say it) on a case that is not accepted and undecided."""
    if state.status != ACCEPTED:
        raise OneWindowError(
            INVALID_TRANSITION, f"办件当前为「{state.status_label}」，不能{what}", field="case_id"
        )


async def member_of_case(
    session: AsyncSession, state: CaseState, username: str, *, lead_only: bool = False
) -> DepartmentMemberRecord:
    """The department member taking a step on a routed case: one of its departments (with `lead_only`, the
    lead department), else OW FORBIDDEN."""
    member = await membership(session, username)
    if state.routing is None:
        raise OneWindowError(INVALID_TRANSITION, "办件尚未分办到部门", field="case_id")
    codes = [d["code"] for d in state.routing["departments"]]
    allowed = codes[:1] if lead_only else codes
    if member is None or member.department_code not in allowed:
        who = "牵头部门" if lead_only else "承办部门"
        raise OneWindowError(FORBIDDEN, f"只有本件{who}的人员可以办理", field="username")
    return member


# ---- opinions, pauses, extension ----------------------------------------------------------------------------------


async def give_opinion(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    username: str,
    agree: bool,
    comment: str,
    now: datetime,
) -> CaseState:
    """联办意见: one department's opinion on a joint case (each department once)."""
    events, state = await load_case(session, case_id)
    require_accepted(state, "出具意见")
    member = await member_of_case(session, state, username)
    if any(o["department"] == member.department_code for o in state.opinions):
        raise OneWindowError(INVALID_TRANSITION, f"{member.department_name}已出具意见", field="case_id")
    comment = comment.strip()
    if not agree and not comment:
        raise OneWindowError(REQUIRED_FIELD, "不同意时必须写明理由", field="comment")
    recorded = await record_central_event(
        session,
        county,
        case_id=state.case_id,
        events=events,
        state=state,
        type=CASE_OPINION_GIVEN,
        authority=f"central:{member.department_code}",
        actor=username,
        payload={
            "department": member.department_code,
            "department_name": member.department_name,
            "agree": agree,
            "comment": comment,
            "given_at": iso(now),
        },
    )
    return recorded.state


async def pause_clock(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    username: str,
    kind: str,
    reason: str,
    now: datetime,
) -> CaseState:
    """Stop the clock for 补正 or an excluded step (hearing, site survey, expert review, testing)."""
    if kind not in PAUSE_KINDS:
        raise OneWindowError(VALIDATION, f"未知的暂停事由 {kind}", field="kind")
    reason = reason.strip()
    if not reason:
        raise OneWindowError(REQUIRED_FIELD, "暂停计时必须写明事由", field="reason")
    events, state = await load_case(session, case_id)
    require_accepted(state, "暂停计时")
    member = await member_of_case(session, state, username)
    if state.open_pause is not None:
        raise OneWindowError(INVALID_TRANSITION, "办件已在暂停计时中", field="case_id")
    recorded = await record_central_event(
        session,
        county,
        case_id=state.case_id,
        events=events,
        state=state,
        type=CASE_CLOCK_PAUSED,
        authority=f"central:{member.department_code}",
        actor=username,
        payload={"pause_id": uuid7(), "kind": kind, "reason": reason, "started_at": iso(now)},
    )
    return recorded.state


async def resume_clock(
    session: AsyncSession, county: CountyKeys, *, case_id: str, username: str, now: datetime
) -> CaseState:
    """The paused step ended (补正材料到件, hearing held …): the clock runs again."""
    events, state = await load_case(session, case_id)
    require_accepted(state, "恢复计时")
    member = await member_of_case(session, state, username)
    pause = state.open_pause
    if pause is None:
        raise OneWindowError(INVALID_TRANSITION, "办件没有暂停计时", field="case_id")
    recorded = await record_central_event(
        session,
        county,
        case_id=state.case_id,
        events=events,
        state=state,
        type=CASE_CLOCK_RESUMED,
        authority=f"central:{member.department_code}",
        actor=username,
        payload={"pause_id": pause["pause_id"], "ended_at": iso(now)},
    )
    return recorded.state


async def extend_case(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    requested_by: str,
    approved_by: str,
    reason: str,
    now: datetime,
) -> CaseState:
    """延期 (art. 42): +10 working days, +15 for a joint case, once, approved by the lead department's head."""
    reason = reason.strip()
    if not reason:
        raise OneWindowError(REQUIRED_FIELD, "延期必须写明理由（并告知申请人）", field="reason")
    events, state = await load_case(session, case_id)
    require_accepted(state, "延期")
    await member_of_case(session, state, requested_by)
    head = await member_of_case(session, state, approved_by, lead_only=True)
    if head.position != "head":
        raise OneWindowError(FORBIDDEN, "延期须经牵头部门负责人批准", field="approved_by")
    if state.extension is not None:
        raise OneWindowError(INVALID_TRANSITION, "办件已延期一次，不能再延期", field="case_id")
    assert state.routing is not None
    days = JOINT_EXTENSION_DAYS if state.routing["joint"] else EXTENSION_DAYS
    recorded = await record_central_event(
        session,
        county,
        case_id=state.case_id,
        events=events,
        state=state,
        type=CASE_EXTENDED,
        authority=f"central:{head.department_code}",
        actor=requested_by,
        payload={"days": days, "reason": reason, "approved_by": approved_by, "approved_at": iso(now)},
    )
    return recorded.state


async def decide_routed_case(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    username: str,
    outcome: str,
    reason: str,
    now: datetime,
) -> CaseState:
    """准予 / 不予 by the lead department: every department of a joint case has given its opinion, the clock
    is running (not paused). The decision travels down to the origin centre."""
    if outcome not in ("approve", "deny"):
        raise OneWindowError(VALIDATION, "决定只能是准予（approve）或不予（deny）", field="outcome")
    reason = reason.strip()
    if outcome == "deny" and not reason:
        raise OneWindowError(REQUIRED_FIELD, "不予许可必须写明理由", field="reason")
    events, state = await load_case(session, case_id)
    require_accepted(state, "作出决定")
    member = await member_of_case(session, state, username, lead_only=True)
    if state.open_pause is not None:
        raise OneWindowError(
            INVALID_TRANSITION, "计时暂停中（补正或特别程序未结束），不能作出决定", field="case_id"
        )
    assert state.routing is not None
    missing = [
        d["name"]
        for d in state.routing["departments"][1:]
        if not any(o["department"] == d["code"] for o in state.opinions)
    ]
    if state.routing["joint"] and missing:
        raise OneWindowError(
            INVALID_TRANSITION, f"联办部门尚未出具意见：{'、'.join(missing)}", field="case_id"
        )
    recorded = await record_central_event(
        session,
        county,
        case_id=state.case_id,
        events=events,
        state=state,
        type=CASE_DECIDED,
        authority=f"central:{member.department_code}",
        actor=username,
        payload={
            "outcome": outcome,
            "reason": reason,
            "department": member.department_name,
            "decided_at": iso(now),
        },
    )
    return recorded.state
