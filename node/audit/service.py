"""Recording, searching and verifying the node's audit trail (the shared logic is `common.audit`'s).

A row is its own small write transaction after the request it describes has finished, so the user's action has
already committed (or failed) on its own: the audit can neither undo it nor make it run twice. The node's single
writer keeps the chain linear."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import select

from common import audit
from node.audit.models import AuditEntry
from node.db import Database
from node.models import Case
from protocol.audit import AuditEvent, AuditQuery, ChainReport


async def record(db: Database, event: AuditEvent, *, at: str) -> AuditEntry:
    """Append one row at the head of the chain."""
    async with db.write() as session:
        return await audit.append(session, AuditEntry, event, at=at)


async def search(db: Database, query: AuditQuery) -> tuple[list[AuditEntry], bool]:
    """A page of rows matching the query, newest first, and whether older ones remain; a case number given as
    the object finds its case's rows."""
    async with db.read() as session:
        case_id = None
        if query.object:
            case_id = (
                await session.exec(select(Case.case_id).where(Case.case_number == query.object.strip()))
            ).first()
        return await audit.search(session, AuditEntry, query, case_id=case_id)


async def verify(db: Database) -> ChainReport:
    """Re-read the whole trail in id order and check every link and hash."""

    async def batch(after: int) -> Sequence[AuditEntry]:
        async with db.read() as session:
            return await audit.batch_after(session, AuditEntry, after)

    return await audit.verify(batch)
