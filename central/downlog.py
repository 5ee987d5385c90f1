"""Back-office services (后台办理): list received cases, decide one, send the decision down to the node.

A decision is a central-authored event; it is stored, projected and written to the origin node's down log
(encrypted to that node, signed by the county) in one transaction, so it can never be decided without being
on its way back to the window.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.county import CountyKeys
from central.ingest import record_to_event, refresh_case, store_event, utc_iso
from central.models import CaseRecord, DownEntryRecord, EventRecord, NodeRecord
from protocol.calendar import calendar_from_dict
from protocol.catalogue import Catalogue
from protocol.errors import INVALID_TRANSITION, NOT_FOUND, REQUIRED_FIELD, VALIDATION, OneWindowError
from protocol.events import ACCEPTED, CASE_DECIDED, CaseState, Event, fold
from protocol.hlc import HybridClock
from protocol.ids import uuid7
from protocol.keys import AgeRecipient
from protocol.log import LogEntry, seal_entry

_clock = HybridClock()
#: Stamps further ahead of central's wall clock than this are not adopted by central's clock.
MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000


async def list_cases(
    session: AsyncSession, *, status: str | None = None, limit: int = 200
) -> list[CaseRecord]:
    query = select(CaseRecord).order_by(col(CaseRecord.received_at).desc()).limit(limit)
    if status:
        query = query.where(CaseRecord.status == status)
    return list((await session.exec(query)).all())


async def case_state(session: AsyncSession, case_id: str) -> CaseState:
    rows = (await session.exec(select(EventRecord).where(EventRecord.case_id == case_id))).all()
    state = fold(case_id, [record_to_event(r) for r in rows])
    if state.status is None:
        raise OneWindowError(NOT_FOUND, f"办件 {case_id} 不存在", field="case_id")
    return state


async def case_events(session: AsyncSession, case_id: str) -> list[Event]:
    rows = (await session.exec(select(EventRecord).where(EventRecord.case_id == case_id))).all()
    return sorted((record_to_event(r) for r in rows), key=lambda e: (e.hlc, e.id))


async def announce_county_keys(
    session: AsyncSession, county: CountyKeys, node: NodeRecord, *, node_down_seq: int | None = None
) -> bool:
    """Send the node the statements of the county's key generations it does not trust yet; True when an entry
    was written. Not again while one is on its way (after what the node has applied, `node_down_seq`), unless
    the county rotated again since."""
    if (
        county.generation <= 1
        or node.county_key == county.fingerprint
        or node.age_recipient is None
        or node.status == "revoked"
    ):
        return False
    applied = node.down_acked if node_down_seq is None else node_down_seq
    on_its_way = (
        await session.exec(
            select(DownEntryRecord.seq).where(
                DownEntryRecord.node_id == node.node_id,
                DownEntryRecord.kind == "county_keys",
                col(DownEntryRecord.seq) > applied,
            )
        )
    ).first()
    if on_its_way is not None and node.county_keys_sent >= county.generation:
        return False
    await append_down(session, county, node, {"county_keys": list(county.statements)}, kind="county_keys")
    node.county_keys_sent = county.generation
    session.add(node)
    return True


async def append_down(
    session: AsyncSession,
    county: CountyKeys,
    node: NodeRecord,
    payload: dict[str, Any],
    *,
    kind: str = "events",
) -> LogEntry:
    """Write the next entry of `node`'s down log (inside the caller's transaction).

    A node that has not been told of the county's newest key generation is told first (a `county_keys` entry),
    so whatever follows, signed in the new key, is read by a node that already trusts it."""
    if node.age_recipient is None:
        raise OneWindowError(INVALID_TRANSITION, f"节点 {node.name} 尚未完成注册，无法下发", field="node_id")
    if kind != "county_keys":
        await announce_county_keys(session, county, node)
    entry = seal_entry(
        node_id=node.node_id,
        stream="down",
        seq=node.down_seq + 1,
        prev_hash=node.down_hash,
        kind=kind,
        payload=payload,
        # Also to the county itself: when central is restored from an older backup, the node hands back the
        # down entries central lost, and central must be able to read them again (see central.reconcile).
        recipients=[AgeRecipient.from_text(node.age_recipient), county.age_identities[0].recipient],
        signer=county.signer_for(node.county_key),
    )
    session.add(
        DownEntryRecord(
            node_id=node.node_id,
            seq=entry.seq,
            prev_hash=entry.prev_hash,
            entry_hash=entry.entry_hash,
            kind=entry.kind,
            ciphertext=entry.ciphertext,
            signature=entry.signature,
            created_at=utc_iso(),
        )
    )
    node.down_seq, node.down_hash = entry.seq, entry.entry_hash
    session.add(node)
    return entry


async def decide_case(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    outcome: str,
    reason: str,
    reviewer: str,
    catalogue: Catalogue | None = None,
) -> CaseState:
    """准予 / 不予: record the decision and queue it down to the centre that accepted the case."""
    if outcome not in ("approve", "deny"):
        raise OneWindowError(VALIDATION, "决定只能是准予（approve）或不予（deny）", field="outcome")
    reason = reason.strip()
    if outcome == "deny" and not reason:
        raise OneWindowError(REQUIRED_FIELD, "不予许可必须写明理由", field="reason")
    events = await case_events(session, case_id)
    state = fold(case_id, events)
    if state.status is None:
        raise OneWindowError(NOT_FOUND, f"办件 {case_id} 不存在", field="case_id")
    if state.status != ACCEPTED:
        raise OneWindowError(
            INVALID_TRANSITION, f"办件当前为「{state.status_label}」，不能作出决定", field="case_id"
        )
    node = (
        await session.exec(
            select(NodeRecord).where(NodeRecord.node_id == state.origin_node).with_for_update()
        )
    ).first()
    if node is None:
        raise OneWindowError(NOT_FOUND, f"受理节点 {state.origin_node} 不存在", field="origin_node")
    department_code, department = "county", county.name
    if catalogue is not None:
        try:
            item = catalogue.by_code(state.item_code)
        except KeyError:
            item = None  # an item no longer in the catalogue: the county decides in its own name
        if item is not None:
            if item.case_type == 1:
                raise OneWindowError(
                    INVALID_TRANSITION, "即办件由窗口业务负责人当场办结，县级不作决定", field="case_id"
                )
            department_code, department = item.lead_department.code, item.lead_department.name
    # A node with a fast clock must not drag the county's clock into the future (the HLC drift bound); the
    # decision still sorts after everything it decides on.
    newest = max(e.hlc for e in events)
    _clock.observe(newest, max_ahead_ms=MAX_CLOCK_AHEAD_MS)
    event = Event(
        id=uuid7(),
        case_id=case_id,
        type=CASE_DECIDED,
        authority=f"central:{department_code}",
        actor=reviewer,
        hlc=max(_clock.now(), newest + 1),
        payload={
            "outcome": outcome,
            "reason": reason,
            "department": department,
            "decided_at": utc_iso(),
        },
    )
    await store_event(session, event, node_id=None, up_seq=None)
    await refresh_case(session, case_id)
    await append_down(session, county, node, {"events": [event.to_dict()]})
    return fold(case_id, [*events, event])


async def publish_calendar(session: AsyncSession, county: CountyKeys, calendar: dict[str, Any]) -> int:
    """Send the county's working-day calendar down to every enrolled node; returns how many got it.

    Nodes apply a calendar only when its version is newer than theirs, so publishing twice is harmless."""
    calendar_from_dict(calendar)  # refuse a broken calendar before any node sees it
    nodes = (
        await session.exec(
            select(NodeRecord).where(col(NodeRecord.age_recipient).is_not(None)).with_for_update()
        )
    ).all()
    for node in nodes:
        await append_down(session, county, node, {"calendar": calendar}, kind="calendar")
    return len(nodes)


async def down_entries(session: AsyncSession, node_id: str, *, after: int, limit: int) -> list[LogEntry]:
    rows = (
        await session.exec(
            select(DownEntryRecord)
            .where(DownEntryRecord.node_id == node_id, col(DownEntryRecord.seq) > after)
            .order_by(col(DownEntryRecord.seq))
            .limit(limit)
        )
    ).all()
    return [LogEntry(r.node_id, "down", r.seq, r.prev_hash, r.kind, r.ciphertext, r.signature) for r in rows]


async def list_nodes(session: AsyncSession) -> list[NodeRecord]:
    return list((await session.exec(select(NodeRecord).order_by(col(NodeRecord.number)))).all())


def applicant_of(state: CaseState) -> dict[str, Any]:
    applicant: dict[str, Any] = json.loads(json.dumps(dict(state.applicant)))
    return applicant
