"""Content-addressed blob store for captured files: SHA-256 of the plaintext names the blob; the bytes on disk
are AES-GCM encrypted with the node data key and written temp → fsync → rename."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.keys import write_file_atomic


class BlobStore:
    """Encrypted blobs under ``DATA/blobs/ab/abcdef…``."""

    def __init__(self, root: Path, data_key: bytes) -> None:
        self.root = root
        self._aead = AESGCM(data_key)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store `data` (idempotent) and return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        if not path.exists():
            nonce = os.urandom(12)
            # The digest is bound as associated data so a blob file cannot be swapped for another.
            write_file_atomic(path, nonce + self._aead.encrypt(nonce, data, digest.encode()), mode=0o600)
        return digest

    def get(self, digest: str) -> bytes:
        raw = self.path(digest).read_bytes()
        data = self._aead.decrypt(raw[:12], raw[12:], digest.encode())
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"blob {digest}: content does not match its name")
        return data

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def delete(self, digest: str) -> bool:
        """Remove a blob's file (archive purge only, after central confirmed its copy); False when absent."""
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True
