"""Blobs going down to a node (下行文件): the result documents a down event names, fetched by the node.

A down entry names each document by the SHA-256 of its plaintext and is signed by the county, so what the node
fetches is authenticated by that hash. On the wire the blob is an age file encrypted to the node's key, made once
per node and blob into ``DATA/down-spool/<node>/<sha>.age`` (streamed, temp → rename) and kept, so a broken
download resumes with an HTTP ``Range`` on the very same bytes (its SHA-256 is the ``ETag``; ``If-Range``
guards against a spool made again). A node may fetch only the documents of cases whose down events it was sent:
its own cases, or a case whose result was dispatched to it (就近办).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.blobs import CentralBlobStore
from central.cases.queries import case_state
from central.models import EventRecord, NodeRecord
from protocol import age
from protocol.errors import FORBIDDEN, NOT_FOUND, VALIDATION, OneWindowError
from protocol.events import CASE_RESULT_DOCUMENTS
from protocol.keys import AgeRecipient


@dataclass(frozen=True)
class DownSpool:
    """The age file of one blob for one node, ready to stream (whole or from an offset)."""

    path: Path
    size: int
    etag: str


def documents_named(payload: dict[str, Any]) -> list[str]:
    """The result documents a down entry's payload names (its own events, and a case relayed with it)."""
    relay = payload.get("relay")
    events = list(payload.get("events", [])) + (
        list(relay.get("events", [])) if isinstance(relay, dict) else []
    )
    return [
        str(d["blob"])
        for e in events
        if isinstance(e, dict) and e.get("type") == CASE_RESULT_DOCUMENTS
        for d in (e.get("payload") or {}).get("documents", [])
        if isinstance(d, dict) and isinstance(d.get("blob"), str)
    ]


def spool_dir(data_dir: Path, node_id: str) -> Path:
    return data_dir / "down-spool" / node_id


async def _may_fetch(session: AsyncSession, node: NodeRecord, digest: str) -> bool:
    rows = (
        await session.exec(
            select(EventRecord.case_id).where(
                EventRecord.type == CASE_RESULT_DOCUMENTS, col(EventRecord.payload).contains(digest)
            )
        )
    ).all()
    for case_id in rows:
        state = await case_state(session, case_id)
        if state.origin_node == node.node_id:
            return True
        if state.dispatch is not None and state.dispatch.get("to_node") == node.node_id:
            return True
    return False


def _make_spool(blobs: CentralBlobStore, digest: str, recipient: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    with blobs.path(digest).open("rb") as src, temp.open("wb") as dst:
        age.encrypt_stream(src, dst, [recipient])
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(temp, path)


def _digest_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            hasher.update(chunk)
    return hasher.hexdigest()


async def down_spool(
    session: AsyncSession, blobs: CentralBlobStore, data_dir: Path, node: NodeRecord, digest: str
) -> DownSpool:
    """The node's age file of a blob it may fetch, made now if missing; OW FORBIDDEN / NOT_FOUND else."""
    if len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise OneWindowError(VALIDATION, "must be 64 lowercase hex digits", field="sha256")
    if not await _may_fetch(session, node, digest):
        raise OneWindowError(FORBIDDEN, f"blob {digest} is not this node's to fetch", field="sha256")
    if not blobs.exists(digest) or node.age_recipient is None:
        raise OneWindowError(NOT_FOUND, f"blob {digest} not held", field="sha256")
    path = spool_dir(data_dir, node.node_id) / f"{digest}.age"
    recipient = AgeRecipient.from_text(node.age_recipient).raw
    if not path.exists():
        await asyncio.to_thread(_make_spool, blobs, digest, recipient, path)
    etag_path = path.with_suffix(".sha256")
    if etag_path.exists():
        etag = etag_path.read_text().strip()
    else:
        etag = await asyncio.to_thread(_digest_of, path)
        etag_path.write_text(etag)
    return DownSpool(path=path, size=path.stat().st_size, etag=etag)


def spool_chunks(path: Path, start: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """The spool's bytes from `start`, a chunk at a time."""
    with path.open("rb") as handle:
        handle.seek(start)
        while data := handle.read(chunk):
            yield data
