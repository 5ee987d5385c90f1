"""Test support: provision a real county on disk, enrol nodes, run node and central in-process or as real
processes. Real files, real crypto, real HTTP; nothing here fakes a part of the product."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from provisioning.county import County, NodeBundle, StaffSpec, add_central_user, add_node, init_county

CLERK = ("clerk", "clerk-pass-1")
LEAD = ("lead", "lead-pass-1")
REVIEWER = ("reviewer", "reviewer-pass-1")
NODE_ADMIN = ("nodeadmin", "nodeadmin-pass-1")
VALID_IDS = ("11010519491231002X", "440524188001010014", "34052419800101001X")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class FakeClock:
    """The node's wall clock in tests where the legal clocks matter: real time until `set`, then only moved by
    the test. Callable, so it plugs in where the app takes ``now``."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self._fixed if self._fixed is not None else datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._fixed = moment

    def advance(self, **delta: float) -> None:
        self.set(self() + timedelta(**delta))


@dataclass
class CountySetup:
    root: Path
    county: County
    bundles: list[NodeBundle]
    # Where a copy of this county's first node, already enrolled, and central's migrated data directory lie
    # (`county_template`); None when the test provisioned the county itself.
    enrolled: Path | None = None

    @property
    def county_dir(self) -> Path:
        return self.county.path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def provision(root: Path, *, nodes: int = 1, central_url: str = "http://central.test") -> CountySetup:
    county = init_county(root / "county", name="梅河口市", division="220581", admin_password="admin-pass-1")
    add_central_user(
        county, username=REVIEWER[0], display_name="审核员", role="reviewer", password=REVIEWER[1]
    )
    bundles = [
        add_node(
            county,
            name=f"测试{i}号便民服务中心",
            division=f"2205811{i:02d}000",
            central_urls=[central_url],
            out=root / f"node{i}.bundle",
            staff=[
                StaffSpec(CLERK[0], "窗口", "window", CLERK[1]),
                StaffSpec(LEAD[0], "负责人", "lead", LEAD[1], authorities=("*",)),
                StaffSpec(NODE_ADMIN[0], "节点管理员", "node_admin", NODE_ADMIN[1]),
            ],
        )
        for i in range(1, nodes + 1)
    ]
    return CountySetup(root, county, bundles)


def build_template(root: Path) -> CountySetup:
    """Provision a county once, enrol its first node and migrate central's database, so that each test copies
    the result (`copy_template`) instead of paying for eight scrypt hashes and two migration chains again.
    The copy is the same real county: its keys, bundles, node database and central database on disk."""
    import asyncio

    from litestar.testing import TestClient

    from central.app import create_app as create_central
    from central.settings import CentralSettings
    from node.app import create_app as create_node
    from node.enrolment import enroll
    from node.settings import NodeSettings

    setup = provision(root, nodes=2)
    enrolled = root / "enrolled"
    bundle = setup.bundles[0]
    asyncio.run(enroll(bundle.bundle_path, enrolled / "node1", expected_county=bundle.county_fingerprint))
    with TestClient(
        create_central(CentralSettings(data_dir=enrolled / "central", county_dir=setup.county_dir))
    ):
        pass
    with TestClient(
        create_node(NodeSettings(data_dir=enrolled / "node1", sync_enabled=False, clock_interval_s=0))
    ):
        pass
    return replace(setup, enrolled=enrolled)


def copy_template(template: CountySetup, dest: Path) -> CountySetup:
    """A private copy of the template county in `dest` (the county folder, its bundles and QR codes); the enrolled
    node and central stay in the template until `copy_enrolled` asks for them."""
    for entry in template.root.iterdir():
        if entry.name == "enrolled":
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name)
        else:
            shutil.copy2(entry, dest / entry.name)
    bundles = [
        replace(b, bundle_path=dest / b.bundle_path.name, qr_path=dest / b.qr_path.name)
        for b in template.bundles
    ]
    return CountySetup(dest, County(dest / template.county.path.name), bundles, template.enrolled)


def copy_enrolled(setup: CountySetup, node_dir: Path, central_dir: Path) -> bool:
    """Put the template's enrolled first node (with its key folder beside it) at `node_dir` and central's migrated
    data directory at `central_dir`; False when the county has no template, and the caller enrols for itself."""
    if setup.enrolled is None:
        return False
    from node.trust.identity import default_key_dir

    source = setup.enrolled / "node1"
    shutil.copytree(source, node_dir)
    shutil.copytree(default_key_dir(source), default_key_dir(node_dir))
    shutil.copytree(setup.enrolled / "central", central_dir)
    return True


def require_tool(name: str) -> str:
    """The tool's path; skipped when absent, but a failure in CI where ONEWINDOW_REQUIRE_TOOLS is set."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("ONEWINDOW_REQUIRE_TOOLS"):
            pytest.fail(f"{name} is required in CI but not installed")
        pytest.skip(f"{name} not installed")
    return path


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy in {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


POSTGRES_ADMIN_URL = os.environ.get(
    "ONEWINDOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards. Skipped where PostgreSQL is not reachable
    (a failure instead when ONEWINDOW_REQUIRE_POSTGRES is set, as in CI)."""
    import uuid

    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("ONEWINDOW_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"ow_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def enroll_node_process(bundle: NodeBundle, data: Path) -> None:
    """Enrol a node with the real CLI, pinned to the county fingerprint, as a centre would."""
    subprocess.run(
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
        check=True,
        capture_output=True,
    )


def spawn_central(setup: CountySetup, data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Central as its own process on loopback."""
    return spawn(
        [
            "-m",
            "central",
            "serve",
            "--data",
            str(data),
            "--county-dir",
            str(setup.county_dir),
            "--port",
            str(port),
        ],
        log,
    )


def spawn_node(data: Path, port: int, log: Path, *, sync_interval: float = 0.5) -> subprocess.Popen[bytes]:
    """A node as its own process on loopback, syncing every `sync_interval` seconds."""
    return spawn(
        [
            "-m",
            "node",
            "serve",
            "--data",
            str(data),
            "--port",
            str(port),
            "--sync-interval",
            str(sync_interval),
        ],
        log,
    )
