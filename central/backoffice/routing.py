"""Routing an accepted case to its item's departments (分办): a joint item (联办) fans out, the first department
leads; the case keeps the catalogue version it was accepted under. The routing job (`route_pending`) claims its
cases with ``FOR UPDATE SKIP LOCKED`` so several central processes on one PostgreSQL database never route a case
twice, and sends one down entry per node and round.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.clocks import store_clock
from central.backoffice.departments import catalogue_version, item_of
from central.backoffice.workflow import require_accepted
from central.cases.queries import load_case
from central.cases.record import record_central_event
from central.clock import cst_date, iso
from central.downlog import append_down
from central.keys import CountyKeys
from central.models import BackofficeCaseRecord, CaseRecord, NodeRecord
from protocol.calendar import WorkingCalendar
from protocol.catalogue import Catalogue
from protocol.errors import INVALID_TRANSITION, NOT_FOUND, OneWindowError
from protocol.events import ACCEPTED, CASE_ROUTED, CaseState

#: Routing events sent down in one entry at most (the job routes up to its `limit` cases a round).
DOWN_BATCH = 100


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
    require_accepted(state, "分办")
    if state.routing is not None:
        raise OneWindowError(INVALID_TRANSITION, "办件已分办", field="case_id")
    # The case keeps the catalogue version it was accepted under: its departments, not a later change's.
    item = item_of(await catalogue_version(session, state.catalogue_version, catalogue), state.item_code)
    item = item or item_of(catalogue, state.item_code)
    if item is None:
        raise OneWindowError(NOT_FOUND, f"目录中没有事项 {state.item_code}", field="item_code")
    departments = [{"code": d.code, "name": d.name} for d in item.departments]
    recorded = await record_central_event(
        session,
        county,
        case_id=case_id,
        events=events,
        state=state,
        type=CASE_ROUTED,
        authority="central:county",
        actor=actor,
        payload={"departments": departments, "joint": item.is_joint, "routed_at": iso(now)},
        outbox=outbox,
    )
    state = recorded.state
    session.add(
        BackofficeCaseRecord(
            case_id=case_id,
            lead_department=departments[0]["code"],
            departments=json.dumps(departments, ensure_ascii=False),
            joint=item.is_joint,
            routed_at=iso(now),
        )
    )
    await store_clock(session, state, calendar, catalogue, today=cst_date(now), now=now)
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
