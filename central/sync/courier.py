"""Importing a courier's file at central (R-SYNC-9): the network path's guarantees, through a USB stick.

The file is checked whole first (node signature over the manifest, every member's hash); only then are its
entries ingested with the very code the network push uses, its attachments completed like finished tus uploads,
and its reconcile request answered. The reply file (signed by the county) carries the receipts, the signed
reconcile answer, the attachments central holds, and the node's down entries after the node's down head with
the result documents they name (each an age file encrypted to the node).
Importing the same file twice stores nothing new and gives the same receipts.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from central.clock import utc_iso
from central.db import CentralDatabase, open_database
from central.downlog import down_entries
from central.keys import CountyKeys, load_county
from central.models import NodeRecord
from central.registry import import_registry
from central.settings import CentralSettings
from central.sync.attachments import AttachmentStore, complete_blob
from central.sync.down_blobs import documents_named, down_spool
from central.sync.ingest import ingest_entries
from central.sync.nodes import load_pushing_node, note_contact, previous_sign_key
from central.sync.reconcile import hello, note_trusted_county_key, restore_down
from protocol.canonical import canonical_json, parse_json
from protocol.errors import COURIER_FILE_INVALID, OneWindowError
from protocol.keys import Verifier, VerifyKey, write_file_atomic
from protocol.limits import MAX_ENTRY_CIPHERTEXT
from protocol.log import LogEntry, open_entry
from protocol.sync import peek_courier_file, read_courier_file, write_courier_file
from protocol.trust import KeyRing


@dataclass
class CourierImport:
    """What one import did (printed by the CLI)."""

    node_id: str = ""
    node_name: str = ""
    entries: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rejected: int = 0
    attachments_new: int = 0
    attachments_known: int = 0
    attachment_errors: list[str] = field(default_factory=list)
    down_entries: int = 0
    reply: bytes = b""

    def summary(self) -> str:
        return (
            f"{self.node_name}（{self.node_id}）：条目 {self.entries} 条，新接收 {self.accepted}，重复 {self.duplicates}，"
            f"隔离 {self.quarantined}，拒收 {self.rejected}；附件新到 {self.attachments_new}，已有 {self.attachments_known}"
            f"{'，失败 ' + str(len(self.attachment_errors)) if self.attachment_errors else ''}；"
            f"回执文件含下发条目 {self.down_entries} 条"
        )


async def _node_key(
    session: AsyncSession, county: CountyKeys, manifest: dict[str, Any], members: Any
) -> Verifier:
    """The key that must have signed a node's courier file: its enrolled key (or the one before its last key
    rotation, which it signs with until it holds the rotation's receipt), or (for a node whose first contact
    is this file) the key in its enrolment entry, whose secret ingest then checks."""
    node = await session.get(NodeRecord, str(manifest.get("node_id", "")))
    if node is None:
        raise OneWindowError(COURIER_FILE_INVALID, "未知节点", field="node_id")
    if node.sign_key:
        previous = previous_sign_key(node)
        current = VerifyKey.from_text(node.sign_key)
        return KeyRing((current, previous)) if previous is not None else current
    try:
        entries = parse_json(members["entries.json"])["entries"]
        first = LogEntry.from_wire(entries[0])
        return VerifyKey.from_text(str(open_entry(first, county.age_identities)["sign_key"]))
    except (KeyError, IndexError, TypeError, ValueError, OneWindowError) as exc:
        raise OneWindowError(COURIER_FILE_INVALID, "新节点的文件须以注册条目开头", field="entries") from exc


def _peek(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Members of the file without checking them (only to find whose key must have signed it); the file's
    headers are checked and nothing larger than a manifest is read (`protocol.sync.peek_courier_file`)."""
    members = peek_courier_file(data, ("manifest.json", "entries.json"))
    try:
        manifest = parse_json(members.get("manifest.json", b"{}"))
    except ValueError as exc:
        raise OneWindowError(COURIER_FILE_INVALID, "清单无法读取", field="manifest") from exc
    return manifest if isinstance(manifest, dict) else {}, members


async def import_courier_file(
    db: CentralDatabase,
    county: CountyKeys,
    store: AttachmentStore,
    data: bytes,
    *,
    max_entry: int = MAX_ENTRY_CIPHERTEXT,
) -> CourierImport:
    """Check a courier file whole, then ingest it in one transaction; returns the outcome and the reply."""
    now = utc_iso()
    outcome = CourierImport()
    async with db.transaction() as session:
        peek_manifest, peek_members = _peek(data)
        key = await _node_key(session, county, peek_manifest, peek_members)
        manifest, members = read_courier_file(data, lambda _m: key)
        if manifest.get("direction") != "up":
            raise OneWindowError(COURIER_FILE_INVALID, "不是节点上传的文件", field="direction")
        entries_doc = parse_json(members.get("entries.json", b'{"entries": []}'))
        entries = [LogEntry.from_wire(raw, any_kind=True) for raw in entries_doc.get("entries", [])]
        node, request_key = await load_pushing_node(session, county, str(manifest["node_id"]), entries)
        outcome.node_id, outcome.node_name = node.node_id, node.name
        if node.last_contact_at is None:  # first contact by courier; after it, the file's reconcile counts
            note_contact(node, str(manifest.get("created_at", "")), now, measure_skew=False)
        hello_document = manifest.get("hello")
        if isinstance(hello_document, dict):  # receipts below are signed in a key the node trusts
            note_trusted_county_key(county, node, hello_document)
        if "restore_down.json" in members:
            await restore_down(
                session, county, node, parse_json(members["restore_down.json"]).get("entries", [])
            )
        result = await ingest_entries(
            session, county, node, entries, request_key=request_key, now=now, max_entry=max_entry
        )
        outcome.entries = len(entries)
        for item in result.results:
            status = item.get("status")
            outcome.accepted += status == "accepted"
            outcome.duplicates += status == "duplicate"
            outcome.quarantined += status == "quarantined"
            outcome.rejected += status == "rejected"
        received: list[str] = []
        # A revoked node's scans are not taken (as over the network): they stay on the node.
        attachments = (manifest.get("attachments") or []) if node.status != "revoked" else []
        for attachment in attachments:
            digest = str(attachment.get("sha256", ""))
            try:
                new = await complete_blob(
                    session,
                    county,
                    store,
                    node_id=node.node_id,
                    sha256=digest,
                    media_type=str(attachment.get("media_type", "application/octet-stream")),
                    filename=str(attachment.get("filename", digest)),
                    compression=str(attachment.get("compression", "")),
                    ciphertext=members[str(attachment.get("member"))],
                    now=now,
                )
            except (OneWindowError, KeyError) as exc:
                outcome.attachment_errors.append(f"{digest}: {exc}")
                continue
            received.append(digest)
            outcome.attachments_new += int(new)
            outcome.attachments_known += int(not new)
        answer: dict[str, Any] | None = None
        down_after = 0
        if node.sign_key and isinstance(manifest.get("hello"), dict):
            answer = await hello(
                session,
                county,
                store,
                node,
                manifest["hello"],
                node_time=str(manifest.get("created_at", "")),
                now=now,
                measure_skew=False,
            )
            down_after = int(manifest["hello"].get("down", {}).get("seq", 0))
        down = (
            await down_entries(session, node.node_id, after=down_after, limit=100_000)
            if node.sign_key
            else []
        )
        outcome.down_entries = len(down)
        # The result documents those entries name travel with them, encrypted to the node like on the wire.
        documents: dict[str, bytes] = {}
        for entry in down:
            try:
                payload = open_entry(entry, county.age_identities)
            except OneWindowError:
                continue  # written before down entries were also encrypted to the county: names no document
            for digest in documents_named(payload):
                try:
                    spool = await down_spool(session, store.blobs, store.data_dir, node, digest)
                except OneWindowError:
                    continue  # not held (yet): the node fetches it over the network or with the next courier
                documents[f"documents/{digest}.age"] = spool.path.read_bytes()
        reply = io.BytesIO()
        write_courier_file(
            reply,
            {
                "direction": "down",
                "node_id": node.node_id,
                "created_at": now,
                "results": result.results,
                "head": {"seq": result.head_seq, "hash": result.head_hash},
                "hello_answer": answer,
                "blobs_received": received,
            },
            {"down.json": canonical_json({"entries": [e.to_wire() for e in down]}), **documents},
            county.signer_for(node.county_key),
        )
        outcome.reply = reply.getvalue()
        session.add(node)
    return outcome


async def import_command(args: argparse.Namespace) -> int:
    """`onewindow central import FILE --out REPLY`: ingest a courier's file and write the reply for the node."""
    settings = CentralSettings.from_env(
        os.environ, data_dir=args.data, county_dir=args.county_dir, database_url=args.database_url
    )
    db = open_database(settings)
    try:
        async with db.transaction() as session:
            await import_registry(session, settings.county_dir)
        outcome = await import_courier_file(
            db,
            load_county(settings.county_dir),
            AttachmentStore(settings.data_dir),
            args.file.read_bytes(),
            max_entry=settings.max_entry_bytes,
        )
    except OneWindowError as exc:
        print(f"导入失败，文件整份拒收，未作任何更改：{exc.reason}", file=sys.stderr)
        return 1
    finally:
        await db.close()
    write_file_atomic(args.out, outcome.reply, mode=0o600)
    print(outcome.summary())
    for error in outcome.attachment_errors:
        print(f"附件未能接收：{error}", file=sys.stderr)
    print(f"回执文件已写入 {args.out}，请交信使带回节点：onewindow node import {args.out.name} --data …")
    return 0
