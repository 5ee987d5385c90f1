"""Central's blob store: attachments by the SHA-256 of their plaintext, in a directory (``DATA/blobs/ab/ab…``):
the scans nodes upload (`central.sync`) and the result documents the back office makes (`central.backoffice`),
which is why it is a root base module below both.

The interface is small on purpose (put, adopt, get, chunks, exists, path) so an S3-compatible store can stand
behind it when a province outgrows one machine's disk. Files are written temp → fsync → rename, so a crash never
leaves half a blob under its final name. A large blob is never held whole in memory: `adopt` takes a file
already written and verified beside the store, `chunks` reads one back piece by piece (a 50 MB scan served to
a reviewer costs central a chunk of memory, not the scan).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from protocol.keys import write_file_atomic

#: How much of a blob is read at a time when it is streamed.
CHUNK = 64 * 1024


class CentralBlobStore:
    """Plaintext attachments as they arrived, verified against their names."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def put(self, digest: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"blob {digest}: content does not match its name")
        if not self.exists(digest):
            write_file_atomic(self.path(digest), data, mode=0o640)

    def temp_path(self, digest: str) -> Path:
        """Where a blob is written before `adopt` puts it under its name (same file system: rename is atomic)."""
        return self.root / "tmp" / f"{digest}.{os.getpid()}.part"

    def adopt(self, digest: str, temp: Path) -> None:
        """Put a file written (and already verified against `digest`) at `temp` under its name: fsync, rename."""
        if self.exists(digest):
            temp.unlink(missing_ok=True)
            return
        path = self.path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        with temp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temp, 0o640)
        os.replace(temp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def chunks(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The blob's bytes from `start` up to `end` (exclusive; the end of the blob when None), a chunk at a
        time."""
        with self.path(digest).open("rb") as handle:
            handle.seek(start)
            left = (end if end is not None else self.size(digest)) - start
            while left > 0:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def get(self, digest: str) -> bytes:
        data = self.path(digest).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"blob {digest}: content does not match its name")
        return data


def blob_store(data_dir: Path) -> CentralBlobStore:
    """Central's blob store in its data directory."""
    return CentralBlobStore(data_dir / "blobs")
