"""Log entries and receipts: the hash-chained, encrypted, signed units that travel between node and central.

An entry is ``{node_id, stream, seq, prev_hash, kind, ciphertext, signature}``. The ciphertext is an age v1 file
of the canonical payload, encrypted to the reader (the county for ``up``, the node for ``down``), so the writer of
an up entry cannot read it back. ``entry_hash = SHA-256(canonical header ‖ ciphertext)`` chains entries;
the writer signs the entry hash. Central answers each stored up entry with a signed receipt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from protocol import age
from protocol.canonical import canonical_json, parse_json
from protocol.errors import (
    ENTRY_MALFORMED,
    ENTRY_SIGNATURE_INVALID,
    ENTRY_UNDECRYPTABLE,
    PROTOCOL_UNSUPPORTED,
    RECEIPT_INVALID,
    OneWindowError,
)
from protocol.keys import AgeIdentity, AgeRecipient, SigningKey, Verifier
from protocol.limits import MAX_WIRE_CIPHERTEXT
from protocol.version import PROTOCOL_VERSION

Stream = Literal["up", "down"]
GENESIS_HASH = "0" * 64
ENTRY_KINDS = frozenset(
    {"enrol", "events", "heartbeat", "calendar", "catalogue", "county_keys", "node_keys", "staff"}
)
_ENTRY_TAG = b"onewindow/entry/v1\x00"
_RECEIPT_TAG = b"onewindow/receipt/v1\x00"
#: A kind this version does not know may still be stored (and quarantined) by central when it asks for it.
_KIND_SHAPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise OneWindowError(ENTRY_MALFORMED, "must be base64 text", field=name)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OneWindowError(ENTRY_MALFORMED, "not valid base64", field=name) from exc


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of a node's up or down log."""

    node_id: str
    stream: Stream
    seq: int
    prev_hash: str
    kind: str
    ciphertext: bytes
    signature: bytes
    version: int = PROTOCOL_VERSION

    def header(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "node_id": self.node_id,
            "stream": self.stream,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "kind": self.kind,
        }

    @property
    def entry_hash(self) -> str:
        return entry_hash(self.header(), self.ciphertext)

    def stored_columns(self) -> dict[str, Any]:
        """What a log table keeps of the entry at either end (up or down, node or central): the chain position,
        its hash, the kind and the sealed bytes with their signature."""
        return {
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
            "kind": self.kind,
            "ciphertext": self.ciphertext,
            "signature": self.signature,
        }

    def to_wire(self) -> dict[str, Any]:
        return {**self.header(), "ciphertext": _b64(self.ciphertext), "signature": _b64(self.signature)}

    @classmethod
    def from_wire(cls, data: Any, *, any_kind: bool = False) -> LogEntry:
        """Parse and shape-check a wire entry; signatures are checked by `verify_entry`.

        `any_kind`: take a kind this version does not know (shaped like one) — central stores and quarantines
        such an entry rather than letting it stop the log. The ciphertext may be up to `MAX_WIRE_CIPHERTEXT`;
        whether it is small enough to apply (`protocol.limits.MAX_ENTRY_CIPHERTEXT`) is the reader's call."""
        if not isinstance(data, Mapping):
            raise OneWindowError(ENTRY_MALFORMED, "entry must be an object", field="entry")
        version = data.get("v")
        if version != PROTOCOL_VERSION:
            raise OneWindowError(PROTOCOL_UNSUPPORTED, f"version {version!r}", field="v")
        node_id, stream, seq = data.get("node_id"), data.get("stream"), data.get("seq")
        prev_hash, kind = data.get("prev_hash"), data.get("kind")
        if not isinstance(node_id, str) or not node_id:
            raise OneWindowError(ENTRY_MALFORMED, "missing", field="node_id")
        if stream not in ("up", "down"):
            raise OneWindowError(ENTRY_MALFORMED, "must be up or down", field="stream")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise OneWindowError(ENTRY_MALFORMED, "must be a positive integer", field="seq")
        if not isinstance(prev_hash, str) or len(prev_hash) != 64 or prev_hash.strip("0123456789abcdef"):
            raise OneWindowError(ENTRY_MALFORMED, "must be 64 lowercase hex digits", field="prev_hash")
        if kind not in ENTRY_KINDS and not (any_kind and isinstance(kind, str) and _KIND_SHAPE.match(kind)):
            raise OneWindowError(ENTRY_MALFORMED, f"unknown kind {kind!r}", field="kind")
        ciphertext = _unb64(data.get("ciphertext"), "ciphertext")
        if len(ciphertext) > MAX_WIRE_CIPHERTEXT:
            raise OneWindowError(ENTRY_MALFORMED, "too large", field="ciphertext")
        signature = _unb64(data.get("signature"), "signature")
        return cls(node_id, stream, seq, prev_hash, kind, ciphertext, signature, version)


def entry_hash(header: Mapping[str, Any], ciphertext: bytes) -> str:
    """SHA-256 over the canonical header and the ciphertext, as lowercase hex."""
    return hashlib.sha256(canonical_json(dict(header)) + ciphertext).hexdigest()


def seal_entry(
    *,
    node_id: str,
    stream: Stream,
    seq: int,
    prev_hash: str,
    kind: str,
    payload: Mapping[str, Any],
    recipients: Sequence[AgeRecipient],
    signer: SigningKey,
) -> LogEntry:
    """Encrypt `payload` to `recipients`, chain it after `prev_hash` and sign it."""
    if kind not in ENTRY_KINDS:
        raise ValueError(f"unknown entry kind {kind!r}")
    ciphertext = age.encrypt(canonical_json(dict(payload)), [r.raw for r in recipients])
    unsigned = LogEntry(node_id, stream, seq, prev_hash, kind, ciphertext, b"")
    signature = signer.sign(_ENTRY_TAG + bytes.fromhex(unsigned.entry_hash))
    return LogEntry(node_id, stream, seq, prev_hash, kind, ciphertext, signature)


def verify_entry(entry: LogEntry, key: Verifier) -> None:
    """Raise OW-1201 unless the entry is signed by `key` exactly as it stands."""
    if not key.verify(entry.signature, _ENTRY_TAG + bytes.fromhex(entry.entry_hash)):
        raise OneWindowError(
            ENTRY_SIGNATURE_INVALID, f"seq {entry.seq}: signature does not match the entry", field="signature"
        )


def open_entry(entry: LogEntry, identities: Sequence[AgeIdentity]) -> dict[str, Any]:
    """Decrypt an entry's payload (the reader's side)."""
    try:
        plaintext = age.decrypt(entry.ciphertext, [i.raw for i in identities])
        payload = parse_json(plaintext)
    except (age.AgeError, ValueError) as exc:
        raise OneWindowError(ENTRY_UNDECRYPTABLE, f"seq {entry.seq}: {exc}", field="ciphertext") from exc
    if not isinstance(payload, dict):
        raise OneWindowError(ENTRY_UNDECRYPTABLE, f"seq {entry.seq}: payload is not an object")
    return payload


@dataclass(frozen=True, slots=True)
class Receipt:
    """Central's signed statement that it stored entry `seq` (and, by the chain, every one before it)."""

    node_id: str
    stream: Stream
    seq: int
    entry_hash: str
    received_at: str
    signature: bytes = b""

    def body(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "stream": self.stream,
            "seq": self.seq,
            "entry_hash": self.entry_hash,
            "received_at": self.received_at,
        }

    def signed(self, key: SigningKey) -> Receipt:
        signature = key.sign(_RECEIPT_TAG + canonical_json(self.body()))
        return Receipt(self.node_id, self.stream, self.seq, self.entry_hash, self.received_at, signature)

    def verify(self, key: Verifier) -> None:
        if not key.verify(self.signature, _RECEIPT_TAG + canonical_json(self.body())):
            raise OneWindowError(RECEIPT_INVALID, f"receipt for seq {self.seq}", field="signature")

    def to_wire(self) -> dict[str, Any]:
        return {**self.body(), "signature": _b64(self.signature)}

    @classmethod
    def from_wire(cls, data: Any) -> Receipt:
        if not isinstance(data, Mapping):
            raise OneWindowError(RECEIPT_INVALID, "receipt must be an object")
        try:
            return cls(
                node_id=str(data["node_id"]),
                stream=data["stream"],
                seq=int(data["seq"]),
                entry_hash=str(data["entry_hash"]),
                received_at=str(data["received_at"]),
                signature=_unb64(data["signature"], "signature"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OneWindowError(RECEIPT_INVALID, f"malformed receipt: {exc}") from exc
