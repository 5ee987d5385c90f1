"""The PDF render worker never outlives its node (issue 21): stopping the node with SIGTERM, SIGINT or SIGKILL
leaves no process of it behind, on a real node process that has printed a document."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support import (
    CLERK,
    CountySetup,
    copy_enrolled,
    enroll_node_process,
    free_port,
    spawn_node,
    wait_healthy,
)


def _children(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (read from /proc)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_the_render_worker_dies_with_its_node(
    county: CountySetup, tmp_path: Path, stop_with: signal.Signals
) -> None:
    node_dir = tmp_path / "node1"
    if not copy_enrolled(county, node_dir, tmp_path / "central"):
        enroll_node_process(county.bundles[0], node_dir)
    workers: set[int] = set()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    node = spawn_node(node_dir, port, tmp_path / "node.log", sync_interval=60)
    try:
        wait_healthy(url, node)
        item = county.county.catalogue()["items"][0]["code"]
        with httpx.Client(base_url=url, timeout=60) as client:
            login = client.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
            assert login.status_code == 200, login.text
            guide = client.get(f"/items/{item}/guide.pdf")
            assert guide.status_code == 200 and guide.content.startswith(b"%PDF"), guide.text[:200]
        workers = {pid for pid in _children(node.pid) if pid != node.pid}
        assert workers, "printing started no render worker"  # spawn: a resource tracker and the worker
        os.kill(node.pid, stop_with)
        node.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        left = [pid for pid in workers if _alive(pid)]
        assert not left, f"left behind after {stop_with.name}: {left}"
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
        for pid in workers:  # never leave a stray process to the next test, whatever happened
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
