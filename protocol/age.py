"""The age v1 file format (age-encryption.org/v1) with X25519 recipients: keys, header and STREAM payload.

Files written here decrypt with the reference ``age -d -i KEYFILE`` and files written by ``age -r age1…``
decrypt here. Only the binary format and the X25519 recipient type are implemented: stanzas of other types
(scrypt, plugins, post-quantum) are syntax-checked and skipped, and ASCII-armored files are refused.

Every problem with the input (malformed header, no matching identity, MAC or chunk authentication failure,
truncation, trailing data) raises `AgeError`. The streaming decrypter writes each chunk as soon as it
authenticates, so after an `AgeError` whatever it already wrote to ``dst`` must be discarded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol.bech32 import bech32_decode, bech32_encode

FILE_KEY_SIZE = 16
CHUNK_SIZE = 64 * 1024
KEY_SIZE = 32

_VERSION_LINE = b"age-encryption.org/v1"
_ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
_X25519_TYPE = "X25519"
_X25519_LABEL = b"age-encryption.org/v1/X25519"
_RECIPIENT_HRP = "age"
_IDENTITY_HRP = "age-secret-key-"
_COLUMNS = 64
_TAG_SIZE = 16
_MAC_SIZE = 32
_PAYLOAD_NONCE_SIZE = 16
_ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + _TAG_SIZE
_ZERO_NONCE = bytes(12)
# The format has no header length limit; these bounds only keep a hostile file from making us buffer
# without end. Real headers are a few hundred bytes per recipient.
_MAX_HEADER_LINE = 64 * 1024
_MAX_HEADER_SIZE = 1024 * 1024


class AgeError(ValueError):
    """An age file, key or argument that cannot be used: malformed, unauthenticated or not ours to open."""


@dataclass(frozen=True, slots=True)
class _Stanza:
    args: tuple[str, ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Header:
    stanzas: tuple[_Stanza, ...]
    mac_input: bytes
    mac: bytes


# -- keys -----------------------------------------------------------------------------------------------


def _check_key(key: bytes, what: str) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise AgeError(f"{what} must be {KEY_SIZE} raw bytes")
    return bytes(key)


def generate_identity() -> bytes:
    """Return a fresh raw X25519 private key (an age identity)."""
    return os.urandom(KEY_SIZE)


def recipient_from_identity(identity: bytes) -> bytes:
    """Return the raw X25519 public key (the age recipient) that belongs to `identity`."""
    private = X25519PrivateKey.from_private_bytes(_check_key(identity, "identity"))
    return private.public_key().public_bytes_raw()


def recipient_to_str(public: bytes) -> str:
    """Encode a raw X25519 public key as an ``age1…`` recipient string."""
    return bech32_encode(_RECIPIENT_HRP, _check_key(public, "recipient"))


def recipient_from_str(text: str) -> bytes:
    """Decode an ``age1…`` recipient string into the raw 32-byte X25519 public key."""
    try:
        hrp, data = bech32_decode(text)
    except ValueError as exc:
        raise AgeError(f"malformed age recipient: {exc}") from None
    if hrp != _RECIPIENT_HRP:
        raise AgeError("malformed age recipient: not an X25519 'age1' recipient")
    if len(data) != KEY_SIZE:
        raise AgeError(f"malformed age recipient: key is {len(data)} bytes, expected {KEY_SIZE}")
    return data


def identity_to_str(private: bytes) -> str:
    """Encode a raw X25519 private key as an ``AGE-SECRET-KEY-1…`` identity string (uppercase, as age does)."""
    return bech32_encode(_IDENTITY_HRP, _check_key(private, "identity")).upper()


def identity_from_str(text: str) -> bytes:
    """Decode an ``AGE-SECRET-KEY-1…`` identity string into the raw 32-byte X25519 private key.

    Either case is accepted (Bech32 is case-insensitive); error messages never echo the key.
    """
    try:
        hrp, data = bech32_decode(text)
    except ValueError as exc:
        raise AgeError(f"malformed age identity: {exc}") from None
    if hrp != _IDENTITY_HRP:
        raise AgeError("malformed age identity: not an X25519 'AGE-SECRET-KEY-1' identity")
    if len(data) != KEY_SIZE:
        raise AgeError(f"malformed age identity: key is {len(data)} bytes, expected {KEY_SIZE}")
    return data


def parse_identity_file(text: str) -> list[bytes]:
    """Parse an identity file as written by ``age-keygen``: one identity a line, blank and ``#`` lines ignored.

    Raises `AgeError` naming the offending line number, or when the file holds no identity at all.
    """
    identities: list[bytes] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(identity_from_str(line))
        except AgeError as exc:
            raise AgeError(f"identity file line {number}: {exc}") from None
    if not identities:
        raise AgeError("identity file holds no identities")
    return identities


# -- primitives -----------------------------------------------------------------------------------------


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _b64encode(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _b64decode(text: bytes, what: str) -> bytes:
    # The spec demands unpadded, canonical base64: otherwise one header would have several spellings and a
    # bit flip in the unused low bits of the last character would go unnoticed.
    if b"=" in text:
        raise AgeError(f"{what}: base64 padding is not allowed")
    try:
        decoded = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise AgeError(f"{what}: invalid base64") from None
    if _b64encode(decoded) != text:
        raise AgeError(f"{what}: non-canonical base64")
    return decoded


def _wrap_body(body: bytes) -> bytes:
    encoded = _b64encode(body)
    lines = [encoded[start : start + _COLUMNS] for start in range(0, len(encoded), _COLUMNS)]
    # A stanza ends at its first line shorter than 64 columns, so a body filling its last line exactly
    # (including an empty body) needs an extra empty line to terminate it.
    if len(encoded) % _COLUMNS == 0:
        lines.append(b"")
    return b"".join(line + b"\n" for line in lines)


def _header_mac(file_key: bytes, mac_input: bytes) -> bytes:
    return hmac.new(_hkdf(file_key, b"", b"header"), mac_input, hashlib.sha256).digest()


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _read_exact(src: BinaryIO, size: int) -> bytes:
    """Read `size` bytes, fewer only at end of file (a single read() may legally return less)."""
    parts: list[bytes] = []
    remaining = size
    while remaining:
        part = src.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


# -- X25519 recipient type ------------------------------------------------------------------------------


def _x25519_wrap(file_key: bytes, recipient: bytes) -> _Stanza:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    except ValueError:
        # OpenSSL refuses low-order points (all-zero shared secret); such a "recipient" could not decrypt.
        raise AgeError("recipient is not a usable X25519 public key") from None
    wrap_key = _hkdf(shared, share + recipient, _X25519_LABEL)
    body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
    return _Stanza((_X25519_TYPE, _b64encode(share).decode("ascii")), body)


def _x25519_share(stanza: _Stanza) -> bytes:
    """Validate an X25519 stanza's shape before any crypto, as the spec requires, and return its share."""
    if len(stanza.args) != 2:
        raise AgeError("malformed X25519 stanza: expected exactly one argument after the type")
    share = _b64decode(stanza.args[1].encode("ascii"), "X25519 stanza share")
    if len(share) != KEY_SIZE:
        raise AgeError("malformed X25519 stanza: ephemeral share is not 32 bytes")
    # Checking the length before decrypting avoids partitioning-oracle attacks on multi-key AEAD.
    if len(stanza.body) != FILE_KEY_SIZE + _TAG_SIZE:
        raise AgeError("malformed X25519 stanza: body is not 32 bytes")
    return share


def _x25519_unwrap(share: bytes, body: bytes, identity: X25519PrivateKey, public: bytes) -> bytes | None:
    """Return the file key, or None when the stanza is addressed to someone else."""
    try:
        shared = identity.exchange(X25519PublicKey.from_public_bytes(share))
    except ValueError:
        raise AgeError("X25519 stanza has a low-order ephemeral share (all-zero shared secret)") from None
    # OpenSSL already refuses this, but the spec makes the check mandatory, so do not rely on the backend.
    if not any(shared):
        raise AgeError("X25519 stanza has a low-order ephemeral share (all-zero shared secret)")
    wrap_key = _hkdf(shared, share + public, _X25519_LABEL)
    try:
        return ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None


# -- header ---------------------------------------------------------------------------------------------


def _encode_header(file_key: bytes, stanzas: Sequence[_Stanza]) -> bytes:
    parts = [_VERSION_LINE, b"\n"]
    for stanza in stanzas:
        parts += [b"-> ", " ".join(stanza.args).encode("ascii"), b"\n", _wrap_body(stanza.body)]
    parts.append(b"---")
    mac_input = b"".join(parts)
    return mac_input + b" " + _b64encode(_header_mac(file_key, mac_input)) + b"\n"


class _HeaderReader:
    """Reads header lines from the stream, keeping the raw bytes the MAC is computed over."""

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self.raw = bytearray()

    def line(self) -> bytes:
        line = self._src.readline(_MAX_HEADER_LINE + 1)
        if not line.endswith(b"\n"):
            if len(line) > _MAX_HEADER_LINE:
                raise AgeError("malformed header: line too long")
            raise AgeError("malformed header: file ends inside the header")
        self.raw += line
        if len(self.raw) > _MAX_HEADER_SIZE:
            raise AgeError("malformed header: header too large")
        return line[:-1]


def _parse_arguments(line: bytes) -> tuple[str, ...]:
    if not line.startswith(b"-> "):
        raise AgeError("malformed header: stanza line must start with '-> '")
    args = tuple(line[3:].split(b" "))
    for arg in args:
        # Arguments are runs of visible ASCII: this also rules out empty arguments from doubled spaces.
        if not arg or any(not 0x21 <= byte <= 0x7E for byte in arg):
            raise AgeError("malformed header: invalid stanza argument")
    return tuple(arg.decode("ascii") for arg in args)


def _parse_body(reader: _HeaderReader) -> bytes:
    body = bytearray()
    while True:
        line = reader.line()
        if len(line) > _COLUMNS:
            raise AgeError("malformed header: stanza body line longer than 64 columns")
        if line.startswith((b"->", b"---")):
            raise AgeError("malformed header: stanza body must end with a line shorter than 64 columns")
        body += _b64decode(line, "malformed header: stanza body")
        if len(line) < _COLUMNS:
            return bytes(body)


def _read_header(src: BinaryIO) -> _Header:
    reader = _HeaderReader(src)
    first = src.readline(_MAX_HEADER_LINE)
    if first.rstrip(b"\r\n") == _ARMOR_BEGIN:
        raise AgeError("ASCII-armored age files are not supported; decode the armor first")
    if first != _VERSION_LINE + b"\n":
        if first == _VERSION_LINE + b"\r\n":
            raise AgeError("malformed header: lines must end with LF, not CRLF")
        if first.startswith(b"age-encryption.org/"):
            raise AgeError("unsupported age format version")
        raise AgeError("not an age file (missing 'age-encryption.org/v1' version line)")
    reader.raw += first

    stanzas: list[_Stanza] = []
    line = reader.line()
    while not line.startswith(b"---"):
        args = _parse_arguments(line)
        stanzas.append(_Stanza(args, _parse_body(reader)))
        line = reader.line()
    if not stanzas:
        raise AgeError("malformed header: no recipient stanzas")
    if not line.startswith(b"--- "):
        raise AgeError("malformed header: MAC line must start with '--- '")
    mac = _b64decode(line[4:], "malformed header: MAC")
    if len(mac) != _MAC_SIZE:
        raise AgeError("malformed header: MAC is not 32 bytes")
    # The MAC covers everything up to and including '---', not the space and MAC that follow.
    mac_input = bytes(reader.raw[: len(reader.raw) - len(line) - 1 + 3])
    return _Header(tuple(stanzas), mac_input, mac)


def _unwrap_file_key(header: _Header, identities: Sequence[bytes]) -> bytes:
    keys = [X25519PrivateKey.from_private_bytes(_check_key(identity, "identity")) for identity in identities]
    if not keys:
        raise AgeError("at least one identity is required")
    # Validate every X25519 stanza up front so a malformed one is reported the same way wherever it sits.
    x25519 = [(_x25519_share(s), s.body) for s in header.stanzas if s.args[0] == _X25519_TYPE]
    for key in keys:
        public = key.public_key().public_bytes_raw()
        for share, body in x25519:
            file_key = _x25519_unwrap(share, body, key, public)
            if file_key is not None:
                return file_key
    raise AgeError("no identity matches any recipient of this file")


# -- payload --------------------------------------------------------------------------------------------


def encrypt_stream(src: BinaryIO, dst: BinaryIO, recipients: Sequence[bytes]) -> int:
    """Encrypt everything readable from `src` to `recipients`, writing the age file to `dst`.

    Memory use is bounded by two chunks whatever the input size. Returns the number of bytes written.
    """
    checked = [_check_key(recipient, "recipient") for recipient in recipients]
    if not checked:
        raise AgeError("at least one recipient is required")
    file_key = os.urandom(FILE_KEY_SIZE)
    header = _encode_header(file_key, [_x25519_wrap(file_key, recipient) for recipient in checked])
    nonce = os.urandom(_PAYLOAD_NONCE_SIZE)
    dst.write(header)
    dst.write(nonce)
    written = len(header) + len(nonce)

    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    counter = 0
    chunk = _read_exact(src, CHUNK_SIZE)
    while True:
        # Read one chunk ahead: the last chunk is flagged in its nonce, so we must know it is last before
        # sealing it. A plaintext that is an exact multiple of 64 KiB thus ends with a full final chunk,
        # never with an extra empty one (only an empty plaintext yields an empty chunk).
        following = _read_exact(src, CHUNK_SIZE) if len(chunk) == CHUNK_SIZE else b""
        last = not following
        sealed = aead.encrypt(_chunk_nonce(counter, last), chunk, None)
        dst.write(sealed)
        written += len(sealed)
        if last:
            return written
        counter += 1
        chunk = following


def decrypt_stream(src: BinaryIO, dst: BinaryIO, identities: Sequence[bytes]) -> int:
    """Decrypt the age file readable from `src` with any of `identities`, writing the plaintext to `dst`.

    Memory use is bounded by two chunks. Returns the number of plaintext bytes written. Chunks are written
    as they authenticate: on `AgeError` the caller must discard whatever reached `dst`.
    """
    header = _read_header(src)
    file_key = _unwrap_file_key(header, identities)
    if not hmac.compare_digest(_header_mac(file_key, header.mac_input), header.mac):
        raise AgeError("header MAC mismatch: the header was altered")

    nonce = _read_exact(src, _PAYLOAD_NONCE_SIZE)
    if len(nonce) != _PAYLOAD_NONCE_SIZE:
        raise AgeError("truncated file: payload nonce missing")
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    written = 0
    counter = 0
    chunk = _read_exact(src, _ENCRYPTED_CHUNK_SIZE)
    while True:
        # Whether a full-size chunk is the last one is only known by looking for more data after it.
        following = _read_exact(src, _ENCRYPTED_CHUNK_SIZE) if len(chunk) == _ENCRYPTED_CHUNK_SIZE else b""
        last = not following
        if len(chunk) < _TAG_SIZE:
            raise AgeError("truncated file: payload ends before its final chunk")
        try:
            plaintext = aead.decrypt(_chunk_nonce(counter, last), chunk, None)
        except InvalidTag:
            raise AgeError(_chunk_failure(aead, counter, chunk, last)) from None
        if last and not plaintext and counter > 0:
            raise AgeError("malformed payload: empty final chunk after non-empty data")
        dst.write(plaintext)
        written += len(plaintext)
        if last:
            return written
        counter += 1
        chunk = following


def _chunk_failure(aead: ChaCha20Poly1305, counter: int, chunk: bytes, last: bool) -> str:
    """Say why a chunk failed to open, trying the other end-of-stream flag only to word the error."""
    try:
        aead.decrypt(_chunk_nonce(counter, not last), chunk, None)
    except InvalidTag:
        return f"payload chunk {counter} failed authentication: the file was altered or damaged"
    if last:
        return "truncated file: payload ends without its final chunk"
    return "trailing data after the final chunk"


def encrypt(plaintext: bytes, recipients: Sequence[bytes]) -> bytes:
    """Encrypt `plaintext` to one or more raw X25519 public keys and return the binary age file."""
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), out, recipients)
    return out.getvalue()


def decrypt(ciphertext: bytes, identities: Sequence[bytes]) -> bytes:
    """Decrypt a binary age file with any of the given raw X25519 private keys and return the plaintext."""
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), out, identities)
    return out.getvalue()
