"""Archive packages of closed cases (归档信息包) and the four-property check (四性检测) both sides run on them.

A package is a BagIt bag (RFC 8493) serialised as one ZIP file whose single top-level directory is the bag::

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

The check follows DA/T 70-2018 (文书类电子档案检测一般要求): items of 真实性 (authenticity, ZS), 完整性
(integrity, WZ), 可用性 (usability, KY) and 安全性 (security, AQ), coded ``<stage>-<property>-<n>`` with the
stage GD (归档, at the node) or YJ (移交接收, at central). Usability is checked with structural parsers of PDF,
JPEG, PNG and TIFF written here on the standard library: a file "opens" when its structure parses end to end
and its compressed data inflates. There is no virus engine on a node; the security items instead refuse every
file type that can carry code (executables, scripts, archives, PDF actions and embedded files).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from protocol.events import Event, fold
from protocol.keys import SigningKey, VerifyKey

ARCHIVE_MEDIA_TYPE = "application/vnd.onewindow.archive+zip"
PACKAGE_SCHEMA = "onewindow-archive/1"
BAGIT_VERSION = "1.0"
SIGNATURE_FILE = "tagmanifest-sha256.txt.sig"
TAG_FILES = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")
CASE_METADATA = "data/metadata/case.json"
EVENT_HISTORY = "data/metadata/events.json"
MAX_PACKAGE_BYTES = 1024 * 1024 * 1024  # refuse to unpack more than 1 GiB: no zip bombs

#: Retention periods (保管期限, 国家档案局令第8号) with their archival-number codes.
RETENTION_CODES = {"permanent": "Y", "30y": "D30", "10y": "D10"}
RETENTION_LABELS = {"permanent": "永久", "30y": "定期30年", "10y": "定期10年"}
#: 档号: 全宗号 (the centre's 12-digit division code) - 门类 WS (文书) · 年度 - 保管期限 - 件号.
ARCHIVAL_NUMBER = re.compile(
    r"^(?P<fonds>\d{12})-WS·(?P<year>\d{4})-(?P<retention>Y|D30|D10)-(?P<serial>\d{5})$"
)

FORMAT_LABELS = {"pdf": "PDF", "jpg": "JPEG", "png": "PNG", "tiff": "TIFF"}
FORMATS = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png", "tiff": "image/tiff"}
EXTENSIONS = {"pdf": ("pdf",), "jpg": ("jpg", "jpeg"), "png": ("png",), "tiff": ("tif", "tiff")}
ROLE_DIRS = {"material": "materials", "notice": "notices", "signature": "signatures"}
ROLE_FORMATS = {"material": ("pdf", "jpg", "png", "tiff"), "notice": ("pdf",), "signature": ("png",)}

PROPERTIES = {
    "ZS": ("真实性", "authenticity"),
    "WZ": ("完整性", "integrity"),
    "KY": ("可用性", "usability"),
    "AQ": ("安全性", "security"),
}
STAGES = {"GD": "归档", "YJ": "移交接收"}

REQUIRED_METADATA = (
    "schema",
    "archival_number",
    "retention",
    "fonds",
    "year",
    "archived_at",
    "node_id",
    "centre_name",
    "case.case_id",
    "case.case_number",
    "case.item_code",
    "case.item_name",
    "case.applicant.name",
    "case.received_at",
    "case.closed_at",
    "case.status",
    "environment.software",
)
REQUIRED_BAG_INFO = (
    "Source-Organization",
    "External-Identifier",
    "Internal-Sender-Identifier",
    "Bagging-Date",
    "Payload-Oxum",
    "Archival-Number",
    "Retention-Period",
    "Node-Id",
    "Node-Verify-Key",
)


# ---- building a package -------------------------------------------------------------------------------------


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


def sniff(data: bytes) -> str | None:
    """The format a file claims by its magic bytes (pdf, jpg, png, tiff), or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    return None


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


# ---- the report ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckItem:
    """One line of the report: which property and item, pass or fail, and why."""

    code: str  # e.g. GD-ZS-1
    property: str  # ZS | WZ | KY | AQ
    item: str  # the item's Chinese name
    passed: bool
    reason: str  # Chinese, for the archivist
    reason_code: str  # stable English code, for machines and logs ("ok" when passed)
    subject: str = ""  # the file (or part) the item is about, "" for the whole package

    def to_dict(self) -> dict[str, Any]:
        label, english = PROPERTIES[self.property]
        return {
            "code": self.code,
            "property": self.property,
            "property_label": label,
            "property_en": english,
            "item": self.item,
            "subject": self.subject,
            "result": "pass" if self.passed else "fail",
            "reason": self.reason,
            "reason_code": self.reason_code,
        }


@dataclass(frozen=True)
class CheckReport:
    """The four-property check of one package."""

    stage: str
    package_sha256: str
    checked_at: str
    items: tuple[CheckItem, ...]
    bag_name: str = ""
    case_id: str = ""
    case_number: str = ""
    archival_number: str = ""
    retention: str = ""
    node_id: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.items) and all(item.passed for item in self.items)

    @property
    def failures(self) -> tuple[CheckItem, ...]:
        return tuple(item for item in self.items if not item.passed)

    def summary(self) -> dict[str, Any]:
        """Counts per property and the failed items' codes: what an event carries instead of the whole report."""
        counts = {
            prop: {
                "pass": sum(1 for i in self.items if i.property == prop and i.passed),
                "fail": sum(1 for i in self.items if i.property == prop and not i.passed),
            }
            for prop in PROPERTIES
        }
        return {
            "passed": self.passed,
            "stage": self.stage,
            "checked_at": self.checked_at,
            "items": len(self.items),
            "failed": len(self.failures),
            "properties": counts,
            "failures": [
                {"code": i.code, "subject": i.subject, "reason_code": i.reason_code, "reason": i.reason}
                for i in self.failures
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "stage_label": STAGES.get(self.stage, self.stage),
            "package_sha256": self.package_sha256,
            "checked_at": self.checked_at,
            "bag_name": self.bag_name,
            "case_id": self.case_id,
            "case_number": self.case_number,
            "archival_number": self.archival_number,
            "retention": self.retention,
            "node_id": self.node_id,
            "passed": self.passed,
            "summary": self.summary(),
            "items": [item.to_dict() for item in self.items],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckReport:
        items = tuple(
            CheckItem(
                code=str(i["code"]),
                property=str(i["property"]),
                item=str(i["item"]),
                passed=i["result"] == "pass",
                reason=str(i["reason"]),
                reason_code=str(i["reason_code"]),
                subject=str(i.get("subject", "")),
            )
            for i in data["items"]
        )
        return cls(
            stage=str(data["stage"]),
            package_sha256=str(data["package_sha256"]),
            checked_at=str(data["checked_at"]),
            items=items,
            bag_name=str(data.get("bag_name", "")),
            case_id=str(data.get("case_id", "")),
            case_number=str(data.get("case_number", "")),
            archival_number=str(data.get("archival_number", "")),
            retention=str(data.get("retention", "")),
            node_id=str(data.get("node_id", "")),
        )


def render_text(report: CheckReport) -> str:
    """The report as plain text for a terminal (`onewindow archive verify`)."""
    lines = [
        f"四性检测报告（{STAGES.get(report.stage, report.stage)}）",
        f"信息包 {report.bag_name}  SHA-256 {report.package_sha256}",
        f"办件编号 {report.case_number or '—'}  档号 {report.archival_number or '—'}  "
        f"保管期限 {RETENTION_LABELS.get(report.retention, report.retention or '—')}",
        f"检测时间 {report.checked_at}",
        "",
    ]
    for item in report.items:
        mark = "通过" if item.passed else "不通过"
        subject = f" [{item.subject}]" if item.subject else ""
        lines.append(f"{item.code:<9} {mark:<3} {item.item}{subject}：{item.reason}")
        if not item.passed:
            lines.append(f"{'':<9} ({item.reason_code})")
    failed = len(report.failures)
    lines.append("")
    lines.append(
        f"结论：通过（{len(report.items)} 项全部通过）"
        if report.passed
        else f"结论：不通过（{failed} 项不通过，共 {len(report.items)} 项）"
    )
    return "\n".join(lines) + "\n"


# ---- reading a package ---------------------------------------------------------------------------------------


@dataclass
class _Package:
    """A package opened for checking: its files by bag-relative path, and what reading it turned up."""

    bag_name: str
    files: dict[str, bytes]
    container_problems: list[tuple[str, str]] = field(default_factory=list)  # (reason_code, reason)
    encrypted_entries: list[str] = field(default_factory=list)
    odd_compression: list[str] = field(default_factory=list)


class _Unreadable(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return not (name.startswith("/") or "\\" in name or ".." in path.parts or ":" in path.parts[0])


def _open_zip(data: bytes) -> _Package:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise _Unreadable("not_a_zip", f"信息包不是有效的 ZIP 文件（{exc}）") from exc
    with archive:
        infos = archive.infolist()
        if sum(i.file_size for i in infos) > MAX_PACKAGE_BYTES:
            raise _Unreadable("too_large", "信息包解压后超过 1 GiB，拒绝展开")
        package = _Package(bag_name="", files={})
        tops = {PurePosixPath(i.filename).parts[0] for i in infos if i.filename.strip("/")}
        if len(tops) != 1:
            raise _Unreadable("not_one_bag", f"ZIP 顶层应当恰有一个信息包目录，实有 {len(tops)} 个")
        package.bag_name = tops.pop()
        for info in infos:
            if info.is_dir():
                continue
            if not _safe_member(info.filename):
                package.container_problems.append(("unsafe_path", f"不安全的路径 {info.filename!r}"))
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                package.container_problems.append(("symlink", f"符号链接 {info.filename!r}"))
                continue
            rel = info.filename.split("/", 1)[1] if "/" in info.filename else ""
            if not rel:
                package.container_problems.append(("outside_bag", f"文件不在信息包目录内 {info.filename!r}"))
                continue
            if info.flag_bits & 0x1:
                package.encrypted_entries.append(rel)
                continue
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                package.odd_compression.append(rel)
                continue
            if rel in package.files:
                package.container_problems.append(("duplicate_entry", f"重复的文件 {rel}"))
                continue
            try:
                package.files[rel] = archive.read(info)
            except (zipfile.BadZipFile, zlib.error, OSError) as exc:
                package.container_problems.append(("entry_unreadable", f"无法读取 {rel}（{exc}）"))
        return package


def _open_directory(root: Path) -> _Package:
    package = _Package(bag_name=root.name, files={})
    total = 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            package.container_problems.append(("symlink", f"符号链接 {rel!r}"))
            continue
        if path.is_file():
            total += path.stat().st_size
            if total > MAX_PACKAGE_BYTES:
                raise _Unreadable("too_large", "信息包超过 1 GiB")
            package.files[rel] = path.read_bytes()
    return package


# ---- format parsers (usability) --------------------------------------------------------------------------------


class FormatError(ValueError):
    """A file does not parse as the format it declares; the message says where (Chinese)."""


PDF_PUBLIC_FILTERS = frozenset(
    {
        "FlateDecode",
        "LZWDecode",
        "ASCIIHexDecode",
        "ASCII85Decode",
        "RunLengthDecode",
        "CCITTFaxDecode",
        "JBIG2Decode",
        "DCTDecode",
        "JPXDecode",
        "Fl",
        "LZW",
        "AHx",
        "A85",
        "RL",
        "CCF",
        "DCT",
    }
)
_PDF_OBJ = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj\b")
_PDF_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[A-Za-z0-9]+)")
_PDF_NAME = re.compile(rb"/([A-Za-z0-9]+)")


def _pdf_objects(data: bytes) -> dict[tuple[int, int], int]:
    """Object offsets from the cross-reference table(s) the trailer points to (classic tables are parsed and
    every in-use entry must point at its object; a cross-reference stream must at least be an object)."""
    tail = data[-2048:]
    found = list(re.finditer(rb"startxref\s+(\d+)\s+%%EOF", tail))
    if not found:
        raise FormatError("PDF 结尾缺少 startxref / %%EOF")
    offset = int(found[-1].group(1))
    if offset >= len(data):
        raise FormatError("startxref 指向文件之外")
    objects: dict[tuple[int, int], int] = {}
    seen: set[int] = set()
    while offset not in seen:
        seen.add(offset)
        if data.startswith(b"xref", offset):
            pos = offset + 4
            section = re.compile(rb"(\d+)\s+(\d+)[ \t]*(?:\r\n|\r|\n)")
            while True:
                while pos < len(data) and data[pos : pos + 1] in b" \r\n\t":
                    pos += 1
                if pos >= len(data) or data.startswith(b"trailer", pos):
                    break
                head = section.match(data, pos)
                if head is None:
                    raise FormatError("交叉引用表格式错误")
                start, count = int(head.group(1)), int(head.group(2))
                pos = head.end()
                for k in range(count):
                    entry = data[pos : pos + 20]
                    if len(entry) < 18 or entry[17:18] not in (b"n", b"f") or not entry[:10].isdigit():
                        raise FormatError(f"交叉引用表第 {start + k} 项损坏")
                    if entry[17:18] == b"n":
                        objects[(start + k, int(entry[11:16]))] = int(entry[:10])
                    pos += 20
            trailer_at = data.find(b"trailer", pos)
            if trailer_at < 0:
                raise FormatError("缺少 trailer 字典")
            trailer_end = data.find(b"startxref", trailer_at)
            trailer = data[trailer_at : trailer_end if trailer_end > 0 else len(data)]
            prev = re.search(rb"/Prev\s+(\d+)", trailer)
            if prev is None:
                break
            offset = int(prev.group(1))
            if offset >= len(data):
                raise FormatError("/Prev 指向文件之外")
        elif _PDF_OBJ.match(data, offset) and b"/XRef" in data[offset : offset + 512]:
            break  # a cross-reference stream (PDF 1.5+): the object is there; its entries are not decoded here
        else:
            raise FormatError("startxref 没有指向交叉引用表")
    for (number, generation), at in objects.items():
        head = _PDF_OBJ.match(data, at)
        if head is None or (int(head.group(1)), int(head.group(2))) != (number, generation):
            raise FormatError(f"对象 {number} {generation} 不在交叉引用表所指的位置")
    return objects


def _pdf_streams(data: bytes, objects: Mapping[tuple[int, int], int]) -> Iterable[tuple[bytes, bytes]]:
    """(dictionary, raw stream bytes) of every stream object the cross-reference table lists."""
    for at in sorted(objects.values()):
        end = data.find(b"endobj", at)
        if end < 0:
            raise FormatError("对象缺少 endobj")
        body = data[at:end]
        marker = re.search(rb"\bstream(\r\n|\n|\r)", body)
        if marker is None:
            continue
        stop = body.rfind(b"endstream")
        if stop < marker.end():
            raise FormatError("流对象缺少 endstream")
        raw = body[marker.end() : stop]
        yield body[: marker.start()], raw.rstrip(b"\r\n")


def pdf_filters(data: bytes) -> set[str]:
    names: set[str] = set()
    for match in _PDF_FILTER.finditer(data):
        names.update(n.decode("ascii") for n in _PDF_NAME.findall(match.group(1)))
    return names


def check_pdf(data: bytes) -> None:
    """Raise FormatError unless `data` is a PDF whose header, cross-reference table, objects and Flate streams
    all parse."""
    if re.match(rb"%PDF-(1\.[0-7]|2\.0)", data) is None:
        raise FormatError("缺少 PDF 文件头 %PDF-1.x")
    if b"%%EOF" not in data[-1024:]:
        raise FormatError("文件被截断：结尾缺少 %%EOF")
    objects = _pdf_objects(data)
    if not objects and b"/XRef" not in data:
        raise FormatError("PDF 中没有任何对象")
    if not re.search(rb"/Type\s*/Pages?\b", data) and b"/ObjStm" not in data:
        raise FormatError("PDF 中没有页面")
    for dictionary, raw in _pdf_streams(data, objects):
        names = [
            n.decode("ascii") for m in _PDF_FILTER.finditer(dictionary) for n in _PDF_NAME.findall(m.group(1))
        ]
        if names[:1] in (["FlateDecode"], ["Fl"]):
            try:
                zlib.decompressobj().decompress(raw)
            except zlib.error as exc:
                raise FormatError(f"压缩流无法解压（{exc}）") from exc


_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def check_jpeg(data: bytes) -> None:
    """Raise FormatError unless `data` is a JPEG whose marker segments, frame header, scans and end marker all
    parse (a truncated or garbled file fails here, as it fails in a viewer)."""
    if not data.startswith(b"\xff\xd8"):
        raise FormatError("缺少 JPEG 起始标记 SOI")
    i, size = 2, len(data)
    frame = tables = scan = False
    while True:
        if i >= size:
            raise FormatError("文件被截断：缺少结束标记 EOI")
        if data[i] != 0xFF:
            raise FormatError(f"第 {i} 字节处应为段标记")
        while i < size and data[i] == 0xFF:
            i += 1
        if i >= size:
            raise FormatError("文件被截断：缺少结束标记 EOI")
        marker = data[i]
        i += 1
        if marker == 0xD9:
            if not scan:
                raise FormatError("在图像数据之前遇到结束标记")
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if i + 2 > size:
            raise FormatError("文件被截断：段长度缺失")
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > size:
            raise FormatError(f"段 0x{marker:02X} 长度超出文件")
        segment = data[i + 2 : i + length]
        if marker in _JPEG_SOF:
            if len(segment) < 6:
                raise FormatError("帧头（SOF）过短")
            height, width, components = struct.unpack(">HHB", segment[1:6])
            if width == 0 or height == 0 or components not in (1, 2, 3, 4):
                raise FormatError(f"帧头（SOF）无效：{width}×{height}，{components} 个分量")
            if len(segment) < 6 + 3 * components:
                raise FormatError("帧头（SOF）分量表不完整")
            frame = True
        elif marker == 0xDB:
            tables = True
        i += length
        if marker == 0xDA:
            if not frame:
                raise FormatError("扫描（SOS）出现在帧头之前")
            scan = True
            # Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart marker.
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= size:
                    raise FormatError("文件被截断：图像数据未结束")
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    i = j + 1 if following == 0xFF else j + 2
                    continue
                i = j
                break
    if not frame or not tables:
        raise FormatError("缺少帧头或量化表")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_KNOWN_CRITICAL = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})


def check_png(data: bytes) -> None:
    """Raise FormatError unless `data` is a PNG whose chunks (with their CRCs), header and image data parse, and
    whose image data inflates to exactly the size the header implies."""
    if not data.startswith(_PNG_SIGNATURE):
        raise FormatError("缺少 PNG 文件签名")
    i, size = 8, len(data)
    header: tuple[int, int, int, int, int, int, int] | None = None
    idat = bytearray()
    palette = ended = False
    while i < size:
        if i + 12 > size:
            raise FormatError("文件被截断：数据块不完整")
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        body = data[i + 8 : i + 8 + length]
        if len(body) != length or i + 12 + length > size:
            raise FormatError(f"文件被截断：{kind.decode('latin-1')} 块不完整")
        crc = int.from_bytes(data[i + 8 + length : i + 12 + length], "big")
        if zlib.crc32(kind + body) != crc:
            raise FormatError(f"{kind.decode('latin-1')} 块校验码（CRC）错误")
        if header is None and kind != b"IHDR":
            raise FormatError("第一个数据块应为 IHDR")
        if kind == b"IHDR":
            if len(body) != 13:
                raise FormatError("IHDR 长度错误")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = True
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            ended = True
            i += 12 + length
            break
        elif kind[0:1].isupper() and kind not in _PNG_KNOWN_CRITICAL:
            raise FormatError(f"含有非公开的关键数据块 {kind.decode('latin-1')}")
        i += 12 + length
    if header is None or not ended:
        raise FormatError("文件被截断：缺少 IEND")
    if i != size:
        raise FormatError("IEND 之后还有多余数据")
    width, height, depth, color, compression, filtering, interlace = header
    if width == 0 or height == 0 or color not in _PNG_DEPTHS or depth not in _PNG_DEPTHS[color]:
        raise FormatError("IHDR 中的尺寸、位深或颜色类型无效")
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise FormatError("IHDR 声明了非标准的压缩或滤波方法")
    if color == 3 and not palette:
        raise FormatError("调色板图像缺少 PLTE")
    if not idat:
        raise FormatError("缺少图像数据 IDAT")
    try:
        pixels = zlib.decompress(bytes(idat))
    except zlib.error as exc:
        raise FormatError(f"图像数据无法解压（{exc}）") from exc
    if interlace == 0:
        row = (width * depth * _PNG_CHANNELS[color] + 7) // 8
        if len(pixels) != height * (row + 1):
            raise FormatError(f"图像数据长度 {len(pixels)} 与尺寸 {width}×{height} 不符")


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
TIFF_PUBLIC_COMPRESSIONS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 32773, 32946})


def _tiff_values(data: bytes, order: str, kind: int, count: int, raw: bytes) -> list[int]:
    width = _TIFF_TYPE_SIZES.get(kind)
    if width is None:
        raise FormatError(f"未知的 TIFF 字段类型 {kind}")
    total = width * count
    if total <= 4:
        block = raw[:total]
    else:
        at = struct.unpack(order + "I", raw)[0]
        if at + total > len(data):
            raise FormatError("TIFF 字段值指向文件之外")
        block = data[at : at + total]
    if kind in (3, 8):
        return list(struct.unpack(f"{order}{count}H", block))
    if kind in (4, 9):
        return list(struct.unpack(f"{order}{count}I", block))
    if kind in (1, 6, 7, 2):
        return list(block)
    return []


def tiff_compressions(data: bytes) -> set[int]:
    """The compression schemes the TIFF's directories declare (after `check_tiff` passed)."""
    return set(_tiff_directories(data))


def _tiff_directories(data: bytes) -> list[int]:
    order = "<" if data.startswith(b"II") else ">"
    if data[:4] not in (b"II*\x00", b"MM\x00*") or len(data) < 8:
        raise FormatError("缺少 TIFF 文件头")
    offset = struct.unpack(order + "I", data[4:8])[0]
    compressions: list[int] = []
    seen: set[int] = set()
    while offset:
        if offset in seen or len(seen) > 1000:
            raise FormatError("TIFF 目录（IFD）循环引用")
        seen.add(offset)
        if offset + 2 > len(data):
            raise FormatError("TIFF 目录（IFD）指向文件之外")
        count = struct.unpack(order + "H", data[offset : offset + 2])[0]
        end = offset + 2 + 12 * count
        if end + 4 > len(data):
            raise FormatError("文件被截断：TIFF 目录不完整")
        tags: dict[int, list[int]] = {}
        for k in range(count):
            at = offset + 2 + 12 * k
            tag, kind, n = struct.unpack(order + "HHI", data[at : at + 8])
            if tag in (256, 257, 259, 273, 279, 324, 325):
                tags[tag] = _tiff_values(data, order, kind, n, data[at + 8 : at + 12])
        if not tags.get(256) or not tags.get(257) or tags[256][0] == 0 or tags[257][0] == 0:
            raise FormatError("TIFF 缺少图像宽度或高度")
        compressions.append(tags.get(259, [1])[0])
        offsets, counts = tags.get(273) or tags.get(324), tags.get(279) or tags.get(325)
        if not offsets or not counts or len(offsets) != len(counts):
            raise FormatError("TIFF 缺少图像条带（或分块）的位置与长度")
        for start, length in zip(offsets, counts, strict=True):
            if start + length > len(data):
                raise FormatError("文件被截断：TIFF 图像数据超出文件")
        offset = struct.unpack(order + "I", data[end : end + 4])[0]
    return compressions


def check_tiff(data: bytes) -> None:
    """Raise FormatError unless every image directory of the TIFF parses and its image data lies in the file."""
    _tiff_directories(data)


PARSERS: dict[str, Callable[[bytes], None]] = {
    "pdf": check_pdf,
    "jpg": check_jpeg,
    "png": check_png,
    "tiff": check_tiff,
}


def hidden_encryption_or_compression(fmt: str, data: bytes) -> str | None:
    """Why a (parsable) file hides its content behind encryption or a non-public compression, or None."""
    if fmt == "pdf":
        if re.search(rb"/Encrypt\b", data):
            return "PDF 已加密（/Encrypt）"
        odd = sorted(pdf_filters(data) - PDF_PUBLIC_FILTERS)
        if odd:
            return f"PDF 使用了非公开的编码 {', '.join(odd)}"
    if fmt == "tiff":
        odd_tiff = sorted(tiff_compressions(data) - TIFF_PUBLIC_COMPRESSIONS)
        if odd_tiff:
            return f"TIFF 使用了非公开的压缩方式 {odd_tiff}"
    return None


# Signatures of content that can carry code: nothing of this kind belongs in an archive package.
_DISALLOWED_MAGIC = (
    (b"MZ", "Windows 可执行文件"),
    (b"\x7fELF", "ELF 可执行文件"),
    (b"\xca\xfe\xba\xbe", "Mach-O/Java 类文件"),
    (b"#!", "脚本"),
    (b"PK\x03\x04", "压缩包（ZIP/Office）"),
    (b"Rar!", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    (b"\x1f\x8b", "gzip 压缩文件"),
    (b"\xd0\xcf\x11\xe0", "OLE 文档（可含宏）"),
)
_PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA|SubmitForm|ImportData)\b")


def disallowed_content(data: bytes, fmt: str | None) -> str | None:
    """Why a payload file is of a type the archive refuses (it could carry code), or None."""
    head = data[:16]
    for magic, what in _DISALLOWED_MAGIC:
        if head.startswith(magic):
            return f"不允许的文件类型：{what}"
    if re.match(rb"\s*<(\?xml|!DOCTYPE|html|script|svg)", data[:256], re.IGNORECASE):
        return "不允许的文件类型：标记语言文档（可含脚本）"
    if fmt == "pdf":
        found = _PDF_ACTIVE.search(data)
        if found:
            return f"PDF 含有可执行内容 /{found.group(1).decode()}"
    return None


# ---- the four-property check ---------------------------------------------------------------------------------


def _parse_manifest(text: bytes) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in text.decode("utf-8").splitlines():
        if not line.strip():
            continue
        digest, _, path = line.partition(" ")
        path = path.lstrip(" *")
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or not path:
            raise ValueError(f"清单行格式错误：{line!r}")
        if path in entries:
            raise ValueError(f"清单中 {path} 重复")
        entries[path] = digest
    return entries


def _parse_bag_info(text: bytes) -> dict[str, str]:
    info: dict[str, str] = {}
    last = ""
    for line in text.decode("utf-8").splitlines():
        if line[:1] in (" ", "\t") and last:
            info[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bag-info.txt 行格式错误：{line!r}")
        last = name.strip()
        info[last] = value.strip()
    return info


def _dig(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class _Checker:
    """Collects check items for one package."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.items: list[CheckItem] = []

    def add(
        self,
        prop: str,
        number: int,
        item: str,
        problems: Sequence[tuple[str, str]],
        ok: str,
        subject: str = "",
    ) -> None:
        code = f"{self.stage}-{prop}-{number}"
        if problems:
            reason = "；".join(p[1] for p in problems[:5])
            if len(problems) > 5:
                reason += f"；另有 {len(problems) - 5} 处"
            self.items.append(CheckItem(code, prop, item, False, reason, problems[0][0], subject))
        else:
            self.items.append(CheckItem(code, prop, item, True, ok, "ok", subject))


def check_package(
    source: bytes | Path,
    *,
    stage: str = "GD",
    trusted_key: VerifyKey | None = None,
    expected_node: str | None = None,
    checked_at: str = "",
) -> CheckReport:
    """Run the four-property check on a package (ZIP bytes, a ZIP file or an unpacked bag directory).

    `trusted_key` is the node's public key as the checker knows it independently (central: from enrolment; the
    node: its own); without it the signature is verified against the key the package names, which proves the
    package unaltered since signing but not who signed it, and the report says so. Never raises on a broken
    package: every problem becomes a failed item."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    raw = b""
    try:
        if isinstance(source, Path) and source.is_dir():
            package = _open_directory(source)
        else:
            raw = source.read_bytes() if isinstance(source, Path) else source
            package = _open_zip(raw)
    except (_Unreadable, OSError) as exc:
        code = exc.code if isinstance(exc, _Unreadable) else "unreadable"
        reason = exc.reason if isinstance(exc, _Unreadable) else f"无法读取：{exc}"
        item = CheckItem(f"{stage}-WZ-1", "WZ", "信息包结构完整", False, reason, code)
        return CheckReport(stage, sha256(raw), checked_at, (item,))
    return _check(package, sha256(raw) if raw else "", stage, trusted_key, expected_node, checked_at)


def _check(
    package: _Package,
    digest: str,
    stage: str,
    trusted_key: VerifyKey | None,
    expected_node: str | None,
    checked_at: str,
) -> CheckReport:
    c = _Checker(stage)
    files = package.files

    # ---- read the tag files and metadata (usability of metadata, structure) ----
    structure: list[tuple[str, str]] = list(package.container_problems)
    bagit = files.get("bagit.txt", b"")
    if not bagit:
        structure.append(("bagit_missing", "缺少 bagit.txt"))
    elif not re.search(rb"^BagIt-Version: 1\.\d+\s*$", bagit, re.M) or not re.search(
        rb"^Tag-File-Character-Encoding: UTF-8\s*$", bagit, re.M
    ):
        structure.append(("bagit_invalid", "bagit.txt 内容不符合 RFC 8493"))
    manifest: dict[str, str] = {}
    tagmanifest: dict[str, str] = {}
    bag_info: dict[str, str] = {}
    readable: list[tuple[str, str]] = []
    for name, target in (("manifest-sha256.txt", manifest), ("tagmanifest-sha256.txt", tagmanifest)):
        if name not in files:
            structure.append(("manifest_missing", f"缺少 {name}"))
            continue
        try:
            target.update(_parse_manifest(files[name]))
        except (UnicodeDecodeError, ValueError) as exc:
            readable.append(("manifest_unreadable", f"{name} 无法解析（{exc}）"))
    if "bag-info.txt" not in files:
        structure.append(("bag_info_missing", "缺少 bag-info.txt"))
    else:
        try:
            bag_info = _parse_bag_info(files["bag-info.txt"])
        except (UnicodeDecodeError, ValueError) as exc:
            readable.append(("bag_info_unreadable", f"bag-info.txt 无法解析（{exc}）"))
    metadata: dict[str, Any] = {}
    events_raw: list[Any] = []
    for path in (CASE_METADATA, EVENT_HISTORY):
        if path not in files:
            continue  # reported as missing under integrity
        try:
            value = json.loads(files[path].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            readable.append(("metadata_unreadable", f"{path} 不是有效的 UTF-8 JSON（{exc}）"))
            continue
        if path == CASE_METADATA and isinstance(value, dict):
            metadata = value
        elif path == EVENT_HISTORY and isinstance(value, list):
            events_raw = value
        else:
            readable.append(("metadata_shape", f"{path} 的结构不对"))
    payload_paths = {p for p in files if p.startswith("data/")}
    tag_paths = {p for p in files if not p.startswith("data/")}
    for path in sorted(set(manifest) - payload_paths):
        structure.append(("payload_missing", f"清单列出的文件不存在：{path}"))
    for path in sorted(payload_paths - set(manifest)):
        structure.append(("payload_unlisted", f"文件未列入清单：{path}"))
    for path in sorted(set(tagmanifest) - tag_paths):
        structure.append(("tag_missing", f"标签清单列出的文件不存在：{path}"))
    oxum = bag_info.get("Payload-Oxum", "")
    actual_oxum = f"{sum(len(files[p]) for p in payload_paths)}.{len(payload_paths)}"
    if oxum and oxum != actual_oxum:
        structure.append(("oxum_mismatch", f"Payload-Oxum 为 {oxum}，实际为 {actual_oxum}"))
    for name in REQUIRED_BAG_INFO:
        if not bag_info.get(name):
            structure.append(("bag_info_field_missing", f"bag-info.txt 缺少 {name}"))

    # ---- 真实性 authenticity ----
    signature_problems: list[tuple[str, str]] = []
    key_text = bag_info.get("Node-Verify-Key", "")
    package_key: VerifyKey | None = None
    try:
        package_key = VerifyKey.from_text(key_text) if key_text else None
    except ValueError:
        signature_problems.append(("key_invalid", "bag-info.txt 中的节点公钥格式错误"))
    signature_b64 = files.get(SIGNATURE_FILE)
    if signature_b64 is None:
        signature_problems.append(("signature_missing", f"缺少节点签名文件 {SIGNATURE_FILE}"))
    elif "tagmanifest-sha256.txt" in files and package_key is not None:
        try:
            signature = base64.b64decode(signature_b64.strip(), validate=True)
        except ValueError:
            signature = b""
        verify_with = trusted_key or package_key
        if not verify_with.verify(signature, signed_message(files["tagmanifest-sha256.txt"])):
            signature_problems.append(
                ("signature_invalid", "节点对标签清单的电子签名验证不通过（包被改动或签名伪造）")
            )
    elif package_key is None and not signature_problems:
        signature_problems.append(("key_missing", "bag-info.txt 未给出节点公钥"))
    c.add(
        "ZS",
        1,
        "固化信息有效性（节点电子签名）",
        signature_problems,
        "节点对标签清单的 Ed25519 签名有效" + ("（以可信公钥核验）" if trusted_key else ""),
    )

    origin: list[tuple[str, str]] = []
    if trusted_key is not None and package_key is not None and package_key.to_text() != trusted_key.to_text():
        origin.append(("key_untrusted", "包内节点公钥与登记的节点公钥不一致"))
    if expected_node is not None and bag_info.get("Node-Id") != expected_node:
        origin.append(("node_mismatch", f"包的来源节点 {bag_info.get('Node-Id')!r} 与上传节点不一致"))
    c.add(
        "ZS",
        2,
        "来源真实性（签名者为登记节点）",
        origin,
        "包内公钥即登记的节点公钥"
        if trusted_key is not None
        else "未提供可信公钥：仅以包内公钥核验，证明包未被改动，不证明签名者身份",
    )

    digests: list[tuple[str, str]] = []
    for path, expected in sorted({**manifest, **tagmanifest}.items()):
        if path in files and sha256(files[path]) != expected:
            digests.append(("digest_mismatch", f"{path} 的 SHA-256 与清单不符"))
    c.add(
        "ZS", 3, "数字摘要一致性", digests, f"{len(manifest) + len(tagmanifest)} 个文件的 SHA-256 与清单一致"
    )

    raw_entries = metadata.get("files")
    entries: list[Any] = raw_entries if isinstance(raw_entries, list) else []
    content: list[tuple[str, str]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            content.append(("file_entry_invalid", "文件元数据项不是对象"))
            continue
        path = str(entry.get("path", ""))
        data = files.get(path)
        if data is None:
            continue  # missing files are integrity failures
        if entry.get("size") != len(data):
            content.append(("size_mismatch", f"{path} 大小 {len(data)} 与元数据 {entry.get('size')} 不符"))
        if entry.get("sha256") != sha256(data):
            content.append(("metadata_digest_mismatch", f"{path} 的摘要与元数据不符"))
        fmt = str(entry.get("format", ""))
        if sniff(data) != fmt:
            content.append(("format_mismatch", f"{path} 的实际格式与元数据声明的 {fmt} 不符"))
        if FORMATS.get(fmt) != entry.get("media_type") or PurePosixPath(path).suffix.lstrip(
            "."
        ) not in EXTENSIONS.get(fmt, ()):
            content.append(("format_label_mismatch", f"{path} 的扩展名或媒体类型与格式 {fmt} 不符"))
    c.add(
        "ZS",
        4,
        "内容真实性（文件属性与元数据一致）",
        content,
        f"{len(entries)} 个文件的名称、大小、格式、摘要与元数据一致",
    )

    accuracy: list[tuple[str, str]] = []
    number = str(metadata.get("archival_number", ""))
    match = ARCHIVAL_NUMBER.match(number)
    retention = str(metadata.get("retention", ""))
    if retention not in RETENTION_CODES:
        accuracy.append(("retention_invalid", f"保管期限 {retention!r} 不在值域（10y、30y、permanent）内"))
    if match is None:
        accuracy.append(
            ("archival_number_invalid", f"档号 {number!r} 不符合 全宗号-WS·年度-期限-件号 的格式")
        )
    else:
        if retention in RETENTION_CODES and match["retention"] != RETENTION_CODES[retention]:
            accuracy.append(("archival_number_retention", "档号中的保管期限代码与保管期限不一致"))
        if str(metadata.get("year", "")) != match["year"] or str(metadata.get("fonds", "")) != match["fonds"]:
            accuracy.append(("archival_number_parts", "档号中的年度或全宗号与元数据不一致"))
    raw_case = metadata.get("case")
    case_meta: dict[str, Any] = raw_case if isinstance(raw_case, dict) else {}
    for name, expected_value in (
        ("Archival-Number", number),
        ("Retention-Period", retention),
        ("External-Identifier", case_meta.get("case_number")),
        ("Internal-Sender-Identifier", case_meta.get("case_id")),
        ("Node-Id", metadata.get("node_id")),
    ):
        if name in bag_info and bag_info[name] != str(expected_value):
            accuracy.append(("bag_info_mismatch", f"bag-info.txt 的 {name} 与元数据不一致"))
    for name in ("received_at", "closed_at"):
        value = str(case_meta.get(name, ""))
        if value and not re.fullmatch(
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value
        ):
            accuracy.append(("time_invalid", f"{name} 不是有效的时间 {value!r}"))
    if str(case_meta.get("closed_at", "")) < str(case_meta.get("received_at", "")):
        accuracy.append(("time_order", "办结时间早于收件时间"))
    seen_numbers: set[str] = set()
    for entry in entries:
        if isinstance(entry, dict) and entry.get("document_number"):
            doc = str(entry["document_number"])
            if doc in seen_numbers:
                accuracy.append(("duplicate_document_number", f"文号 {doc} 重复"))
            seen_numbers.add(doc)
    c.add("ZS", 5, "元数据准确性（值域、档号规范、重复性）", accuracy, "值域、档号格式与文号均无误")

    # The events are the source of truth: fold them and compare with what the metadata says of the case.
    events: list[Event] = []
    event_problems: list[tuple[str, str]] = []
    for raw_event in events_raw:
        try:
            event = Event.from_dict(raw_event)
        except ValueError as exc:
            event_problems.append(("event_invalid", f"事件格式错误（{exc}）"))
            continue
        if isinstance(raw_event, dict) and raw_event.get("content_hash") != event.content_hash:
            event_problems.append(("event_hash_mismatch", f"事件 {event.id} 的内容摘要不符"))
        events.append(event)
    linked: list[tuple[str, str]] = list(event_problems)
    if events and case_meta:
        state = fold(str(case_meta.get("case_id", "")), events)
        for name, folded in (
            ("case_number", state.case_number),
            ("item_code", state.item_code),
            ("status", state.status),
            ("received_at", state.received_at),
        ):
            if str(case_meta.get(name, "")) != str(folded or ""):
                linked.append(("metadata_event_mismatch", f"元数据的 {name} 与事件记录不一致"))
        if str(_dig(case_meta, "applicant.name") or "") != str(state.applicant.get("name", "")):
            linked.append(("metadata_event_mismatch", "元数据的申请人与事件记录不一致"))
        listed = {str(e.get("sha256")) for e in entries if isinstance(e, dict)}
        for material in state.materials:
            if str(material.get("blob")) not in listed:
                linked.append(
                    ("material_not_in_package", f"事件记录的材料 {material.get('filename')} 不在文件元数据中")
                )
        # Anomalies are facts of the record, not defects of the package: they must be disclosed, not hidden.
        if list(state.anomalies) != list(case_meta.get("anomalies") or []):
            linked.append(("anomalies_undisclosed", "元数据记载的事件异常与事件记录复算的不一致"))
    c.add("ZS", 6, "元数据与内容关联（事件记录）", linked, f"{len(events)} 个事件复算的办件状态与元数据一致")

    # ---- 完整性 integrity ----
    c.add("WZ", 1, "信息包结构完整（BagIt）", structure, "bagit.txt、bag-info.txt、清单与全部文件齐全")

    required: list[tuple[str, str]] = []
    if not metadata:
        required.append(("metadata_missing", f"缺少 {CASE_METADATA}"))
    else:
        for name in REQUIRED_METADATA:
            value = _dig(metadata, name)
            if value is None or value == "":
                required.append(("metadata_field_missing", f"元数据缺少 {name}"))
        for entry in entries:
            if isinstance(entry, dict):
                for name in ("seq", "path", "title", "format", "size", "sha256"):
                    if entry.get(name) in (None, ""):
                        required.append(("file_field_missing", f"{entry.get('path')} 缺少 {name}"))
    c.add("WZ", 2, "元数据项齐全", required, "必备元数据项齐全")

    history: list[tuple[str, str]] = []
    if EVENT_HISTORY not in files:
        history.append(("events_missing", f"缺少 {EVENT_HISTORY}"))
    else:
        seqs = [e.get("seq") for e in events_raw if isinstance(e, dict)]
        expected_count = _dig(metadata, "events.count")
        if seqs != list(range(1, len(seqs) + 1)):
            gaps = sorted(set(range(1, max([s for s in seqs if isinstance(s, int)] or [0]) + 1)) - set(seqs))
            history.append(("event_sequence_gap", f"事件顺序号不连续，缺 {gaps[:5] or '（顺序错乱）'}"))
        if expected_count != len(events_raw):
            history.append(
                ("event_count_mismatch", f"元数据记载 {expected_count} 个事件，实有 {len(events_raw)} 个")
            )
        if events and events[0].type != "case.received":
            history.append(("history_start", "事件记录不以收件开始"))
        ordered = sorted(events, key=lambda e: (e.hlc, e.id))
        if [e.id for e in ordered] != [e.id for e in events]:
            history.append(("event_order", "事件未按时间顺序排列"))
        case_id = str(case_meta.get("case_id", ""))
        if any(e.case_id != case_id for e in events):
            history.append(("foreign_event", "事件记录中有其他办件的事件"))
    c.add(
        "WZ",
        3,
        "办理过程记录完整（事件历史）",
        history,
        f"{len(events_raw)} 个事件，顺序号 1–{len(events_raw)} 连续",
    )

    members: list[tuple[str, str]] = []
    seqs_files = [e.get("seq") for e in entries if isinstance(e, dict)]
    if seqs_files != list(range(1, len(seqs_files) + 1)):
        members.append(("file_sequence_gap", "件内顺序号不连续"))
    for entry in entries:
        if isinstance(entry, dict) and str(entry.get("path", "")) not in files:
            role = str(entry.get("role", "file"))
            members.append((f"{role}_missing", f"缺少{entry.get('title')}（{entry.get('path')}）"))
    if events and case_meta:
        state = fold(str(case_meta.get("case_id", "")), events)
        present_notices = {
            str(e.get("document_number"))
            for e in entries
            if isinstance(e, dict) and e.get("role") == "notice" and str(e.get("path", "")) in files
        }
        for notice in state.notices:
            if notice.number not in present_notices:
                members.append(("notice_missing", f"缺少文书「{notice.title}」{notice.number}"))
        present_blobs = {
            str(e.get("sha256"))
            for e in entries
            if isinstance(e, dict) and e.get("role") == "material" and str(e.get("path", "")) in files
        }
        for material in state.materials:
            if str(material.get("blob")) not in present_blobs:
                members.append(("material_missing", f"缺少材料 {material.get('filename')}"))
    c.add("WZ", 4, "材料与文书齐全", members, "事件记录的全部材料与文书均在包内，件内顺序号连续")

    # ---- 可用性 usability ----
    c.add("KY", 1, "元数据可读", readable, "清单、bag-info 与元数据均可解析")
    for entry in entries:
        if not isinstance(entry, dict) or str(entry.get("path", "")) not in files:
            continue
        path, fmt = str(entry["path"]), str(entry.get("format", ""))
        data = files[path]
        opens: list[tuple[str, str]] = []
        parser = PARSERS.get(fmt)
        if parser is None:
            opens.append(("format_unknown", f"格式 {fmt!r} 无法识别"))
        else:
            try:
                parser(data)
            except FormatError as exc:
                opens.append(("does_not_open", f"不能作为 {FORMAT_LABELS[fmt]} 打开：{exc}"))
            except (struct.error, ValueError, IndexError) as exc:
                opens.append(("does_not_open", f"不能作为 {FORMAT_LABELS[fmt]} 打开（{exc}）"))
        label = FORMAT_LABELS.get(fmt, fmt)
        c.add("KY", 2, "文件可正常打开", opens, f"{label} 结构完整，可正常打开", subject=path)
    hidden: list[tuple[str, str]] = [
        ("zip_encrypted", f"{p} 在包内被加密") for p in package.encrypted_entries
    ]
    hidden += [("zip_compression", f"{p} 使用了非公开的压缩方式") for p in package.odd_compression]
    for entry in entries:
        if isinstance(entry, dict) and str(entry.get("path", "")) in files:
            try:
                why = hidden_encryption_or_compression(str(entry.get("format")), files[str(entry["path"])])
            except (FormatError, struct.error, ValueError):
                why = None  # an unparsable file already fails KY-2
            if why:
                hidden.append(("hidden_encryption", f"{entry['path']}：{why}"))
    c.add("KY", 3, "无加密、无非公开压缩", hidden, "包内文件均未加密，只使用公开的压缩方式")
    formats: list[tuple[str, str]] = []
    for entry in entries:
        if isinstance(entry, dict):
            role, fmt = str(entry.get("role", "")), str(entry.get("format", ""))
            if fmt not in ROLE_FORMATS.get(role, ()):
                formats.append(("format_not_archival", f"{entry.get('path')}：{role} 不应为 {fmt} 格式"))
    c.add("KY", 4, "格式符合归档要求", formats, "文书为 PDF，材料为 PDF/JPEG/PNG/TIFF，签名为 PNG")
    environment: list[tuple[str, str]] = []
    raw_env = metadata.get("environment")
    env: dict[str, Any] = raw_env if isinstance(raw_env, dict) else {}
    for name in ("software", "version", "runtime"):
        if not env.get(name):
            environment.append(("environment_missing", f"软硬件环境元数据缺少 {name}"))
    c.add("KY", 5, "软硬件环境信息", environment, "已记录形成软件及运行环境")

    # ---- 安全性 security ----
    sealed: list[tuple[str, str]] = []
    if signature_problems or digests:
        sealed.append(("altered_since_signing", "包在签名后被改动（签名或摘要不符）"))
    covered = set(manifest) | set(tagmanifest) | {"tagmanifest-sha256.txt", SIGNATURE_FILE}
    for path in sorted(set(files) - covered):
        sealed.append(("uncovered_file", f"{path} 不在签名覆盖范围内"))
    c.add("AQ", 1, "归档过程安全（签名后未被改动）", sealed, "全部文件均在签名覆盖范围内且未被改动")
    types: list[tuple[str, str]] = []
    for path in sorted(payload_paths):
        if path in (CASE_METADATA, EVENT_HISTORY):
            continue
        why = disallowed_content(files[path], sniff(files[path]))
        if why:
            types.append(("disallowed_type", f"{path}：{why}"))
        elif PurePosixPath(path).suffix.lower().lstrip(".") not in {
            e for v in EXTENSIONS.values() for e in v
        }:
            types.append(("disallowed_extension", f"{path}：不允许的扩展名"))
    c.add("AQ", 2, "病毒与有害类型检查（禁止可执行内容）", types, "未发现可执行文件、脚本、压缩包或 PDF 动作")
    paths: list[tuple[str, str]] = [
        p for p in package.container_problems if p[0] in ("unsafe_path", "symlink")
    ]
    c.add("AQ", 3, "路径与链接安全", paths, "无绝对路径、上级目录引用或符号链接")

    return CheckReport(
        stage=stage,
        package_sha256=digest,
        checked_at=checked_at,
        items=tuple(c.items),
        bag_name=package.bag_name,
        case_id=str(case_meta.get("case_id", "")),
        case_number=str(case_meta.get("case_number", "")),
        archival_number=number,
        retention=retention,
        node_id=str(metadata.get("node_id", "")),
    )
