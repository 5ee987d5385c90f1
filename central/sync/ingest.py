"""Ingest of up entries from nodes: verify, store and apply exactly once, answer with signed receipts.

Per entry, in order: shape → node known and not revoked → duplicate / fork / gap against the stored chain →
signature → size → decrypt → apply events. No entry the node signed can stop its log: one that verifies
(chain and signature) but cannot be taken — larger than central applies, of a kind this version does not know,
undecryptable, or with events that cannot be applied (poisoned) — is stored, quarantined with the reason and
receipted as such (the node shows it to its admin), and the stream continues behind it. An entry that fails
verification is refused with a numbered error and nothing after it in the batch is looked at, because its
successors chain from it (a gap, a fork or a forgery is not the node's honest log).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.cases.bulk import apply_event_batch
from central.cases.store import refresh_aggregate
from central.clock import utc_iso
from central.keys import CountyKeys
from central.models import NodeRecord, QuarantineRecord, UpEntryRecord
from central.sync.nodes import (
    enrol,
    load_pushing_node,
    note_contact,
    revoked_error,
    rotate_node_keys,
    verify_node_request,
)
from central.sync.schemas import UpRequest
from common.logs import log_event
from protocol.errors import (
    ENROLMENT_INVALID,
    ENTRY_CHAIN_BROKEN,
    ENTRY_DUPLICATE,
    ENTRY_FORK,
    ENTRY_GAP,
    ENTRY_MALFORMED,
    ENTRY_POISONED,
    ENTRY_TOO_LARGE,
    REQUEST_SIGNATURE_INVALID,
    OneWindowError,
)
from protocol.events import NODE_EVENT_TYPES, Event
from protocol.hall import HALL_EVENT_TYPES
from protocol.keys import VerifyKey
from protocol.limits import MAX_ENTRY_CIPHERTEXT
from protocol.log import ENTRY_KINDS, LogEntry, Receipt, open_entry, verify_entry


@dataclass
class IngestResult:
    """The answer to one push."""

    results: list[dict[str, Any]] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str = "0" * 64
    down_available: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "results": self.results,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "down_available": self.down_available,
        }


NODE_AUTHORED_TYPES = NODE_EVENT_TYPES | HALL_EVENT_TYPES


def receipt_for(county: CountyKeys, row: UpEntryRecord, trusted: str | None = None) -> Receipt:
    """The receipt for a stored entry, signed by the newest county key the node trusts (`trusted`)."""
    # Ed25519 is deterministic, so a duplicate is answered with byte-for-byte the same receipt.
    signer = county.signer_for(trusted)
    return Receipt(row.node_id, "up", row.seq, row.entry_hash, row.received_at).signed(signer)


_LOG = logging.getLogger("onewindow.central.ingest")


async def _quarantine(session: AsyncSession, entry: LogEntry, error: OneWindowError, now: str) -> None:
    # One line per quarantined entry: the node, the seq and the catalogue's code and title — not the reason,
    # which may quote what the entry held.
    log_event(
        _LOG,
        "quarantine",
        level=logging.WARNING,
        node=entry.node_id,
        seq=entry.seq,
        kind=entry.kind,
        code=error.code,
        title=error.problem.title_en,
    )
    wire = entry.to_wire()
    if error.problem is ENTRY_TOO_LARGE:
        wire["ciphertext"] = ""  # kept once, in the stored entry
    session.add(
        QuarantineRecord(
            node_id=entry.node_id,
            seq=entry.seq,
            entry_hash=entry.entry_hash,
            code=error.code,
            reason=str(error.reason),
            received_at=now,
            wire=json.dumps(wire),
        )
    )


async def ingest(
    session: AsyncSession,
    county: CountyKeys,
    *,
    push: UpRequest,
    body: bytes,
    node_header: str,
    time_header: str,
    signature_header: str,
    method: str = "POST",
    path: str = "/sync/v1/up",
    now: str | None = None,
    max_entry: int = MAX_ENTRY_CIPHERTEXT,
) -> IngestResult:
    """Handle one push from a node inside the caller's transaction: `push` is the parsed body, `body` the bytes
    the node signed."""
    now = now or utc_iso()
    node_id = push.node_id
    if node_id != node_header:
        raise OneWindowError(
            REQUEST_SIGNATURE_INVALID, "node id in body and header differ", field="x-ow-node"
        )
    entries = [LogEntry.from_wire(raw.to_wire(), any_kind=True) for raw in push.entries]
    node, request_key = await load_pushing_node(session, county, node_id, entries)
    if not verify_node_request(node, request_key, method, path, time_header, body, signature_header):
        if entries and entries[0].seq == 1 and entries[0].kind == "enrol" and node.status != "pending":
            # Another machine enrolled from the same bundle: say so, rather than "bad signature".
            raise OneWindowError(
                ENROLMENT_INVALID,
                "这个注册包已经用过：节点已完成注册，注册密钥只能用一次（请向县管理员申请新的注册包）",
                field="secret",
            )
        raise OneWindowError(
            REQUEST_SIGNATURE_INVALID, "request not signed by this node's key", field="x-ow-signature"
        )
    if node.last_contact_at is None:  # the first contact (enrolment); after it, only a reconcile counts
        note_contact(node, time_header, now)
    down_head = push.down_head
    if down_head is not None and 0 <= down_head <= node.down_seq:
        node.down_acked = max(node.down_acked, down_head)
    return await ingest_entries(
        session, county, node, entries, request_key=request_key, now=now, max_entry=max_entry
    )


async def ingest_entries(
    session: AsyncSession,
    county: CountyKeys,
    node: NodeRecord,
    entries: list[LogEntry],
    *,
    request_key: VerifyKey,
    now: str,
    max_entry: int = MAX_ENTRY_CIPHERTEXT,
) -> IngestResult:
    """Store and apply `entries` of an authenticated node in order; the same path for HTTP and courier files.

    First every entry is checked (chain, signature, decryption, the events' shape and authority) without
    touching the database; then the events of all good entries are applied together in one savepoint
    (`central.cases.bulk`), and only if that fails, entry by entry, so a poisoned entry is quarantined alone."""
    result = IngestResult()
    started = time.perf_counter()
    accepted: list[tuple[LogEntry, list[Event] | None]] = []  # events None: nothing to apply (enrol, …)
    poisoned: dict[int, OneWindowError] = {}
    head_seq, head_hash = node.up_seq, node.up_hash
    for entry in entries:
        if entry.node_id != node.node_id or entry.stream != "up":
            result.results.append(
                _refusal(entry, OneWindowError(ENTRY_MALFORMED, "entry of another node or stream"))
            )
            break
        if entry.seq <= head_seq:
            stored = await session.get(UpEntryRecord, (node.node_id, entry.seq))
            if stored is not None and stored.entry_hash == entry.entry_hash:
                result.results.append(
                    {
                        "seq": entry.seq,
                        "status": "duplicate",
                        "code": ENTRY_DUPLICATE.code,
                        "detail": ENTRY_DUPLICATE.title,
                        "receipt": receipt_for(county, stored, node.county_key).to_wire(),
                        "central_status": await _central_status(session, node.node_id, stored),
                    }
                )
                continue
            error = OneWindowError(ENTRY_FORK, f"seq {entry.seq} already holds another entry")
            await _quarantine(session, entry, error, now)
            result.results.append(_refusal(entry, error))
            break
        if entry.seq != head_seq + 1:
            result.results.append(_refusal(entry, OneWindowError(ENTRY_GAP, f"expected seq {head_seq + 1}")))
            break
        if entry.prev_hash != head_hash:
            result.results.append(_refusal(entry, OneWindowError(ENTRY_CHAIN_BROKEN, f"seq {entry.seq}")))
            break
        try:
            verify_entry(entry, VerifyKey.from_text(node.sign_key) if node.sign_key else request_key)
        except OneWindowError as error:
            result.results.append(_refusal(entry, error))
            break
        events: list[Event] | None = None
        held = _unreadable(entry, county, max_entry)
        if isinstance(held, OneWindowError):
            if entry.seq == 1 and node.status == "pending":
                result.results.append(_refusal(entry, held))  # an enrolment must be read to be taken
                break
            # Verified, so the node's own: stored and quarantined, and the log goes on behind it.
            poisoned[entry.seq] = held
            accepted.append((entry, None))
            head_seq, head_hash = entry.seq, entry.entry_hash
            result.results.append({"seq": entry.seq})
            continue
        payload = held
        if node.status == "revoked" and entry.seq > (node.revoked_after_seq or 0):
            # Signed by a revoked node after its revocation (R-PROV-4): kept, chained and receipted so nothing is
            # lost, but quarantined for the county to review, never applied.
            poisoned[entry.seq] = revoked_error(node)
            if entry.kind == "node_keys":
                # Only the key bookkeeping is taken: what the node signs next must still reach quarantine.
                with contextlib.suppress(OneWindowError):
                    rotate_node_keys(node, payload, entry.seq, now)
        elif entry.kind == "node_keys":
            try:
                rotate_node_keys(node, payload, entry.seq, now)  # later entries verify with the new key
            except OneWindowError as error:
                result.results.append(_refusal(entry, error))
                break
        elif entry.kind == "enrol":
            try:
                enrol(node, payload, now)
            except OneWindowError as error:
                result.results.append(_refusal(entry, error))
                break
        elif entry.kind == "events":
            merge_counters(node, payload.get("counters"))
            try:
                events = node_events(node, payload)
            except OneWindowError as error:
                poisoned[entry.seq] = error
        accepted.append((entry, events))
        head_seq, head_hash = entry.seq, entry.entry_hash
        result.results.append({"seq": entry.seq})  # completed below, once the events are applied

    batch = [(entry.seq, events) for entry, events in accepted if events and entry.seq not in poisoned]
    others: list[tuple[str, str]] = []
    if batch:
        try:
            async with session.begin_nested():
                others = await apply_event_batch(session, node.node_id, batch, now)
        except (OneWindowError, IntegrityError):
            others = []
            for seq, events in batch:  # find the poisoned entries: each alone in its own savepoint
                try:
                    async with session.begin_nested():
                        others += await apply_event_batch(session, node.node_id, [(seq, events)], now)
                except (OneWindowError, IntegrityError) as error:
                    poisoned[seq] = error if isinstance(error, OneWindowError) else _integrity_poison(error)
    for aggregate_id, kind in dict(others).items():
        await refresh_aggregate(session, aggregate_id, kind, now=now)

    rows = []
    by_seq = {entry.seq: entry for entry, _ in accepted}
    for item in result.results:
        stored_entry = by_seq.get(item["seq"]) if "status" not in item else None
        if stored_entry is None:
            continue
        row = UpEntryRecord(node_id=node.node_id, **stored_entry.stored_columns(), received_at=now)
        rows.append(row)
        poison = poisoned.get(stored_entry.seq)
        if poison is not None:
            # Verified but not applicable: the entry is stored (the chain stays whole), its payload quarantined.
            await _quarantine(session, stored_entry, poison, now)
        item.update(
            {
                "status": "quarantined" if poison else "accepted",
                "code": poison.code if poison else "",
                "detail": poison.reason if poison else "",
                "receipt": receipt_for(county, row, node.county_key).to_wire(),
                "central_status": "quarantined" if poison else "accepted",
            }
        )
    if rows:
        conn = await session.connection()
        await conn.execute(
            UpEntryRecord.__table__.insert(),  # type: ignore[attr-defined]
            [{c: getattr(r, c) for c in UP_ENTRY_COLUMNS} for r in rows],
        )
    node.up_seq, node.up_hash = head_seq, head_hash
    session.add(node)
    await session.flush()
    result.head_seq, result.head_hash = node.up_seq, node.up_hash
    result.down_available = node.down_seq - node.down_acked
    if entries:
        statuses = Counter(str(item.get("status", "")) for item in result.results)
        log_event(
            _LOG,
            "ingest",
            node=node.node_id,
            entries=len(entries),
            accepted=statuses["accepted"],
            quarantined=statuses["quarantined"],
            duplicates=statuses["duplicate"],
            rejected=statuses["rejected"],
            head=node.up_seq,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
    return result


UP_ENTRY_COLUMNS = (
    "node_id",
    "seq",
    "prev_hash",
    "entry_hash",
    "kind",
    "ciphertext",
    "signature",
    "received_at",
)


def _unreadable(entry: LogEntry, county: CountyKeys, max_entry: int) -> dict[str, Any] | OneWindowError:
    """A verified entry's payload, or why central cannot take it: too large, of an unknown kind, or not
    decryptable (each quarantined, never a reason to stop the log)."""
    if len(entry.ciphertext) > max_entry:
        return OneWindowError(
            ENTRY_TOO_LARGE,
            f"条目 {len(entry.ciphertext)} 字节，超过县中心接收上限 {max_entry} 字节；已存储并隔离",
            field="ciphertext",
        )
    if entry.kind not in ENTRY_KINDS:
        return OneWindowError(
            ENTRY_POISONED, f"本版本县中心不认识的条目类型 {entry.kind}；已存储并隔离", field="kind"
        )
    try:
        return open_entry(entry, county.age_identities)
    except OneWindowError as error:
        return error


def node_events(node: NodeRecord, payload: dict[str, Any]) -> list[Event]:
    """The events of an entry's payload, checked to be ones this node may author (else ENTRY_POISONED)."""
    raw_events = payload.get("events")
    if not isinstance(raw_events, list):
        raise OneWindowError(ENTRY_POISONED, "payload has no event list", field="events")
    events: list[Event] = []
    for raw in raw_events:
        try:
            event = Event.from_dict(raw)
        except ValueError as exc:
            raise OneWindowError(ENTRY_POISONED, str(exc), field="events") from exc
        if event.type not in NODE_AUTHORED_TYPES:
            raise OneWindowError(ENTRY_POISONED, f"a node may not author {event.type}", field="event.type")
        if event.authority != node.node_id:
            raise OneWindowError(
                ENTRY_POISONED,
                f"event {event.id} claims authority {event.authority}",
                field="event.authority",
            )
        events.append(event)
    return events


def merge_counters(node: NodeRecord, stated: Any) -> None:
    """Keep the highest value the node ever stated for each of its number counters."""
    if not isinstance(stated, dict) or not stated:
        return
    known: dict[str, int] = json.loads(node.counters) if node.counters else {}
    for name, value in stated.items():
        if isinstance(name, str) and isinstance(value, int) and value > known.get(name, 0):
            known[name] = value
    node.counters = json.dumps(known, sort_keys=True)


def _integrity_poison(error: IntegrityError) -> OneWindowError:
    detail = str(error.orig).splitlines()[0] if error.orig is not None else str(error)
    return OneWindowError(ENTRY_POISONED, f"conflicts with data central holds: {detail}", field="events")


async def _central_status(session: AsyncSession, node_id: str, stored: UpEntryRecord) -> str:
    quarantined = (
        await session.exec(
            select(QuarantineRecord.id).where(
                QuarantineRecord.node_id == node_id,
                QuarantineRecord.seq == stored.seq,
                QuarantineRecord.entry_hash == stored.entry_hash,
            )
        )
    ).first()
    return "quarantined" if quarantined is not None else "accepted"


def _refusal(entry: LogEntry, error: OneWindowError) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "status": "rejected",
        "code": error.code,
        "detail": error.reason,
        "field": error.field,
    }
