"""Departments and the back-office workflow (后台分类办理, DB22/T 2871.2 §7.2; SPEC R-BO-1, R-BO-2).

Departments are the catalogue's (an item names the department(s) that handle it, the first leads); back-office
accounts are placed in a department as reviewer (审核) or head (负责人). An accepted case is routed (分办) to its
item's departments; a joint case (联办) fans out to several, each gives an opinion and the lead decides. Steps
that stop the clock (补正, hearing, site survey, expert review) are paused and resumed; one extension is allowed
with the head's approval and a reason.

Every step is a central-authored case event, stored, projected and written to the origin node's down log in
the caller's transaction (as `central.backoffice.decide_case` does), so the window sees what the county did.
The two background jobs, `route_pending` and `refresh_clocks`, claim their rows with ``FOR UPDATE SKIP
LOCKED`` so several central processes on one PostgreSQL database never do the same work twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice import MAX_CLOCK_AHEAD_MS, append_down, case_events
from central.county import CountyKeys
from central.deadlines import (
    CST,
    EXTENSION_DAYS,
    JOINT_EXTENSION_DAYS,
    PAUSE_KINDS,
    CaseClock,
    case_clock,
)
from central.ingest import refresh_case, store_event
from central.models import (
    BackofficeCaseRecord,
    CaseRecord,
    CatalogueVersionRecord,
    CentralUser,
    DeadlineAlertRecord,
    DepartmentMemberRecord,
    NodeRecord,
)
from protocol.calendar import WorkingCalendar
from protocol.catalogue import Catalogue, CatalogueItem, catalogue_from_dict
from protocol.errors import (
    FORBIDDEN,
    INVALID_TRANSITION,
    NOT_FOUND,
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
    CASE_ROUTED,
    CaseState,
    Event,
    fold,
)
from protocol.hlc import HybridClock
from protocol.ids import uuid7

POSITIONS = {"reviewer": "审核", "head": "负责人"}
#: A routed case's clock is recomputed by the deadline job at most this often (levels change by the day;
#: every step on a case recomputes its clock at once).
CLOCK_REFRESH_S = 600
#: Routing events sent down in one entry at most (the job routes up to its `limit` cases a round).
DOWN_BATCH = 100
_clock = HybridClock()


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, as every timestamp in the events."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def departments_of(catalogue: Catalogue) -> dict[str, str]:
    """Every department the catalogue names: credit code → name, in catalogue order."""
    found: dict[str, str] = {}
    for item in catalogue.items:
        for department in item.departments:
            found.setdefault(department.code, department.name)
    return found


def item_of(catalogue: Catalogue | None, code: str) -> CatalogueItem | None:
    if catalogue is None:
        return None
    try:
        return catalogue.by_code(code)
    except KeyError:
        return None


async def catalogue_version(session: AsyncSession, version: int, current: Catalogue) -> Catalogue | None:
    """That version of the catalogue: one central issued (``catalogue_version``), or the county file's own."""
    if version == current.version:
        return current
    row = await session.get(CatalogueVersionRecord, version)
    return catalogue_from_dict(json.loads(row.data)) if row is not None else None


# ---- members ---------------------------------------------------------------------------------------------------


async def assign_member(
    session: AsyncSession, *, username: str, department_code: str, position: str, catalogue: Catalogue
) -> DepartmentMemberRecord:
    """Place a back-office account in a department (replacing its previous place)."""
    departments = departments_of(catalogue)
    if department_code not in departments:
        raise OneWindowError(NOT_FOUND, f"目录中没有部门 {department_code}", field="department_code")
    if position not in POSITIONS:
        raise OneWindowError(VALIDATION, "岗位只能是审核（reviewer）或负责人（head）", field="position")
    user = await session.get(CentralUser, username)
    if user is None or user.disabled:
        raise OneWindowError(NOT_FOUND, f"账号 {username} 不存在或已停用", field="username")
    row = await session.get(DepartmentMemberRecord, username)
    if row is None:
        row = DepartmentMemberRecord(
            username=username,
            department_code=department_code,
            department_name=departments[department_code],
            position=position,
        )
    else:
        row.department_code, row.department_name = department_code, departments[department_code]
        row.position = position
    session.add(row)
    return row


async def membership(session: AsyncSession, username: str) -> DepartmentMemberRecord | None:
    return await session.get(DepartmentMemberRecord, username)


async def members(session: AsyncSession) -> list[DepartmentMemberRecord]:
    query = select(DepartmentMemberRecord).order_by(
        col(DepartmentMemberRecord.department_code), col(DepartmentMemberRecord.username)
    )
    return list((await session.exec(query)).all())


# ---- recording a central event ----------------------------------------------------------------------------------


async def load_case(session: AsyncSession, case_id: str) -> tuple[list[Event], CaseState]:
    events = await case_events(session, case_id)
    state = fold(case_id, events)
    if state.status is None:
        raise OneWindowError(NOT_FOUND, f"办件 {case_id} 不存在", field="case_id")
    return events, state


async def record_event(
    session: AsyncSession,
    county: CountyKeys,
    events: list[Event],
    state: CaseState,
    *,
    type: str,
    authority: str,
    actor: str,
    payload: dict[str, Any],
    outbox: dict[str, list[dict[str, Any]]] | None = None,
) -> CaseState:
    """Store a central event, rebuild the projection and send it down to the origin node (or, with `outbox`,
    leave it there for the caller to send many events in one down entry)."""
    node = (
        await session.exec(
            select(NodeRecord).where(NodeRecord.node_id == state.origin_node).with_for_update()
        )
    ).first()
    if node is None:
        raise OneWindowError(NOT_FOUND, f"受理节点 {state.origin_node} 不存在", field="origin_node")
    newest = max(e.hlc for e in events)
    _clock.observe(newest, max_ahead_ms=MAX_CLOCK_AHEAD_MS)
    event = Event(
        id=uuid7(),
        case_id=state.case_id,
        type=type,
        authority=authority,
        actor=actor,
        hlc=max(_clock.now(), newest + 1),
        payload=payload,
    )
    await store_event(session, event, node_id=None, up_seq=None)
    await refresh_case(session, state.case_id)
    if outbox is None:
        await append_down(session, county, node, {"events": [event.to_dict()]})
    else:
        outbox.setdefault(node.node_id, []).append(event.to_dict())
    after = fold(state.case_id, [*events, event])
    if after.anomalies != state.anomalies:  # the services check first; this is the last line of defence
        raise OneWindowError(
            INVALID_TRANSITION, f"办件状态不允许此操作：{after.anomalies[-1]}", field="case_id"
        )
    return after


def _require_accepted(state: CaseState, what: str) -> None:
    if state.status != ACCEPTED:
        raise OneWindowError(
            INVALID_TRANSITION, f"办件当前为「{state.status_label}」，不能{what}", field="case_id"
        )


async def _member_of_case(
    session: AsyncSession, state: CaseState, username: str, *, lead_only: bool = False
) -> DepartmentMemberRecord:
    member = await membership(session, username)
    if state.routing is None:
        raise OneWindowError(INVALID_TRANSITION, "办件尚未分办到部门", field="case_id")
    codes = [d["code"] for d in state.routing["departments"]]
    allowed = codes[:1] if lead_only else codes
    if member is None or member.department_code not in allowed:
        who = "牵头部门" if lead_only else "承办部门"
        raise OneWindowError(FORBIDDEN, f"只有本件{who}的人员可以办理", field="username")
    return member


# ---- routing (分办) ------------------------------------------------------------------------------------------------


async def route_case(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    catalogue: Catalogue,
    calendar: WorkingCalendar,
    now: datetime,
    actor: str = "system",
    outbox: dict[str, list[dict[str, Any]]] | None = None,
) -> CaseState:
    """Route an accepted case to its item's department(s); a joint item fans out, the first department leads."""
    events, state = await load_case(session, case_id)
    _require_accepted(state, "分办")
    if state.routing is not None:
        raise OneWindowError(INVALID_TRANSITION, "办件已分办", field="case_id")
    # The case keeps the catalogue version it was accepted under: its departments, not a later change's.
    item = item_of(await catalogue_version(session, state.catalogue_version, catalogue), state.item_code)
    item = item or item_of(catalogue, state.item_code)
    if item is None:
        raise OneWindowError(NOT_FOUND, f"目录中没有事项 {state.item_code}", field="item_code")
    departments = [{"code": d.code, "name": d.name} for d in item.departments]
    state = await record_event(
        session,
        county,
        events,
        state,
        type=CASE_ROUTED,
        authority="central:county",
        actor=actor,
        payload={"departments": departments, "joint": item.is_joint, "routed_at": iso(now)},
        outbox=outbox,
    )
    session.add(
        BackofficeCaseRecord(
            case_id=case_id,
            lead_department=departments[0]["code"],
            departments=json.dumps(departments, ensure_ascii=False),
            joint=item.is_joint,
            routed_at=iso(now),
        )
    )
    await _store_clock(session, state, calendar, catalogue, today=_cst_date(now), now=now)
    return state


async def route_pending(
    session: AsyncSession,
    county: CountyKeys,
    *,
    catalogue: Catalogue,
    calendar: WorkingCalendar,
    now: datetime,
    limit: int = 200,
    instance: str = "",
) -> int:
    """The routing job: every accepted case not yet routed, claimed with ``FOR UPDATE SKIP LOCKED`` so that a
    second central process running the same job takes other cases. Returns how many were routed; the routing
    events name the job's process (``system:<instance>``)."""
    query = (
        select(CaseRecord.case_id, CaseRecord.origin_node)
        .join(
            BackofficeCaseRecord,
            col(BackofficeCaseRecord.case_id) == col(CaseRecord.case_id),
            isouter=True,
        )
        .where(CaseRecord.status == ACCEPTED, col(BackofficeCaseRecord.case_id).is_(None))
        .order_by(col(CaseRecord.accepted_at))
        .limit(limit)
        .with_for_update(skip_locked=True, of=CaseRecord)
    )
    claimed = list((await session.exec(query)).all())
    if not claimed:
        return 0
    # Routing writes to the origin node's down log, so it needs that node's row. A node row held by an ingest
    # (or the other process's job) is skipped, never waited for while these case rows are held: no lock-order
    # deadlock; its cases are routed next round.
    wanted = sorted({node for _, node in claimed})
    free = set(
        (
            await session.exec(
                select(NodeRecord.node_id)
                .where(col(NodeRecord.node_id).in_(wanted))
                .order_by(col(NodeRecord.node_id))
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    routed = 0
    outbox: dict[str, list[dict[str, Any]]] = {}
    for case_id, node in claimed:
        if node not in free:
            continue
        _, state = await load_case(session, case_id)
        if state.routing is not None:
            continue  # routed already (projection lagging)
        try:
            await route_case(
                session,
                county,
                case_id=case_id,
                catalogue=catalogue,
                calendar=calendar,
                now=now,
                outbox=outbox,
                actor=f"system:{instance}" if instance else "system",
            )
        except OneWindowError as exc:
            if exc.problem is not NOT_FOUND:
                raise
            continue  # an item no catalogue version central holds knows: left for a person (the queue shows it)
        routed += 1
    for node_id, sent in sorted(outbox.items()):  # one down entry per node and round, not one per case
        row = await session.get(NodeRecord, node_id)
        assert row is not None
        for start in range(0, len(sent), DOWN_BATCH):
            await append_down(session, county, row, {"events": sent[start : start + DOWN_BATCH]})
    return routed


async def unrouted_count(session: AsyncSession) -> int:
    """Accepted cases not routed yet (the routing job's backlog)."""
    query = (
        select(func.count())
        .select_from(CaseRecord)
        .join(
            BackofficeCaseRecord,
            col(BackofficeCaseRecord.case_id) == col(CaseRecord.case_id),
            isouter=True,
        )
        .where(CaseRecord.status == ACCEPTED, col(BackofficeCaseRecord.case_id).is_(None))
    )
    return int((await session.exec(query)).one())


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
    _require_accepted(state, "出具意见")
    member = await _member_of_case(session, state, username)
    if any(o["department"] == member.department_code for o in state.opinions):
        raise OneWindowError(INVALID_TRANSITION, f"{member.department_name}已出具意见", field="case_id")
    comment = comment.strip()
    if not agree and not comment:
        raise OneWindowError(REQUIRED_FIELD, "不同意时必须写明理由", field="comment")
    return await record_event(
        session,
        county,
        events,
        state,
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
    _require_accepted(state, "暂停计时")
    member = await _member_of_case(session, state, username)
    if state.open_pause is not None:
        raise OneWindowError(INVALID_TRANSITION, "办件已在暂停计时中", field="case_id")
    return await record_event(
        session,
        county,
        events,
        state,
        type=CASE_CLOCK_PAUSED,
        authority=f"central:{member.department_code}",
        actor=username,
        payload={"pause_id": uuid7(), "kind": kind, "reason": reason, "started_at": iso(now)},
    )


async def resume_clock(
    session: AsyncSession, county: CountyKeys, *, case_id: str, username: str, now: datetime
) -> CaseState:
    """The paused step ended (补正材料到件, hearing held …): the clock runs again."""
    events, state = await load_case(session, case_id)
    _require_accepted(state, "恢复计时")
    member = await _member_of_case(session, state, username)
    pause = state.open_pause
    if pause is None:
        raise OneWindowError(INVALID_TRANSITION, "办件没有暂停计时", field="case_id")
    return await record_event(
        session,
        county,
        events,
        state,
        type=CASE_CLOCK_RESUMED,
        authority=f"central:{member.department_code}",
        actor=username,
        payload={"pause_id": pause["pause_id"], "ended_at": iso(now)},
    )


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
    _require_accepted(state, "延期")
    await _member_of_case(session, state, requested_by)
    head = await _member_of_case(session, state, approved_by, lead_only=True)
    if head.position != "head":
        raise OneWindowError(FORBIDDEN, "延期须经牵头部门负责人批准", field="approved_by")
    if state.extension is not None:
        raise OneWindowError(INVALID_TRANSITION, "办件已延期一次，不能再延期", field="case_id")
    assert state.routing is not None
    days = JOINT_EXTENSION_DAYS if state.routing["joint"] else EXTENSION_DAYS
    return await record_event(
        session,
        county,
        events,
        state,
        type=CASE_EXTENDED,
        authority=f"central:{head.department_code}",
        actor=requested_by,
        payload={"days": days, "reason": reason, "approved_by": approved_by, "approved_at": iso(now)},
    )


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
    _require_accepted(state, "作出决定")
    member = await _member_of_case(session, state, username, lead_only=True)
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
    return await record_event(
        session,
        county,
        events,
        state,
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


# ---- clocks, alerts, work queues ---------------------------------------------------------------------------------


def _cst_date(now: datetime) -> date:
    return now.astimezone(CST).date()


async def refresh_case_clock(
    session: AsyncSession,
    case_id: str,
    *,
    calendar: WorkingCalendar,
    catalogue: Catalogue | None,
    now: datetime,
) -> CaseClock | None:
    """Recompute one routed case's clock now (after a step changed it), raising its warning or alert once."""
    _, state = await load_case(session, case_id)
    return await _store_clock(session, state, calendar, catalogue, today=_cst_date(now), now=now)


async def _store_clock(
    session: AsyncSession,
    state: CaseState,
    calendar: WorkingCalendar,
    catalogue: Catalogue | None,
    *,
    today: date,
    now: datetime,
    instance: str = "",
) -> CaseClock | None:
    row = await session.get(BackofficeCaseRecord, state.case_id)
    clock = case_clock(state, calendar, today=today, item=item_of(catalogue, state.item_code))
    if row is None or clock is None:
        return clock
    row.due_on, row.statutory_due_on = clock.due_on.isoformat(), clock.statutory_due_on.isoformat()
    row.level, row.remaining_days, row.updated_at = clock.level, clock.remaining_days, iso(now)
    session.add(row)
    if clock.level in ("warning", "due", "overdue") and state.decision is None:
        level = "overdue" if clock.level == "overdue" else "warning"
        exists = (
            await session.exec(
                select(DeadlineAlertRecord.id).where(
                    DeadlineAlertRecord.case_id == state.case_id,
                    DeadlineAlertRecord.level == level,
                    DeadlineAlertRecord.due_on == row.due_on,
                )
            )
        ).first()
        if exists is None:
            try:
                async with session.begin_nested():
                    session.add(
                        DeadlineAlertRecord(
                            case_id=state.case_id,
                            level=level,
                            due_on=row.due_on,
                            raised_on=today.isoformat(),
                            raised_at=iso(now),
                            raised_by=instance,
                        )
                    )
            except IntegrityError:
                pass  # raised by the other central process a moment ago: once is enough
    return clock


async def refresh_clocks(
    session: AsyncSession,
    *,
    calendar: WorkingCalendar,
    catalogue: Catalogue | None,
    now: datetime,
    instance: str = "",
    limit: int = 500,
) -> int:
    """The deadline job: recompute the clock of every open routed case and raise each warning and alert once.
    Rows are claimed with ``FOR UPDATE SKIP LOCKED``; returns how many clocks were refreshed."""
    query = (
        select(BackofficeCaseRecord)
        .where(
            BackofficeCaseRecord.level != "done",
            col(BackofficeCaseRecord.updated_at) < iso(now - timedelta(seconds=CLOCK_REFRESH_S)),
        )
        .order_by(col(BackofficeCaseRecord.updated_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list((await session.exec(query)).all())
    today = _cst_date(now)
    for row in rows:
        _, state = await load_case(session, row.case_id)
        await _store_clock(session, state, calendar, catalogue, today=today, now=now, instance=instance)
    return len(rows)


async def alerts_of(session: AsyncSession, case_id: str) -> list[DeadlineAlertRecord]:
    query = select(DeadlineAlertRecord).where(DeadlineAlertRecord.case_id == case_id)
    return list((await session.exec(query.order_by(col(DeadlineAlertRecord.id)))).all())


@dataclass(frozen=True)
class QueueRow:
    """One line of a department's work queue."""

    case: CaseRecord
    backoffice: BackofficeCaseRecord
    departments: list[dict[str, str]]


async def work_queue(
    session: AsyncSession,
    *,
    department: str | None = None,
    centre: str | None = None,
    item: str | None = None,
    due_before: str | None = None,
    level: str | None = None,
    status: str | None = None,
    limit: int = 300,
) -> list[QueueRow]:
    """Routed cases for a department (as lead or joint partner), filtered by centre, item, due date, level and
    status; the nearest due date first."""
    query = select(CaseRecord, BackofficeCaseRecord).join(
        BackofficeCaseRecord, col(BackofficeCaseRecord.case_id) == col(CaseRecord.case_id)
    )
    if department:
        query = query.where(col(BackofficeCaseRecord.departments).contains(f'"code": "{department}"'))
    if centre:
        query = query.where(CaseRecord.origin_node == centre)
    if item:
        query = query.where(CaseRecord.item_code == item)
    if due_before:
        query = query.where(col(BackofficeCaseRecord.due_on) <= due_before)
    if level:
        query = query.where(BackofficeCaseRecord.level == level)
    if status:
        query = query.where(CaseRecord.status == status)
    query = query.order_by(col(BackofficeCaseRecord.due_on), col(CaseRecord.case_number)).limit(limit)
    rows = (await session.exec(query)).all()
    return [QueueRow(case, bo, json.loads(bo.departments)) for case, bo in rows]
