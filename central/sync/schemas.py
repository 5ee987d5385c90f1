"""The JSON bodies of central's sync API, as typed structs: what `/schema` documents, and what the framework
checks (a wrong type is refused with the field named) before a handler runs.

Each body is also signed as the bytes the node sent (`protocol.requests`): handlers pass those bytes on for the
signature check alongside the parsed struct. A per-field bound, when one is declared, goes on the field as
``Annotated[…, msgspec.Meta(…)]``; the entry and field size limits themselves are `protocol`'s.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from protocol.limits import MAX_CODE, MAX_LIST, MAX_ROW_ID, MAX_WIRE_CIPHERTEXT

Code = Annotated[str, msgspec.Meta(max_length=MAX_CODE)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_ROW_ID)]


class WireEntry(msgspec.Struct):
    """One log entry as it travels (`protocol.log.LogEntry.to_wire`); its shape is checked by
    `LogEntry.from_wire`, its signature and chain by ingest."""

    v: Annotated[int, msgspec.Meta(ge=0, le=1000)]
    node_id: Code
    stream: Code
    seq: Seq
    prev_hash: Code
    kind: Code
    #: The age file of the canonical payload, base64.
    ciphertext: Annotated[str, msgspec.Meta(max_length=(MAX_WIRE_CIPHERTEXT * 4) // 3 + 4)]
    #: Ed25519 over the entry hash, base64.
    signature: Annotated[str, msgspec.Meta(max_length=200)]

    def to_wire(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


class UpRequest(msgspec.Struct):
    """``POST /sync/v1/up``: a batch of the node's up entries, in seq order."""

    node_id: Code
    entries: Annotated[list[WireEntry], msgspec.Meta(max_length=MAX_LIST)]
    #: The newest down entry the node has applied (central stops resending before it).
    down_head: Seq | None = None


class HeadBody(msgspec.Struct):
    """A log position: an entry's seq and hash (seq 0 for an empty log)."""

    seq: Seq
    hash: Code


class HelloRequest(msgspec.Struct):
    """``POST /sync/v1/hello``: the node's log heads, the county keys it trusts and what it says of itself."""

    up: HeadBody
    receipted: HeadBody
    down: HeadBody
    node_id: Code = ""
    #: Fingerprints of the county signing keys the node trusts, newest first.
    county_keys: (
        Annotated[list[Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=MAX_LIST)]
        | None
    ) = None
    #: The one-time challenge of central's last reconcile answer (the replay rule: `fresh_hello`).
    challenge: Code = ""
    #: The node's own report (queue, oldest unsent item, version, disk, devices …) for the fleet page.
    report: dict[str, Any] | None = None

    def to_document(self) -> dict[str, Any]:
        """The hello as the reconcile service reads it (the same shape a courier file carries)."""
        document: dict[str, Any] = msgspec.to_builtins(self)
        return document


class RestoreDownRequest(msgspec.Struct):
    """``POST /sync/v1/down/restore``: down entries central wrote and lost in a restore, handed back."""

    entries: Annotated[list[WireEntry], msgspec.Meta(max_length=MAX_LIST)]
    node_id: Code = ""


class DownAnswer(msgspec.Struct):
    """``GET /sync/v1/down``: the node's down entries after the seq it asked from, and its down head."""

    entries: list[dict[str, Any]]
    head: int


class RestoreDownAnswer(msgspec.Struct):
    """How many handed-back entries central took, and its down head after them."""

    restored: int
    down: HeadBody


class SyncInfo(msgspec.Struct):
    """``GET /sync/v1/info``: who this central is (protocol version, county, signing key) and its time."""

    protocol_version: int
    county: str
    sign_key: str
    time: str
