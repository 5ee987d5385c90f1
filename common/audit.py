"""The audit trail's storage (审计日志, R-SEC-2), the same at the node and at central: the row's columns, appending
a row at the head of the hash chain, searching, and re-reading the whole chain to verify it.

Each app declares its own table from `AuditColumns` (its own metadata, its own migration with the triggers that
refuse UPDATE and DELETE) and opens its own transactions: the node's single writer keeps the chain linear,
central takes an advisory lock on PostgreSQL first. The chain rules themselves are `protocol.audit`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from protocol.audit import GENESIS, AuditEvent, AuditQuery, ChainReport, ChainVerifier, entry_hash

#: Rows re-read per batch while verifying the chain.
VERIFY_BATCH = 5000
#: Indexes every audit table carries (name, columns): the search filters' access paths.
AUDIT_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ix_audit_at", ("at",)),
    ("ix_audit_actor", ("actor", "id")),
    ("ix_audit_object", ("object_id", "id")),
    ("ix_audit_action", ("action", "id")),
)


class AuditColumns(SQLModel):
    """One audited request: who (actor, role), what (action, method, path, route, object), outcome (status)."""

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # gap-free from 1
    at: str  # UTC ISO with milliseconds
    actor: str  # username; for a failed login, the username that was tried
    role: str
    action: str  # protocol.audit.ACTION_LABELS
    method: str
    path: str
    route: str  # the route template, e.g. /cases/{case_id}
    query: str  # parameter names only, never values
    object_type: str
    object_id: str
    status: int
    client: str
    prev_hash: str
    entry_hash: str


Row = TypeVar("Row", bound=AuditColumns)


async def append(session: AsyncSession, table: type[Row], event: AuditEvent, *, at: str) -> Row:
    """Add one row at the head of the chain, inside the caller's write transaction (which must keep appends
    serial: one writer, or a lock)."""
    head = (
        await session.exec(select(table.id, table.entry_hash).order_by(col(table.id).desc()).limit(1))
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
    row = table(**fields, entry_hash=entry_hash(fields))
    session.add(row)
    return row


async def search(
    session: AsyncSession, table: type[Row], query: AuditQuery, *, case_id: str | None = None
) -> tuple[list[Row], bool]:
    """A page of rows matching the query, newest first, and whether older ones remain. `case_id` is the case
    the query's object names when it is a case number (the caller looks it up in its own case table)."""
    start, end = query.utc_bounds()
    statement = select(table)
    if query.object:
        statement = statement.where(table.object_id == (case_id or query.object.strip()))
    if query.actor:
        statement = statement.where(table.actor == query.actor.strip())
    if query.action:
        statement = statement.where(table.action == query.action)
    if start:
        statement = statement.where(table.at >= start)
    if end:
        statement = statement.where(table.at < end)
    if query.text:
        statement = statement.where(col(table.path).contains(query.text.strip(), autoescape=True))
    if query.before is not None:
        statement = statement.where(table.id < query.before)
    rows = (await session.exec(statement.order_by(col(table.id).desc()).limit(query.limit + 1))).all()
    return list(rows[: query.limit]), len(rows) > query.limit


async def batch_after(session: AsyncSession, table: type[Row], after: int) -> Sequence[Row]:
    """The next rows of the chain after id `after`, in id order, for `verify`."""
    return (
        await session.exec(select(table).where(table.id > after).order_by(col(table.id)).limit(VERIFY_BATCH))
    ).all()


async def verify(read_batch: Callable[[int], Awaitable[Sequence[AuditColumns]]]) -> ChainReport:
    """Re-read the whole trail in id order, batch by batch (`read_batch(after)`, each in its own read
    transaction so a long check never holds the writer), and check every link and hash."""
    verifier, after = ChainVerifier(), 0
    while batch := await read_batch(after):
        if not verifier.feed(row.model_dump() for row in batch):
            break
        after = batch[-1].id
    return verifier.report()
