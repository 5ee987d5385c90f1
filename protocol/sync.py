"""Reconciliation and courier files: what node and central say to each other beyond single log entries.

* A **statement** is a canonical JSON object signed by one side (the county for central's answers, the node for
  its courier files): the node acts on central's reconcile answer (it may resend or re-chain), so that answer
  is signed like a receipt.
* **Reconcile** (`hello`): one round trip compares log heads both ways. The node sends its up head, its highest
  receipted entry and its down head; central answers with its heads for that node, its clock, whether the node's
  receipted entry is one it holds, and the attachments its events refer to that have not arrived.
* A **courier file** (sneakernet, R-SYNC-9) is an uncompressed tar: ``manifest.json`` (a signed statement that
  lists every other member with its SHA-256), then the members. A reader checks the signature and every
  member's hash before it uses anything, so a tampered file is refused whole.
* **Attachment uploads** follow tus 1.0 (core, creation, checksum, termination); the names of the metadata
  keys and the rule for choosing compression live here.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.canonical import canonical_json, parse_json
from protocol.errors import COURIER_FILE_INVALID, STATEMENT_INVALID, OneWindowError
from protocol.keys import SigningKey, Verifier

_STATEMENT_TAG = b"onewindow/statement/v1\x00"
#: A county-signed statement binding a node id to its public keys, returned once central has enrolled it.
CERTIFICATE_TYPE = "onewindow.node-certificate"
COURIER_FORMAT = "onewindow-courier/v1"
TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,checksum,termination"
#: A clock further off than this (either way) is shown as a warning at both ends.
SKEW_WARNING_MS = 2 * 60 * 1000
#: Media types whose bytes are already compressed: compressing them again only costs time.
INCOMPRESSIBLE = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "application/zip",
        "application/gzip",
        "application/x-7z-compressed",
        "video/mp4",
    }
)


def sign_statement(body: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """`body` with a ``signature`` over its canonical form."""
    clean = {k: v for k, v in body.items() if k != "signature"}
    signature = key.sign(_STATEMENT_TAG + canonical_json(clean))
    return {**clean, "signature": base64.b64encode(signature).decode("ascii")}


def verify_statement(document: Any, key: Verifier) -> dict[str, Any]:
    """The statement without its signature; OW-1219 unless `key` signed exactly this."""
    if not isinstance(document, Mapping) or not isinstance(document.get("signature"), str):
        raise OneWindowError(STATEMENT_INVALID, "not a signed statement", field="signature")
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        signature = base64.b64decode(document["signature"], validate=True)
    except ValueError as exc:
        raise OneWindowError(STATEMENT_INVALID, "signature is not base64", field="signature") from exc
    if not key.verify(signature, _STATEMENT_TAG + canonical_json(body)):
        raise OneWindowError(STATEMENT_INVALID, "signature does not match", field="signature")
    return body


@dataclass(frozen=True, slots=True)
class Head:
    """A log position: the seq of an entry and its hash (seq 0 with the genesis hash for an empty log)."""

    seq: int
    hash: str

    def to_wire(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}

    @classmethod
    def from_wire(cls, data: Any, name: str) -> Head:
        if not isinstance(data, Mapping):
            raise OneWindowError(STATEMENT_INVALID, "must be {seq, hash}", field=name)
        seq, digest = data.get("seq"), data.get("hash")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(digest, str):
            raise OneWindowError(STATEMENT_INVALID, "must be {seq, hash}", field=name)
        return cls(seq, digest)


def describe_skew(skew_ms: int | None) -> str:
    """A clock offset as people say it: 快 3 天 / 慢 2 小时 / 准确."""
    if skew_ms is None:
        return "未知"
    if abs(skew_ms) < SKEW_WARNING_MS:
        return "准确"
    seconds = abs(skew_ms) / 1000
    for unit, size in (("天", 86400), ("小时", 3600), ("分钟", 60)):
        if seconds >= size:
            amount = f"{seconds / size:.1f}".rstrip("0").rstrip(".")
            return f"{'快' if skew_ms > 0 else '慢'} {amount} {unit}"
    return f"{'快' if skew_ms > 0 else '慢'} {seconds:.0f} 秒"


def should_compress(media_type: str, sample: bytes) -> bool:
    """Compress before encrypting only where it pays: never for already-compressed formats, and only when
    a trial on the first 256 KiB saves at least a tenth."""
    import zlib

    if media_type in INCOMPRESSIBLE or len(sample) < 512:
        return False
    head = sample[: 256 * 1024]
    return len(zlib.compress(head, 1)) < 0.9 * len(head)


def tus_metadata(values: Mapping[str, str]) -> str:
    """The ``Upload-Metadata`` header: comma-separated ``key base64(value)`` pairs."""
    # An empty value is the bare key: a header must not end in a space (HTTP/1.1 strips or refuses it).
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" if v else k for k, v in values.items())


def parse_tus_metadata(header: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, encoded = pair.partition(" ")
        try:
            values[key] = base64.b64decode(encoded, validate=True).decode("utf-8") if encoded else ""
        except ValueError as exc:
            raise ValueError(f"Upload-Metadata: {key} is not base64") from exc
    return values


def checksum_header(chunk: bytes) -> str:
    """``Upload-Checksum`` for a chunk (tus checksum extension, sha256)."""
    return "sha256 " + base64.b64encode(hashlib.sha256(chunk).digest()).decode()


def checksum_matches(header: str, chunk: bytes) -> bool:
    algorithm, _, value = header.partition(" ")
    return algorithm.lower() == "sha256" and value.strip() == checksum_header(chunk).split(" ", 1)[1]


# ---- courier files ---------------------------------------------------------------------------------------


def write_courier_file(
    out: io.BufferedIOBase | Any,
    manifest: Mapping[str, Any],
    members: Mapping[str, bytes],
    key: SigningKey,
) -> dict[str, Any]:
    """Write a courier file: the signed manifest (listing each member's hash and size), then the members."""
    listed = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in members.items()
    }
    signed = sign_statement({**manifest, "format": COURIER_FORMAT, "members": listed}, key)
    out.write(_tar([("manifest.json", canonical_json(signed)), *members.items()]))
    return signed


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    """The one byte layout a courier file has for its members (fixed headers, no times, no owners)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


#: The manifest of a courier file (the first member) is read only up to this size before its signature is checked.
MAX_COURIER_MANIFEST = 4 * 1024 * 1024
_BLOCK = 512


@dataclass(frozen=True)
class _Member:
    name: str
    start: int  # offset of its content in the file
    size: int


def _octal(field: bytes, what: str) -> int:
    text = field.rstrip(b"\0 ").strip()
    if not text or text.strip(b"01234567"):
        raise OneWindowError(COURIER_FILE_INVALID, f"bad tar header field {what}", field="file")
    return int(text, 8)


def _courier_members(data: bytes) -> list[_Member]:
    """Walk a courier file's tar headers without unpacking anything: every member must be a plain regular
    file (no sparse, link, device, directory or extended header), with a relative name and its content inside
    the file. A hostile file is refused here, having cost no more memory than its own bytes."""
    members: list[_Member] = []
    names: set[str] = set()
    offset = 0
    while True:
        header = data[offset : offset + _BLOCK]
        if len(header) < _BLOCK:
            raise OneWindowError(COURIER_FILE_INVALID, "not a courier file: truncated", field="file")
        if header == bytes(_BLOCK):
            return members  # end of archive (the layout check below wants the exact trailer)
        if header[257:263] != b"ustar\x00":
            raise OneWindowError(COURIER_FILE_INVALID, "not a courier file: not a ustar header", field="file")
        checksum = _octal(header[148:156], "chksum")
        if checksum != sum(header[:148]) + 8 * 32 + sum(header[156:]):
            raise OneWindowError(COURIER_FILE_INVALID, "not a courier file: header checksum", field="file")
        kind = header[156:157]
        prefix = header[345:500].split(b"\0", 1)[0]
        raw_name = header[:100].split(b"\0", 1)[0]
        name = (prefix + b"/" + raw_name if prefix else raw_name).decode("utf-8", "replace")
        if kind not in (b"0", b"\0"):
            raise OneWindowError(
                COURIER_FILE_INVALID, f"unexpected member {name!r} (tar type {kind!r})", field="file"
            )
        if not name or name in names or name.startswith(("/", "..")) or ".." in name.split("/"):
            raise OneWindowError(COURIER_FILE_INVALID, f"unexpected member {name!r}", field="file")
        size = _octal(header[124:136], "size")
        start = offset + _BLOCK
        if start + size > len(data):
            raise OneWindowError(COURIER_FILE_INVALID, f"{name}: larger than the file", field="file")
        members.append(_Member(name, start, size))
        names.add(name)
        offset = start + -(-size // _BLOCK) * _BLOCK


def peek_courier_file(data: bytes, names: tuple[str, ...]) -> dict[str, bytes]:
    """Members `names` of a courier file, unchecked (only to find whose key must have signed it), each at most
    `MAX_COURIER_MANIFEST` bytes; the file's headers are checked as by `read_courier_file`."""
    found: dict[str, bytes] = {}
    for member in _courier_members(data):
        if member.name in names:
            if member.size > MAX_COURIER_MANIFEST:
                raise OneWindowError(COURIER_FILE_INVALID, f"{member.name}: too large", field="file")
            found[member.name] = data[member.start : member.start + member.size]
    return found


def read_courier_file(data: bytes, key_for: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Check and open a courier file. `key_for(manifest)` names the key that must have signed it (the node's
    or the county's). Every member must be listed with its hash and size and nothing unlisted may be present;
    any difference refuses the whole file (OW-1218) before anything is used.

    Read while checking, in this order: the tar headers (member types, names, sizes within the file), then
    the manifest alone (bounded) and its signature; only a signed manifest's members are hashed and copied,
    each against the size the manifest declares — nothing is unpacked before the signature holds."""
    layout = _courier_members(data)
    if not layout or layout[0].name != "manifest.json":
        raise OneWindowError(COURIER_FILE_INVALID, "no manifest", field="file")
    first = layout[0]
    if first.size > MAX_COURIER_MANIFEST:
        raise OneWindowError(COURIER_FILE_INVALID, "manifest too large", field="manifest")
    try:
        manifest = parse_json(data[first.start : first.start + first.size])
    except ValueError as exc:
        raise OneWindowError(COURIER_FILE_INVALID, f"manifest: {exc}", field="manifest") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != COURIER_FORMAT:
        raise OneWindowError(COURIER_FILE_INVALID, "not a courier manifest", field="manifest")
    try:
        body = verify_statement(manifest, key_for(manifest))
    except OneWindowError as exc:
        raise OneWindowError(COURIER_FILE_INVALID, f"signature: {exc.reason}", field="signature") from exc
    listed = body.get("members")
    if not isinstance(listed, dict) or set(listed) != {m.name for m in layout[1:]}:
        raise OneWindowError(COURIER_FILE_INVALID, "members differ from the manifest", field="members")
    for member in layout[1:]:
        expected = listed[member.name]
        if not isinstance(expected, dict) or expected.get("size", member.size) != member.size:
            raise OneWindowError(COURIER_FILE_INVALID, f"{member.name}: size differs", field=member.name)
    members: dict[str, bytes] = {}
    for member in layout[1:]:
        content = data[member.start : member.start + member.size]
        if hashlib.sha256(content).hexdigest() != listed[member.name].get("sha256"):
            raise OneWindowError(
                COURIER_FILE_INVALID, f"{member.name}: content does not match", field=member.name
            )
        members[member.name] = content
    if _tar([("manifest.json", data[first.start : first.start + first.size]), *members.items()]) != data:
        # Every byte of a courier file is determined by its members: any other change (padding, headers)
        # means the file was altered on the way, and it is refused like altered content.
        raise OneWindowError(COURIER_FILE_INVALID, "file layout altered", field="file")
    return body, members
