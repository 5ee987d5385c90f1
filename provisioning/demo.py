"""`onewindow demo`: a demo county with two centres, central and both nodes as real processes on loopback.

Provisions a fresh county into a scratch directory, enrols two nodes from their bundles (through the node's
own CLI, exactly as a centre would), starts everything, waits until each answers, prints URLs and logins,
and stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from provisioning.county import StaffSpec, add_central_user, add_node, init_county

COUNTY = ("梅河口市", "220581")
CENTRES = (
    ("红梅镇便民服务中心", "220581102000"),
    ("海龙镇便民服务中心", "220581103000"),
)
ADMIN_PASSWORD = "county-admin-2026"
REVIEWER = ("reviewer", "后台审核员（民政局）", "review-2026")
CLERK_PASSWORD = "clerk-2026"
LEAD_PASSWORD = "lead-2026"


@dataclass
class DemoProcess:
    name: str
    url: str
    process: subprocess.Popen[bytes]


def _python() -> str:
    return sys.executable


def provision(root: Path, base_port: int) -> list[tuple[str, Path, int]]:
    """Create the county and the two nodes' data directories; returns (name, data dir, port) per node."""
    if root.exists():
        shutil.rmtree(root)
    county_dir = root / "county"
    county = init_county(county_dir, name=COUNTY[0], division=COUNTY[1], admin_password=ADMIN_PASSWORD)
    add_central_user(
        county, username=REVIEWER[0], display_name=REVIEWER[1], role="reviewer", password=REVIEWER[2]
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
                StaffSpec("clerk", "王晓梅（综合窗口）", "window", CLERK_PASSWORD),
                StaffSpec("lead", "李建国（业务负责人）", "lead", LEAD_PASSWORD, authorities=("*",)),
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
    env = dict(os.environ, PYTHONUNBUFFERED="1")
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
    for p in procs:
        if p.process.poll() is None:
            p.process.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.process.kill()


def run_demo(root: Path, *, base_port: int = 8100) -> int:
    root = root.resolve()
    print(f"正在准备演示县「{COUNTY[0]}」和两个便民服务中心（目录 {root}）…", flush=True)
    nodes = provision(root, base_port)
    procs = start(root, nodes, base_port)
    deadline = time.monotonic() + 60
    try:
        for p in procs:
            if not _wait(p.url, deadline):
                print(f"{p.name} 没有在60秒内启动，日志见 {root / 'logs'}", file=sys.stderr)
                return 1
        print("\n一切就绪：", flush=True)
        print(
            f"  县中心后台     {procs[0].url}   账号 {REVIEWER[0]} / {REVIEWER[2]}（审核），admin / {ADMIN_PASSWORD}"
        )
        for p in procs[1:]:
            print(
                f"  {p.name}  {p.url}   账号 clerk / {CLERK_PASSWORD}（窗口），lead / {LEAD_PASSWORD}（负责人）"
            )
        print("\n设备为模拟设备（读卡器、评价器、取号票打印机、高拍仪），在「设备」页面操作。扫描件放入：")
        for index, p in enumerate(procs[1:], start=1):
            print(f"  {p.name}  {scan_folder(root, index)}（在办件页点「开始扫描」后放入 PDF/JPEG/PNG/TIFF）")
        print(
            "\n在中心页面受理一个办件，县中心后台会收到它；准予或不予后，决定回到中心。按 Ctrl-C 停止。",
            flush=True,
        )
        while all(p.process.poll() is None for p in procs):
            time.sleep(0.5)
        dead = [p.name for p in procs if p.process.poll() is not None]
        print(f"进程意外退出：{'、'.join(dead)}，日志见 {root / 'logs'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n正在停止…", flush=True)
        return 0
    finally:
        stop(procs)
