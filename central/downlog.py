"""The down log (下行日志): every entry central sends a node — its case events, staff account changes, catalogue
versions, the working-day calendar, the county's key statements — chained per node, signed by the county and
encrypted to the node (and to the county, so a restored central can read back what it lost).

This is central's one way to tell a node anything. Every domain that sends something writes here in its own
transaction (so nothing is decided without being on its way to the window), and `central.sync` serves it to
the node (pull, reconcile, courier reply). It sits below every folder because both the authors (`cases`,
`county`, `catalogue`, `backoffice`) and the reader (`sync`) need it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.clock import utc_iso
from central.keys import CountyKeys
from central.models import DownEntryRecord, NodeRecord
from protocol.errors import INVALID_TRANSITION, OneWindowError
from protocol.keys import AgeRecipient
from protocol.log import LogEntry, seal_entry


async def announce_county_keys(
    session: AsyncSession, county: CountyKeys, node: NodeRecord, *, node_down_seq: int | None = None
) -> bool:
    """Send the node the statements of the county's key generations it does not trust yet; True when an entry
    was written. Not again while one is on its way (after what the node has applied, `node_down_seq`), unless
    the county rotated again since."""
    if (
        county.generation <= 1
        or node.county_key == county.fingerprint
        or node.age_recipient is None
        or node.status == "revoked"
    ):
        return False
    applied = node.down_acked if node_down_seq is None else node_down_seq
    on_its_way = (
        await session.exec(
            select(DownEntryRecord.seq).where(
                DownEntryRecord.node_id == node.node_id,
                DownEntryRecord.kind == "county_keys",
                col(DownEntryRecord.seq) > applied,
            )
        )
    ).first()
    if on_its_way is not None and node.county_keys_sent >= county.generation:
        return False
    await append_down(session, county, node, {"county_keys": list(county.statements)}, kind="county_keys")
    node.county_keys_sent = county.generation
    session.add(node)
    return True


async def append_down(
    session: AsyncSession,
    county: CountyKeys,
    node: NodeRecord,
    payload: dict[str, Any],
    *,
    kind: str = "events",
) -> LogEntry:
    """Write the next entry of `node`'s down log (inside the caller's transaction, the node row locked by it).

    A node that has not been told of the county's newest key generation is told first (a `county_keys` entry),
    so whatever follows, signed in the new key, is read by a node that already trusts it."""
    if node.age_recipient is None:
        raise OneWindowError(INVALID_TRANSITION, f"节点 {node.name} 尚未完成注册，无法下发", field="node_id")
    if kind != "county_keys":
        await announce_county_keys(session, county, node)
    entry = seal_entry(
        node_id=node.node_id,
        stream="down",
        seq=node.down_seq + 1,
        prev_hash=node.down_hash,
        kind=kind,
        payload=payload,
        # Also to the county itself: when central is restored from an older backup, the node hands back the
        # down entries central lost, and central must be able to read them again (see central.sync.reconcile).
        recipients=[AgeRecipient.from_text(node.age_recipient), county.age_identities[0].recipient],
        signer=county.signer_for(node.county_key),
    )
    keep_down_entry(session, node, entry, created_at=utc_iso())
    session.add(node)
    return entry


def keep_down_entry(session: AsyncSession, node: NodeRecord, entry: LogEntry, *, created_at: str) -> None:
    """Store `entry` as the node's new down head (written here, or handed back by the node after a restore)."""
    session.add(DownEntryRecord(node_id=node.node_id, **entry.stored_columns(), created_at=created_at))
    node.down_seq, node.down_hash = entry.seq, entry.entry_hash


async def down_entries(session: AsyncSession, node_id: str, *, after: int, limit: int) -> list[LogEntry]:
    """The node's down entries after seq `after`, oldest first."""
    rows = (
        await session.exec(
            select(DownEntryRecord)
            .where(DownEntryRecord.node_id == node_id, col(DownEntryRecord.seq) > after)
            .order_by(col(DownEntryRecord.seq))
            .limit(limit)
        )
    ).all()
    return [LogEntry(r.node_id, "down", r.seq, r.prev_hash, r.kind, r.ciphertext, r.signature) for r in rows]


async def lock_node(session: AsyncSession, node_id: str) -> NodeRecord | None:
    """The node's row, locked for writing its down log (several central processes may write at once)."""
    query = select(NodeRecord).where(NodeRecord.node_id == node_id).with_for_update()
    return (await session.exec(query)).first()
