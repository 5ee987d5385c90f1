"""The scan hot folder against real writer threads, with the node's real ingestion behind it (encrypted blob,
MATERIAL_ATTACHED event on a real SQLite file).

Writers do what scanners and people do: write slowly with pauses longer than the quiet period, write a temp name
and rename into place, dump 300 files at once, leave temp files, produce a GBK-encoded file name, save a file
that claims to be a PDF and is not. What must hold: nothing truncated is ever ingested, every complete file is
ingested exactly once, files already there at start-up are ingested, processed files leave the folder, and a
bad file lands in quarantine with a reason a clerk can read.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import select

from node.boot import open_runtime
from node.devices.capture import ScanFolders, ingest_file, start_capture
from node.devices.models import ScanFile
from node.devices.watcher import FolderTiming, HotFolder
from node.enrolment import enroll
from node.events import case_events
from node.intake.cases.applicants import Applicant
from node.intake.cases.receive import receive_case
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.events import MATERIAL_ATTACHED
from tests.support import VALID_IDS, CountySetup

ITEM = "11220581MB0153015A4002000101000"  # 城乡居民基本养老保险参保登记: id-card takes JPG or PDF
TIMING = FolderTiming(
    quiet_s=1.0, fast_quiet_s=0.3, incomplete_s=30.0, step_ms=50, debounce_ms=400, tick_ms=100, rescan_s=1.0
)
CLERK = Actor(username="clerk", role="window")


def pdf(tag: str, size: int = 4000) -> bytes:
    body = (tag.encode() + b" ") * (size // (len(tag) + 1))
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + body + b"\n%%EOF\n"


def jpeg(tag: str, size: int = 4000) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + (tag.encode() * (size // len(tag))) + b"\xff\xd9"


def tiff(tag: str, size: int = 4000) -> bytes:
    return b"II*\x00\x08\x00\x00\x00" + tag.encode() * (size // len(tag))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def slow_write(path: Path, data: bytes, *, pieces: int, pause_s: float) -> None:
    """Write in pieces with pauses, flushing each, as a sheet-fed scanner does between pages."""
    step = -(-len(data) // pieces)
    with path.open("wb") as f:
        for start in range(0, len(data), step):
            f.write(data[start : start + step])
            f.flush()
            os.fsync(f.fileno())
            time.sleep(pause_s)


def rename_into_place(path: Path, data: bytes, *, pause_s: float) -> None:
    temp = path.with_name(path.name + ".tmp")
    slow_write(temp, data, pieces=3, pause_s=pause_s)
    os.replace(temp, path)


@dataclass
class Folder:
    runtime: NodeRuntime
    folders: ScanFolders
    hot: HotFolder
    case_id: str
    written: dict[str, bytes]  # final name -> complete content

    def write(
        self, name: str, data: bytes, how: Callable[[Path, bytes], None] | None = None
    ) -> threading.Thread:
        self.written[name] = data
        target = self.folders.incoming / name
        thread = threading.Thread(target=how or (lambda p, d: p.write_bytes(d)), args=(target, data))
        thread.start()
        return thread

    async def records(self) -> list[ScanFile]:
        async with self.runtime.db.read() as db:
            return list((await db.exec(select(ScanFile))).all())

    async def wait_for(self, count: int, timeout_s: float = 60.0) -> list[ScanFile]:
        deadline = time.monotonic() + timeout_s
        while True:
            records = await self.records()
            if len(records) >= count:
                return records
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {len(records)} of {count} files handed over in {timeout_s} s; "
                    f"still pending: {self.hot.status()['pending'][:10]}"
                )
            await asyncio.sleep(0.1)

    async def attached_events(self) -> list[dict[str, object]]:
        async with self.runtime.db.read() as db:
            events = await case_events(db, self.case_id)
        return [e.payload for e in events if e.type == MATERIAL_ATTACHED]


@pytest.fixture
async def folder(county: CountySetup, tmp_path: Path) -> AsyncIterator[Folder]:
    node_dir = tmp_path / "node1"
    await enroll(
        county.bundles[0].bundle_path, node_dir, expected_county=county.bundles[0].county_fingerprint
    )
    runtime = await open_runtime(node_dir)
    case = await receive_case(
        runtime, actor=CLERK, item_code=ITEM, applicant=Applicant("张三", "111", VALID_IDS[2])
    )
    await start_capture(runtime, actor=CLERK, window="1号窗口", case_id=case.case_id, material_id="id-card")
    folders = ScanFolders.beside(tmp_path / "scans")
    folders.create()
    # Files already there before the watcher starts.
    written: dict[str, bytes] = {}
    for n in range(3):
        data = pdf(f"before-start-{n}")
        (folders.incoming / f"early-{n}.pdf").write_bytes(data)
        written[f"early-{n}.pdf"] = data
    hot = HotFolder(folders.incoming, lambda p: ingest_file(runtime, p, folders), timing=TIMING)
    stop = asyncio.Event()
    task = asyncio.create_task(hot.run(stop))
    try:
        yield Folder(runtime, folders, hot, case.case_id, written)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await runtime.close()


async def _threads_done(threads: list[threading.Thread]) -> None:
    await asyncio.to_thread(lambda: [t.join() for t in threads])


@pytest.mark.slow
async def test_scanner_write_patterns_are_ingested_complete_and_once(folder: Folder) -> None:
    await folder.wait_for(3)  # the files present at start-up

    threads = [
        # Pauses (0.8 s) longer than fast_quiet, a PDF's end marker only at the end.
        folder.write("slow.pdf", pdf("slow", 20_000), lambda p, d: slow_write(p, d, pieces=5, pause_s=0.8)),
        # Pauses (1.5 s) longer than the quiet period itself: only the JPEG end marker tells completion.
        folder.write(
            "slow.jpg", jpeg("camera", 12_000), lambda p, d: slow_write(p, d, pieces=3, pause_s=1.5)
        ),
        # No end marker in TIFF: the quiet period (1 s) is longer than this writer's pauses (0.4 s).
        folder.write(
            "slow.tif", tiff("tiff-page", 12_000), lambda p, d: slow_write(p, d, pieces=4, pause_s=0.4)
        ),
        folder.write("renamed.pdf", pdf("renamed", 9_000), lambda p, d: rename_into_place(p, d, pause_s=0.5)),
        folder.write("fake.pdf", b"Dear clerk, this is a plain text file saved as .pdf\n" * 20),
    ]
    # Temp files that must never be taken.
    temps = {
        "~$draft.pdf": pdf("office-lock"),
        "upload.part": pdf("part"),
        ".hidden.pdf": pdf("hidden"),
        "scan.tmp": pdf("tmp"),
        "page.crdownload": pdf("download"),
    }
    for name, data in temps.items():
        (folder.folders.incoming / name).write_bytes(data)
    await _threads_done(threads)
    records = await folder.wait_for(3 + 5)

    by_name = {r.filename: r for r in records}
    assert set(by_name) == {
        "early-0.pdf",
        "early-1.pdf",
        "early-2.pdf",
        "slow.pdf",
        "slow.jpg",
        "slow.tif",
        "renamed.pdf",
        "fake.pdf",
    }
    # Nothing truncated: every record is the hash of a complete file.
    assert {r.sha256 for r in records} <= {sha(d) for d in folder.written.values()}
    for name in ("slow.pdf", "slow.jpg", "renamed.pdf", "early-0.pdf"):
        assert by_name[name].status == "attached", by_name[name].reason
        assert by_name[name].sha256 == sha(folder.written[name])
    # A TIFF is complete, but this material takes JPG or PDF only: attach_material's own reason.
    assert by_name["slow.tif"].status == "quarantined"
    assert by_name["slow.tif"].sha256 == sha(folder.written["slow.tif"])
    assert "只接受" in by_name["slow.tif"].reason
    # The fake PDF: quarantined, and the clerk can read why, in the database and beside the file.
    fake = by_name["fake.pdf"]
    assert fake.status == "quarantined"
    assert "内容不是 PDF" in fake.reason
    assert (folder.folders.quarantine / fake.moved_to).read_bytes() == folder.written["fake.pdf"]
    assert "内容不是 PDF" in (folder.folders.quarantine / f"{fake.moved_to}.reason.txt").read_text("utf-8")

    # Attached once each, and the blobs hold the complete bytes.
    attached = await folder.attached_events()
    assert sorted(str(e["blob"]) for e in attached) == sorted(
        r.sha256 for r in records if r.status == "attached"
    )
    for event in attached:
        assert folder.runtime.blobs.get(str(event["blob"])) in folder.written.values()
    # Processed files left the folder; only the temp files stay. Once stored (encrypted) in the case, no
    # plaintext copy is kept (R-SEC-1): the processed folder stays empty unless the node is set to keep them.
    assert sorted(p.name for p in folder.folders.incoming.iterdir()) == sorted(temps)
    assert not folder.folders.keep_processed and list(folder.folders.processed.iterdir()) == []
    # The same content dropped again is recognised and not attached twice.
    folder.write("slow-again.pdf", folder.written["slow.pdf"]).join()
    again = {r.filename: r for r in await folder.wait_for(9)}["slow-again.pdf"]
    assert again.status == "duplicate" and "内容相同" in again.reason
    assert len(await folder.attached_events()) == len(attached)


@pytest.mark.slow
async def test_a_burst_of_300_files_is_ingested_once_each(folder: Folder) -> None:
    await folder.wait_for(3)
    names = [f"burst-{n:03d}.pdf" for n in range(300)]

    def writer(chunk: list[str]) -> None:
        for name in chunk:
            data = folder.written[name]
            (folder.folders.incoming / name).write_bytes(data)

    for name in names:
        folder.written[name] = pdf(name, 2_000 + 7 * int(name[6:9]))
    threads = [threading.Thread(target=writer, args=(names[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    await _threads_done(threads)
    records = await folder.wait_for(303, timeout_s=120)
    assert len(records) == 303
    burst = [r for r in records if r.filename.startswith("burst-")]
    assert sorted(r.filename for r in burst) == names
    assert all(r.status == "attached" for r in burst)
    assert {r.sha256 for r in burst} == {sha(folder.written[n]) for n in names}
    assert len(await folder.attached_events()) == 303
    assert list(folder.folders.incoming.iterdir()) == []


@pytest.mark.slow
async def test_a_gbk_file_name_does_not_stop_the_watcher(folder: Folder) -> None:
    await folder.wait_for(3)
    gbk_name = "扫描件.pdf".encode("gbk")
    data = pdf("gbk-named")
    # Written by name bytes, as an old Windows/SMB client with the wrong charset leaves it.
    raw_path = os.path.join(os.fsencode(folder.folders.incoming), gbk_name)
    await asyncio.to_thread(Path(os.fsdecode(raw_path)).write_bytes, data)
    await asyncio.sleep(0.5)
    follow_up = pdf("after-the-gbk-file")
    folder.write("after.pdf", follow_up).join()
    records = {r.filename: r for r in await folder.wait_for(5)}
    assert records["renamed-扫描件.pdf"].status == "attached"
    assert records["renamed-扫描件.pdf"].sha256 == sha(data)
    assert records["after.pdf"].status == "attached"
    assert folder.hot.status()["renamed"] == ["renamed-扫描件.pdf"]
    assert "UTF-8" in folder.hot.status()["last_error"]
    assert folder.hot.running


@pytest.mark.slow
async def test_without_a_waiting_window_a_scan_is_quarantined_with_the_reason(
    folder: Folder,
) -> None:
    await folder.wait_for(3)
    async with folder.runtime.db.write() as db:
        from node.devices.models import CaptureSession

        for session in (await db.exec(select(CaptureSession))).all():
            session.ended_at = folder.runtime.now_iso()
            db.add(session)
    folder.write("nobody.pdf", pdf("nobody-waits")).join()
    record = {r.filename: r for r in await folder.wait_for(4)}["nobody.pdf"]
    assert record.status == "quarantined"
    assert "没有窗口在等待扫描件" in record.reason


@pytest.mark.slow
async def test_an_oversized_scan_is_quarantined_without_being_read_whole(folder: Folder) -> None:
    await folder.wait_for(3)
    big = folder.folders.incoming / "huge.pdf"

    def write_big() -> None:
        with big.open("wb") as f:
            f.write(b"%PDF-1.4\n")
            f.truncate(21 * 1024 * 1024)  # sparse: 21 MB without writing them
            f.seek(0, 2)
            f.write(b"\n%%EOF\n")

    await asyncio.to_thread(write_big)
    record = {r.filename: r for r in await folder.wait_for(4)}["huge.pdf"]
    assert record.status == "quarantined" and "超过 20 MB" in record.reason
    assert record.size > 21 * 1024 * 1024
