"""The county's review of quarantined entries (R-PROV-4): what a revoked node sent after its revocation waits
here, stored and chained but not applied. An admin who has checked it (say, cases a clerk accepted the morning
the tablet was stolen, sent by the thief's first sync) releases it: its events are applied exactly as if they had
been taken on arrival, idempotently. Or rejects it: it stays stored, marked, never applied. Nothing is deleted."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from central.cases.bulk import apply_event_batch
from central.cases.store import refresh_aggregate
from central.keys import CountyKeys
from central.models import NodeRecord, QuarantineRecord, UpEntryRecord
from central.sync.ingest import node_events
from protocol.errors import INVALID_TRANSITION, NOT_FOUND, REQUIRED_FIELD, OneWindowError
from protocol.log import LogEntry, open_entry

#: Only entries held back because their node was revoked may be released; a poisoned entry would fail again.
RELEASABLE = "OW-1210"


async def _pending(session: AsyncSession, quarantine_id: int) -> QuarantineRecord:
    record = await session.get(QuarantineRecord, quarantine_id)
    if record is None:
        raise OneWindowError(NOT_FOUND, f"没有第 {quarantine_id} 号隔离记录", field="quarantine_id")
    if record.resolution:
        raise OneWindowError(INVALID_TRANSITION, "这条记录已经复核过了", field="quarantine_id")
    return record


def _resolve(record: QuarantineRecord, resolution: str, actor: str, note: str, now: str) -> None:
    record.resolution, record.resolved_by, record.resolved_at = resolution, actor, now
    record.resolution_note = note[:500]


async def release(
    session: AsyncSession, county: CountyKeys, quarantine_id: int, *, actor: str, note: str, now: str
) -> int:
    """Apply a reviewed entry of a revoked node; returns how many events it held (applying is idempotent)."""
    note = note.strip()
    if not note:
        raise OneWindowError(REQUIRED_FIELD, "放行必须写明复核意见", field="note")
    record = await _pending(session, quarantine_id)
    if record.code != RELEASABLE:
        raise OneWindowError(
            INVALID_TRANSITION,
            "只有因节点吊销而隔离的条目可以放行；其他条目内容本身有误",
            field="quarantine_id",
        )
    stored = await session.get(UpEntryRecord, (record.node_id, record.seq))
    node = await session.get(NodeRecord, record.node_id)
    if stored is None or node is None or stored.entry_hash != record.entry_hash:
        raise OneWindowError(NOT_FOUND, "隔离记录对应的条目不在库中", field="quarantine_id")
    entry = LogEntry(
        stored.node_id, "up", stored.seq, stored.prev_hash, stored.kind, stored.ciphertext, stored.signature
    )
    added = 0
    if entry.kind == "events":
        events = node_events(node, open_entry(entry, county.age_identities))
        others = await apply_event_batch(session, node.node_id, [(entry.seq, events)], now)
        for aggregate_id, kind in dict(others).items():
            await refresh_aggregate(session, aggregate_id, kind, now=now)
        added = len(events)
    _resolve(record, "released", actor, note, now)
    session.add(record)
    return added


async def reject(session: AsyncSession, quarantine_id: int, *, actor: str, note: str, now: str) -> None:
    """Mark a quarantined entry as reviewed and not to be applied (it stays stored)."""
    note = note.strip()
    if not note:
        raise OneWindowError(REQUIRED_FIELD, "不予放行必须写明复核意见", field="note")
    record = await _pending(session, quarantine_id)
    _resolve(record, "rejected", actor, note, now)
    session.add(record)
