"""The four-property check (四性检测, DA/T 70-2018) of an archive package, run by the node at archiving (stage GD,
归档) and by central at receipt (stage YJ, 移交接收).

Items are coded ``<stage>-<property>-<n>``: 真实性 authenticity (ZS), 完整性 integrity (WZ), 可用性 usability
(KY), 安全性 security (AQ). The check never raises on a broken package: every problem becomes a failed item with
a Chinese reason and a stable reason code. There is no virus engine on a node; the security items instead refuse
every file type that can carry code (executables, scripts, archives, PDF actions and embedded files).
"""

from __future__ import annotations

import base64
import io
import json
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from protocol.archive.formats import (
    EXTENSIONS,
    FORMAT_LABELS,
    FORMATS,
    PARSERS,
    FormatError,
    disallowed_content,
    hidden_encryption_or_compression,
    sniff,
)
from protocol.archive.package import (
    ARCHIVAL_NUMBER,
    CASE_METADATA,
    EVENT_HISTORY,
    RETENTION_CODES,
    ROLE_FORMATS,
    SIGNATURE_FILE,
    sha256,
    signed_message,
)
from protocol.archive.report import STAGES, CheckItem, CheckReport
from protocol.events import CaseState, Event, fold
from protocol.keys import VerifyKey

MAX_PACKAGE_BYTES = 1024 * 1024 * 1024  # refuse to unpack more than 1 GiB: no zip bombs

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

Problems = list[tuple[str, str]]  # (reason_code, reason)


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


# ---- the parsed package -------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    """What the tag files and metadata of a package say, and what reading them turned up."""

    package: _Package
    structure: Problems = field(default_factory=list)  # integrity of the BagIt structure (WZ-1)
    readable: Problems = field(default_factory=list)  # metadata that cannot be read (KY-1)
    manifest: dict[str, str] = field(default_factory=dict)
    tagmanifest: dict[str, str] = field(default_factory=dict)
    bag_info: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    events_raw: list[Any] = field(default_factory=list)
    entries: list[Any] = field(default_factory=list)  # the metadata's file list
    case: dict[str, Any] = field(default_factory=dict)  # the metadata's case block
    events: list[Event] = field(default_factory=list)
    event_problems: Problems = field(default_factory=list)
    state: CaseState | None = None  # the fold of the events, when there are events and case metadata

    @property
    def files(self) -> dict[str, bytes]:
        return self.package.files

    @property
    def payload_paths(self) -> set[str]:
        return {p for p in self.files if p.startswith("data/")}

    def present(self) -> list[dict[str, Any]]:
        """File entries of the metadata whose file is in the package."""
        return [e for e in self.entries if isinstance(e, dict) and str(e.get("path", "")) in self.files]


def _parse(package: _Package) -> _Parsed:
    p = _Parsed(package, structure=list(package.container_problems))
    files = package.files
    bagit = files.get("bagit.txt", b"")
    if not bagit:
        p.structure.append(("bagit_missing", "缺少 bagit.txt"))
    elif not re.search(rb"^BagIt-Version: 1\.\d+\s*$", bagit, re.M) or not re.search(
        rb"^Tag-File-Character-Encoding: UTF-8\s*$", bagit, re.M
    ):
        p.structure.append(("bagit_invalid", "bagit.txt 内容不符合 RFC 8493"))
    for name, target in (("manifest-sha256.txt", p.manifest), ("tagmanifest-sha256.txt", p.tagmanifest)):
        if name not in files:
            p.structure.append(("manifest_missing", f"缺少 {name}"))
            continue
        try:
            target.update(_parse_manifest(files[name]))
        except (UnicodeDecodeError, ValueError) as exc:
            p.readable.append(("manifest_unreadable", f"{name} 无法解析（{exc}）"))
    if "bag-info.txt" not in files:
        p.structure.append(("bag_info_missing", "缺少 bag-info.txt"))
    else:
        try:
            p.bag_info = _parse_bag_info(files["bag-info.txt"])
        except (UnicodeDecodeError, ValueError) as exc:
            p.readable.append(("bag_info_unreadable", f"bag-info.txt 无法解析（{exc}）"))
    for path in (CASE_METADATA, EVENT_HISTORY):
        if path not in files:
            continue  # reported as missing under integrity
        try:
            value = json.loads(files[path].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            p.readable.append(("metadata_unreadable", f"{path} 不是有效的 UTF-8 JSON（{exc}）"))
            continue
        if path == CASE_METADATA and isinstance(value, dict):
            p.metadata = value
        elif path == EVENT_HISTORY and isinstance(value, list):
            p.events_raw = value
        else:
            p.readable.append(("metadata_shape", f"{path} 的结构不对"))
    payload, tags = p.payload_paths, {x for x in files if not x.startswith("data/")}
    for path in sorted(set(p.manifest) - payload):
        p.structure.append(("payload_missing", f"清单列出的文件不存在：{path}"))
    for path in sorted(payload - set(p.manifest)):
        p.structure.append(("payload_unlisted", f"文件未列入清单：{path}"))
    for path in sorted(set(p.tagmanifest) - tags):
        p.structure.append(("tag_missing", f"标签清单列出的文件不存在：{path}"))
    oxum = p.bag_info.get("Payload-Oxum", "")
    actual = f"{sum(len(files[x]) for x in payload)}.{len(payload)}"
    if oxum and oxum != actual:
        p.structure.append(("oxum_mismatch", f"Payload-Oxum 为 {oxum}，实际为 {actual}"))
    for name in REQUIRED_BAG_INFO:
        if not p.bag_info.get(name):
            p.structure.append(("bag_info_field_missing", f"bag-info.txt 缺少 {name}"))
    raw_entries, raw_case = p.metadata.get("files"), p.metadata.get("case")
    p.entries = raw_entries if isinstance(raw_entries, list) else []
    p.case = raw_case if isinstance(raw_case, dict) else {}
    for raw in p.events_raw:
        try:
            event = Event.from_dict(raw)
        except ValueError as exc:
            p.event_problems.append(("event_invalid", f"事件格式错误（{exc}）"))
            continue
        if isinstance(raw, dict) and raw.get("content_hash") != event.content_hash:
            p.event_problems.append(("event_hash_mismatch", f"事件 {event.id} 的内容摘要不符"))
        p.events.append(event)
    if p.events and p.case:
        p.state = fold(str(p.case.get("case_id", "")), p.events)
    return p


# ---- 真实性 authenticity -------------------------------------------------------------------------------------


def _signature(p: _Parsed, trusted_key: VerifyKey | None) -> tuple[Problems, VerifyKey | None]:
    problems: Problems = []
    key_text = p.bag_info.get("Node-Verify-Key", "")
    package_key: VerifyKey | None = None
    try:
        package_key = VerifyKey.from_text(key_text) if key_text else None
    except ValueError:
        problems.append(("key_invalid", "bag-info.txt 中的节点公钥格式错误"))
    signature_b64 = p.files.get(SIGNATURE_FILE)
    tagmanifest = p.files.get("tagmanifest-sha256.txt")
    verify_with = trusted_key or package_key
    if signature_b64 is None:
        problems.append(("signature_missing", f"缺少节点签名文件 {SIGNATURE_FILE}"))
    elif tagmanifest is None:
        problems.append(("signature_unverifiable", "缺少标签清单，签名无从核验"))
    elif verify_with is None:
        if not problems:
            problems.append(("key_missing", "bag-info.txt 未给出节点公钥"))
    else:
        try:
            signature = base64.b64decode(signature_b64.strip(), validate=True)
        except ValueError:
            signature = b""
        if not verify_with.verify(signature, signed_message(tagmanifest)):
            problems.append(("signature_invalid", "节点对标签清单的电子签名验证不通过（包被改动或签名伪造）"))
    return problems, package_key


def _authenticity(
    c: _Checker, p: _Parsed, trusted_key: VerifyKey | None, expected_node: str | None
) -> tuple[Problems, Problems]:
    """ZS-1 … ZS-6; returns the signature and digest problems (security reuses them)."""
    signature, package_key = _signature(p, trusted_key)
    c.add(
        "ZS",
        1,
        "固化信息有效性（节点电子签名）",
        signature,
        "节点对标签清单的 Ed25519 签名有效" + ("（以可信公钥核验）" if trusted_key else ""),
    )

    origin: Problems = []
    if trusted_key is not None and package_key is not None and package_key.to_text() != trusted_key.to_text():
        origin.append(("key_untrusted", "包内节点公钥与登记的节点公钥不一致"))
    if expected_node is not None and p.bag_info.get("Node-Id") != expected_node:
        origin.append(("node_mismatch", f"包的来源节点 {p.bag_info.get('Node-Id')!r} 与上传节点不一致"))
    c.add(
        "ZS",
        2,
        "来源真实性（签名者为登记节点）",
        origin,
        "包内公钥即登记的节点公钥"
        if trusted_key is not None
        else "未提供可信公钥：仅以包内公钥核验，证明包未被改动，不证明签名者身份",
    )

    digests: Problems = []
    listed = {**p.manifest, **p.tagmanifest}
    for path, expected in sorted(listed.items()):
        if path in p.files and sha256(p.files[path]) != expected:
            digests.append(("digest_mismatch", f"{path} 的 SHA-256 与清单不符"))
    c.add("ZS", 3, "数字摘要一致性", digests, f"{len(listed)} 个文件的 SHA-256 与清单一致")

    content: Problems = []
    for entry in p.entries:
        if not isinstance(entry, dict):
            content.append(("file_entry_invalid", "文件元数据项不是对象"))
            continue
        path = str(entry.get("path", ""))
        data = p.files.get(path)
        if data is None:
            continue  # missing files are integrity failures
        if entry.get("size") != len(data):
            content.append(("size_mismatch", f"{path} 大小 {len(data)} 与元数据 {entry.get('size')} 不符"))
        if entry.get("sha256") != sha256(data):
            content.append(("metadata_digest_mismatch", f"{path} 的摘要与元数据不符"))
        fmt = str(entry.get("format", ""))
        if sniff(data) != fmt:
            content.append(("format_mismatch", f"{path} 的实际格式与元数据声明的 {fmt} 不符"))
        suffix = PurePosixPath(path).suffix.lstrip(".")
        if FORMATS.get(fmt) != entry.get("media_type") or suffix not in EXTENSIONS.get(fmt, ()):
            content.append(("format_label_mismatch", f"{path} 的扩展名或媒体类型与格式 {fmt} 不符"))
    c.add(
        "ZS",
        4,
        "内容真实性（文件属性与元数据一致）",
        content,
        f"{len(p.entries)} 个文件的名称、大小、格式、摘要与元数据一致",
    )

    c.add("ZS", 5, "元数据准确性（值域、档号规范、重复性）", _accuracy(p), "值域、档号格式与文号均无误")

    linked: Problems = list(p.event_problems)
    if p.state is not None:
        state = p.state
        for name, folded in (
            ("case_number", state.case_number),
            ("item_code", state.item_code),
            ("status", state.status),
            ("received_at", state.received_at),
        ):
            if str(p.case.get(name, "")) != str(folded or ""):
                linked.append(("metadata_event_mismatch", f"元数据的 {name} 与事件记录不一致"))
        if str(_dig(p.case, "applicant.name") or "") != str(state.applicant.get("name", "")):
            linked.append(("metadata_event_mismatch", "元数据的申请人与事件记录不一致"))
        listed_digests = {str(e.get("sha256")) for e in p.entries if isinstance(e, dict)}
        for material in state.materials:
            if str(material.get("blob")) not in listed_digests:
                linked.append(
                    ("material_not_in_package", f"事件记录的材料 {material.get('filename')} 不在文件元数据中")
                )
        # Anomalies are facts of the record, not defects of the package: they must be disclosed, not hidden.
        if list(state.anomalies) != list(p.case.get("anomalies") or []):
            linked.append(("anomalies_undisclosed", "元数据记载的事件异常与事件记录复算的不一致"))
    c.add(
        "ZS", 6, "元数据与内容关联（事件记录）", linked, f"{len(p.events)} 个事件复算的办件状态与元数据一致"
    )
    return signature, digests


def _accuracy(p: _Parsed) -> Problems:
    problems: Problems = []
    number = str(p.metadata.get("archival_number", ""))
    retention = str(p.metadata.get("retention", ""))
    match = ARCHIVAL_NUMBER.match(number)
    if retention not in RETENTION_CODES:
        problems.append(("retention_invalid", f"保管期限 {retention!r} 不在值域（10y、30y、permanent）内"))
    if match is None:
        problems.append(
            ("archival_number_invalid", f"档号 {number!r} 不符合 全宗号-WS·年度-期限-件号 的格式")
        )
    else:
        if retention in RETENTION_CODES and match["retention"] != RETENTION_CODES[retention]:
            problems.append(("archival_number_retention", "档号中的保管期限代码与保管期限不一致"))
        if (
            str(p.metadata.get("year", "")) != match["year"]
            or str(p.metadata.get("fonds", "")) != match["fonds"]
        ):
            problems.append(("archival_number_parts", "档号中的年度或全宗号与元数据不一致"))
    for name, expected in (
        ("Archival-Number", number),
        ("Retention-Period", retention),
        ("External-Identifier", p.case.get("case_number")),
        ("Internal-Sender-Identifier", p.case.get("case_id")),
        ("Node-Id", p.metadata.get("node_id")),
    ):
        if name in p.bag_info and p.bag_info[name] != str(expected):
            problems.append(("bag_info_mismatch", f"bag-info.txt 的 {name} 与元数据不一致"))
    for name in ("received_at", "closed_at"):
        value = str(p.case.get(name, ""))
        if value and not re.fullmatch(
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value
        ):
            problems.append(("time_invalid", f"{name} 不是有效的时间 {value!r}"))
    if str(p.case.get("closed_at", "")) < str(p.case.get("received_at", "")):
        problems.append(("time_order", "办结时间早于收件时间"))
    seen: set[str] = set()
    for entry in p.entries:
        if isinstance(entry, dict) and entry.get("document_number"):
            doc = str(entry["document_number"])
            if doc in seen:
                problems.append(("duplicate_document_number", f"文号 {doc} 重复"))
            seen.add(doc)
    return problems


# ---- 完整性 integrity ----------------------------------------------------------------------------------------


def _integrity(c: _Checker, p: _Parsed) -> None:
    c.add("WZ", 1, "信息包结构完整（BagIt）", p.structure, "bagit.txt、bag-info.txt、清单与全部文件齐全")

    required: Problems = []
    if not p.metadata:
        required.append(("metadata_missing", f"缺少 {CASE_METADATA}"))
    else:
        for name in REQUIRED_METADATA:
            if _dig(p.metadata, name) in (None, ""):
                required.append(("metadata_field_missing", f"元数据缺少 {name}"))
        for entry in p.entries:
            if isinstance(entry, dict):
                for name in ("seq", "path", "title", "format", "size", "sha256"):
                    if entry.get(name) in (None, ""):
                        required.append(("file_field_missing", f"{entry.get('path')} 缺少 {name}"))
    c.add("WZ", 2, "元数据项齐全", required, "必备元数据项齐全")

    history: Problems = []
    if EVENT_HISTORY not in p.files:
        history.append(("events_missing", f"缺少 {EVENT_HISTORY}"))
    else:
        seqs = [e.get("seq") for e in p.events_raw if isinstance(e, dict)]
        if seqs != list(range(1, len(seqs) + 1)):
            numbers = [s for s in seqs if isinstance(s, int)]
            gaps = sorted(set(range(1, max(numbers or [0]) + 1)) - set(numbers))
            history.append(("event_sequence_gap", f"事件顺序号不连续，缺 {gaps[:5] or '（顺序错乱）'}"))
        expected_count = _dig(p.metadata, "events.count")
        if expected_count != len(p.events_raw):
            history.append(
                ("event_count_mismatch", f"元数据记载 {expected_count} 个事件，实有 {len(p.events_raw)} 个")
            )
        if p.events and p.events[0].type != "case.received":
            history.append(("history_start", "事件记录不以收件开始"))
        if [e.id for e in sorted(p.events, key=lambda e: (e.hlc, e.id))] != [e.id for e in p.events]:
            history.append(("event_order", "事件未按时间顺序排列"))
        if any(e.case_id != str(p.case.get("case_id", "")) for e in p.events):
            history.append(("foreign_event", "事件记录中有其他办件的事件"))
    c.add(
        "WZ",
        3,
        "办理过程记录完整（事件历史）",
        history,
        f"{len(p.events_raw)} 个事件，顺序号 1–{len(p.events_raw)} 连续",
    )

    members: Problems = []
    if p.state is not None:
        present = p.present()
        notices = {str(e.get("document_number")) for e in present if e.get("role") == "notice"}
        for notice in p.state.notices:
            if notice.number not in notices:
                members.append(("notice_missing", f"缺少文书「{notice.title}」{notice.number}"))
        materials = {str(e.get("sha256")) for e in present if e.get("role") == "material"}
        for material in p.state.materials:
            if str(material.get("blob")) not in materials:
                members.append(("material_missing", f"缺少材料 {material.get('filename')}"))
    seqs_files = [e.get("seq") for e in p.entries if isinstance(e, dict)]
    if seqs_files != list(range(1, len(seqs_files) + 1)):
        members.append(("file_sequence_gap", "件内顺序号不连续"))
    for entry in p.entries:
        if isinstance(entry, dict) and str(entry.get("path", "")) not in p.files:
            role = str(entry.get("role", "file"))
            members.append((f"{role}_missing", f"缺少{entry.get('title')}（{entry.get('path')}）"))
    c.add("WZ", 4, "材料与文书齐全", members, "事件记录的全部材料与文书均在包内，件内顺序号连续")


# ---- 可用性 usability ----------------------------------------------------------------------------------------


def _opens(fmt: str, data: bytes) -> Problems:
    parser = PARSERS.get(fmt)
    if parser is None:
        return [("format_unknown", f"格式 {fmt!r} 无法识别")]
    try:
        parser(data)
    except FormatError as exc:
        return [("does_not_open", f"不能作为 {FORMAT_LABELS[fmt]} 打开：{exc}")]
    except (struct.error, ValueError, IndexError) as exc:
        return [("does_not_open", f"不能作为 {FORMAT_LABELS[fmt]} 打开（{exc}）")]
    return []


def _usability(c: _Checker, p: _Parsed) -> None:
    c.add("KY", 1, "元数据可读", p.readable, "清单、bag-info 与元数据均可解析")
    for entry in p.present():
        path, fmt = str(entry["path"]), str(entry.get("format", ""))
        label = FORMAT_LABELS.get(fmt, fmt)
        c.add(
            "KY",
            2,
            "文件可正常打开",
            _opens(fmt, p.files[path]),
            f"{label} 结构完整，可正常打开",
            subject=path,
        )

    hidden: Problems = [("zip_encrypted", f"{x} 在包内被加密") for x in p.package.encrypted_entries]
    hidden += [("zip_compression", f"{x} 使用了非公开的压缩方式") for x in p.package.odd_compression]
    for entry in p.present():
        try:
            why = hidden_encryption_or_compression(str(entry.get("format")), p.files[str(entry["path"])])
        except (FormatError, struct.error, ValueError):
            why = None  # an unparsable file already fails KY-2
        if why:
            hidden.append(("hidden_encryption", f"{entry['path']}：{why}"))
    c.add("KY", 3, "无加密、无非公开压缩", hidden, "包内文件均未加密，只使用公开的压缩方式")

    formats: Problems = []
    for entry in p.entries:
        if isinstance(entry, dict):
            role, fmt = str(entry.get("role", "")), str(entry.get("format", ""))
            if fmt not in ROLE_FORMATS.get(role, ()):
                formats.append(("format_not_archival", f"{entry.get('path')}：{role} 不应为 {fmt} 格式"))
    c.add("KY", 4, "格式符合归档要求", formats, "文书为 PDF，材料为 PDF/JPEG/PNG/TIFF，签名为 PNG")

    raw_env = p.metadata.get("environment")
    env: dict[str, Any] = raw_env if isinstance(raw_env, dict) else {}
    environment: Problems = [
        ("environment_missing", f"软硬件环境元数据缺少 {name}")
        for name in ("software", "version", "runtime")
        if not env.get(name)
    ]
    c.add("KY", 5, "软硬件环境信息", environment, "已记录形成软件及运行环境")


# ---- 安全性 security -----------------------------------------------------------------------------------------


def _security(c: _Checker, p: _Parsed, signature: Problems, digests: Problems) -> None:
    sealed: Problems = []
    if signature or digests:
        sealed.append(("altered_since_signing", "包在签名后被改动（签名或摘要不符）"))
    covered = set(p.manifest) | set(p.tagmanifest) | {"tagmanifest-sha256.txt", SIGNATURE_FILE}
    for path in sorted(set(p.files) - covered):
        sealed.append(("uncovered_file", f"{path} 不在签名覆盖范围内"))
    c.add("AQ", 1, "归档过程安全（签名后未被改动）", sealed, "全部文件均在签名覆盖范围内且未被改动")

    types: Problems = []
    allowed = {e for extensions in EXTENSIONS.values() for e in extensions}
    for path in sorted(p.payload_paths - {CASE_METADATA, EVENT_HISTORY}):
        why = disallowed_content(p.files[path], sniff(p.files[path]))
        if why:
            types.append(("disallowed_type", f"{path}：{why}"))
        elif PurePosixPath(path).suffix.lower().lstrip(".") not in allowed:
            types.append(("disallowed_extension", f"{path}：不允许的扩展名"))
    c.add("AQ", 2, "病毒与有害类型检查（禁止可执行内容）", types, "未发现可执行文件、脚本、压缩包或 PDF 动作")

    paths = [x for x in p.package.container_problems if x[0] in ("unsafe_path", "symlink")]
    c.add("AQ", 3, "路径与链接安全", paths, "无绝对路径、上级目录引用或符号链接")


# ---- the check -----------------------------------------------------------------------------------------------


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
    parsed = _parse(package)
    c = _Checker(stage)
    signature, digests = _authenticity(c, parsed, trusted_key, expected_node)
    _integrity(c, parsed)
    _usability(c, parsed)
    _security(c, parsed, signature, digests)
    order = {prop: i for i, prop in enumerate(("ZS", "WZ", "KY", "AQ"))}
    items = sorted(c.items, key=lambda i: order[i.property])  # stable: numbering within a property kept
    return CheckReport(
        stage=stage,
        package_sha256=sha256(raw) if raw else "",
        checked_at=checked_at,
        items=tuple(items),
        bag_name=package.bag_name,
        case_id=str(parsed.case.get("case_id", "")),
        case_number=str(parsed.case.get("case_number", "")),
        archival_number=str(parsed.metadata.get("archival_number", "")),
        retention=str(parsed.metadata.get("retention", "")),
        node_id=str(parsed.metadata.get("node_id", "")),
    )
