"""`onewindow demo`: a demo county with two centres, central and both nodes as real processes on loopback.

Provisions a fresh county into a scratch directory, enrols two nodes from their bundles (through the node's
own CLI, exactly as a centre would), starts everything, waits until each answers, prints URLs and a login for
every role (window, logistics, lead and node admin at each centre; a reviewer placed in each department, the
supervisor and the admin at central), and stops cleanly on Ctrl-C or SIGTERM: every child is stopped and waited
for, and the demo exits 0. The back-office jobs run every few seconds, so a decision reaches the window within
the minute.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from provisioning.county import StaffSpec, add_central_user, add_node, catalogue_departments, init_county

COUNTY = ("梅河口市", "220581")
CENTRES = (
    ("红梅镇便民服务中心", "220581102000"),
    ("海龙镇便民服务中心", "220581103000"),
)
ADMIN_PASSWORD = "county-admin-2026"
REVIEWER = ("reviewer", "后台审核员（民政局）", "review-2026")
REVIEWER_PASSWORD = REVIEWER[2]
SUPERVISOR = ("supervisor", "督查员", "supervise-2026")
#: Every centre's accounts: username, display name, role, password.
NODE_STAFF = (
    ("clerk", "王晓梅（综合窗口）", "window", "clerk-2026"),
    ("logistics", "赵志强（物料流转窗口）", "logistics", "logistics-2026"),
    ("lead", "李建国（业务负责人）", "lead", "lead-2026"),
    ("nodeadmin", "孙立（节点管理员）", "node_admin", "nodeadmin-2026"),
)
CLERK_PASSWORD = NODE_STAFF[0][3]
LEAD_PASSWORD = NODE_STAFF[2][3]
#: The demo's back-office jobs (routing, clocks) run this often, so an accepted case reaches its department's
#: queue, and a decision the node, within seconds rather than the production minute.
JOBS_S = "3"
SYNC_S = "2"


@dataclass(frozen=True)
class Login:
    """A demo account as printed: where, who, which role."""

    app: str  # "central" or the node's index as a string
    username: str
    password: str
    role_label: str


def _short(department: str) -> str:
    return department.removeprefix(COUNTY[0])


@dataclass
class DemoProcess:
    name: str
    url: str
    process: subprocess.Popen[bytes]


def _python() -> str:
    return sys.executable


def central_logins(departments: dict[str, str]) -> list[Login]:
    """The back office's demo accounts: the admin, the supervisor, and one reviewer per department — 民政局's is
    ``reviewer``, the others ``reviewer2`` … in catalogue order."""
    logins = [Login("central", "admin", ADMIN_PASSWORD, "县管理员")]
    logins.append(Login("central", SUPERVISOR[0], SUPERVISOR[2], "督查"))
    for username, code in _reviewer_names(departments).items():
        logins.append(Login("central", username, REVIEWER_PASSWORD, f"审核 · {_short(departments[code])}"))
    return logins


def _reviewer_names(departments: dict[str, str]) -> dict[str, str]:
    """username → department credit code."""
    codes = sorted(departments, key=lambda code: "民政局" not in departments[code])  # stable: 民政局 first
    return {("reviewer" if n == 1 else f"reviewer{n}"): code for n, code in enumerate(codes, start=1)}


def node_logins(index: int) -> list[Login]:
    from protocol.staff import NODE_ROLES

    return [Login(str(index), u, pw, NODE_ROLES[role]) for u, _, role, pw in NODE_STAFF]


def provision(root: Path, base_port: int) -> list[tuple[str, Path, int]]:
    """Create the county and the two nodes' data directories; returns (name, data dir, port) per node."""
    if root.exists():
        shutil.rmtree(root)
    county_dir = root / "county"
    county = init_county(county_dir, name=COUNTY[0], division=COUNTY[1], admin_password=ADMIN_PASSWORD)
    departments = catalogue_departments(county.catalogue())
    for username, code in _reviewer_names(departments).items():
        add_central_user(
            county,
            username=username,
            display_name=f"后台审核员（{_short(departments[code])}）",
            role="reviewer",
            password=REVIEWER_PASSWORD,
            department=code,
        )
    add_central_user(
        county, username=SUPERVISOR[0], display_name=SUPERVISOR[1], role="supervisor", password=SUPERVISOR[2]
    )
    central_url = f"http://127.0.0.1:{base_port}"
    nodes = []
    for index, (name, division) in enumerate(CENTRES, start=1):
        bundle = add_node(
            county,
            name=name,
            division=division,
            central_urls=[central_url],
            out=root / "bundles" / f"node{index}.bundle",
            staff=[
                StaffSpec(u, name, role, pw, authorities=("*",) if role == "lead" else ())
                for u, name, role, pw in NODE_STAFF
            ],
        )
        data = root / f"node{index}"
        subprocess.run(
            [
                _python(),
                "-m",
                "node",
                "enroll",
                str(bundle.bundle_path),
                "--data",
                str(data),
                "--expect-county",
                bundle.county_fingerprint,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        nodes.append((name, data, base_port + index))
    return nodes


def _wait(url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False


def scan_folder(root: Path, index: int) -> Path:
    """Where the demo's scanner (any program, or a person) drops files for node `index`."""
    return root / "scans" / f"node{index}"


def start(root: Path, nodes: list[tuple[str, Path, int]], base_port: int) -> list[DemoProcess]:
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        ONEWINDOW_BACKOFFICE_JOBS_S=JOBS_S,
        ONEWINDOW_NODE_SYNC_INTERVAL=SYNC_S,
    )
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    procs = []
    central_cmd = [
        _python(),
        "-m",
        "central",
        "serve",
        "--data",
        str(root / "central"),
        "--county-dir",
        str(root / "county"),
        "--port",
        str(base_port),
    ]
    procs.append(
        DemoProcess(
            "县中心",
            f"http://127.0.0.1:{base_port}",
            subprocess.Popen(
                central_cmd, env=env, stdout=(logs / "central.log").open("wb"), stderr=subprocess.STDOUT
            ),
        )
    )
    for index, (name, data, port) in enumerate(nodes, start=1):
        cmd = [_python(), "-m", "node", "serve", "--data", str(data), "--port", str(port)]
        # Simulated devices (ID card reader, evaluator, ticket printer, document camera) and a scan folder.
        cmd += ["--simulate-devices", "--scan-folder", str(scan_folder(root, index))]
        procs.append(
            DemoProcess(
                name,
                f"http://127.0.0.1:{port}",
                subprocess.Popen(
                    cmd, env=env, stdout=(logs / f"node{index}.log").open("wb"), stderr=subprocess.STDOUT
                ),
            )
        )
    return procs


def stop(procs: list[DemoProcess]) -> None:
    """SIGINT to every child still running (they may have had it already from the terminal), then wait; a child
    that does not stop within 15 s is killed. Each child takes its own PDF render worker with it."""
    for p in procs:
        if p.process.poll() is None:
            p.process.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.process.kill()
            p.process.wait()


class _Stop(Exception):
    """Ctrl-C or SIGTERM reached the demo."""


def _on_signal(signum: int, frame: object) -> None:
    raise _Stop(signum)


def run_demo(root: Path, *, base_port: int = 8100) -> int:
    root = root.resolve()
    # Installed explicitly: a demo started in the background by a script inherits SIGINT *ignored*, and would then
    # see its children stop on the group's Ctrl-C without noticing it was asked to stop too.
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: list[DemoProcess] = []
    try:
        print(f"正在准备演示县「{COUNTY[0]}」和两个便民服务中心（目录 {root}）…", flush=True)
        nodes = provision(root, base_port)
        procs = start(root, nodes, base_port)
        deadline = time.monotonic() + 60
        for p in procs:
            if not _wait(p.url, deadline):
                print(f"{p.name} 没有在60秒内启动，日志见 {root / 'logs'}", file=sys.stderr)
                return 1
        _print_ready(root, procs)
        while True:
            time.sleep(0.5)
            if all(p.process.poll() is None for p in procs):
                continue
            # A child that stops on the terminal's Ctrl-C may go before the demo's own handler runs: give the
            # signal a moment to arrive before calling the exit unexpected.
            time.sleep(2)
            dead = [p.name for p in procs if p.process.poll() is not None]
            print(f"进程意外退出：{'、'.join(dead)}，日志见 {root / 'logs'}", file=sys.stderr)
            return 1
    except (_Stop, KeyboardInterrupt):
        print("\n正在停止…", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
        stop(procs)
        print("已停止。", flush=True)
        return 0
    finally:
        stop(procs)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _pad(text: str, width: int = 30) -> str:
    """Left-aligned in a terminal, where a CJK character takes two columns."""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(1, width - shown)


def _print_ready(root: Path, procs: list[DemoProcess]) -> None:
    county = root / "county"
    departments = catalogue_departments(json.loads((county / "catalogue.json").read_text("utf-8")))
    print("\n一切就绪。各角色的登录账号（用户名 / 密码）：", flush=True)
    print(f"\n  县中心后台  {procs[0].url}/login")
    for login in central_logins(departments):
        print(f"    {_pad(login.role_label)} {login.username} / {login.password}")
    for index, p in enumerate(procs[1:], start=1):
        print(f"\n  {p.name}  {p.url}/login")
        for login in node_logins(index):
            print(f"    {_pad(login.role_label)} {login.username} / {login.password}")
    print("\n设备为模拟设备（读卡器、评价器、取号票打印机、高拍仪），在「设备」页面操作。扫描件放入：")
    for index, p in enumerate(procs[1:], start=1):
        print(f"  {p.name}  {scan_folder(root, index)}（在办件页点「开始扫描」后放入 PDF/JPEG/PNG/TIFF）")
    print(
        "\n在中心页面受理一个办件，几秒后县中心相应部门的审核员就能看到；准予或不予后，一分钟内决定回到中心。"
        "按 Ctrl-C 停止。",
        flush=True,
    )
