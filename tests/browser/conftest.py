"""What every browser test shares: Chromium's flags, the tablet's size, and a county served by real processes
(central and one enrolled node on loopback, or the node alone, as in a centre with no link)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize

from tests.support import (
    enroll_node_process,
    free_port,
    provision,
    require_tool,
    spawn_central,
    spawn_node,
    stop,
    wait_healthy,
)

SHOTS = Path("/tmp/onewindow-shots")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TABLET: ViewportSize = {"width": 1280, "height": 800}  # a 10-inch tablet in landscape


@dataclass
class County:
    """A node (and central, unless the centre is offline) serving on loopback."""

    chromium: str
    central_url: str
    node_url: str
    logs: Path


def shot(page: Page, name: str) -> None:
    """A full-page screenshot for a human to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _serve(tmp_path: Path, *, with_central: bool, sync_interval: float | None = None) -> Iterator[County]:
    chromium = require_tool("chromium")
    central_port, node_port = free_port(), free_port()
    central_url = f"http://127.0.0.1:{central_port}"
    node_url = f"http://127.0.0.1:{node_port}"
    setup = provision(tmp_path, nodes=1, central_url=central_url)
    node_dir = tmp_path / "node1"
    enroll_node_process(setup.bundles[0], node_dir)
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        if with_central:
            central = spawn_central(setup, tmp_path / "central", central_port, logs / "central.log")
            processes.append(central)
            wait_healthy(central_url, central)
        extra = {} if sync_interval is None else {"sync_interval": sync_interval}
        node = spawn_node(node_dir, node_port, logs / "node.log", **extra)
        processes.append(node)
        wait_healthy(node_url, node)
        yield County(chromium, central_url, node_url, logs)
    finally:
        for process in reversed(processes):
            stop(process)
        # Shown by pytest only when the test fails: what the servers said.
        for log in sorted(logs.glob("*.log")):
            print(f"---- {log.name} ----\n{log.read_text(encoding='utf-8', errors='replace')[-8000:]}")


@pytest.fixture
def county(tmp_path: Path) -> Iterator[County]:
    """Central and one enrolled node."""
    yield from _serve(tmp_path, with_central=True)


@pytest.fixture
def offline_node(tmp_path: Path) -> Iterator[County]:
    """One enrolled node whose central never answers: the hall works offline."""
    yield from _serve(tmp_path, with_central=False, sync_interval=5)
