"""Sync that never loses anything, in-process: attachments over tus, metadata before scans, reconciliation after
either side is restored from an older backup, poisoned entries isolated, clocks that are wrong.

The node and central talk real HTTP semantics through ASGI; backups are real copies of the SQLite files taken
with SQLite's online backup API while the stack runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from central.backoffice.results import CENTRAL_BLOBS
from central.models import (
    BlobRecord,
    CaseRecord,
    EventRecord,
    NodeRecord,
    QuarantineRecord,
    RatingRecord,
    UpEntryRecord,
)
from node.intake.cases.materials import store_blob
from node.models import Blob, CaseEvent, UpEntry
from node.sync.attachments import MAX_CHUNK, Uploader, pending_blobs
from node.sync.client import sync_once
from node.sync.log import seal_pending
from protocol.events import CASE_DECIDED
from protocol.ids import uuid7
from tests.backoffice_support import decide, make_lead
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_walking_skeleton import accept_one, central_counts
from tests.support import VALID_IDS


def sqlite_backup(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (WAL included), as a county's nightly backup takes it."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()


def restore(backup: Path, live: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(live) + suffix).unlink(missing_ok=True)
    shutil.copyfile(backup, live)


async def central_blobs(stack: Stack) -> dict[str, int]:
    """The attachments central received from nodes (not the result documents it made itself)."""
    async with stack.central_app.state.central.db.transaction() as session:
        rows = (await session.exec(select(BlobRecord).where(BlobRecord.node_id != CENTRAL_BLOBS))).all()
        return {b.sha256: b.size for b in rows}


async def node_blob_hashes(stack: Stack) -> set[str]:
    async with stack.runtime.db.read() as session:
        return {b.sha256 for b in (await session.exec(select(Blob))).all()}


async def test_attachments_arrive_verified_and_compressed_only_where_it_pays(stack: Stack) -> None:
    await login_node(stack)
    case = await accept_one(stack)
    text_like = b"%PDF-1.4\n" + b"BT /F1 12 Tf (scan line) Tj ET\n" * 40_000 + b"%%EOF\n"
    jpeg_like = b"\xff\xd8\xff\xe0" + os.urandom(300_000) + b"\xff\xd9"
    async with stack.runtime.db.write() as session:
        pdf = await store_blob(
            session, stack.runtime, text_like, media_type="application/pdf", filename="a.pdf"
        )
        jpg = await store_blob(session, stack.runtime, jpeg_like, media_type="image/jpeg", filename="b.jpg")

    report = await sync_once(stack.central, stack.runtime)
    assert report.rejected == 0
    arrived = await central_blobs(stack)
    assert await node_blob_hashes(stack) <= set(arrived)
    assert arrived[pdf] == len(text_like) and arrived[jpg] == len(jpeg_like)
    store = stack.setup.root / "central" / "blobs"
    for digest in (pdf, jpg):
        assert hashlib.sha256((store / digest[:2] / digest).read_bytes()).hexdigest() == digest
    async with stack.runtime.db.read() as session:
        rows = {b.sha256: b for b in (await session.exec(select(Blob))).all()}
    assert rows[pdf].compression == "zlib" and rows[pdf].spool_size is not None
    assert rows[pdf].spool_size < len(text_like) / 10  # the text-heavy scan went over compressed
    assert rows[jpg].compression == ""  # a JPEG is already compressed: sent as is
    assert all(r.uploaded_at for r in rows.values())
    assert not list((stack.node_dir / "spool").glob("*.age"))  # spools are removed once central confirms
    assert case["case_id"]

    # A second round sends nothing again.
    again = await sync_once(stack.central, stack.runtime)
    assert again.attachments == 0 and again.sent == 0


async def test_upload_resumes_from_centrals_offset_after_a_cut(stack: Stack) -> None:
    """The node stops after two chunks (a crash, a cut link): the next round asks central where it stands
    (tus HEAD) and sends only the rest."""
    await sync_once(stack.central, stack.runtime)  # enrol first
    data = os.urandom(5 * MAX_CHUNK + 999)
    async with stack.runtime.db.write() as session:
        digest = await store_blob(session, stack.runtime, data, media_type="image/jpeg", filename="big.jpg")

    class Crash(Exception):
        pass

    calls = {"n": 0}

    async def crash_before_the_third_chunk() -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash

    uploader = Uploader(stack.central, stack.runtime, before_chunk=crash_before_the_third_chunk)
    uploader.chunk = MAX_CHUNK
    (blob,) = await pending_blobs(stack.runtime)
    try:
        await uploader.upload(blob)
    except Crash:
        pass
    assert uploader.bytes_sent == 2 * MAX_CHUNK
    assert digest not in await central_blobs(stack)

    report = await sync_once(stack.central, stack.runtime)
    assert report.attachments == 1
    async with stack.runtime.db.read() as session:
        row = await session.get(Blob, digest)
    assert row is not None and row.spool_size is not None and row.uploaded_at is not None
    assert report.attachment_bytes == row.spool_size - 2 * MAX_CHUNK  # only what central did not have
    assert (await central_blobs(stack))[digest] == len(data)


async def test_new_case_overtakes_queued_scans(stack: Stack) -> None:
    """Metadata entries go before attachments: a case accepted while scans upload reaches central first."""
    await login_node(stack)
    await sync_once(stack.central, stack.runtime)
    for n in range(3):
        async with stack.runtime.db.write() as session:
            await store_blob(
                session,
                stack.runtime,
                os.urandom(3 * MAX_CHUNK),
                media_type="image/jpeg",
                filename=f"{n}.jpg",
            )
    seen_case_before_last_scan: dict[str, Any] = {}
    original = stack.runtime.sync_state

    async def accept_during_upload() -> None:
        if "accepted" not in seen_case_before_last_scan:
            seen_case_before_last_scan["accepted"] = await accept_one(stack, VALID_IDS[1], "李四")

    from node.sync import client as sync_client

    real = sync_client.push_if_pending

    async def hooked(client: Any, runtime: Any, report: Any) -> None:
        await accept_during_upload()
        await real(client, runtime, report)
        if "central_cases" not in seen_case_before_last_scan:
            seen_case_before_last_scan["central_cases"] = (await central_counts(stack))["cases"]
            seen_case_before_last_scan["blobs"] = len(await central_blobs(stack))

    sync_client.push_if_pending = hooked  # type: ignore[assignment]
    try:
        await sync_once(stack.central, stack.runtime)
    finally:
        sync_client.push_if_pending = real  # type: ignore[assignment]
    assert original is stack.runtime.sync_state
    assert seen_case_before_last_scan["central_cases"] == 1  # the case arrived …
    assert seen_case_before_last_scan["blobs"] < 3 + 6  # … before the scans had all gone


async def test_central_restored_from_an_older_backup_gets_everything_again(stack: Stack) -> None:
    await login_node(stack)
    first = await accept_one(stack, VALID_IDS[0], "张三")
    third = await accept_one(stack, VALID_IDS[2], "王五")
    await sync_once(stack.central, stack.runtime)
    # Routed (and the reviewer placed in the lead department) before last night's backup: deciding goes
    # through the lead department (issue 17).
    await make_lead(stack.central, first["case_id"])
    await sync_once(stack.central, stack.runtime)
    central_db = stack.setup.root / "central" / "central.db"
    backup = stack.setup.root / "central-backup.db"
    sqlite_backup(central_db, backup)

    second = await accept_one(stack, VALID_IDS[1], "李四")
    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    decided = await decide(stack.central, first["case_id"], "approve", "符合条件")
    assert decided.status_code == 200
    await sync_once(stack.central, stack.runtime)  # the decision reaches the node
    before = await central_counts(stack)
    blobs_before = await central_blobs(stack)

    # The county restores last night's backup: central forgets the second case, the decision, blobs' rows.
    await stack.central_app.state.central.db.close()
    restore(backup, central_db)
    async with stack.central_app.state.central.db.transaction() as session:
        assert (await session.exec(select(func.count()).select_from(CaseRecord))).one() == 2
    # The restored database no longer knows the reviewer's session (opened after the backup): log in again.
    await login_central(stack)
    # Before the node calls, the restored central decides the third case: its down entry takes seq 1 again,
    # which the node already holds with the lost decision.
    later = await decide(stack.central, third["case_id"], "deny", "不符合条件")
    assert later.status_code == 200, later.text

    report = await sync_once(stack.central, stack.runtime)
    # The new decision and its result document's event (a 行政给付: no e-licence).
    assert report.resent >= 1 and report.down_restored >= 1 and report.applied_events == 2, report
    after = await central_counts(stack)
    # Everything again, none twice, plus the new decision with its result document's event, and the window's
    # 结果到窗 for it (one new up entry).
    assert after["entries"] == before["entries"] + 1 and after["cases"] == before["cases"] == 3
    assert after["events"] == before["events"] + 3
    assert await central_blobs(stack) == blobs_before
    async with stack.central_app.state.central.db.transaction() as session:
        node = (await session.exec(select(NodeRecord))).first()
        decisions = (await session.exec(select(EventRecord).where(EventRecord.type == CASE_DECIDED))).all()
        # routing (kept in the backup); the second case's routing, the lost decision and its documents (handed
        # back); the new decision and its documents
        assert node is not None and node.down_seq == 6
    # Central's own lost decision, read back from the node's copy, and the one made after the restore.
    assert {d.case_id for d in decisions} == {first["case_id"], third["case_id"]}
    assert (await stack.node.get(f"/api/v1/cases/{first['case_id']}")).json()["status"] == "approved"
    assert (await stack.node.get(f"/api/v1/cases/{third['case_id']}")).json()["status"] == "denied"
    async with stack.runtime.db.read() as session:
        lost = (await session.exec(select(UpEntry).where(col(UpEntry.lost_receipt).is_not(None)))).all()
        assert lost and all(r.receipt for r in lost)  # the old receipt kept as proof, and a new one
    assert second["case_id"]


async def test_node_restored_from_an_older_backup_rechains_and_nothing_doubles(stack: Stack) -> None:
    await login_node(stack)
    first = await accept_one(stack, VALID_IDS[0], "张三")
    await sync_once(stack.central, stack.runtime)
    node_db = stack.node_dir / "node.db"
    backup = stack.setup.root / "node-backup.db"
    sqlite_backup(node_db, backup)
    lost = await accept_one(stack, VALID_IDS[1], "李四")  # sent, then lost with the node's disk
    await sync_once(stack.central, stack.runtime)
    before = await central_counts(stack)

    # The node's disk dies; last night's backup comes back, and the clerk records a rating before any sync:
    # its entry takes a seq central already holds (a fork), so the node must learn the head it lost.
    await stack.runtime.db.close()
    restore(backup, node_db)
    from node.db import Database

    stack.runtime.db = Database(node_db, data_key=stack.runtime.identity.data_key)
    rated = await stack.node.post(
        "/api/v1/ratings", json={"case_id": first["case_id"], "level": 5, "reason": "other"}
    )
    assert rated.status_code == 201, rated.text
    async with stack.runtime.db.write() as session:
        await seal_pending(session, stack.runtime)

    report = await sync_once(stack.central, stack.runtime)
    assert report.rechained >= 1 and report.rejected == 0 and report.quarantined == 0, report
    # Having reconciled, the node also knows the numbers it used in the lost day: a new case never repeats one.
    third = await accept_one(stack, VALID_IDS[2], "王五")
    assert third["case_number"] != lost["case_number"]
    await sync_once(stack.central, stack.runtime)

    after = await central_counts(stack)
    assert after["cases"] == before["cases"] + 1
    assert after["quarantine"] == before["quarantine"] == 0
    async with stack.central_app.state.central.db.transaction() as session:
        case_ids = set((await session.exec(select(CaseRecord.case_id))).all())
        node = (await session.exec(select(NodeRecord))).first()
        ratings = (await session.exec(select(func.count()).select_from(RatingRecord))).one()
    assert case_ids == {first["case_id"], lost["case_id"], third["case_id"]}
    assert ratings == 1
    async with stack.runtime.db.read() as session:
        head = (await session.exec(select(func.max(UpEntry.seq)))).one()
        unsent = (
            await session.exec(
                select(func.count()).select_from(UpEntry).where(col(UpEntry.receipt).is_(None))
            )
        ).one()
    assert node is not None and node.up_seq == head and unsent == 0  # both heads equal, all receipted


@pytest.mark.slow  # a hundred and one entries through one sync
async def test_poisoned_entry_is_quarantined_while_the_hundred_after_it_apply(stack: Stack) -> None:
    await login_node(stack)
    await sync_once(stack.central, stack.runtime)
    runtime = stack.runtime
    poison_case = uuid7()
    async with runtime.db.write() as session:
        # A node may not author a back-office decision: central quarantines the entry that carries one.
        session.add(
            CaseEvent(
                id=uuid7(),
                case_id=poison_case,
                type=CASE_DECIDED,
                authority=runtime.node_id,
                actor="clerk",
                hlc=runtime.clock.now(),
                payload=json.dumps({"outcome": "approve"}),
                content_hash="x" * 64,
                origin="local",
            )
        )
        await seal_pending(session, runtime)
    for n in range(100):
        if n == 50:  # an item has 99 case numbers a day at this node: the second half is tomorrow's work
            stack.clock.set(datetime.now(UTC) + timedelta(days=1))
        await accept_one(stack, VALID_IDS[n % 3], f"申请人{n}")
        async with runtime.db.write() as session:
            await seal_pending(session, runtime)
    async with runtime.db.read() as session:
        after_poison = (
            await session.exec(
                select(func.count()).select_from(UpEntry).where(col(UpEntry.receipt).is_(None))
            )
        ).one()
    assert after_poison >= 101  # the poisoned entry and at least a hundred behind it
    report = await sync_once(stack.central, runtime)
    assert report.quarantined == 1 and report.rejected == 0
    counts = await central_counts(stack)
    assert counts["cases"] == 100 and counts["quarantine"] == 1
    async with stack.central_app.state.central.db.transaction() as session:
        quarantined = (await session.exec(select(QuarantineRecord))).one()
        entries = (await session.exec(select(func.count()).select_from(UpEntryRecord))).one()
    assert "may not author" in quarantined.reason
    async with runtime.db.read() as session:
        node_entries = (await session.exec(select(func.count()).select_from(UpEntry))).one()
        flagged = (await session.exec(select(UpEntry).where(UpEntry.central_status == "quarantined"))).all()
    assert entries == node_entries  # the chain is whole: every entry stored and receipted
    assert len(flagged) == 1 and "OW-1208" in (flagged[0].central_reason or "")
    page = await stack.node.get("/sync", headers={"accept": "text/html"})
    assert "已隔离" in page.text


async def test_a_node_clock_days_fast_or_hours_slow_still_syncs_and_the_skew_shows(stack: Stack) -> None:
    await login_node(stack)
    await login_central(stack)
    for n, (skew, label) in enumerate(((timedelta(days=3), "快"), (timedelta(hours=-2), "慢"))):
        stack.clock.set(datetime.now(UTC) + skew)
        case = await accept_one(stack, VALID_IDS[n], f"时钟{label}")
        report = await sync_once(stack.central, stack.runtime)
        assert report.rejected == 0
        listed = {c["case_id"] for c in (await stack.central.get("/api/v1/cases")).json()["cases"]}
        assert case["case_id"] in listed
        nodes = (await stack.central.get("/api/v1/nodes")).json()["nodes"]
        skew_ms = next(n["skew_ms"] for n in nodes if n["node_id"] == stack.runtime.node_id)
        assert abs(skew_ms - skew.total_seconds() * 1000) < 60_000, skew_ms
        fleet = await stack.central.get("/fleet", headers={"accept": "text/html"})
        assert "时钟偏差" in fleet.text
        page = await stack.node.get("/sync", headers={"accept": "text/html"})
        assert f"本机时钟比县中心{label}" in page.text
        # Legal times at central are bounded by central's receipt: never later than the entry arrived.
        async with stack.central_app.state.central.db.transaction() as session:
            record = await session.get(CaseRecord, case["case_id"])
            entry_time = (await session.exec(select(func.max(UpEntryRecord.received_at)))).one()
        assert record is not None and record.received_at <= entry_time
        assert record.accepted_at <= entry_time
    # A decision on the fast node's case still sorts after its acceptance (no anomaly) …
    decided = await decide(stack.central, case["case_id"], "approve", "符合")
    assert decided.status_code == 200, decided.text


async def test_tus_refusals_change_nothing(stack: Stack) -> None:
    """Checksum mismatch (460), wrong offset (409), unsigned or foreign requests, a lying hash (422)."""
    from protocol import age
    from protocol.requests import sign_request
    from protocol.sync import checksum_header, tus_metadata

    await sync_once(stack.central, stack.runtime)  # the node is enrolled at central
    runtime = stack.runtime

    def signed(method: str, path: str, body: bytes = b"", **extra: str) -> dict[str, str]:
        return {
            "Tus-Resumable": "1.0.0",
            **extra,
            **sign_request(
                runtime.identity.signing_key, runtime.node_id, method, path, runtime.now_iso(), body
            ),
        }

    options = await stack.central.options("/sync/v1/files")
    assert options.headers["Tus-Version"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) == {"creation", "checksum", "termination"}

    plaintext = os.urandom(4000)
    ciphertext = age.encrypt(plaintext, [runtime.identity.county_recipient.raw])
    spool_sha = hashlib.sha256(ciphertext).hexdigest()
    lying = "0" * 64  # the node claims another plaintext hash
    meta = tus_metadata(
        {"sha256": lying, "spool_sha256": spool_sha, "media_type": "image/jpeg", "filename": "x"}
    )
    unsigned = await stack.central.post("/sync/v1/files", headers={"Upload-Length": str(len(ciphertext))})
    assert unsigned.status_code in (401, 403)
    created = await stack.central.post(
        "/sync/v1/files",
        headers=signed(
            "POST", "/sync/v1/files", **{"Upload-Length": str(len(ciphertext)), "Upload-Metadata": meta}
        ),
    )
    assert created.status_code == 201 and created.headers["Upload-Offset"] == "0"
    url = created.headers["Location"]
    again = await stack.central.post(
        "/sync/v1/files",
        headers=signed(
            "POST", "/sync/v1/files", **{"Upload-Length": str(len(ciphertext)), "Upload-Metadata": meta}
        ),
    )
    assert again.headers["Location"] == url  # creating the same upload twice is harmless

    first = ciphertext[:1000]
    patch_headers = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    damaged = await stack.central.patch(
        url,
        content=first,
        headers=signed(
            "PATCH", url, first, **patch_headers, **{"Upload-Checksum": checksum_header(b"other")}
        ),
    )
    assert damaged.status_code == 460
    offset = await stack.central.head(url, headers=signed("HEAD", url))
    assert offset.headers["Upload-Offset"] == "0"  # nothing of the damaged chunk was kept
    ok = await stack.central.patch(
        url,
        content=first,
        headers=signed("PATCH", url, first, **patch_headers, **{"Upload-Checksum": checksum_header(first)}),
    )
    assert ok.status_code == 204 and ok.headers["Upload-Offset"] == "1000"
    replay = await stack.central.patch(
        url,
        content=first,
        headers=signed("PATCH", url, first, **patch_headers, **{"Upload-Checksum": checksum_header(first)}),
    )
    assert replay.status_code == 409  # the duplicated request is refused, not appended twice
    rest = ciphertext[1000:]
    lie = await stack.central.patch(
        url,
        content=rest,
        headers=signed(
            "PATCH",
            url,
            rest,
            **{**patch_headers, "Upload-Offset": "1000"},
            **{"Upload-Checksum": checksum_header(rest)},
        ),
    )
    assert lie.status_code == 422 and "OW-1217" in lie.text
    assert lying not in await central_blobs(stack)

    terminated = await stack.central.delete(url, headers=signed("DELETE", url))
    assert terminated.status_code == 204
    gone = await stack.central.head(url, headers=signed("HEAD", url))
    assert gone.status_code == 404


async def test_a_dead_central_is_not_hammered(stack: Stack) -> None:
    """While central is unreachable the loop backs off exponentially (with jitter) instead of retrying at
    its normal interval; the failure is recorded for the sync page."""
    import asyncio

    from node.sync import client as sync_client
    from tests.support import free_port

    await login_node(stack)
    attempts: list[float] = []
    real = sync_client.sync_once

    async def counted(client: Any, runtime: Any) -> Any:
        attempts.append(asyncio.get_running_loop().time())
        return await real(client, runtime)

    sync_client.sync_once = counted  # type: ignore[assignment]
    stop = asyncio.Event()
    try:
        loop = asyncio.create_task(
            sync_client.sync_loop(
                stack.runtime, base_url=f"http://127.0.0.1:{free_port()}", interval_s=0.1, stop=stop
            )
        )
        await asyncio.sleep(3.2)
        stop.set()
        await loop
    finally:
        sync_client.sync_once = real  # type: ignore[assignment]
    # At a fixed 0.1 s interval this would be ~30 attempts; doubling from 0.2 s gives about five.
    assert 3 <= len(attempts) <= 7, len(attempts)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps))
    status = (await stack.node.get("/api/v1/sync/status")).json()
    assert status["link"] == "down" and "ConnectError" in status["last_error"]


async def test_a_catalogue_version_the_county_publishes_reaches_the_node(stack: Stack) -> None:
    """R-CAT-2 / R-SYNC-7: a signed catalogue version in the down log is kept by the node and used for new
    cases; one with a bad signature is not applied and does not block the log."""
    import base64

    from central.downlog import append_down
    from protocol.canonical import canonical_json
    from protocol.catalogue import catalogue_to_dict

    await sync_once(stack.central, stack.runtime)
    central = stack.central_app.state.central
    data = catalogue_to_dict(stack.runtime.catalogue)
    newer = {**data, "version": data["version"] + 1}
    forged = {**data, "version": data["version"] + 2}
    signature = base64.b64encode(central.county.signing_key.sign(canonical_json(newer))).decode()
    async with central.db.transaction() as session:
        node = await session.get(NodeRecord, stack.runtime.node_id)
        assert node is not None
        await append_down(
            session,
            central.county,
            node,
            {"catalogue": newer, "catalogue_signature": signature},
            kind="catalogue",
        )
        await append_down(
            session,
            central.county,
            node,
            {"catalogue": forged, "catalogue_signature": signature},
            kind="catalogue",
        )
    report = await sync_once(stack.central, stack.runtime)
    assert report.pulled == 2
    assert stack.runtime.catalogue.version == newer["version"]
    from node.boot import open_runtime

    reopened = await open_runtime(stack.node_dir)
    try:
        assert max(reopened.catalogues) == newer["version"]  # kept in the database, not just in memory
    finally:
        await reopened.close()


async def test_smallest_scans_go_first_and_the_sync_page_shows_the_upload(stack: Stack) -> None:
    """Attachments leave smallest first; while one is on its way the sync page shows which and how far."""
    from node.sync import attachments as sync_attachments

    await login_node(stack)
    await sync_once(stack.central, stack.runtime)
    sizes = {"big.jpg": 3 * MAX_CHUNK, "small.jpg": 40_000, "middle.jpg": MAX_CHUNK + 5}
    for name, size in sizes.items():
        async with stack.runtime.db.write() as session:
            await store_blob(
                session,
                stack.runtime,
                b"\xff\xd8\xff" + os.urandom(size),
                media_type="image/jpeg",
                filename=name,
            )
    order: list[str] = []
    pages: list[str] = []
    real_upload = sync_attachments.Uploader.upload

    async def recorded(self: Any, blob: Blob) -> None:
        order.append(blob.filename)
        await real_upload(self, blob)

    async def look_at_the_page() -> None:
        transfer = stack.runtime.sync_state.get("transfer")
        if transfer is not None and transfer.filename == "big.jpg" and transfer.offset > 0 and not pages:
            pages.append((await stack.node.get("/sync/progress", headers={"accept": "text/html"})).text)

    sync_attachments.Uploader.upload = recorded  # type: ignore[method-assign]
    try:
        uploader = sync_attachments.Uploader(stack.central, stack.runtime, before_chunk=look_at_the_page)
        uploader.chunk = MAX_CHUNK
        assert await uploader.upload_all() == 3
    finally:
        sync_attachments.Uploader.upload = real_upload  # type: ignore[method-assign]
    assert order == ["small.jpg", "middle.jpg", "big.jpg"]
    assert pages and "正在上传附件 big.jpg" in pages[0] and "<progress" in pages[0]
    assert "正在上传附件" not in (await stack.node.get("/sync/progress")).text  # gone once it is done
