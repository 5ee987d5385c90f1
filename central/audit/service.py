"""Central's audit trail (R-SEC-2, 审计日志): who did and who viewed what in the back office, append-only and
hash-chained (rules in `protocol.audit`). The migration adds triggers that refuse UPDATE and DELETE on SQLite and
PostgreSQL alike; `verify` finds a row removed or edited behind their back.

A row is its own small transaction after the request it describes has finished, so the action has committed (or
failed) on its own. On PostgreSQL several central processes may record at once: a transaction-scoped advisory lock
keeps the chain linear (SQLite's single writer does that already)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select

from central.db import CentralDatabase
from central.models import AuditEntry, CaseRecord
from protocol.audit import GENESIS, AuditEvent, AuditQuery, ChainReport, ChainVerifier, entry_hash

#: Any fixed number: the key of the advisory lock that serialises appends on PostgreSQL.
_CHAIN_LOCK = 0x4F57_4155_4454  # "OWAUDT"
_VERIFY_BATCH = 5000


async def record(db: CentralDatabase, event: AuditEvent, *, at: str) -> AuditEntry:
    """Append one row at the head of the chain."""
    async with db.transaction() as session:
        if not db.is_sqlite:
            await session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_CHAIN_LOCK))  # type: ignore[call-overload]
        head = (
            await session.exec(
                select(AuditEntry.id, AuditEntry.entry_hash).order_by(col(AuditEntry.id).desc()).limit(1)
            )
        ).first()
        fields: dict[str, Any] = {
            "id": head[0] + 1 if head else 1,
            "at": at,
            "actor": event.actor,
            "role": event.role,
            "action": event.action,
            "method": event.method,
            "path": event.path[:500],
            "route": event.route[:200],
            "query": event.query,
            "object_type": event.object_type,
            "object_id": event.object_id[:100],
            "status": event.status,
            "client": event.client,
            "prev_hash": head[1] if head else GENESIS,
        }
        entry = AuditEntry(**fields, entry_hash=entry_hash(fields))
        session.add(entry)
    return entry


async def search(db: CentralDatabase, query: AuditQuery) -> tuple[list[AuditEntry], bool]:
    """A page of rows matching the query, newest first, and whether older ones remain."""
    start, end = query.utc_bounds()
    statement = select(AuditEntry)
    async with db.transaction() as session:
        if query.object:
            case_id = (
                await session.exec(
                    select(CaseRecord.case_id).where(CaseRecord.case_number == query.object.strip())
                )
            ).first()
            statement = statement.where(AuditEntry.object_id == (case_id or query.object.strip()))
        if query.actor:
            statement = statement.where(AuditEntry.actor == query.actor.strip())
        if query.action:
            statement = statement.where(AuditEntry.action == query.action)
        if start:
            statement = statement.where(AuditEntry.at >= start)
        if end:
            statement = statement.where(AuditEntry.at < end)
        if query.text:
            statement = statement.where(col(AuditEntry.path).contains(query.text.strip(), autoescape=True))
        if query.before is not None:
            statement = statement.where(AuditEntry.id < query.before)
        rows = (
            await session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(query.limit + 1))
        ).all()
    return list(rows[: query.limit]), len(rows) > query.limit


async def _batch(db: CentralDatabase, after: int) -> Sequence[AuditEntry]:
    async with db.transaction() as session:
        return (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.id > after)
                .order_by(col(AuditEntry.id))
                .limit(_VERIFY_BATCH)
            )
        ).all()


async def verify(db: CentralDatabase) -> ChainReport:
    """Re-read the whole trail in id order, batch by batch, and check every link and hash."""
    verifier, after = ChainVerifier(), 0
    while batch := await _batch(db, after):
        if not verifier.feed(row.model_dump() for row in batch):
            break
        after = batch[-1].id
    return verifier.report()
