"""The county on disk and its processes: provisioned like `onewindow demo` (the county's keys, a reviewer in every
department, each centre's staff in its bundle, each node enrolled through the node's own CLI), then central and
every node started as its own process with the day's business clock (``ONEWINDOW_CLOCK``). A node reaches
central through its `WanLink`, so the scenario can cut the line; a node or central can be killed and restarted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from provisioning.county import StaffSpec, add_central_user, add_node, catalogue_departments, init_county
from simulate.proxy import WanLink

COUNTY = ("梅河口市", "220581")
TOWNS = (
    "红梅镇",
    "海龙镇",
    "山城镇",
    "新合镇",
    "曙光镇",
    "牛心顶镇",
    "杏岭镇",
    "湾龙乡",
    "水道镇",
    "康大营镇",
)
ADMIN = ("admin", "county-admin-2026")
REVIEWER_PASSWORD = "review-2026"
STAFF_PASSWORD = "staff-2026"
#: The back office's jobs (routing, clocks) and each node's sync, in real seconds.
JOBS_S = "2"
SYNC_S = "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Centre:
    index: int
    name: str
    division: str
    data: Path
    port: int
    windows: int
    link: WanLink | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def window_accounts(self) -> list[str]:
        return [f"clerk{w}" for w in range(1, self.windows + 1)]


@dataclass
class County:
    """Everything the day runs against."""

    root: Path
    clock: str
    central_port: int
    centres: list[Centre]
    #: reviewer username → department code.
    reviewers: dict[str, str]
    central: subprocess.Popen[bytes] | None = None
    logs: Path = field(init=False)

    def __post_init__(self) -> None:
        self.logs = self.root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    @property
    def central_url(self) -> str:
        return f"http://127.0.0.1:{self.central_port}"

    @property
    def county_dir(self) -> Path:
        return self.root / "county"

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            PYTHONUNBUFFERED="1",
            ONEWINDOW_CLOCK=self.clock,
            ONEWINDOW_BACKOFFICE_JOBS_S=JOBS_S,
            ONEWINDOW_NODE_SYNC_INTERVAL=SYNC_S,
            # The clerks' tablets stay logged in through the day (the business clock runs fast; sessions do not).
            ONEWINDOW_NODE_SESSION_IDLE_S="43200",
            ONEWINDOW_CENTRAL_SESSION_IDLE_S="43200",
        )

    def cli(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """`onewindow …` as a one-off command, on the day's clock."""
        return subprocess.run(
            [sys.executable, "-m", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=300,
            env=self.env(),
            check=False,
        )

    def start_central(self) -> None:
        cmd = [sys.executable, "-m", "central", "serve", "--data", str(self.root / "central")]
        cmd += ["--county-dir", str(self.county_dir), "--port", str(self.central_port)]
        with (self.logs / "central.log").open("ab") as log:
            self.central = subprocess.Popen(cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        wait_healthy(self.central_url, self.central)

    def start_node(self, centre: Centre) -> None:
        self.spawn_node(centre)
        assert centre.process is not None
        wait_healthy(centre.url, centre.process)

    def spawn_node(self, centre: Centre) -> None:
        cmd = [sys.executable, "-m", "node", "serve", "--data", str(centre.data), "--port", str(centre.port)]
        cmd += ["--simulate-devices", "--scan-folder", str(self.root / "scans" / f"node{centre.index}")]
        if centre.link is not None:
            cmd += ["--central-url", centre.link.url]
        with (self.logs / f"node{centre.index}.log").open("ab") as log:
            centre.process = subprocess.Popen(cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT)

    def kill_node(self, centre: Centre) -> None:
        """SIGKILL: the node gets no chance to finish anything (a power cut)."""
        if centre.process is not None and centre.process.poll() is None:
            centre.process.kill()
            centre.process.wait()

    def restart_central(self) -> None:
        if self.central is not None:
            _stop(self.central)
        self.start_central()

    def stop_all(self) -> None:
        for centre in self.centres:
            if centre.process is not None:
                _stop(centre.process)
            if centre.link is not None:
                centre.link.close()
        if self.central is not None:
            _stop(self.central)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: 进程已退出（{process.returncode}）")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise TimeoutError(f"{url} 在 {timeout} 秒内没有启动")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reviewer_names(departments: dict[str, str]) -> dict[str, str]:
    """username → department credit code, one reviewer per department."""
    return {f"reviewer{n}": code for n, code in enumerate(sorted(departments), start=1)}


def provision(root: Path, *, centres: int, windows: list[int], clock: str) -> County:
    """A fresh county with `centres` centres in `root` (emptied first); nothing started yet."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    county_dir = root / "county"
    county = init_county(county_dir, name=COUNTY[0], division=COUNTY[1], admin_password=ADMIN[1])
    departments = catalogue_departments(county.catalogue())
    reviewers = reviewer_names(departments)
    for username, code in reviewers.items():
        add_central_user(
            county,
            username=username,
            display_name=f"审核员（{departments[code].removeprefix(COUNTY[0])}）",
            role="reviewer",
            password=REVIEWER_PASSWORD,
            department=code,
        )
    central_port = free_port()
    built: list[Centre] = []
    enrolments: list[tuple[str, subprocess.Popen[bytes]]] = []
    for index in range(centres):
        town = TOWNS[index % len(TOWNS)] + ("" if index < len(TOWNS) else str(index // len(TOWNS) + 1))
        name, division = f"{town}便民服务中心", f"220581{102 + index:03d}000"
        staff = [
            StaffSpec(f"clerk{w}", f"窗口{w}", "window", STAFF_PASSWORD) for w in range(1, windows[index] + 1)
        ]
        staff += [
            StaffSpec("logistics", "物料流转窗口", "logistics", STAFF_PASSWORD),
            StaffSpec("lead", "业务负责人", "lead", STAFF_PASSWORD, authorities=("*",)),
            StaffSpec("nodeadmin", "节点管理员", "node_admin", STAFF_PASSWORD),
        ]
        bundle = add_node(
            county,
            name=name,
            division=division,
            central_urls=[f"http://127.0.0.1:{central_port}"],
            out=root / "bundles" / f"node{index}.bundle",
            staff=staff,
        )
        data = root / f"node{index}"
        enrolments.append(
            (
                name,
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "node",
                        "enroll",
                        str(bundle.bundle_path),
                        "--data",
                        str(data),
                        "--expect-county",
                        bundle.county_fingerprint,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                ),
            )
        )
        built.append(Centre(index, name, division, data, free_port(), windows[index]))
    for name, enrolment in enrolments:  # enrolled side by side, each through the node's own CLI
        _, err = enrolment.communicate(timeout=300)
        if enrolment.returncode != 0:
            raise RuntimeError(f"节点 {name} 注册失败：{err.decode(errors='replace')[-500:]}")
    (root / "county.json").write_text(
        json.dumps({"reviewers": reviewers, "centres": [c.name for c in built]}, ensure_ascii=False), "utf-8"
    )
    return County(root, clock, central_port, built, reviewers)


def start(county: County, *, links: dict[int, bool]) -> None:
    """Central, then each node: through a WAN link (up or down at first) for the centres in `links`."""
    county.start_central()
    for centre in county.centres:  # all at once: the machine's cores start them side by side
        if centre.index in links:
            centre.link = WanLink(county.central_port, up=links[centre.index])
        county.spawn_node(centre)
    for centre in county.centres:
        assert centre.process is not None
        wait_healthy(centre.url, centre.process)


@contextlib.contextmanager
def running(county: County, *, links: dict[int, bool]):  # type: ignore[no-untyped-def]
    try:
        start(county, links=links)
        yield county
    finally:
        county.stop_all()
