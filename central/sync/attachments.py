"""Attachments arriving at central over tus 1.0 (core, creation, checksum, termination), and from courier files.

A node uploads each blob as an age file encrypted to the county. The upload id is derived from the node, the
plaintext hash and the hash of that age file, so creating the same upload twice (a lost answer, a crash) gives
the same id, and a node that had to make a new age file starts a new upload. Each PATCH chunk is checked
against its ``Upload-Checksum`` in memory and only then appended and fsynced, so the bytes on disk are always a
correct prefix and the offset is simply the part file's size. When the last byte arrives central decrypts,
decompresses where the node compressed, checks the plaintext against its declared SHA-256 and keeps it; a
mismatch is recorded on the upload and the bytes are thrown away. All of that streams, a chunk at a time, from
the part file to a temporary file beside the store: a 2 GB upload costs central a few chunks of memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.archive.service import on_blob_arrived
from central.blobs import CentralBlobStore, blob_store
from central.keys import CountyKeys
from central.models import BlobRecord, ExpectedBlobRecord, UploadRecord
from protocol import age
from protocol.archive import ARCHIVE_MEDIA_TYPE
from protocol.errors import (
    ATTACHMENT_MISMATCH,
    NOT_FOUND,
    UPLOAD_CHECKSUM_MISMATCH,
    UPLOAD_OFFSET_CONFLICT,
    VALIDATION,
    OneWindowError,
)
from protocol.sync import checksum_matches

#: The largest upload central takes (an age file of one attachment).
MAX_UPLOAD = 2 * 1024 * 1024 * 1024
#: The largest single PATCH body.
MAX_CHUNK_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class AttachmentStore:
    """Where central keeps attachments and partial uploads."""

    data_dir: Path

    @property
    def blobs(self) -> CentralBlobStore:
        return blob_store(self.data_dir)

    def part(self, upload_id: str) -> Path:
        return self.data_dir / "uploads" / f"{upload_id}.part"


def upload_id_for(node_id: str, sha256: str, spool_sha256: str) -> str:
    return hashlib.sha256(f"{node_id}\x00{sha256}\x00{spool_sha256}".encode()).hexdigest()[:32]


def _check_digest(value: str, name: str) -> str:
    if len(value) != 64 or value.strip("0123456789abcdef"):
        raise OneWindowError(VALIDATION, "must be 64 lowercase hex digits", field=name)
    return value


async def create_upload(
    session: AsyncSession,
    store: AttachmentStore,
    *,
    node_id: str,
    length: int,
    metadata: dict[str, str],
    now: str,
) -> tuple[UploadRecord, int, bool]:
    """Create (or find again) an upload; returns it, its offset, and whether central already has the blob."""
    sha256 = _check_digest(metadata.get("sha256", ""), "Upload-Metadata.sha256")
    spool = _check_digest(metadata.get("spool_sha256", ""), "Upload-Metadata.spool_sha256")
    if not 0 < length <= MAX_UPLOAD:
        raise OneWindowError(VALIDATION, f"must be 1 … {MAX_UPLOAD}", field="Upload-Length")
    compression = metadata.get("compression", "")
    if compression not in ("", "zlib"):
        raise OneWindowError(VALIDATION, f"unknown compression {compression!r}", field="Upload-Metadata")
    upload_id = upload_id_for(node_id, sha256, spool)
    record = await session.get(UploadRecord, upload_id)
    if record is None:
        record = UploadRecord(
            upload_id=upload_id,
            node_id=node_id,
            sha256=sha256,
            length=length,
            media_type=metadata.get("media_type", "application/octet-stream")[:100],
            filename=metadata.get("filename", sha256)[:200],
            compression=compression,
            created_at=now,
        )
        session.add(record)
        await session.flush()
    present = await session.get(BlobRecord, sha256) is not None and store.blobs.exists(sha256)
    return record, current_offset(store, record), present


def current_offset(store: AttachmentStore, record: UploadRecord) -> int:
    if record.completed_at is not None:
        return record.length
    part = store.part(record.upload_id)
    return part.stat().st_size if part.exists() else 0


async def find_upload(session: AsyncSession, upload_id: str, node_id: str) -> UploadRecord:
    record = (
        await session.exec(select(UploadRecord).where(UploadRecord.upload_id == upload_id).with_for_update())
    ).first()
    if record is None or record.node_id != node_id:
        raise OneWindowError(NOT_FOUND, f"upload {upload_id} not found", field="upload_id")
    return record


async def append_chunk(
    session: AsyncSession,
    county: CountyKeys,
    store: AttachmentStore,
    record: UploadRecord,
    *,
    offset: int,
    chunk: bytes,
    checksum: str,
    now: str,
) -> int:
    """Append one verified chunk at `offset` (the upload row is locked by the caller's transaction)."""
    current = current_offset(store, record)
    if offset != current:
        raise OneWindowError(
            UPLOAD_OFFSET_CONFLICT, f"offset {offset}, central has {current}", field="Upload-Offset"
        )
    if record.completed_at is not None:
        return record.length
    if checksum and not checksum_matches(checksum, chunk):
        raise OneWindowError(UPLOAD_CHECKSUM_MISMATCH, "chunk does not match", field="Upload-Checksum")
    if current + len(chunk) > record.length:
        raise OneWindowError(VALIDATION, "past Upload-Length", field="Upload-Offset")
    part = store.part(record.upload_id)
    await asyncio.to_thread(_append, part, chunk)
    return await finish_if_whole(session, county, store, record, now=now)


async def finish_if_whole(
    session: AsyncSession, county: CountyKeys, store: AttachmentStore, record: UploadRecord, *, now: str
) -> int:
    """Complete an upload whose bytes have all arrived (decrypt, verify, keep the blob); returns the offset.

    Called after the last chunk and again by every HEAD, so an upload whose last chunk reached the disk just
    before central died (the completing transaction never committed) is completed when the node asks where it
    stands, instead of being reported whole while central has no blob."""
    current = current_offset(store, record)
    if record.completed_at is not None or current != record.length:
        return current
    part = store.part(record.upload_id)
    try:
        await complete_blob(
            session,
            county,
            store,
            node_id=record.node_id,
            sha256=record.sha256,
            media_type=record.media_type,
            filename=record.filename,
            compression=record.compression,
            ciphertext=part,
            now=now,
        )
    except OneWindowError:
        part.unlink(missing_ok=True)  # the next try starts over with a fresh age file
        raise
    record.completed_at = now
    session.add(record)
    part.unlink(missing_ok=True)
    return record.length


def _append(part: Path, chunk: bytes) -> None:
    # No fsync per chunk: a process crash keeps what the kernel has; a power cut that loses or zeroes the tail
    # makes the final hash check fail and the node starts the upload again. The blob itself is fsynced.
    part.parent.mkdir(parents=True, exist_ok=True)
    with part.open("ab") as handle:
        handle.write(chunk)


class _PlaintextSink:
    """Where `age.decrypt_stream` writes: decompresses (bounded output per step), hashes and writes to a file."""

    def __init__(self, out: BinaryIO, compression: str) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0
        self.inflate = zlib.decompressobj() if compression == "zlib" else None

    def _keep(self, data: bytes) -> None:
        self.hash.update(data)
        self.size += len(data)
        self.out.write(data)

    def write(self, data: bytes) -> int:
        if self.inflate is None:
            self._keep(data)
            return len(data)
        pending = data
        while pending:
            self._keep(self.inflate.decompress(pending, 1024 * 1024))
            pending = self.inflate.unconsumed_tail
        return len(data)

    def finish(self) -> None:
        if self.inflate is not None:
            self._keep(self.inflate.flush())
            if not self.inflate.eof:
                raise zlib.error("compressed stream ends early")


def _open_to_file(
    source: Path | bytes, temp: Path, identities: list[bytes], compression: str
) -> tuple[str, int]:
    """Decrypt (and decompress) an age file into `temp`, a chunk at a time; returns the plaintext's (SHA-256,
    size)."""
    temp.parent.mkdir(parents=True, exist_ok=True)
    with (
        source.open("rb") if isinstance(source, Path) else io.BytesIO(source) as src,
        temp.open("wb") as out,
    ):
        sink = _PlaintextSink(out, compression)
        age.decrypt_stream(src, sink, identities)  # type: ignore[arg-type]  # a writer is all it needs
        sink.finish()
    return sink.hash.hexdigest(), sink.size


async def complete_blob(
    session: AsyncSession,
    county: CountyKeys,
    store: AttachmentStore,
    *,
    node_id: str,
    sha256: str,
    media_type: str,
    filename: str,
    compression: str,
    ciphertext: Path | bytes,
    now: str,
) -> bool:
    """Decrypt, decompress, verify and keep one attachment (the age file at a path, or its bytes), streaming;
    False when central already had it."""
    if await session.get(BlobRecord, sha256) is not None and store.blobs.exists(sha256):
        return False
    blobs = store.blobs
    temp = blobs.temp_path(sha256)
    try:
        digest, size = await asyncio.to_thread(
            _open_to_file, ciphertext, temp, [i.raw for i in county.age_identities], compression
        )
        if digest != sha256:
            raise OneWindowError(ATTACHMENT_MISMATCH, f"{sha256}: plaintext hash differs", field="attachment")
        await asyncio.to_thread(blobs.adopt, sha256, temp)
    except (age.AgeError, zlib.error) as exc:
        raise OneWindowError(ATTACHMENT_MISMATCH, f"{sha256}: {exc}", field="attachment") from exc
    finally:
        temp.unlink(missing_ok=True)
    if await session.get(BlobRecord, sha256) is None:
        session.add(
            BlobRecord(
                sha256=sha256,
                node_id=node_id,
                size=size,
                media_type=media_type,
                filename=filename,
                received_at=now,
            )
        )
        await session.flush()
    # An archive package is checked again and confirmed to its node (other attachments: nothing more to do).
    if media_type == ARCHIVE_MEDIA_TYPE:
        data = await asyncio.to_thread(blobs.get, sha256)
        await on_blob_arrived(
            session,
            county,
            node_id=node_id,
            sha256=sha256,
            media_type=media_type,
            filename=filename,
            data=data,
        )
    return True


async def terminate_upload(session: AsyncSession, store: AttachmentStore, record: UploadRecord) -> None:
    """tus termination: forget an unfinished upload and its bytes."""
    store.part(record.upload_id).unlink(missing_ok=True)
    if record.completed_at is None:
        await session.delete(record)


async def missing_blobs(
    session: AsyncSession, store: AttachmentStore, node_id: str, limit: int = 1000
) -> list[str]:
    """Attachments the node's events refer to that central has no record of (never arrived, or lost when
    central's database was restored from an older backup)."""
    rows = (
        await session.exec(
            select(ExpectedBlobRecord.sha256)
            .outerjoin(BlobRecord, col(BlobRecord.sha256) == col(ExpectedBlobRecord.sha256))
            .where(ExpectedBlobRecord.node_id == node_id, col(BlobRecord.sha256).is_(None))
            .limit(limit)
        )
    ).all()
    return list(rows)


async def blob_counts(session: AsyncSession, node_id: str) -> tuple[int, int]:
    """(attachments expected from the node, attachments arrived from it)."""
    expected = (
        await session.exec(
            select(func.count()).select_from(ExpectedBlobRecord).where(ExpectedBlobRecord.node_id == node_id)
        )
    ).one()
    arrived = (
        await session.exec(select(func.count()).select_from(BlobRecord).where(BlobRecord.node_id == node_id))
    ).one()
    return int(expected), int(arrived)
