"""Central's blob store: attachments by the SHA-256 of their plaintext, in a directory (``DATA/blobs/ab/ab…``).

The interface is small on purpose (put, get, exists, path) so an S3-compatible store can stand behind it when a
province outgrows one machine's disk. Files are written temp → fsync → rename, so a crash never leaves half a
blob under its final name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from protocol.keys import write_file_atomic


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

    def get(self, digest: str) -> bytes:
        data = self.path(digest).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"blob {digest}: content does not match its name")
        return data
