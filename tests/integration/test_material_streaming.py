"""A 50 MB scan through central without central holding it (issue 17, acceptance 5): central runs as its own
process; a node uploads the scan over tus (completed by streaming decryption, not a whole-file read), the routed
reviewer streams it back from central's material route. Central's resident memory is read from
/proc/<pid>/status while that happens: its growth stays under 20 MB, for the stream and for the whole upload and
stream together (VmHWM, the peak)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from node.app import create_app as create_node
from node.enrolment import enroll
from node.events import new_event, record
from node.intake.cases.materials import store_blob
from node.settings import NodeSettings
from node.staff import Actor
from node.sync.client import central_client, sync_once
from protocol.events import MATERIAL_ATTACHED
from tests.backoffice_support import make_lead_sync
from tests.support import CLERK, PDF, VALID_IDS, free_port, provision, spawn_central, stop, wait_healthy

SCAN_BYTES = 50 * 1024 * 1024
LIMIT = 20 * 1024 * 1024


def _status(pid: int, field: str) -> int:
    """A figure of /proc/<pid>/status in bytes (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


class PeakRss:
    """Samples a process's VmRSS every few milliseconds while in use; `peak` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _status(self.pid, "VmRSS"))
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _walk(reviewer: httpx.Client, case_id: str) -> None:
    """Route the case, open its workbench and stream one of its materials (central's code paths, once)."""
    make_lead_sync(reviewer, case_id)
    assert reviewer.get(f"/work/{case_id}", headers={"accept": "text/html"}).status_code == 200
    first = reviewer.get(f"/api/v1/cases/{case_id}").json()["events"][1]["payload"]["blob"]
    assert reviewer.get(f"/cases/{case_id}/materials/{first}").status_code == 200


def _stream(reviewer: httpx.Client, pid: int, case_id: str, digest: str) -> tuple[int, int, int, str]:
    """Stream the material from central while sampling its RSS: (RSS before, peak, bytes, their SHA-256)."""
    rss_before = _status(pid, "VmRSS")
    hasher, size = hashlib.sha256(), 0
    with PeakRss(pid) as sampler, reviewer.stream("GET", f"/cases/{case_id}/materials/{digest}") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        for chunk in response.iter_bytes():
            hasher.update(chunk)
            size += len(chunk)
    return rss_before, sampler.peak, size, hasher.hexdigest()


@pytest.fixture
def central_process(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    setup = provision(tmp_path, nodes=1, central_url=url)
    (tmp_path / "logs").mkdir()
    process = spawn_central(setup, tmp_path / "central", port, tmp_path / "logs" / "central.log")
    try:
        wait_healthy(url, process)
        yield url, process.pid, setup.bundles[0].bundle_path
    finally:
        stop(process)


@pytest.mark.slow
async def test_a_50_mb_scan_streams_through_central_in_bounded_memory(
    central_process: tuple[str, int, Path], tmp_path: Path
) -> None:
    url, pid, bundle = central_process
    node_dir = tmp_path / "node1"
    await enroll(bundle, node_dir)
    node_app = create_node(NodeSettings(data_dir=node_dir, sync_enabled=False, clock_interval_s=0))
    async with AsyncTestClient(app=node_app, base_url="http://node.test") as node:
        login = await node.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
        assert login.status_code == 200
        runtime = node_app.state.runtime
        item = (await node.get("/api/v1/items", params={"q": "gtgshsldj"})).json()["items"][0]

        async def new_case(n: int, scan: bytes | None) -> str:
            applicant = {"name": "王五", "cert_type": "111", "cert_number": VALID_IDS[n]}
            created = await node.post(
                "/api/v1/cases", json={"item_code": item["code"], "applicant": applicant}
            )
            case_id: str = created.json()["case_id"]
            for material in item["materials"]:
                if material["mandatory"] and (scan is None or material["id"] != "application-form"):
                    attached = await node.post(
                        f"/api/v1/cases/{case_id}/materials",
                        data={"material_id": material["id"]},
                        files={"file": (f"{material['id']}.pdf", PDF + bytes([n]), "application/pdf")},
                    )
                    assert attached.status_code == 201, attached.text
            if scan is not None:
                # The 50 MB application form goes in as a scanner would leave it (past the window's form).
                async with runtime.db.write() as session:
                    await store_blob(
                        session, runtime, scan, media_type="application/pdf", filename="申请书-扫描.pdf"
                    )
                    payload = {
                        "material_id": "application-form",
                        "blob": hashlib.sha256(scan).hexdigest(),
                        "filename": "申请书-扫描.pdf",
                        "size": len(scan),
                        "media_type": "application/pdf",
                    }
                    event = new_event(runtime, Actor(CLERK[0], "window"), case_id, MATERIAL_ATTACHED, payload)
                    await record(session, runtime, event)
            assert (await node.post(f"/api/v1/cases/{case_id}/accept")).status_code == 200
            return case_id

        with httpx.Client(base_url=url, timeout=60) as reviewer:
            # A first, small case walks every path once (sync, tus, routing, the pages, a material's stream),
            # so what is measured below is the scan, not central's first use of its code.
            warm = await new_case(0, None)
            async with central_client(runtime, url) as client:
                await sync_once(client, runtime)
            _walk(reviewer, warm)

            scan = b"%PDF-1.4\n" + os.urandom(SCAN_BYTES - 9)  # incompressible, as a scanned image is
            digest = hashlib.sha256(scan).hexdigest()
            case_id = await new_case(1, scan)
            del scan
            rss_before_upload, hwm_before_upload = _status(pid, "VmRSS"), _status(pid, "VmHWM")
            async with central_client(runtime, url) as client:
                report = await sync_once(client, runtime)
            assert report.attachments == 2, report  # the scan, and the one small PDF both other slots share
            make_lead_sync(reviewer, case_id)
            rss_before, peak, size, streamed = _stream(reviewer, pid, case_id, digest)
            hwm_after = _status(pid, "VmHWM")
    assert size == SCAN_BYTES and streamed == digest
    stream_growth = peak - rss_before
    overall_growth = hwm_after - max(hwm_before_upload, rss_before_upload)
    print(
        f"central RSS before the stream {rss_before / 2**20:.1f} MiB, peak during it {peak / 2**20:.1f} MiB "
        f"(+{stream_growth / 2**20:.1f} MiB); VmHWM before the upload {hwm_before_upload / 2**20:.1f} MiB, after "
        f"upload and stream {hwm_after / 2**20:.1f} MiB (+{overall_growth / 2**20:.1f} MiB)"
    )
    assert stream_growth < LIMIT, f"streaming the scan grew central's RSS by {stream_growth / 2**20:.1f} MiB"
    assert overall_growth < LIMIT, (
        f"upload and stream grew central's peak RSS by {overall_growth / 2**20:.1f} MiB"
    )
