"""Ingest of up entries from nodes: verify, store and apply exactly once, answer with signed receipts.

Per entry, in order: shape → node known and not revoked → duplicate / fork / gap against the stored chain →
signature → decrypt → apply events. An entry that verifies but cannot be applied (poisoned) is stored, its
payload quarantined with the reason, and the stream continues. An entry that fails verification is refused
with a numbered error and nothing after it in the batch is looked at, because its successors chain from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.county import CountyKeys
from central.models import (
    CaseRecord,
    ComplaintRecord,
    EventRecord,
    ExpectedBlobRecord,
    NodeRecord,
    QuarantineRecord,
    RatingRecord,
    UpEntryRecord,
)
from protocol.enrolment import secret_digest
from protocol.errors import (
    ENROLMENT_INVALID,
    ENTRY_CHAIN_BROKEN,
    ENTRY_DUPLICATE,
    ENTRY_FORK,
    ENTRY_GAP,
    ENTRY_MALFORMED,
    ENTRY_POISONED,
    EVENT_CONFLICT,
    NODE_REVOKED,
    NODE_UNKNOWN,
    REQUEST_SIGNATURE_INVALID,
    OneWindowError,
)
from protocol.events import (
    CASE_ACCEPTED,
    CASE_ACCEPTED_WITH_WAIVER,
    CASE_RECEIVED,
    NODE_EVENT_TYPES,
    Event,
    blob_refs,
    event_columns,
    fold,
    projection_columns,
)
from protocol.hall import HALL_EVENT_TYPES, aggregate_kind, fold_complaint, fold_rating
from protocol.keys import AgeRecipient, VerifyKey
from protocol.log import LogEntry, Receipt, open_entry, verify_entry
from protocol.requests import verify_request


def utc_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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


def receipt_for(county: CountyKeys, row: UpEntryRecord) -> Receipt:
    # Ed25519 is deterministic, so a duplicate is answered with byte-for-byte the same receipt.
    return Receipt(row.node_id, "up", row.seq, row.entry_hash, row.received_at).signed(county.signing_key)


async def _quarantine(session: AsyncSession, entry: LogEntry, error: OneWindowError, now: str) -> None:
    session.add(
        QuarantineRecord(
            node_id=entry.node_id,
            seq=entry.seq,
            entry_hash=entry.entry_hash,
            code=error.code,
            reason=str(error.reason),
            received_at=now,
            wire=json.dumps(entry.to_wire()),
        )
    )


async def refresh_case(session: AsyncSession, case_id: str, *, now: str | None = None) -> None:
    """Rebuild one case's projection from all its events."""
    await session.flush()
    rows = (await session.exec(select(EventRecord).where(EventRecord.case_id == case_id))).all()
    state = fold(case_id, [record_to_event(r) for r in rows])
    if state.status is None:
        return
    values = {
        **projection_columns(state),
        "origin_node": state.origin_node,
        "centre_name": state.centre_name,
        "decided_at": state.decision.decided_at if state.decision else "",
    }
    await _bound_legal_times(session, rows, values, now or utc_iso())
    row = await session.get(CaseRecord, case_id)
    if row is None:
        session.add(CaseRecord(case_id=case_id, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)


#: Legal times and the event types that state them: none may be later than central received the entry.
_LEGAL_TIMES = {"received_at": (CASE_RECEIVED,), "accepted_at": (CASE_ACCEPTED, CASE_ACCEPTED_WITH_WAIVER)}


async def _bound_legal_times(session: AsyncSession, rows: Any, values: dict[str, Any], now: str) -> None:
    """A node with a clock running fast cannot state a receipt or acceptance time later than central got the
    entry that carried it (R-SYNC-8): such times are cut to central's receipt time."""
    for column, types in _LEGAL_TIMES.items():
        stated = values.get(column)
        carriers = [r for r in rows if r.type in types and r.node_id and r.up_seq]
        if not stated or not carriers:
            continue
        entry = await session.get(UpEntryRecord, (carriers[0].node_id, carriers[0].up_seq))
        if entry is not None and entry.received_at < stated:
            values[column] = entry.received_at
        elif entry is None:
            values[column] = min(stated, now)  # arriving in this very entry, stored with this time


async def refresh_aggregate(
    session: AsyncSession, aggregate_id: str, kind: str, *, now: str | None = None
) -> None:
    """Rebuild the projection of a case, a rating or a complaint from its events."""
    if kind == "case":
        await refresh_case(session, aggregate_id, now=now)
        return
    await session.flush()
    rows = (await session.exec(select(EventRecord).where(EventRecord.case_id == aggregate_id))).all()
    events = [record_to_event(r) for r in rows]
    if kind == "rating":
        rating = fold_rating(aggregate_id, events)
        if not rating.level:
            return
        rating_values = {
            "origin_node": rating.origin_node,
            "level": rating.level,
            "channel": rating.channel,
            "rated_at": rating.rated_at,
            "case_number": rating.case_number,
            "item_name": rating.item_name,
            "staff": rating.staff,
            "window": rating.window,
            "comment": rating.comment,
            "followup_due": rating.followup_due,
            "called_back_at": rating.called_back_at,
            "closed_at": rating.closed_at,
            "rectification": rating.rectification,
        }
        await _upsert(session, RatingRecord, aggregate_id, rating_values)
    elif kind == "complaint":
        complaint = fold_complaint(aggregate_id, events)
        if not complaint.registered_at:
            return
        complaint_values = {
            "origin_node": complaint.origin_node,
            "channel": complaint.channel,
            "complainant": complaint.complainant,
            "content": complaint.content,
            "case_number": complaint.case_number,
            "registered_at": complaint.registered_at,
            "assignee": complaint.assignee,
            "due": complaint.due,
            "resolution": complaint.resolution,
            "resolved_at": complaint.resolved_at,
        }
        await _upsert(session, ComplaintRecord, aggregate_id, complaint_values)


async def _upsert(session: AsyncSession, model: Any, key: str, values: dict[str, Any]) -> None:
    row = await session.get(model, key)
    if row is None:
        pk = "rating_id" if model is RatingRecord else "complaint_id"
        session.add(model(**{pk: key}, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


def record_to_event(row: EventRecord) -> Event:
    return Event(
        row.id,
        row.case_id,
        row.type,
        row.authority,
        row.actor,
        row.hlc,
        json.loads(row.payload),
        row.schema_version,
    )


async def store_event(
    session: AsyncSession, event: Event, *, node_id: str | None, up_seq: int | None
) -> bool:
    """Insert once; same id + same content is a no-op, same id + other content a conflict."""
    existing = await session.get(EventRecord, event.id)
    if existing is not None:
        if existing.content_hash != event.content_hash:
            raise OneWindowError(
                EVENT_CONFLICT, f"event {event.id} differs from the one received before", field="event.id"
            )
        return False
    session.add(EventRecord(**event_columns(event), node_id=node_id, up_seq=up_seq))
    return True


async def _apply_events(
    session: AsyncSession, node: NodeRecord, entry: LogEntry, payload: dict[str, Any], now: str
) -> None:
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
    touched: set[str] = set()
    kinds: dict[str, str] = {}
    for event in events:
        if await store_event(session, event, node_id=node.node_id, up_seq=entry.seq):
            touched.add(event.case_id)
            kinds[event.case_id] = aggregate_kind(event.type)
            await expect_blobs(session, node.node_id, event, now)
    for aggregate_id in touched:
        await refresh_aggregate(session, aggregate_id, kinds[aggregate_id], now=now)


async def expect_blobs(session: AsyncSession, node_id: str, event: Event, now: str) -> None:
    """Remember the attachments an event refers to, so a case is known complete only when they arrived."""
    for digest in blob_refs(event):
        if await session.get(ExpectedBlobRecord, digest) is None:
            session.add(
                ExpectedBlobRecord(sha256=digest, node_id=node_id, case_id=event.case_id, first_seen_at=now)
            )
            await session.flush()


def _enrol(node: NodeRecord, payload: dict[str, Any], now: str) -> None:
    """Bind a pending node's keys after checking its one-time, unexpired enrolment secret."""
    if node.status != "pending":
        raise OneWindowError(ENROLMENT_INVALID, "node is already enrolled", field="secret")
    if (
        payload.get("node_id") != node.node_id
        or secret_digest(str(payload.get("secret", ""))) != node.secret_digest
    ):
        raise OneWindowError(ENROLMENT_INVALID, "enrolment secret does not match", field="secret")
    if datetime.fromisoformat(node.expires_at) <= datetime.fromisoformat(now):
        raise OneWindowError(
            ENROLMENT_INVALID, f"enrolment secret expired at {node.expires_at}", field="secret"
        )
    node.sign_key = VerifyKey.from_text(str(payload["sign_key"])).to_text()
    node.age_recipient = AgeRecipient.from_text(str(payload["age_recipient"])).to_text()
    node.status = "active"
    node.enrolled_at = now


async def load_pushing_node(
    session: AsyncSession, county: CountyKeys, node_id: str, entries: list[LogEntry]
) -> tuple[NodeRecord, VerifyKey]:
    """The node a push comes from (row-locked) and the key its push must be signed with.

    A node proves itself with the key it enrolled with; a pending node's only possible proof is the key inside
    its enrolment entry, which is checked (with the secret) before anything is stored.
    """
    node = (
        await session.exec(select(NodeRecord).where(NodeRecord.node_id == node_id).with_for_update())
    ).first()
    if node is None:
        raise OneWindowError(
            NODE_UNKNOWN, f"node {node_id} is not registered in this county", field="node_id"
        )
    if node.status == "revoked":
        raise OneWindowError(NODE_REVOKED, f"node {node_id} is revoked", field="node_id")
    if node.status != "pending" and node.sign_key:
        return node, VerifyKey.from_text(node.sign_key)
    first = entries[0] if entries else None
    if first is None or first.seq != 1 or first.kind != "enrol":
        raise OneWindowError(
            ENROLMENT_INVALID, "a new node must first send its enrolment entry", field="entries"
        )
    enrol_payload = open_entry(first, county.age_identities)
    try:
        verify_key = VerifyKey.from_text(str(enrol_payload.get("sign_key", "")))
    except ValueError as exc:
        raise OneWindowError(ENROLMENT_INVALID, "enrolment entry has no valid key", field="sign_key") from exc
    verify_entry(first, verify_key)
    return node, verify_key


async def ingest(
    session: AsyncSession,
    county: CountyKeys,
    *,
    body: bytes,
    node_header: str,
    time_header: str,
    signature_header: str,
    method: str = "POST",
    path: str = "/sync/v1/up",
    now: str | None = None,
) -> IngestResult:
    """Handle one push from a node inside the caller's transaction."""
    now = now or utc_iso()
    try:
        document = json.loads(body)
        entries_raw = document["entries"]
        node_id = document["node_id"]
        if not isinstance(entries_raw, list) or not isinstance(node_id, str):
            raise TypeError("entries must be a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise OneWindowError(ENTRY_MALFORMED, f"request body: {exc}", field="body") from exc
    if node_id != node_header:
        raise OneWindowError(
            REQUEST_SIGNATURE_INVALID, "node id in body and header differ", field="x-ow-node"
        )
    entries = [LogEntry.from_wire(raw) for raw in entries_raw]
    node, request_key = await load_pushing_node(session, county, node_id, entries)
    if not verify_request(request_key, method, path, time_header, body, signature_header):
        raise OneWindowError(
            REQUEST_SIGNATURE_INVALID, "request not signed by this node's key", field="x-ow-signature"
        )
    note_contact(node, time_header, now)
    down_head = document.get("down_head")
    if isinstance(down_head, int) and 0 <= down_head <= node.down_seq:
        node.down_acked = max(node.down_acked, down_head)
    return await ingest_entries(session, county, node, entries, request_key=request_key, now=now)


def note_contact(node: NodeRecord, node_time: str, now: str) -> None:
    """Record a contact and the node's clock skew (its stated time minus ours)."""
    node.last_contact_at = now
    node.last_node_time = node_time
    try:
        node.skew_ms = int(
            (datetime.fromisoformat(node_time) - datetime.fromisoformat(now)).total_seconds() * 1000
        )
    except (TypeError, ValueError):
        pass  # an unreadable time is kept as given; the skew stays as last measured


async def ingest_entries(
    session: AsyncSession,
    county: CountyKeys,
    node: NodeRecord,
    entries: list[LogEntry],
    *,
    request_key: VerifyKey,
    now: str,
) -> IngestResult:
    """Store and apply `entries` of an authenticated node in order; the same path for HTTP and courier files."""
    result = IngestResult()
    for entry in entries:
        if entry.node_id != node.node_id or entry.stream != "up":
            result.results.append(
                _refusal(entry, OneWindowError(ENTRY_MALFORMED, "entry of another node or stream"))
            )
            break
        if entry.seq <= node.up_seq:
            stored = await session.get(UpEntryRecord, (node.node_id, entry.seq))
            if stored is not None and stored.entry_hash == entry.entry_hash:
                result.results.append(
                    {
                        "seq": entry.seq,
                        "status": "duplicate",
                        "code": ENTRY_DUPLICATE.code,
                        "detail": ENTRY_DUPLICATE.title,
                        "receipt": receipt_for(county, stored).to_wire(),
                        "central_status": await _central_status(session, node.node_id, stored),
                    }
                )
                continue
            error = OneWindowError(ENTRY_FORK, f"seq {entry.seq} already holds another entry")
            await _quarantine(session, entry, error, now)
            result.results.append(_refusal(entry, error))
            break
        if entry.seq != node.up_seq + 1:
            result.results.append(
                _refusal(entry, OneWindowError(ENTRY_GAP, f"expected seq {node.up_seq + 1}"))
            )
            break
        if entry.prev_hash != node.up_hash:
            result.results.append(_refusal(entry, OneWindowError(ENTRY_CHAIN_BROKEN, f"seq {entry.seq}")))
            break
        try:
            verify_entry(entry, VerifyKey.from_text(node.sign_key) if node.sign_key else request_key)
            payload = open_entry(entry, county.age_identities)
        except OneWindowError as error:
            result.results.append(_refusal(entry, error))
            break
        status, code, detail = "accepted", "", ""
        if entry.kind == "enrol":
            try:
                _enrol(node, payload, now)
            except OneWindowError as error:
                result.results.append(_refusal(entry, error))
                break
        elif entry.kind == "events":
            merge_counters(node, payload.get("counters"))
            try:
                async with session.begin_nested():
                    await _apply_events(session, node, entry, payload, now)
            except (OneWindowError, IntegrityError) as error:
                # Verified but not applicable: store the entry (the chain stays whole), quarantine the payload.
                reason = error if isinstance(error, OneWindowError) else _integrity_poison(error)
                await _quarantine(session, entry, reason, now)
                status, code, detail = "quarantined", reason.code, reason.reason
        row = UpEntryRecord(
            node_id=node.node_id,
            seq=entry.seq,
            prev_hash=entry.prev_hash,
            entry_hash=entry.entry_hash,
            kind=entry.kind,
            ciphertext=entry.ciphertext,
            signature=entry.signature,
            received_at=now,
        )
        session.add(row)
        node.up_seq, node.up_hash = entry.seq, entry.entry_hash
        result.results.append(
            {
                "seq": entry.seq,
                "status": status,
                "code": code,
                "detail": detail,
                "receipt": receipt_for(county, row).to_wire(),
                "central_status": "quarantined" if status == "quarantined" else "accepted",
            }
        )
    session.add(node)
    await session.flush()
    result.head_seq, result.head_hash = node.up_seq, node.up_hash
    result.down_available = node.down_seq - node.down_acked
    return result


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
