"""The courier's USB stick (R-SYNC-9): the same sync as the network path, written to a file and read back.

`export_courier_file` writes everything the node has not got receipts for — up entries, attachments (the same
age spools the uploader sends), the node's heads for reconciliation and, when central asked for them, the
down entries central lost — into one courier file signed by the node. Central imports it and answers with a
reply file signed by the county: receipts, its signed reconcile answer, the attachments it now holds, and the
node's pending down entries. `import_courier_reply` applies that reply exactly as a network round would, so
importing the same reply twice changes nothing, and a tampered file is refused whole before anything is used.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from node.meta import get_meta, set_meta
from node.models import DownEntry
from node.runtime import NodeRuntime
from node.sync.attachments import ensure_spool, mark_uploaded, pending_blobs, spool_path
from node.sync.client import SyncReport, apply_hello_answer, apply_push_results, hello_document
from node.sync.down_blobs import keep_delivered
from node.sync.keys import settle_rotation
from node.sync.log import apply_down_entry, entry_of, pending_entries, seal_pending
from protocol.canonical import canonical_json, parse_json
from protocol.errors import COURIER_FILE_INVALID, OneWindowError
from protocol.keys import write_file_atomic
from protocol.log import LogEntry
from protocol.sync import read_courier_file, write_courier_file

#: Everything unsent goes in one file; a courier file larger than this is refused by central.
MAX_ENTRIES = 100_000


@dataclass
class CourierExport:
    """What an exported file holds (shown to the clerk and printed by the CLI)."""

    path: Path
    entries: int
    first_seq: int
    last_seq: int
    attachments: int
    attachment_bytes: int
    restore_down: int
    size: int

    def summary(self) -> str:
        entries = f"条目 {self.entries} 条" + (
            f"（第 {self.first_seq}–{self.last_seq} 条）" if self.entries else ""
        )
        return (
            f"已写入 {self.path.name}：{entries}，附件 {self.attachments} 个（{self.attachment_bytes / 1048576:.1f} MB），"
            f"文件 {self.size / 1048576:.1f} MB"
        )


async def export_courier_file(runtime: NodeRuntime, out: Path) -> CourierExport:
    """Write the node's pending queue for the courier (temp → fsync → rename)."""
    async with runtime.db.write() as session:
        await seal_pending(session, runtime)
    async with runtime.db.read() as session:
        rows = await pending_entries(session, MAX_ENTRIES)
        want = await get_meta(session, "want_down_from")
        restore: list[DownEntry] = []
        if want:
            restore = list(
                (
                    await session.exec(
                        select(DownEntry).where(col(DownEntry.seq) >= int(want)).order_by(col(DownEntry.seq))
                    )
                ).all()
            )
    members: dict[str, bytes] = {
        "entries.json": canonical_json({"entries": [entry_of(r, runtime.node_id).to_wire() for r in rows]}),
    }
    if restore:
        members["restore_down.json"] = canonical_json(
            {
                "entries": [
                    LogEntry(
                        runtime.node_id, "down", r.seq, r.prev_hash, r.kind, r.ciphertext, r.signature
                    ).to_wire()
                    for r in restore
                ]
            }
        )
    attachments: list[dict[str, Any]] = []
    total = 0
    for blob in await pending_blobs(runtime, limit=MAX_ENTRIES):
        if not runtime.blobs.exists(blob.sha256):
            continue
        blob = await ensure_spool(runtime, blob)
        name = f"attachments/{blob.sha256}.age"
        members[name] = spool_path(runtime, blob.sha256).read_bytes()
        total += blob.size
        attachments.append(
            {
                "member": name,
                "sha256": blob.sha256,
                "media_type": blob.media_type,
                "filename": blob.filename,
                "compression": blob.compression,
            }
        )
    manifest = {
        "direction": "up",
        "node_id": runtime.node_id,
        "created_at": runtime.now_iso(),
        "hello": await hello_document(runtime),
        "attachments": attachments,
    }
    buffer = io.BytesIO()
    write_courier_file(buffer, manifest, members, runtime.identity.request_key)
    data = buffer.getvalue()
    write_file_atomic(out, data, mode=0o600)
    return CourierExport(
        path=out,
        entries=len(rows),
        first_seq=rows[0].seq if rows else 0,
        last_seq=rows[-1].seq if rows else 0,
        attachments=len(attachments),
        attachment_bytes=total,
        restore_down=len(restore),
        size=len(data),
    )


async def import_courier_reply(runtime: NodeRuntime, data: bytes) -> SyncReport:
    """Apply central's reply file: receipts, reconcile answer, confirmed attachments, down entries."""
    manifest, members = read_courier_file(data, lambda _m: runtime.identity.county_ring)
    if manifest.get("direction") != "down" or manifest.get("node_id") != runtime.node_id:
        raise OneWindowError(COURIER_FILE_INVALID, "这不是本节点的回执文件", field="node_id")
    report = SyncReport()
    await apply_push_results(runtime, list(manifest.get("results") or []), report)
    await settle_rotation(runtime)  # a key rotation the courier carried up is now receipted
    answer = manifest.get("hello_answer")
    if answer is not None:
        await apply_hello_answer(runtime, answer, report)
    for digest in manifest.get("blobs_received") or []:
        if isinstance(digest, str):
            await mark_uploaded(runtime, digest)
            report.attachments += 1
    down = parse_json(members.get("down.json", b'{"entries": []}'))
    for raw in down.get("entries", []) if isinstance(down, dict) else []:
        entry = LogEntry.from_wire(raw)
        async with runtime.db.write() as session:
            report.applied_events += await apply_down_entry(session, runtime, entry)
        report.pulled += 1
    for name, member in members.items():  # the result documents the entries named, encrypted to this node
        if name.startswith("documents/") and name.endswith(".age"):
            report.documents += int(
                await keep_delivered(runtime, name[len("documents/") : -len(".age")], member)
            )
    async with runtime.db.write() as session:
        await set_meta(
            session, "last_courier_import", json.dumps({"at": runtime.now_iso(), **report.to_dict()})
        )
    return report
