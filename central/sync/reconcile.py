"""Reconciliation with a node (R-SYNC-6): compare log heads both ways in one round trip, serve the node its down
log, and take back the down entries central lost when it was restored from an older backup.

The answer is a statement signed by the county, because the node acts on it: it resends entries whose receipts
central no longer honours, or re-chains its unsent events after a head it lost.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.cases.store import refresh_case, store_event
from central.downlog import announce_county_keys, append_down, down_entries, keep_down_entry
from central.keys import CountyKeys
from central.models import DownEntryRecord, NodeRecord, UpEntryRecord
from central.sync.attachments import AttachmentStore, missing_blobs
from central.sync.nodes import fresh_hello, note_contact
from protocol.errors import ENTRY_CHAIN_BROKEN, ENTRY_GAP, VALIDATION, OneWindowError
from protocol.events import CENTRAL_EVENT_TYPES, Event
from protocol.log import GENESIS_HASH, LogEntry, open_entry, verify_entry
from protocol.sync import CERTIFICATE_TYPE, Head, sign_statement

#: What a node may tell central about itself in its hello (shown on the fleet page), and nothing else.
REPORT_FIELDS = (
    "queue_entries",
    "queue_bytes",
    "oldest_unsent_at",
    "pending_attachments",
    "pending_attachment_bytes",
    "last_receipt_at",
    "version",
    "devices",
    "disk_free_bytes",
    "skew_ms",
)


def note_trusted_county_key(county: CountyKeys, node: NodeRecord, document: dict[str, Any]) -> None:
    """From a node's hello (over the network or in a courier file): the newest county key it trusts that central
    holds, which central answers it in from now on."""
    trusted = document.get("county_keys")
    if isinstance(trusted, list):
        known = [fp for fp in trusted if isinstance(fp, str) and fp in county.signers]
        if known:
            node.county_key = known[0]


async def hello(
    session: AsyncSession,
    county: CountyKeys,
    store: AttachmentStore,
    node: NodeRecord,
    document: dict[str, Any],
    *,
    node_time: str,
    now: str,
    measure_skew: bool = True,
) -> dict[str, Any]:
    """Central's side of one reconcile round trip, signed by the county (`measure_skew` False for a courier
    file, whose time is days old by design)."""
    up = Head.from_wire(document.get("up"), "up")
    receipted = Head.from_wire(document.get("receipted"), "receipted")
    down = Head.from_wire(document.get("down"), "down")
    if fresh_hello(node, document):  # a replayed reconcile moves neither last contact nor skew
        note_contact(node, node_time, now, measure_skew=measure_skew)
    note_trusted_county_key(county, node, document)
    if node.status != "revoked":
        await announce_county_keys(session, county, node, node_down_seq=down.seq)
    stated = document.get("report")
    report: dict[str, Any] = stated if isinstance(stated, dict) else {}
    node.reported = json.dumps(
        {k: report[k] for k in REPORT_FIELDS if k in report}, ensure_ascii=False, sort_keys=True
    )
    session.add(node)

    async def holds_down(head: Head) -> bool:
        if head.seq == 0:
            return True
        row = await session.get(DownEntryRecord, (node.node_id, head.seq))
        return row is not None and row.entry_hash == head.hash

    async def holds(head: Head) -> bool:
        if head.seq == 0:
            return True
        row = await session.get(UpEntryRecord, (node.node_id, head.seq))
        return row is not None and row.entry_hash == head.hash

    answer: dict[str, Any] = {
        "node_id": node.node_id,
        "up": {"seq": node.up_seq, "hash": node.up_hash},
        "down": {"seq": node.down_seq, "hash": node.down_hash},
        "holds_node_up_head": await holds(up),
        "holds_node_receipted": await holds(receipted),
        "server_time": now,
        "skew_ms": node.skew_ms,
        "challenge": node.contact_challenge,
        "missing_blobs": await missing_blobs(session, store, node.node_id),
        # Central restored from an older backup lost down entries the node holds (and may have written others
        # at the same seqs since): everything up to what the node acknowledged before is common to both.
        "want_down_from": None if await holds_down(down) else min(node.down_acked, down.seq) + 1,
        "counters": json.loads(node.counters) if node.counters else {},
        "status": node.status,
        # The county's word that this node is enrolled with these keys (R-PROV-2): what the node shows as
        # "activated", and what a tablet or an auditor can check its signatures against.
        "certificate": sign_statement(
            {
                "type": CERTIFICATE_TYPE,
                "node_id": node.node_id,
                "name": node.name,
                "division": node.division,
                "number": node.number,
                "sign_key": node.sign_key,
                "age_recipient": node.age_recipient,
                "enrolled_at": node.enrolled_at,
                "county": county.name,
            },
            county.signer_for(node.county_key),
        )
        if node.sign_key
        else None,
        "revoked_at": node.revoked_at,
        "revoked_reason": node.revoked_reason,
    }
    return sign_statement(answer, county.signer_for(node.county_key))


async def _displace_from(
    session: AsyncSession, county: CountyKeys, node: NodeRecord, seq: int
) -> list[tuple[str, dict[str, Any]]]:
    """Remove central's down entries from `seq` on, returning their contents to be written again."""
    rows = (
        await session.exec(
            select(DownEntryRecord)
            .where(DownEntryRecord.node_id == node.node_id, col(DownEntryRecord.seq) >= seq)
            .order_by(col(DownEntryRecord.seq))
        )
    ).all()
    contents: list[tuple[str, dict[str, Any]]] = []
    previous = await session.get(DownEntryRecord, (node.node_id, seq - 1))
    for row in rows:
        entry = LogEntry(row.node_id, "down", row.seq, row.prev_hash, row.kind, row.ciphertext, row.signature)
        contents.append((row.kind, open_entry(entry, county.age_identities)))
        await session.delete(row)
    await session.flush()
    node.down_seq = seq - 1
    node.down_hash = previous.entry_hash if previous is not None else GENESIS_HASH
    return contents


async def restore_down(
    session: AsyncSession, county: CountyKeys, node: NodeRecord, raw_entries: list[Any]
) -> int:
    """Take back down entries central wrote but lost (restored from an older backup) from the node's copy.

    Each must be signed by this county and chain exactly onto central's down head; its central-authored events
    are stored again (idempotent by event id) so the back office sees its own lost decisions."""
    restored = 0
    displaced: list[tuple[str, dict[str, Any]]] = []
    for raw in raw_entries:
        entry = LogEntry.from_wire(raw)
        if entry.node_id != node.node_id or entry.stream != "down":
            raise OneWindowError(VALIDATION, "entry of another node or stream", field="entries")
        verify_entry(
            entry, county.ring
        )  # signed by whichever generation the node trusted when it was written
        if entry.seq <= node.down_seq:
            stored = await session.get(DownEntryRecord, (node.node_id, entry.seq))
            if stored is not None and stored.entry_hash == entry.entry_hash:
                continue
            # Written after the restore at a seq the node already held: take those entries out, put the node's
            # (older, already applied there) in their place, and send their contents again after them.
            displaced += await _displace_from(session, county, node, entry.seq)
        if entry.seq != node.down_seq + 1:
            raise OneWindowError(ENTRY_GAP, f"down seq {entry.seq} after {node.down_seq}", field="seq")
        if entry.prev_hash != (node.down_hash or GENESIS_HASH):
            raise OneWindowError(ENTRY_CHAIN_BROKEN, f"down seq {entry.seq}", field="prev_hash")
        keep_down_entry(session, node, entry, created_at=node.last_contact_at or "")
        node.down_acked = max(node.down_acked, entry.seq)
        restored += 1
        try:
            payload = open_entry(entry, county.age_identities)
        except OneWindowError:
            continue  # written before down entries were also encrypted to the county: the chain is restored
        touched: set[str] = set()
        for event_raw in payload.get("events", []):
            event = Event.from_dict(event_raw)
            if event.type in CENTRAL_EVENT_TYPES and await store_event(
                session, event, node_id=None, up_seq=None
            ):
                touched.add(event.case_id)
        for case_id in touched:
            await refresh_case(session, case_id)
    for kind, payload in displaced:
        await append_down(session, county, node, payload, kind=kind)
    session.add(node)
    await session.flush()
    return restored


async def pull_down(
    session: AsyncSession, node: NodeRecord, *, after: int, limit: int
) -> tuple[list[LogEntry], int]:
    """The node's down entries after `after` (at most `limit`, 1 … 1000) and its down head. Asking from `after`
    tells central the node has applied everything up to it (the route counts the contact, `note_contact`)."""
    node.down_acked = max(node.down_acked, min(after, node.down_seq))
    session.add(node)
    entries = await down_entries(session, node.node_id, after=after, limit=min(max(limit, 1), 1000))
    return entries, node.down_seq
