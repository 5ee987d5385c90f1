"""Applying many node events at once: the ingest fast path (issue 11).

A push carries up to a few hundred entries; applying their events row by row through the ORM cost several
database round trips per event. Here a whole batch is applied with a handful of statements: one lookup of the
ids already known, one multi-row insert of the new events and of the attachments they refer to, one read of
every touched case's events, one fold per case, one write of the projections. The caller runs it inside a
savepoint and, should anything in the batch turn out to be poisoned, falls back to one entry at a time so the
poisoned entry alone is quarantined (`central.sync.ingest`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from central.models import CaseRecord, EventRecord, ExpectedBlobRecord, UpEntryRecord
from protocol.errors import EVENT_CONFLICT, OneWindowError
from protocol.events import (
    CASE_ACCEPTED,
    CASE_ACCEPTED_WITH_WAIVER,
    CASE_RECEIVED,
    Event,
    blob_refs,
    event_columns,
    event_from_columns,
    fold,
    projection_columns,
)
from protocol.hall import aggregate_kind

#: Legal times and the event types that state them: none may be later than central received the entry.
LEGAL_TIMES = {"received_at": (CASE_RECEIVED,), "accepted_at": (CASE_ACCEPTED, CASE_ACCEPTED_WITH_WAIVER)}
_IN_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def event_of(row: Any) -> Event:
    """An event from a stored row (an `EventRecord` or a plain result row of the event table)."""
    return event_from_columns(
        id=row.id,
        case_id=row.case_id,
        type=row.type,
        authority=row.authority,
        actor=row.actor,
        hlc=row.hlc,
        payload=row.payload,
        schema_version=row.schema_version,
    )


async def apply_event_batch(
    session: AsyncSession, node_id: str, batch: Sequence[tuple[int, Sequence[Event]]], now: str
) -> list[tuple[str, str]]:
    """Store the new events of `batch` ((up seq, events) per entry) and refresh the case projections they
    touch. Same id and content is a no-op; same id, other content raises OW-1213. Returns the (aggregate id,
    kind) of ratings and complaints touched, which the caller refreshes one by one."""
    conn = await session.connection()
    table = EventRecord.__table__  # type: ignore[attr-defined]
    ids = [e.id for _, events in batch for e in events]
    known: dict[str, str] = {}
    for chunk in _chunks(ids):
        rows = await conn.execute(select(table.c.id, table.c.content_hash).where(table.c.id.in_(chunk)))
        known.update({r.id: r.content_hash for r in rows})
    new_rows: list[dict[str, Any]] = []
    touched: dict[str, str] = {}
    refs: dict[str, str] = {}
    for seq, events in batch:
        for event in events:
            columns = event_columns(event)  # computes the content hash once
            seen = known.get(event.id)
            if seen is not None:
                if seen != columns["content_hash"]:
                    raise OneWindowError(
                        EVENT_CONFLICT,
                        f"event {event.id} differs from the one received before",
                        field="event.id",
                    )
                continue
            known[event.id] = columns["content_hash"]
            new_rows.append({**columns, "node_id": node_id, "up_seq": seq})
            touched[event.case_id] = aggregate_kind(event.type)
            for digest in blob_refs(event):
                refs.setdefault(digest, event.case_id)
    if not new_rows:
        return []
    await conn.execute(table.insert(), new_rows)
    await _expect_blobs(conn, node_id, refs, now)
    case_ids = [k for k, kind in touched.items() if kind == "case"]
    await refresh_cases(session, case_ids, now=now, arriving={(node_id, seq) for seq, _ in batch})
    return [(k, kind) for k, kind in touched.items() if kind != "case"]


async def _expect_blobs(conn: Any, node_id: str, refs: dict[str, str], now: str) -> None:
    if not refs:
        return
    table = ExpectedBlobRecord.__table__  # type: ignore[attr-defined]
    digests = list(refs)
    present: set[str] = set()
    for chunk in _chunks(digests):
        present.update(
            r.sha256 for r in await conn.execute(select(table.c.sha256).where(table.c.sha256.in_(chunk)))
        )
    rows = [
        {"sha256": d, "node_id": node_id, "case_id": refs[d], "first_seen_at": now}
        for d in digests
        if d not in present
    ]
    if rows:
        await conn.execute(table.insert(), rows)


async def refresh_cases(
    session: AsyncSession, case_ids: Sequence[str], *, now: str, arriving: set[tuple[str, int]] | None = None
) -> None:
    """Rebuild the projections of these cases from all their events (a few statements for any number).

    `arriving` names the (node, seq) of entries being stored in this transaction: their receipt time is `now`."""
    if not case_ids:
        return
    conn = await session.connection()
    events_table = EventRecord.__table__  # type: ignore[attr-defined]
    by_case: dict[str, list[Any]] = defaultdict(list)
    for chunk in _chunks(list(case_ids)):
        for row in await conn.execute(select(events_table).where(events_table.c.case_id.in_(chunk))):
            by_case[row.case_id].append(row)
    values_by_case: dict[str, dict[str, Any]] = {}
    carriers: dict[str, dict[str, tuple[str, int]]] = {}
    for case_id, rows in by_case.items():
        state = fold(case_id, [event_of(r) for r in rows])
        if state.status is None:
            continue
        values_by_case[case_id] = {
            **projection_columns(state),
            "origin_node": state.origin_node,
            "centre_name": state.centre_name,
            "decided_at": state.decision.decided_at if state.decision else "",
        }
        for column, types in LEGAL_TIMES.items():
            carrier = next((r for r in rows if r.type in types and r.node_id and r.up_seq), None)
            if carrier is not None:
                carriers.setdefault(case_id, {})[column] = (carrier.node_id, carrier.up_seq)
    await _bound_legal_times(conn, values_by_case, carriers, now, arriving or set())
    await _write_projections(conn, values_by_case)


async def _bound_legal_times(
    conn: Any,
    values_by_case: dict[str, dict[str, Any]],
    carriers: dict[str, dict[str, tuple[str, int]]],
    now: str,
    arriving: set[tuple[str, int]],
) -> None:
    """A node with a clock running fast cannot state a receipt or acceptance time later than central got the
    entry that carried it (R-SYNC-8): such times are cut to central's receipt time."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for by_column in carriers.values():
        for node_id, seq in by_column.values():
            if (node_id, seq) not in arriving:
                wanted[node_id].add(seq)
    received: dict[tuple[str, int], str] = {}
    entries = UpEntryRecord.__table__  # type: ignore[attr-defined]
    for node_id, seqs in wanted.items():
        for chunk in _chunks(sorted(seqs)):
            query = select(entries.c.seq, entries.c.received_at).where(
                entries.c.node_id == node_id, entries.c.seq.in_(chunk)
            )
            received.update({(node_id, r.seq): r.received_at for r in await conn.execute(query)})
    for case_id, by_column in carriers.items():
        values = values_by_case.get(case_id)
        if values is None:
            continue
        for column, pair in by_column.items():
            bound = now if pair in arriving else received.get(pair)
            if bound is not None and values.get(column) and bound < values[column]:
                values[column] = bound


async def _write_projections(conn: Any, values_by_case: dict[str, dict[str, Any]]) -> None:
    if not values_by_case:
        return
    table = CaseRecord.__table__  # type: ignore[attr-defined]
    ids = list(values_by_case)
    existing: set[str] = set()
    for chunk in _chunks(ids):
        existing.update(
            r.case_id for r in await conn.execute(select(table.c.case_id).where(table.c.case_id.in_(chunk)))
        )
    inserts = [{"case_id": k, **v} for k, v in values_by_case.items() if k not in existing]
    updates = [
        {"b_case_id": k, **{f"v_{c}": value for c, value in v.items()}}
        for k, v in values_by_case.items()
        if k in existing
    ]
    if inserts:
        await conn.execute(table.insert(), inserts)
    if updates:
        columns = list(next(iter(values_by_case.values())))
        statement = (
            update(table)
            .where(table.c.case_id == bindparam("b_case_id"))
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        await conn.execute(statement, updates)
