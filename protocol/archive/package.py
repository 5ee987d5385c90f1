"""The archive package (归档信息包): a BagIt bag (RFC 8493) in one ZIP, sealed by the node's signature.

Layout::

    <bag>/bagit.txt                    BagIt-Version 1.0, UTF-8
    <bag>/bag-info.txt                 centre, case and archive identifiers, Payload-Oxum, the node's public key
    <bag>/manifest-sha256.txt          every payload file
    <bag>/tagmanifest-sha256.txt       bagit.txt, bag-info.txt, manifest-sha256.txt
    <bag>/tagmanifest-sha256.txt.sig   detached Ed25519 signature of the tag manifest by the node (base64)
    <bag>/data/metadata/case.json      case metadata (办件元数据) and the list of files with digests (件内顺序号)
    <bag>/data/metadata/events.json    the full event history in (hlc, id) order, numbered 1…n
    <bag>/data/materials/…             materials as captured (PDF, JPEG, PNG, TIFF)
    <bag>/data/notices/…               the official notices as PDF
    <bag>/data/signatures/…            signature images (容缺承诺, 领取签收) as PNG

The signature covers the tag manifest, which covers the payload manifest, which covers every payload file, so
one signature seals the whole package (GB/T 42727 "生成校验信息"). The signature file itself is a tag file
outside the tag manifest, which RFC 8493 permits, so standard validators accept the bag as it is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import stat
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocol.archive.formats import FORMATS, sniff
from protocol.events import Event
from protocol.keys import SigningKey

ARCHIVE_MEDIA_TYPE = "application/vnd.onewindow.archive+zip"
PACKAGE_SCHEMA = "onewindow-archive/1"
BAGIT_VERSION = "1.0"
SIGNATURE_FILE = "tagmanifest-sha256.txt.sig"
TAG_FILES = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")
CASE_METADATA = "data/metadata/case.json"
EVENT_HISTORY = "data/metadata/events.json"

#: Retention periods (保管期限, 国家档案局令第8号) with their archival-number codes.
RETENTION_CODES = {"permanent": "Y", "30y": "D30", "10y": "D10"}
RETENTION_LABELS = {"permanent": "永久", "30y": "定期30年", "10y": "定期10年"}
#: 档号: 全宗号 (the centre's 12-digit division code) - 门类 WS (文书) · 年度 - 保管期限 - 件号.
ARCHIVAL_NUMBER = re.compile(
    r"^(?P<fonds>\d{12})-WS·(?P<year>\d{4})-(?P<retention>Y|D30|D10)-(?P<serial>\d{5})$"
)
RETENTION_YEARS = {"30y": 30, "10y": 10}


def kept_until(archival_number: str, retention: str) -> str:
    """Until when the record is kept: 永久, or the last year of the period, counted (as archives do) from
    1 January of the year after the filing year in the archival number; "" when the number does not parse."""
    match = ARCHIVAL_NUMBER.match(archival_number)
    if retention == "permanent":
        return "永久"
    if match is None or retention not in RETENTION_YEARS:
        return ""
    return f"{int(match['year']) + RETENTION_YEARS[retention]}年底"


ROLE_DIRS = {"material": "materials", "notice": "notices", "signature": "signatures"}
ROLE_FORMATS = {"material": ("pdf", "jpg", "png", "tiff"), "notice": ("pdf",), "signature": ("png",)}


@dataclass(frozen=True)
class ArchiveFile:
    """A file going into a package: a material, a notice or a signature image, with its descriptive metadata."""

    role: str  # material | notice | signature
    name: str  # a safe file name (ASCII letters, digits, "-", "_", ".")
    data: bytes
    title: str  # 题名
    document_number: str = ""  # 文号 (notices)
    created_at: str = ""  # 形成时间
    source: str = ""  # the checklist material id or the notice kind


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, fallback: str) -> str:
    """A file name made of ASCII letters, digits, '.', '-' and '_' (manifests need no escaping then)."""
    name = _SAFE_NAME.sub("_", text).strip("._")[:80]
    return name or fallback


def _manifest(entries: Mapping[str, bytes]) -> bytes:
    return "".join(f"{sha256(data)}  {path}\n" for path, data in sorted(entries.items())).encode("utf-8")


def _bag_info(fields: Sequence[tuple[str, str]]) -> bytes:
    lines = []
    for name, value in fields:
        clean = " ".join(str(value).split())  # one physical line per field
        lines.append(f"{name}: {clean}\n")
    return "".join(lines).encode("utf-8")


def signed_message(tagmanifest: bytes) -> bytes:
    """What the node signs: the tag manifest bytes, under a context label so the signature means nothing else."""
    return b"onewindow/archive-tagmanifest/v1\x00" + tagmanifest


def _zip(bag: str, files: Mapping[str, bytes], when: tuple[int, int, int, int, int, int]) -> bytes:
    buffer = io.BytesIO()
    # Stored, not deflated: nothing inside the package is compressed beyond the files' own public formats.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(f"{bag}/{path}", date_time=when)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, files[path])
    return buffer.getvalue()


def build_package(
    *,
    bag_name: str,
    metadata: Mapping[str, Any],
    events: Iterable[Event],
    files: Sequence[ArchiveFile],
    signer: SigningKey,
    bag_info: Sequence[tuple[str, str]],
    bagging_date: str,
) -> bytes:
    """The package as ZIP bytes. `metadata` is the case-level metadata (see REQUIRED_METADATA); the list of files
    (with 件内顺序号, format, size and digest) and the event summary are added here from what goes in."""
    ordered = sorted(events, key=lambda e: (e.hlc, e.id))
    history = [{"seq": i, **e.to_dict(), "content_hash": e.content_hash} for i, e in enumerate(ordered, 1)]
    payload: dict[str, bytes] = {}
    entries = []
    for seq, item in enumerate(files, start=1):
        fmt = sniff(item.data) or "unknown"
        path = f"data/{ROLE_DIRS[item.role]}/{seq:04d}-{item.name}"
        payload[path] = item.data
        entries.append(
            {
                "seq": seq,
                "path": path,
                "role": item.role,
                "title": item.title,
                "document_number": item.document_number,
                "format": fmt,
                "media_type": FORMATS.get(fmt, "application/octet-stream"),
                "size": len(item.data),
                "sha256": sha256(item.data),
                "created_at": item.created_at,
                "source": item.source,
            }
        )
    full = {
        **dict(metadata),
        "files": entries,
        "events": {
            "path": EVENT_HISTORY,
            "count": len(history),
            "first_hlc": ordered[0].hlc if ordered else 0,
            "last_hlc": ordered[-1].hlc if ordered else 0,
        },
    }
    payload[CASE_METADATA] = json.dumps(full, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
    payload[EVENT_HISTORY] = json.dumps(history, ensure_ascii=False, indent=2).encode("utf-8")
    octets = sum(len(d) for d in payload.values())
    tags: dict[str, bytes] = {
        "bagit.txt": f"BagIt-Version: {BAGIT_VERSION}\nTag-File-Character-Encoding: UTF-8\n".encode(),
        "bag-info.txt": _bag_info(
            [
                *bag_info,
                ("Bagging-Date", bagging_date),
                ("Payload-Oxum", f"{octets}.{len(payload)}"),
                ("Node-Verify-Key", signer.verify_key.to_text()),
            ]
        ),
        "manifest-sha256.txt": _manifest(payload),
    }
    tagmanifest = _manifest(tags)
    signature = signer.sign(signed_message(tagmanifest))
    files_out = {
        **payload,
        **tags,
        "tagmanifest-sha256.txt": tagmanifest,
        SIGNATURE_FILE: base64.b64encode(signature) + b"\n",
    }
    year, month, day = (int(x) for x in bagging_date.split("-"))
    return _zip(bag_name, files_out, (year, month, day, 0, 0, 0))
