"""Typed keys: Ed25519 signing keys and X25519 (age) encryption keys, their text forms and key files.

Text forms carry a prefix so a key can never be mistaken for another kind: ``ow-edsk-…`` / ``ow-edpk-…`` for
Ed25519, and age's own ``AGE-SECRET-KEY-1…`` / ``age1…`` for X25519 so the standard ``age`` tool reads our
identities. A private key's repr shows only its public fingerprint. Key files are written temp → fsync → rename
with mode 0600.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from protocol import age

_SK_PREFIX = "ow-edsk-"
_PK_PREFIX = "ow-edpk-"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str, size: int, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: not base64url") from exc
    if len(raw) != size or _b64(raw) != text:
        raise ValueError(f"{what}: expected {size} bytes in canonical base64url")
    return raw


def fingerprint(public: bytes) -> str:
    """Short human-comparable fingerprint of a public key (as printed on bundles and QR codes)."""
    digest = hashlib.sha256(public).hexdigest()[:20].upper()
    return "-".join(digest[i : i + 4] for i in range(0, 20, 4))


class Verifier(Protocol):
    """Anything that checks an Ed25519 signature: one key, or a ring of trusted keys (`protocol.trust`)."""

    def verify(self, signature: bytes, message: bytes) -> bool: ...


@functools.lru_cache(maxsize=1024)
def _public(raw: bytes) -> Ed25519PublicKey:
    """The loaded key (loading costs as much as a verification: a drain checks thousands with a few keys)."""
    return Ed25519PublicKey.from_public_bytes(raw)


@functools.lru_cache(maxsize=64)
def _private(raw: bytes) -> Ed25519PrivateKey:
    """The loaded key (central signs a receipt per entry with one key)."""
    return Ed25519PrivateKey.from_private_bytes(raw)


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """An Ed25519 public key."""

    raw: bytes

    @classmethod
    def from_text(cls, text: str) -> VerifyKey:
        if not text.startswith(_PK_PREFIX):
            raise ValueError(f"verify key must start with {_PK_PREFIX}")
        return cls(_unb64(text[len(_PK_PREFIX) :], 32, "verify key"))

    def to_text(self) -> str:
        return _PK_PREFIX + _b64(self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when `signature` is this key's signature of `message`."""
        try:
            _public(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def __str__(self) -> str:
        return self.to_text()


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key; repr never shows it."""

    raw: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> SigningKey:
        key = Ed25519PrivateKey.generate()
        return cls(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    @classmethod
    def from_text(cls, text: str) -> SigningKey:
        text = text.strip()
        if not text.startswith(_SK_PREFIX):
            raise ValueError(f"signing key must start with {_SK_PREFIX}")
        return cls(_unb64(text[len(_SK_PREFIX) :], 32, "signing key"))

    def to_text(self) -> str:
        return _SK_PREFIX + _b64(self.raw)

    @property
    def verify_key(self) -> VerifyKey:
        public = Ed25519PrivateKey.from_private_bytes(self.raw).public_key()
        return VerifyKey(public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, message: bytes) -> bytes:
        return _private(self.raw).sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.verify_key.fingerprint})"


@dataclass(frozen=True, slots=True)
class AgeRecipient:
    """An X25519 public key in age's ``age1…`` form: what entries are encrypted to."""

    raw: bytes

    @classmethod
    def from_text(cls, text: str) -> AgeRecipient:
        return cls(age.recipient_from_str(text.strip()))

    def to_text(self) -> str:
        return age.recipient_to_str(self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def __str__(self) -> str:
        return self.to_text()


@dataclass(frozen=True, slots=True)
class AgeIdentity:
    """An X25519 private key in age's ``AGE-SECRET-KEY-1…`` form; repr never shows it."""

    raw: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> AgeIdentity:
        key = X25519PrivateKey.generate()
        return cls(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    @classmethod
    def from_text(cls, text: str) -> AgeIdentity:
        identities = age.parse_identity_file(text)
        if len(identities) != 1:
            raise ValueError("expected exactly one age identity")
        return cls(identities[0])

    def to_text(self) -> str:
        return age.identity_to_str(self.raw)

    @property
    def recipient(self) -> AgeRecipient:
        public = X25519PrivateKey.from_private_bytes(self.raw).public_key()
        return AgeRecipient(public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def __repr__(self) -> str:
        return f"AgeIdentity(recipient={self.recipient.fingerprint})"


def write_file_atomic(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Write temp → fsync → rename, so a crash leaves the old file or the new one, never half of one.

    `durable=False` skips the fsyncs: still atomic for a process crash, but a power cut may lose the file or
    leave it short; only for files that are checked before use and can be made again (upload spools)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_secret_file(path: Path, text: str) -> None:
    """A private key file: mode 0600, written atomically."""
    write_file_atomic(path, text.encode("utf-8") + b"\n", mode=0o600)


def read_secret_file(path: Path) -> str:
    """Read a private key file, refusing one that others can read."""
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path}: private key file must not be readable by group or others (chmod 600)")
    return path.read_text("utf-8").strip()
