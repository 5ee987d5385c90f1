"""Capture sessions and scan ingestion (扫描件入卷): a window waits for pages of one material of one case; each
complete file from the scan folder is checked, deduplicated and attached to that case, or quarantined with a
reason the clerk sees.

The attaching itself is `node.intake.cases.materials.attach_material` (format check, encrypted blob, event), so a scanned
page and an uploaded one are the same thing on the case. The file leaves the scan folder either way: deleted once
its bytes are stored (encrypted) in the case, or kept in the processed folder when the node is set to keep them
(`NodeSettings.keep_processed_scans`), or moved into the quarantine folder beside a ``.reason.txt`` for the clerk.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path

from sqlmodel import col, select

from node.devices.models import CaptureSession, ScanFile
from node.devices.watcher import EXTENSIONS, MAGIC, claimed_format, has_end_marker
from node.events import get_case
from node.intake.cases.materials import MAX_MATERIAL_BYTES, attach_material
from node.intake.cases.receive import item_of
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.catalogue import CatalogueItem, Material
from protocol.errors import NOT_FOUND, REQUIRED_FIELD, VALIDATION, OneWindowError
from protocol.events import CaseState
from protocol.ids import uuid7

#: A capture session stops waiting this long after it started (the clerk has moved on).
SESSION_IDLE = timedelta(minutes=30)
FORMAT_NAMES = {"pdf": "PDF", "jpg": "JPEG", "png": "PNG", "tiff": "TIFF"}


@dataclass(frozen=True)
class ScanFolders:
    """Where scans arrive, and where they go afterwards (outside the watched folder)."""

    incoming: Path
    processed: Path
    quarantine: Path
    #: Keep stored scans in `processed`; False: delete them once stored (the case's blob is the only copy,
    #: encrypted, R-SEC-1).
    keep_processed: bool = False

    @classmethod
    def beside(cls, incoming: Path, *, keep_processed: bool = False) -> ScanFolders:
        return cls(
            incoming,
            incoming.with_name(incoming.name + "-processed"),
            incoming.with_name(incoming.name + "-quarantine"),
            keep_processed,
        )

    def create(self) -> None:
        for folder in (self.incoming, self.processed, self.quarantine):
            folder.mkdir(parents=True, exist_ok=True)


# ---- sessions ---------------------------------------------------------------------------------------------


def next_slot(item: CatalogueItem, state: CaseState, after: str = "") -> Material | None:
    """The slot 逐项采集 goes to next: the first mandatory material with no page yet, in checklist order, after
    `after` (wrapping round to the slots before it); None when every mandatory slot has a page."""
    present = {str(m["material_id"]) for m in state.materials}
    empty = [m for m in item.materials if m.mandatory and m.id not in present]
    ids = [m.id for m in item.materials]
    start = ids.index(after) + 1 if after in ids else 0
    ordered = sorted(empty, key=lambda m: (ids.index(m.id) < start, ids.index(m.id)))
    return ordered[0] if ordered else None


async def start_capture(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    window: str,
    case_id: str,
    material_id: str = "",
    walk: bool = False,
) -> CaptureSession:
    """开始扫描: from now on, scanned files go to this case's material; the window's earlier session ends.

    `walk` (逐项采集): the session moves on by itself after each page to the next empty mandatory slot and ends
    after the last; without a `material_id` it starts at the first empty one."""
    window = window.strip()
    if not window:
        raise OneWindowError(REQUIRED_FIELD, "请先设置本窗口名称（叫号页面）或在此填写", field="window")
    state = await get_case(runtime, case_id)
    item = item_of(runtime, state)
    if walk and not material_id:
        first = next_slot(item, state)
        if first is None:
            raise OneWindowError(VALIDATION, "必备材料都已采集，无需再逐项采集", field="material_id")
        material_id = first.id
    material = next((m for m in item.materials if m.id == material_id), None)
    if material is None:
        raise OneWindowError(VALIDATION, f"该事项没有材料项 {material_id!r}", field="material_id")
    now = runtime.now_iso()
    session = CaptureSession(
        id=uuid7(),
        window=window,
        case_id=case_id,
        material_id=material_id,
        staff=actor.username,
        role=actor.role,
        started_at=now,
        walk=walk,
    )
    async with runtime.db.write() as db:
        active = (
            await db.exec(
                select(CaptureSession).where(
                    CaptureSession.window == window, col(CaptureSession.ended_at).is_(None)
                )
            )
        ).all()
        for old in active:
            old.ended_at = now
            db.add(old)
        db.add(session)
    return session


async def stop_capture(runtime: NodeRuntime, *, session_id: str) -> CaptureSession:
    async with runtime.db.write() as db:
        session = await db.get(CaptureSession, session_id)
        if session is None:
            raise OneWindowError(NOT_FOUND, "扫描会话不存在", field="session_id")
        if session.ended_at is None:
            session.ended_at = runtime.now_iso()
            db.add(session)
        return session


async def waiting_session(runtime: NodeRuntime) -> CaptureSession | None:
    """The session the next scanned file belongs to: the most recently started one still open.

    One scan folder serves the centre; with several windows scanning at once, give each its own folder.
    """
    cutoff = (runtime.now() - SESSION_IDLE).astimezone(UTC).isoformat(timespec="milliseconds")
    async with runtime.db.read() as db:
        rows = (
            await db.exec(
                select(CaptureSession)
                .where(col(CaptureSession.ended_at).is_(None))
                .order_by(col(CaptureSession.started_at).desc())
            )
        ).all()
    return next((s for s in rows if s.started_at >= cutoff), None)


async def case_sessions(runtime: NodeRuntime, case_id: str) -> list[CaptureSession]:
    async with runtime.db.read() as db:
        return list(
            (
                await db.exec(
                    select(CaptureSession)
                    .where(CaptureSession.case_id == case_id)
                    .order_by(col(CaptureSession.started_at).desc())
                )
            ).all()
        )


async def case_scans(runtime: NodeRuntime, case_id: str) -> list[ScanFile]:
    """Every scanned file that came for this case (attached, duplicate or quarantined), newest first."""
    async with runtime.db.read() as db:
        return list(
            (
                await db.exec(
                    select(ScanFile)
                    .where(ScanFile.case_id == case_id)
                    .order_by(col(ScanFile.received_at).desc())
                )
            ).all()
        )


async def recent_scans(runtime: NodeRuntime, *, limit: int = 30) -> list[ScanFile]:
    async with runtime.db.read() as db:
        return list(
            (await db.exec(select(ScanFile).order_by(col(ScanFile.received_at).desc()).limit(limit))).all()
        )


# ---- ingestion ----------------------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    return re.sub(r"[\\/\x00-\x1f]", "_", name).strip(". ")[-120:] or "scan"


def _move(path: Path, folder: Path, stamp: str) -> str:
    """Move a file out of the scan folder (never overwriting); returns its new name."""
    folder.mkdir(parents=True, exist_ok=True)
    target = f"{stamp}-{_safe_name(path.name)}"
    n = 1
    while (folder / target).exists():
        n += 1
        target = f"{stamp}-{n}-{_safe_name(path.name)}"
    try:
        os.replace(path, folder / target)
    except OSError:
        shutil.move(str(path), str(folder / target))
    return target


def content_problem(name: str, data: bytes) -> str:
    """Why a scanned file cannot be taken as it is (empty when it can)."""
    if not data:
        return "文件是空的"
    if len(data) > MAX_MATERIAL_BYTES:
        return f"文件超过 {MAX_MATERIAL_BYTES // 1024 // 1024} MB"
    fmt = claimed_format(name)
    if fmt is None:
        allowed = "、".join(sorted(EXTENSIONS))
        return f"不支持的文件类型「{Path(name).suffix or '无扩展名'}」（可用：{allowed}）"
    actual = next((f for f, magics in MAGIC.items() if any(data.startswith(m) for m in magics)), None)
    if actual is None:
        return f"文件名表明是 {FORMAT_NAMES[fmt]}，但内容不是 {FORMAT_NAMES[fmt]}（无法识别，文件可能损坏或被改了扩展名）"
    if actual != fmt:
        return f"文件名表明是 {FORMAT_NAMES[fmt]}，但内容是 {FORMAT_NAMES[actual]}（扩展名不符）"
    if fmt in ("pdf", "jpg", "png") and not has_end_marker(fmt, data[-1024:]):
        return f"{FORMAT_NAMES[fmt]} 文件不完整（缺少结尾标记，可能传输中断）"
    return ""


async def ingest_file(runtime: NodeRuntime, path: Path, folders: ScanFolders) -> ScanFile:
    """Take one complete file from the scan folder: attach it to the waiting session's case, or quarantine it."""
    stamp = runtime.now().strftime("%Y%m%d-%H%M%S")
    size = path.stat().st_size
    if size > MAX_MATERIAL_BYTES:
        # Never read a huge file into memory: hash it in pieces; content_problem() refuses it by size.
        hasher = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                hasher.update(block)
        digest, data = hasher.hexdigest(), b""
    else:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
    record = ScanFile(
        id=uuid7(),
        sha256=digest,
        filename=_safe_name(path.name),
        size=size,
        status="quarantined",
        received_at=runtime.now_iso(),
    )
    session = await waiting_session(runtime)
    if session is not None:
        record.session_id, record.case_id = session.id, session.case_id
        record.material_id, record.window = session.material_id, session.window
    async with runtime.db.read() as db:
        earlier = (
            await db.exec(select(ScanFile).where(ScanFile.sha256 == digest, ScanFile.status == "attached"))
        ).first()
    problem = (
        f"文件超过 {MAX_MATERIAL_BYTES // 1024 // 1024} MB"
        if size > MAX_MATERIAL_BYTES
        else content_problem(path.name, data)
    )
    if problem:
        record.reason = problem
    elif earlier is not None:
        record.status = "duplicate"
        record.reason = f"与 {earlier.filename} 内容相同，已于 {earlier.received_at[:19]} 导入，未重复添加"
    elif session is None:
        record.reason = "收到时没有窗口在等待扫描件（请先在办件页点「开始扫描」，再重新放入文件）"
    else:
        try:
            await attach_material(
                runtime,
                actor=Actor(username=session.staff, role=session.role),
                case_id=session.case_id,
                material_id=session.material_id,
                filename=record.filename,
                data=data,
            )
            record.status = "attached"
        except OneWindowError as exc:
            record.reason = exc.reason
    if record.status == "quarantined":
        record.moved_to = _move(path, folders.quarantine, stamp)
        (folders.quarantine / f"{record.moved_to}.reason.txt").write_text(
            record.reason + "\n", encoding="utf-8"
        )
    elif folders.keep_processed:
        record.moved_to = _move(path, folders.processed, stamp)
    walk_to = "?"  # where a walking session goes next ("" = it is done); "?" = it stays
    if record.status == "attached" and session is not None and session.walk:
        state = await get_case(runtime, session.case_id)
        following = next_slot(item_of(runtime, state), state, after=session.material_id)
        walk_to = following.id if following is not None else ""
    async with runtime.db.write() as db:
        db.add(record)
        if record.status == "attached" and session is not None:
            live = await db.get(CaptureSession, session.id)
            if live is not None:
                live.pages += 1
                if live.walk and walk_to != "?":  # 逐项采集: on to the next empty mandatory slot, or done
                    if walk_to:
                        live.material_id, live.pages = walk_to, 0
                    else:
                        live.ended_at = runtime.now_iso()
                db.add(live)
    if record.status != "quarantined" and not folders.keep_processed:
        # Its bytes are in the blob store (fsynced, committed with the attachment event; for a duplicate, with
        # the earlier one) and the record is written: a crash before this line leaves the file in the folder,
        # where the next start finds it again and records it as a duplicate.
        path.unlink(missing_ok=True)
    return record
