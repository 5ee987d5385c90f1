"""The node's two logs with central: appending to the up log and applying the down log.

Up entries are sealed from the node's own events that no entry carries yet, in (hlc, id) order, and encrypted
to the county: once sealed, the node keeps only the ciphertext in the log (its events stay readable in the
event table). `seal_pending` is the runtime's sealer: `node.events.record` hands it every recorded event.
Down entries are verified against the county key and the chain before anything is applied; their events go
into the event store through `node.events`. Also here: the heads of both logs, receipts, re-chaining after a
restore, and the figures of the queue.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import insert_event, project_case, row_to_event
from node.meta import get_meta, set_meta
from node.models import CaseEvent, CatalogueVersion, Counter, DownEntry, UpEntry
from node.runtime import CALENDAR_KEY, NodeRuntime
from node.staff import apply_staff_accounts
from node.sync.down_blobs import note_wanted
from node.trust.identity import trust_county_keys
from protocol.calendar import calendar_from_dict
from protocol.canonical import canonical_json
from protocol.catalogue import catalogue_from_dict
from protocol.errors import ENTRY_CHAIN_BROKEN, ENTRY_GAP, OneWindowError
from protocol.events import CASE_RESULT_DISPATCHED, CENTRAL_EVENT_TYPES, Event
from protocol.keys import SigningKey
from protocol.limits import MAX_ENTRY_CIPHERTEXT
from protocol.log import GENESIS_HASH, LogEntry, Receipt, open_entry, seal_entry, verify_entry
from protocol.trust import follow_statements

MAX_EVENTS_PER_ENTRY = 500
#: The most plaintext one up entry carries: its age ciphertext (a few bytes per 64 KiB more) stays within what
#: central applies, `protocol.limits.MAX_ENTRY_CIPHERTEXT`.
ENTRY_PLAINTEXT = MAX_ENTRY_CIPHERTEXT - 256 * 1024
DOWN_HEAD = "down_head"


UP_BASE = "up_base"


async def up_head(session: AsyncSession) -> tuple[int, str]:
    """(seq, entry_hash) of the newest up entry, (0, genesis) when empty.

    After a restore from an older backup the node may have learnt from central a head beyond its own newest
    entry (`UP_BASE`); new entries chain after that."""
    row = (await session.exec(select(UpEntry).order_by(col(UpEntry.seq).desc()).limit(1))).first()
    head = (row.seq, row.entry_hash) if row else (0, GENESIS_HASH)
    base = await get_meta(session, UP_BASE)
    if base:
        seq, digest = base.split(":", 1)
        if int(seq) > head[0]:
            return int(seq), digest
    return head


async def rechain_after(session: AsyncSession, runtime: NodeRuntime, seq: int, digest: str) -> int:
    """Central holds entries up to `seq` that this node lost (it was restored from an older backup): drop the
    node's unreceipted entries, which central never took, and let their events be sealed again after central's
    head. Events keep their ids, so any that central already has are harmless. Returns the entries dropped."""
    rows = (await session.exec(select(UpEntry).where(col(UpEntry.receipt).is_(None)))).all()
    dropped = {row.seq for row in rows}
    for row in rows:
        await session.delete(row)
    if dropped:
        events = (await session.exec(select(CaseEvent).where(col(CaseEvent.up_seq).in_(dropped)))).all()
        for event in events:
            event.up_seq = None
            session.add(event)
    await set_meta(session, UP_BASE, f"{seq}:{digest}")
    await session.flush()
    await seal_pending(session, runtime)
    return len(dropped)


async def lose_receipts_after(session: AsyncSession, seq: int) -> int:
    """Central was restored from an older backup and now holds only up to `seq`: keep the receipts it gave for
    later entries as proof, but send those entries again."""
    rows = (
        await session.exec(select(UpEntry).where(col(UpEntry.seq) > seq, col(UpEntry.receipt).is_not(None)))
    ).all()
    for row in rows:
        row.lost_receipt, row.receipt, row.receipted_at = row.receipt, None, None
        session.add(row)
    return len(rows)


async def append_up_entry(
    session: AsyncSession,
    runtime: NodeRuntime,
    *,
    kind: str,
    payload: dict[str, Any],
    signer: SigningKey | None = None,
) -> UpEntry:
    """Seal `payload` as the next up entry (inside the caller's write transaction), signed by the node's key
    (or `signer`: a node key rotation is announced by the key central knows the node by)."""
    seq, prev = await up_head(session)
    entry = seal_entry(
        node_id=runtime.node_id,
        stream="up",
        seq=seq + 1,
        prev_hash=prev,
        kind=kind,
        payload=payload,
        recipients=[runtime.identity.county_recipient],
        signer=signer or runtime.identity.signing_key,
    )
    row = UpEntry(**entry.stored_columns(), created_at=runtime.now_iso())
    session.add(row)
    await session.flush()
    return row


async def seal_pending(session: AsyncSession, runtime: NodeRuntime) -> int:
    """Put every local event no entry carries yet into up entries; returns how many events were sealed."""
    sealed = 0
    while True:
        rows = (
            await session.exec(
                select(CaseEvent)
                .where(CaseEvent.origin == "local", col(CaseEvent.up_seq).is_(None))
                .order_by(col(CaseEvent.hlc), col(CaseEvent.id))
                .limit(MAX_EVENTS_PER_ENTRY)
            )
        ).all()
        if not rows:
            return sealed
        counters = await live_counters(session, runtime)
        events = [row_to_event(r).to_dict() for r in rows]
        while (
            len(events) > 1
            and len(canonical_json({"events": events, "counters": counters})) > ENTRY_PLAINTEXT
        ):
            events = events[: len(events) // 2]  # never an entry larger than central applies
        rows = rows[: len(events)]
        entry = await append_up_entry(
            session, runtime, kind="events", payload={"events": events, "counters": counters}
        )
        for row in rows:
            row.up_seq = entry.seq
            session.add(row)
        sealed += len(rows)
        await session.flush()


async def live_counters(session: AsyncSession, runtime: NodeRuntime) -> dict[str, int]:
    """Today's and this year's number counters: central keeps the highest it saw, so a node restored from an
    older backup learns them back and never issues a number twice."""
    today = runtime.today()
    rows = (
        await session.exec(
            select(Counter).where(
                col(Counter.name).endswith(f":{today:%Y%m%d}") | col(Counter.name).endswith(f":{today.year}")
            )
        )
    ).all()
    return {row.name: row.value for row in rows}


async def raise_counters(session: AsyncSession, stated: Any) -> int:
    """Advance local counters to what central says this node already used; returns how many moved."""
    moved = 0
    if not isinstance(stated, dict):
        return 0
    for name, value in stated.items():
        if not isinstance(name, str) or not isinstance(value, int):
            continue
        row = await session.get(Counter, name)
        if row is None:
            session.add(Counter(name=name, value=value))
            moved += 1
        elif row.value < value:
            row.value = value
            session.add(row)
            moved += 1
    return moved


async def pending_entries(session: AsyncSession, limit: int) -> list[UpEntry]:
    """Up entries central has not receipted yet, oldest first."""
    result = await session.exec(
        select(UpEntry).where(col(UpEntry.receipt).is_(None)).order_by(col(UpEntry.seq)).limit(limit)
    )
    return list(result.all())


def entry_of(row: UpEntry, node_id: str) -> LogEntry:
    return LogEntry(node_id, "up", row.seq, row.prev_hash, row.kind, row.ciphertext, row.signature)


async def store_receipts(
    session: AsyncSession, runtime: NodeRuntime, verdicts: list[tuple[Receipt, str, str | None]]
) -> int:
    """Keep central's signed receipts ((receipt, central's verdict, reason) each) after checking that each
    names this node, an entry of its log and that entry's hash. Returns how many were kept."""
    table = UpEntry.__table__  # type: ignore[attr-defined]
    seqs = [r.seq for r, _, _ in verdicts]
    rows: dict[int, Any] = {}
    conn = await session.connection()
    # Plain rows of the columns concerned, not the entries (their ciphertext stays on disk), and one UPDATE for
    # the batch: a drain keeps tens of thousands of receipts (issue 20).
    for start in range(0, len(seqs), 500):
        found = await conn.execute(
            sa_select(
                table.c.seq,
                table.c.entry_hash,
                table.c.receipt,
                table.c.receipted_at,
                table.c.central_status,
                table.c.central_reason,
            ).where(table.c.seq.in_(seqs[start : start + 500]))
        )
        rows.update({row.seq: row for row in found})
    now = runtime.now_iso()
    updates: list[dict[str, Any]] = []
    for receipt, status, reason in verdicts:
        receipt.verify(runtime.identity.county_ring)
        row = rows.get(receipt.seq)
        if row is None or row.entry_hash != receipt.entry_hash or receipt.node_id != runtime.node_id:
            continue
        updates.append(
            {
                "b_seq": row.seq,
                "v_receipt": row.receipt if row.receipt is not None else json.dumps(receipt.to_wire()),
                "v_receipted_at": row.receipted_at if row.receipt is not None else now,
                "v_central_status": status or row.central_status,
                "v_central_reason": (reason or row.central_reason) if status else row.central_reason,
            }
        )
    if updates:
        await conn.execute(
            update(table)
            .where(table.c.seq == bindparam("b_seq"))
            .values(
                receipt=bindparam("v_receipt"),
                receipted_at=bindparam("v_receipted_at"),
                central_status=bindparam("v_central_status"),
                central_reason=bindparam("v_central_reason"),
            ),
            updates,
        )
    return len(updates)


async def receipted_head(session: AsyncSession) -> tuple[int, str]:
    """(seq, entry_hash) of the newest entry central has receipted, (0, genesis) when none."""
    row = (
        await session.exec(
            select(UpEntry)
            .where(col(UpEntry.receipt).is_not(None))
            .order_by(col(UpEntry.seq).desc())
            .limit(1)
        )
    ).first()
    return (row.seq, row.entry_hash) if row else (0, GENESIS_HASH)


async def down_head(session: AsyncSession) -> tuple[int, str]:
    row = (await session.exec(select(DownEntry).order_by(col(DownEntry.seq).desc()).limit(1))).first()
    return (row.seq, row.entry_hash) if row else (0, GENESIS_HASH)


async def apply_down_entry(session: AsyncSession, runtime: NodeRuntime, entry: LogEntry) -> int:
    """Verify and apply one down entry in order; returns the number of new events."""
    seq, head_hash = await down_head(session)
    if entry.seq <= seq:
        return 0  # already applied: pulling twice is harmless
    if entry.seq != seq + 1:
        raise OneWindowError(ENTRY_GAP, f"down seq {entry.seq} after {seq}", field="seq")
    if entry.prev_hash != head_hash or entry.node_id != runtime.node_id or entry.stream != "down":
        raise OneWindowError(ENTRY_CHAIN_BROKEN, f"down seq {entry.seq}", field="prev_hash")
    verify_entry(entry, runtime.identity.county_ring)
    payload = open_entry(entry, runtime.identity.age_identities)
    added = 0
    touched: set[str] = set()
    applied: list[Event] = []
    for event in _relayed(runtime, payload):
        runtime.clock.observe(event.hlc)
        if await insert_event(session, event, origin="down"):
            added += 1
            touched.add(event.case_id)
            applied.append(event)
    for case_id in touched:
        await project_case(session, case_id, id_key=runtime.identity.data_key)
    await note_wanted(session, applied)  # result documents to fetch (node.sync.down_blobs)
    if isinstance(payload.get("county_keys"), list):
        _apply_county_keys(runtime, payload["county_keys"])
    if isinstance(payload.get("calendar"), dict):
        await _apply_calendar(session, runtime, payload["calendar"])
    if isinstance(payload.get("catalogue"), dict):
        await _apply_catalogue(
            session, runtime, payload["catalogue"], str(payload.get("catalogue_signature", ""))
        )
    if isinstance(payload.get("staff"), list):
        await apply_staff_accounts(session, payload["staff"])  # accounts created, disabled, reset at central
    session.add(DownEntry(**entry.stored_columns(), applied_at=runtime.now_iso()))
    return added


def _relayed(runtime: NodeRuntime, payload: dict[str, Any]) -> list[Event]:
    """The events of a down entry this node applies: central's own back-office events, and — only for a case
    whose result central dispatched to this centre (就近办) — the case's whole history relayed with it, so the
    centre can show, print and hand over a result it did not accept. Anything else is ignored, not trusted."""
    central = [Event.from_dict(raw) for raw in payload.get("events", [])]
    kept = [e for e in central if e.type in CENTRAL_EVENT_TYPES]
    relay = payload.get("relay")
    if isinstance(relay, dict) and isinstance(relay.get("events"), list):
        case_id = str(relay.get("case_id", ""))
        history = [Event.from_dict(raw) for raw in relay["events"]]
        ours = any(
            e.type == CASE_RESULT_DISPATCHED and e.payload.get("to_node") == runtime.node_id for e in history
        )
        if ours:
            kept.extend(e for e in history if e.case_id == case_id)
    return kept


def _apply_county_keys(runtime: NodeRuntime, statements: list[Any]) -> None:
    """Trust the county's new key generations, each announced by a key this node already trusts, and encrypt
    to the newest from now on. A statement that does not verify refuses the entry (OW-1219): the down log
    stops there rather than skip what central meant to say."""
    ring, newest = follow_statements(runtime.identity.county_ring, statements)
    if newest is None:
        return
    trust_county_keys(runtime.data_dir, ring, newest.age_recipient)
    runtime.identity = replace(
        runtime.identity,
        county_keys=ring.keys,
        county_sign_key=ring.newest,
        county_recipient=newest.age_recipient,
    )


async def _apply_calendar(session: AsyncSession, runtime: NodeRuntime, data: dict[str, Any]) -> None:
    """Keep a newer working-day calendar from the county; an older or equal version changes nothing."""
    calendar = calendar_from_dict(data)
    if calendar.version <= runtime.calendar.version and runtime.calendar.years:
        return
    await set_meta(session, CALENDAR_KEY, canonical_json(data).decode("utf-8"))
    runtime.calendar = calendar


async def _apply_catalogue(
    session: AsyncSession, runtime: NodeRuntime, data: dict[str, Any], signature: str
) -> None:
    """Keep a catalogue version the county signed (R-CAT-2). Cases keep the version they were received under;
    new cases use the newest. A version already held changes nothing."""
    try:
        signed = runtime.identity.county_ring.verify(
            base64.b64decode(signature, validate=True), canonical_json(data)
        )
    except ValueError:
        signed = False
    if not signed:
        # The entry itself is county-signed; a catalogue without its own valid signature is not applied, and
        # the down log is not blocked by it.
        await set_meta(session, "catalogue_refused", f"{runtime.now_iso()} version {data.get('version')}")
        return
    catalogue = catalogue_from_dict(data)
    if await session.get(CatalogueVersion, catalogue.version) is None:
        session.add(
            CatalogueVersion(
                version=catalogue.version,
                issued_at=catalogue.issued_at,
                data=canonical_json(data).decode("utf-8"),
            )
        )
    runtime.catalogues[catalogue.version] = catalogue


#: meta: central's certificate of this node's keys (the county-signed statement from the reconcile answer).
CERTIFICATE_KEY = "certificate"
#: meta: central's word that the county revoked this node (JSON {at, reason}; "" when not revoked).
REVOKED_KEY = "revoked_by_county"


async def queue_depth(session: AsyncSession) -> dict[str, Any]:
    """Entries, bytes and events not yet receipted by central; the oldest unsent entry; the last receipt.

    Every figure reads only the queue (partial indexes), never the whole log."""
    unreceipted, queued_bytes, oldest = (
        await session.exec(
            select(
                func.count(),
                func.coalesce(func.sum(func.length(UpEntry.ciphertext)), 0),
                func.min(UpEntry.created_at),
            ).where(col(UpEntry.receipt).is_(None))
        )
    ).one()
    unsealed = (
        await session.exec(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.origin == "local", col(CaseEvent.up_seq).is_(None))
        )
    ).one()
    newest = (
        await session.exec(
            select(UpEntry.seq, UpEntry.receipted_at)
            .where(col(UpEntry.receipt).is_not(None))
            .order_by(col(UpEntry.seq).desc())
            .limit(1)
        )
    ).first()
    quarantined = (
        await session.exec(
            select(func.count()).select_from(UpEntry).where(UpEntry.central_status == "quarantined")
        )
    ).one()
    return {
        "entries": int(unreceipted),
        "bytes": int(queued_bytes),
        "oldest_unsent_at": oldest,
        "last_receipt_at": newest[1] if newest else None,
        "unsealed_events": int(unsealed),
        "receipted_seq": int(newest[0]) if newest else 0,
        "quarantined": int(quarantined),
    }
