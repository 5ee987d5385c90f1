"""Uploading attachments to central over tus 1.0, resumably (R-SYNC-4, ARCHITECTURE §4).

Each blob is uploaded as an age file encrypted to the county (compressed first where that pays), made once
into ``DATA/spool/<sha>.age`` (temp → fsync → rename) and kept until central confirms, so a resumed upload
always continues the very same bytes. Smallest attachments go first, and before every chunk the caller may
push newly sealed log entries, so a new case reaches the back office in seconds even behind a gigabyte of scans.
Chunks adapt to the link: about one second of transfer each, between 64 KiB and `MAX_CHUNK`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import col, select

from node.models import Blob
from node.runtime import NodeRuntime
from protocol import age
from protocol.keys import write_file_atomic
from protocol.requests import sign_request
from protocol.sync import TUS_VERSION, checksum_header, should_compress, tus_metadata

MAX_CHUNK = 4 * 1024 * 1024
MIN_CHUNK = 64 * 1024
FIRST_CHUNK = 256 * 1024
#: How long one chunk should take on the current link (seconds): short enough to let metadata through.
CHUNK_SECONDS = 1.0
FILES = "/sync/v1/files"


class UploadRefused(Exception):
    """Central refused an attachment for a reason that repeating will not fix (logged, tried next round)."""


@dataclass
class Transfer:
    """What the uploader is doing right now, for the sync page."""

    sha256: str = ""
    filename: str = ""
    offset: int = 0
    length: int = 0
    bytes_sent: int = 0
    started: float = field(default_factory=time.monotonic)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "filename": self.filename,
            "offset": self.offset,
            "length": self.length,
            "percent": round(100 * self.offset / self.length) if self.length else 0,
        }


def spool_path(runtime: NodeRuntime, digest: str) -> Path:
    return runtime.data_dir / "spool" / f"{digest}.age"


def _make_spool(runtime: NodeRuntime, blob: Blob) -> tuple[str, int, str]:
    """Encrypt a blob to the county into its spool file; returns (spool sha256, size, compression)."""
    plaintext = runtime.blobs.get(blob.sha256)
    compression = "zlib" if should_compress(blob.media_type, plaintext) else ""
    body = zlib.compress(plaintext, 6) if compression else plaintext
    ciphertext = age.encrypt(body, [runtime.identity.county_recipient.raw])
    # Not fsynced: a spool damaged by a power cut fails central's hash check and is simply made again.
    write_file_atomic(spool_path(runtime, blob.sha256), ciphertext, mode=0o600, durable=False)
    return hashlib.sha256(ciphertext).hexdigest(), len(ciphertext), compression


async def ensure_spool(runtime: NodeRuntime, blob: Blob) -> Blob:
    """The blob's spool file, made now if missing (a new spool means a new upload)."""
    path = spool_path(runtime, blob.sha256)
    if blob.spool_sha256 and path.exists() and path.stat().st_size == blob.spool_size:
        return blob
    spool_sha, size, compression = await asyncio.to_thread(_make_spool, runtime, blob)
    async with runtime.db.write() as session:
        row = await session.get(Blob, blob.sha256)
        assert row is not None
        row.spool_sha256, row.spool_size, row.compression, row.upload_url = spool_sha, size, compression, None
        session.add(row)
    blob.spool_sha256, blob.spool_size, blob.compression, blob.upload_url = spool_sha, size, compression, None
    return blob


async def pending_blobs(runtime: NodeRuntime, limit: int = 100) -> list[Blob]:
    """Attachments central has not confirmed, smallest first."""
    async with runtime.db.read() as session:
        rows = await session.exec(
            select(Blob)
            .where(col(Blob.uploaded_at).is_(None))
            .order_by(col(Blob.size), col(Blob.sha256))
            .limit(limit)
        )
        return list(rows.all())


async def pending_blob_totals(runtime: NodeRuntime) -> tuple[int, int]:
    """(count, plaintext bytes) of attachments not yet confirmed by central."""
    async with runtime.db.read() as session:
        count, size = (
            await session.exec(
                select(func.count(), func.coalesce(func.sum(Blob.size), 0)).where(
                    col(Blob.uploaded_at).is_(None)
                )
            )
        ).one()
    return int(count), int(size)


async def mark_uploaded(runtime: NodeRuntime, digest: str) -> None:
    async with runtime.db.write() as session:
        row = await session.get(Blob, digest)
        if row is not None and row.uploaded_at is None:
            row.uploaded_at = runtime.now_iso()
            session.add(row)
    spool_path(runtime, digest).unlink(missing_ok=True)


async def requeue(runtime: NodeRuntime, digests: list[str]) -> int:
    """Central says it lacks these (restored from backup): upload them again if this node has them."""
    again = 0
    async with runtime.db.write() as session:
        for digest in digests:
            row = await session.get(Blob, digest)
            if row is not None and row.uploaded_at is not None and runtime.blobs.exists(digest):
                row.uploaded_at, row.upload_url = None, None
                session.add(row)
                again += 1
    return again


class Uploader:
    """Uploads pending attachments through one httpx client, resuming each where central has it."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        runtime: NodeRuntime,
        *,
        before_chunk: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.before_chunk = before_chunk
        self.chunk = FIRST_CHUNK
        self.uploaded = 0
        self.bytes_sent = 0

    def _headers(self, method: str, path: str, body: bytes, extra: dict[str, str]) -> dict[str, str]:
        runtime = self.runtime
        return {
            "Tus-Resumable": TUS_VERSION,
            **extra,
            **sign_request(
                runtime.identity.request_key, runtime.node_id, method, path, runtime.now_iso(), body
            ),
        }

    async def _request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        from node.sync.client import CentralUnavailable  # the client module imports this one

        try:
            response = await self.client.request(
                method, path, content=body, headers=self._headers(method, path, body, headers or {})
            )
        except httpx.HTTPError as exc:
            raise CentralUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 and response.status_code != 507:
            raise CentralUnavailable(f"HTTP {response.status_code}")
        return response

    async def upload_all(self) -> int:
        """Upload every pending attachment, smallest first; returns how many central confirmed."""
        while True:
            batch = await pending_blobs(self.runtime)
            progressed = False
            for blob in batch:
                if not self.runtime.blobs.exists(blob.sha256):
                    continue  # purged locally after archiving; nothing left to send
                try:
                    await self.upload(blob)
                    progressed = True
                except UploadRefused as exc:
                    self.runtime.sync_state["last_upload_error"] = str(exc)
            if not progressed:
                return self.uploaded

    async def _create(self, blob: Blob) -> tuple[str, int]:
        assert blob.spool_sha256 is not None and blob.spool_size is not None
        response = await self._request(
            "POST",
            FILES,
            headers={
                "Upload-Length": str(blob.spool_size),
                "Upload-Metadata": tus_metadata(
                    {
                        "sha256": blob.sha256,
                        "spool_sha256": blob.spool_sha256,
                        "media_type": blob.media_type,
                        "filename": blob.filename,
                        "compression": blob.compression,
                    }
                ),
            },
        )
        if response.status_code != 201:
            raise UploadRefused(
                f"{blob.sha256}: creation refused: HTTP {response.status_code} {response.text[:200]}"
            )
        location = response.headers["Location"]
        url = location if location.startswith("/") else httpx.URL(location).path
        async with self.runtime.db.write() as session:
            row = await session.get(Blob, blob.sha256)
            assert row is not None
            row.upload_url = url
            session.add(row)
        if response.headers.get("X-OW-Blob-Present") == "1":
            return url, -1  # central already holds this attachment
        return url, int(response.headers.get("Upload-Offset", "0"))

    async def _offset(self, url: str) -> int | None:
        response = await self._request("HEAD", url)
        if response.status_code == 404:
            return None  # central forgot the upload (restored from backup, or it was terminated)
        if response.status_code != 200:
            raise UploadRefused(f"HEAD {url}: HTTP {response.status_code}")
        return int(response.headers["Upload-Offset"])

    async def upload(self, blob: Blob) -> None:
        """Upload one attachment to the end, resuming from central's offset."""
        runtime = self.runtime
        blob = await ensure_spool(runtime, blob)
        assert blob.spool_size is not None
        offset: int | None = None
        url = blob.upload_url
        if url:
            offset = await self._offset(url)
        if url is None or offset is None:
            url, offset = await self._create(blob)
        if offset < 0:
            await mark_uploaded(runtime, blob.sha256)
            self.uploaded += 1
            return
        transfer = Transfer(blob.sha256, blob.filename, offset, blob.spool_size)
        runtime.sync_state["transfer"] = transfer
        try:
            with spool_path(runtime, blob.sha256).open("rb") as spool:
                while offset < blob.spool_size:
                    if self.before_chunk is not None:
                        await self.before_chunk()
                    spool.seek(offset)
                    chunk = spool.read(self.chunk)
                    started = time.monotonic()
                    response = await self._request(
                        "PATCH",
                        url,
                        chunk,
                        {
                            "Content-Type": "application/offset+octet-stream",
                            "Upload-Offset": str(offset),
                            "Upload-Checksum": checksum_header(chunk),
                        },
                    )
                    self.bytes_sent += len(chunk)
                    if response.status_code == 204:
                        offset = int(response.headers["Upload-Offset"])
                        self._adapt(len(chunk), time.monotonic() - started)
                    elif response.status_code in (409, 460):
                        # Another copy of this request got there first, or the chunk was damaged on the way:
                        # ask central where it stands and go on from there.
                        known = await self._offset(url)
                        if known is None:
                            raise UploadRefused(f"{blob.sha256}: upload vanished at central")
                        offset = known
                    elif response.status_code == 404:
                        async with runtime.db.write() as session:
                            row = await session.get(Blob, blob.sha256)
                            assert row is not None
                            row.upload_url = None
                            session.add(row)
                        raise UploadRefused(f"{blob.sha256}: central forgot the upload; starting again")
                    elif response.status_code == 422:
                        # Central could not verify the plaintext: make a fresh spool next round.
                        spool_path(runtime, blob.sha256).unlink(missing_ok=True)
                        raise UploadRefused(f"{blob.sha256}: {response.text[:300]}")
                    else:
                        raise UploadRefused(
                            f"{blob.sha256}: HTTP {response.status_code} {response.text[:200]}"
                        )
                    transfer.offset = offset
        finally:
            runtime.sync_state.pop("transfer", None)
        await mark_uploaded(runtime, blob.sha256)
        self.uploaded += 1

    def _adapt(self, size: int, seconds: float) -> None:
        if size < self.chunk // 2:
            return  # the file's last, short chunk says nothing about the link
        rate = size / max(seconds, 1e-3)
        self.chunk = int(min(MAX_CHUNK, max(MIN_CHUNK, rate * CHUNK_SECONDS)))
