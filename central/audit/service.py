"""Central's audit trail (R-SEC-2, 审计日志): who did and who viewed what in the back office, append-only and
hash-chained (rules in `protocol.audit`; columns, append, search and the chain check in `common.audit`). The
migration adds triggers that refuse UPDATE and DELETE on SQLite and PostgreSQL alike; `verify` finds a row
removed or edited behind their back.

A row is its own small transaction after the request it describes has finished, so the action has committed (or
failed) on its own. On PostgreSQL several central processes may record at once: a transaction-scoped advisory lock
keeps the chain linear (SQLite's single writer does that already)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlmodel import select

from central.db import CentralDatabase
from central.models import AuditEntry, CaseRecord
from common import audit
from protocol.audit import AuditEvent, AuditQuery, ChainReport

#: Any fixed number: the key of the advisory lock that serialises appends on PostgreSQL.
_CHAIN_LOCK = 0x4F57_4155_4454  # "OWAUDT"


async def record(db: CentralDatabase, event: AuditEvent, *, at: str) -> AuditEntry:
    """Append one row at the head of the chain."""
    async with db.transaction() as session:
        if not db.is_sqlite:
            await session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_CHAIN_LOCK))  # type: ignore[call-overload]
        return await audit.append(session, AuditEntry, event, at=at)


async def search(db: CentralDatabase, query: AuditQuery) -> tuple[list[AuditEntry], bool]:
    """A page of rows matching the query, newest first, and whether older ones remain; a case number given as
    the object finds its case's rows."""
    async with db.transaction() as session:
        case_id = None
        if query.object:
            case_id = (
                await session.exec(
                    select(CaseRecord.case_id).where(CaseRecord.case_number == query.object.strip())
                )
            ).first()
        return await audit.search(session, AuditEntry, query, case_id=case_id)


async def verify(db: CentralDatabase) -> ChainReport:
    """Re-read the whole trail in id order, batch by batch, and check every link and hash."""

    async def batch(after: int) -> Sequence[AuditEntry]:
        async with db.transaction() as session:
            return await audit.batch_after(session, AuditEntry, after)

    return await audit.verify(batch)
