"""Ingest of up entries from nodes: verify, store and apply exactly once, answer with signed receipts.

Per entry, in order: shape → node known and not revoked → duplicate / fork / gap against the stored chain →
signature → decrypt → apply events. An entry that verifies but cannot be applied (poisoned) is stored, its
payload quarantined with the reason, and the stream continues. An entry that fails verification is refused
with a numbered error and nothing after it in the batch is looked at, because its successors chain from it.
"""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.bulk import apply_event_batch, refresh_cases
from central.bulk import record_to_event as record_to_event  # re-exported: several modules read it here
from central.county import CountyKeys
from central.models import (
    ComplaintRecord,
    EventRecord,
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
    NODE_EVENT_TYPES,
    Event,
    event_columns,
)
from protocol.hall import HALL_EVENT_TYPES, fold_complaint, fold_rating
from protocol.keys import AgeRecipient, VerifyKey
from protocol.log import LogEntry, Receipt, open_entry, verify_entry
from protocol.requests import verify_request
from protocol.trust import node_keys_proof


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


def receipt_for(county: CountyKeys, row: UpEntryRecord, trusted: str | None = None) -> Receipt:
    """The receipt for a stored entry, signed by the newest county key the node trusts (`trusted`)."""
    # Ed25519 is deterministic, so a duplicate is answered with byte-for-byte the same receipt.
    signer = county.signer_for(trusted)
    return Receipt(row.node_id, "up", row.seq, row.entry_hash, row.received_at).signed(signer)


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
    await refresh_cases(session, [case_id], now=now or utc_iso())


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


#: How long after its bundle expired a node enrolled offline in time may still make first contact.
ENROL_GRACE = timedelta(days=30)


def revoked_error(node: NodeRecord) -> OneWindowError:
    return OneWindowError(
        NODE_REVOKED,
        f"节点已于 {(node.revoked_at or '')[:19]} 吊销（{node.revoked_reason or '未写原因'}）：此后收到的数据隔离待审",
        field="node_id",
    )


def _rotate_node_keys(node: NodeRecord, payload: dict[str, Any], seq: int, now: str) -> None:
    """The node replaced its keys (its entry signed by the old key, the proof by the new): keep the old ones in
    its key history, and know it by the new ones from the next entry on."""
    try:
        new_key = VerifyKey.from_text(str(payload["sign_key"]))
        new_recipient = AgeRecipient.from_text(str(payload["age_recipient"]))
        proof = base64.b64decode(str(payload["proof"]), validate=True)
    except (KeyError, ValueError) as exc:
        raise OneWindowError(ENTRY_MALFORMED, f"node_keys: {exc}", field="sign_key") from exc
    if payload.get("node_id") != node.node_id or not new_key.verify(
        proof, node_keys_proof(node.node_id, new_key.to_text(), new_recipient.to_text())
    ):
        raise OneWindowError(REQUEST_SIGNATURE_INVALID, "新密钥的持有证明不成立", field="proof")
    history = json.loads(node.key_history or "[]")
    history.append(
        {
            "sign_key": node.sign_key,
            "age_recipient": node.age_recipient,
            "until_seq": seq,
            "replaced_at": now,
        }
    )
    node.key_history = json.dumps(history)
    node.sign_key, node.age_recipient = new_key.to_text(), new_recipient.to_text()


def previous_sign_key(node: NodeRecord) -> VerifyKey | None:
    """The key the node was known by before its last key rotation, while requests signed with it are still
    taken: the node signs with it until it holds the receipt of its rotation (which a cut link may have lost),
    and from its first request signed with the new key on, never again."""
    history = json.loads(node.key_history or "[]")
    if not history or history[-1].get("closed_at"):
        return None
    return VerifyKey.from_text(history[-1]["sign_key"])


def verify_node_request(
    node: NodeRecord, key: VerifyKey, method: str, path: str, time: str, body: bytes, signature: str
) -> bool:
    """Whether a request is signed by `key` (the node's key), or by its previous key while that is still taken.
    A request signed by the current key ends the previous key's use."""
    if verify_request(key, method, path, time, body, signature):
        history = json.loads(node.key_history or "[]")
        if history and not history[-1].get("closed_at") and node.sign_key == key.to_text():
            history[-1]["closed_at"] = utc_iso()
            node.key_history = json.dumps(history)
        return True
    previous = previous_sign_key(node)
    return previous is not None and verify_request(previous, method, path, time, body, signature)


def _enrol(node: NodeRecord, payload: dict[str, Any], now: str) -> None:
    """Bind a pending node's keys after checking its one-time, unexpired enrolment secret."""
    if node.status != "pending":
        raise OneWindowError(
            ENROLMENT_INVALID,
            "这个注册包已经用过：节点已完成注册，注册密钥只能用一次（请向县管理员申请新的注册包）",
            field="secret",
        )
    if (
        payload.get("node_id") != node.node_id
        or secret_digest(str(payload.get("secret", ""))) != node.secret_digest
    ):
        raise OneWindowError(ENROLMENT_INVALID, "注册密钥与县里登记的不符", field="secret")
    expires = datetime.fromisoformat(node.expires_at)
    try:
        enrolled = datetime.fromisoformat(str(payload.get("enrolled_at")))
    except ValueError:
        enrolled = datetime.fromisoformat(now)
    if enrolled.tzinfo is None:  # a time without its zone cannot be compared: count it as now
        enrolled = datetime.fromisoformat(now)
    # The node enrols offline and may first reach central days later: the secret must have been used before it
    # expired, and reach central within a grace period after (a clock set back cannot stretch it further).
    if enrolled > expires or datetime.fromisoformat(now) > expires + ENROL_GRACE:
        raise OneWindowError(
            ENROLMENT_INVALID,
            f"注册包已于 {node.expires_at[:19]} 过期（请向县管理员申请新的注册包）",
            field="secret",
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
    if node.status == "revoked" and not node.sign_key:
        raise OneWindowError(NODE_REVOKED, f"node {node_id} was revoked before it enrolled", field="node_id")
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
    """Store and apply `entries` of an authenticated node in order; the same path for HTTP and courier files.

    First every entry is checked (chain, signature, decryption, the events' shape and authority) without
    touching the database; then the events of all good entries are applied together in one savepoint
    (`central.bulk`), and only if that fails, entry by entry, so a poisoned entry is quarantined alone."""
    result = IngestResult()
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
            payload = open_entry(entry, county.age_identities)
        except OneWindowError as error:
            result.results.append(_refusal(entry, error))
            break
        events: list[Event] | None = None
        if node.status == "revoked" and entry.seq > (node.revoked_after_seq or 0):
            # Signed by a revoked node after its revocation (R-PROV-4): kept, chained and receipted so nothing is
            # lost, but quarantined for the county to review, never applied.
            poisoned[entry.seq] = revoked_error(node)
            if entry.kind == "node_keys":
                # Only the key bookkeeping is taken: what the node signs next must still reach quarantine.
                with contextlib.suppress(OneWindowError):
                    _rotate_node_keys(node, payload, entry.seq, now)
        elif entry.kind == "node_keys":
            try:
                _rotate_node_keys(node, payload, entry.seq, now)  # later entries verify with the new key
            except OneWindowError as error:
                result.results.append(_refusal(entry, error))
                break
        elif entry.kind == "enrol":
            try:
                _enrol(node, payload, now)
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
        row = UpEntryRecord(
            node_id=node.node_id,
            seq=stored_entry.seq,
            prev_hash=stored_entry.prev_hash,
            entry_hash=stored_entry.entry_hash,
            kind=stored_entry.kind,
            ciphertext=stored_entry.ciphertext,
            signature=stored_entry.signature,
            received_at=now,
        )
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
