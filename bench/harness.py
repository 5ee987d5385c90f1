"""What the scenarios share: a provisioned county on disk, central as a real process, nodes enrolled with the
real code, synthetic but realistic case events, a byte-counting (and optionally rate-limited) TCP proxy, and
the results file.

Synthetic cases are clones of one case taken through the real intake services (receive, attach every mandatory
material, accept): new ids, case numbers unique per node, the same payload shapes and sizes.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from node.boot import open_runtime
from node.db import migrate
from node.enrolment import enroll
from node.models import CaseEvent
from node.runtime import NodeRuntime
from node.staff import Actor
from node.sync.log import seal_pending
from protocol.events import Event, event_columns
from protocol.ids import uuid7
from provisioning.county import County, NodeBundle, StaffSpec, add_node, init_county

ROOT = Path(__file__).resolve().parents[1]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CLERK = ("clerk", "bench-clerk-1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


@dataclass
class Figure:
    """One measured figure, with its unit, its target and (for ratios) the baseline it is compared with."""

    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    baseline: float | None = None
    note: str = ""

    def line(self) -> str:
        verdict = "" if self.ok is None else ("  ✔" if self.ok else "  ✘")
        base = f"  (baseline {self.baseline:,.1f} {self.unit})" if self.baseline is not None else ""
        target = f"  target {self.target}" if self.target else ""
        return f"  {self.name:<46} {self.value:>12,.2f} {self.unit:<8}{target}{base}{verdict}"


@dataclass
class Results:
    quick: bool
    machine: dict[str, Any] = field(default_factory=machine)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    scenarios: dict[str, list[Figure]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: The load average (1, 5, 15 min) as each scenario started: the machine is shared.
    load: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, scenario: str, figure: Figure) -> Figure:
        self.scenarios.setdefault(scenario, []).append(figure)
        print(figure.line(), flush=True)
        return figure

    def to_json(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "machine": self.machine,
            "started_at": self.started_at,
            "scenarios": {name: [f.__dict__ for f in figures] for name, figures in self.scenarios.items()},
            "errors": self.errors,
            "load_average": self.load,
            "notes": self.notes,
        }

    def summary(self) -> str:
        lines = [f"OneWindow Edge benchmarks — {self.started_at}{' (quick sizes)' if self.quick else ''}"]
        m = self.machine
        lines.append(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}")
        for name, figures in self.scenarios.items():
            lines.append(name)
            lines.extend(f.line() for f in figures)
            if name in self.notes:
                lines.append(f"  note: {self.notes[name]}")
        for key, load in self.load.items():
            lines.append(f"load average as {key} started: {' '.join(f'{x:.2f}' for x in load)}")
        for name, error in self.errors.items():
            lines.append(f"{name}: FAILED TO RUN: {error}")
        return "\n".join(lines)


class BenchCounty:
    """A county on disk with `nodes` registered nodes (numbers 1…99: the county's numbering allows 99)."""

    def __init__(self, root: Path, nodes: int, central_port: int) -> None:
        self.root = root
        self.central_port = central_port
        self.central_url = f"http://127.0.0.1:{central_port}"
        self.county: County = init_county(
            root / "county", name="梅河口市", division="220581", admin_password="bench-admin-1"
        )
        self.bundles: list[NodeBundle] = [
            add_node(
                self.county,
                name=f"基准{i}号便民服务中心",
                division=f"220581{100 + i:03d}000",
                central_urls=[self.central_url],
                out=root / "bundles" / f"node{i}.bundle",
                staff=[
                    StaffSpec(CLERK[0], "窗口", "window", CLERK[1]),
                    StaffSpec("lead", "负责人", "lead", "bench-lead-1"),
                ],
            )
            for i in range(1, nodes + 1)
        ]

    async def enroll(self, index: int) -> Path:
        """Enrol node `index` with the real code. Its database starts as a copy of one migrated once (the
        schema is the same for every node; migrating 99 databases one by one would dominate the setup)."""
        data = self.root / f"node{index + 1}"
        template = self.root / "migrated-node.db"
        if not template.exists():
            migrate(template)
        data.mkdir(parents=True)
        shutil.copyfile(template, data / "node.db")
        await enroll(
            self.bundles[index].bundle_path, data, expected_county=self.bundles[index].county_fingerprint
        )
        return data


def spawn(
    args: list[str], log: Path, env: dict[str, str] | None = None, prefix: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """Python with `args` (after `prefix`, e.g. ``taskset -c 0``)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*(prefix or []), sys.executable, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=ROOT,
        )


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Seconds until `url`/healthz answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(url)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_central(
    county: BenchCounty, log_dir: Path, *, data: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Central as a real process on the county's port (`env` may carry DATABASE_URL for PostgreSQL)."""
    process = spawn(
        [
            "-m",
            "central",
            "serve",
            "--data",
            str(data or county.root / "central"),
            "--county-dir",
            str(county.county.path),
            "--port",
            str(county.central_port),
        ],
        log_dir / "central.log",
        env,
    )
    wait_healthy(county.central_url, process)
    return process


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the node's PDF worker counts too)."""
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += rss_mb(int(child))
    except OSError:
        pass  # the process (or a child) ended meanwhile
    return total


# ---- synthetic cases ------------------------------------------------------------------------------------


async def template_case(runtime: NodeRuntime) -> list[Event]:
    """One case through the real services: received, every mandatory material attached, accepted."""
    from node.events import case_events
    from node.intake.cases.applicants import Applicant
    from node.intake.cases.materials import attach_material
    from node.intake.cases.outcomes import accept_case
    from node.intake.cases.receive import receive_case

    actor = Actor(username=CLERK[0], role="window")
    item = min(
        (i for i in runtime.catalogue.items if i.case_type != 1),
        key=lambda i: sum(m.mandatory for m in i.materials),
    )
    state = await receive_case(
        runtime,
        actor=actor,
        item_code=item.code,
        applicant=Applicant(
            name="基准申请人", cert_type="111", cert_number="11010519491231002X", phone="13800000000"
        ),
    )
    for material in item.materials:
        if material.mandatory:
            await attach_material(
                runtime,
                actor=actor,
                case_id=state.case_id,
                material_id=material.id,
                filename="scan.pdf",
                data=PDF,
            )
    await accept_case(runtime, actor=actor, case_id=state.case_id)
    async with runtime.db.read() as session:
        return sorted(await case_events(session, state.case_id), key=lambda e: (e.hlc, e.id))


def clone_case(
    template: list[Event], *, node_id: str, node_number: int, serial: int, hlc: int
) -> list[Event]:
    """A new case shaped exactly like `template`."""
    case_id = uuid7()
    events = []
    for k, event in enumerate(template):
        payload = dict(event.payload)
        if "case_number" in payload:
            payload["case_number"] = f"BENCH{node_number:02d}{serial:08d}"
        events.append(
            Event(uuid7(), case_id, event.type, node_id, event.actor, hlc + k, payload, event.schema)
        )
    return events


async def queue_cases(
    runtime: NodeRuntime,
    template: list[Event],
    count: int,
    *,
    seal_every: int = 1,
    per_transaction: int = 100,
) -> int:
    """Store `count` cloned cases as local events and seal them, one entry per `seal_every` cases (the window
    seals at each acceptance: 1), committing every `per_transaction` cases; returns the events stored."""
    stored = 0
    hlc = runtime.clock.now()
    session_cases = 0
    pending: list[CaseEvent] = []

    async def flush(session: Any) -> None:
        session.add_all(pending)
        await session.flush()
        await seal_pending(session, runtime)
        pending.clear()

    n = 0
    while n < count:
        async with runtime.db.write() as session:
            session_cases = 0
            while n < count and session_cases < per_transaction:
                for event in clone_case(
                    template, node_id=runtime.node_id, node_number=runtime.identity.number, serial=n, hlc=hlc
                ):
                    pending.append(CaseEvent(**event_columns(event), origin="local"))
                stored += len(template)
                hlc += len(template) + 1
                n += 1
                session_cases += 1
                if n % seal_every == 0 or n == count:
                    await flush(session)
    runtime.clock.observe(hlc)
    return stored


async def open_node(data: Path) -> NodeRuntime:
    return await open_runtime(data)


# ---- a byte-counting, optionally rate-limited TCP proxy -------------------------------------------------


class CountingProxy:
    """Forwards 127.0.0.1:port → target, counting bytes each way; `rate` limits client→server (bytes/s)."""

    def __init__(self, target_port: int, rate: float | None = None) -> None:
        self.target_port = target_port
        self.rate = rate
        self.port = free_port()
        self.up = 0
        self.down = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
        try:
            while data := await reader.read(65536):
                if upstream and self.rate:
                    # Send in slices so the link's rate holds within each request as well.
                    for start in range(0, len(data), 4096):
                        piece = data[start : start + 4096]
                        await asyncio.sleep(len(piece) / self.rate)
                        writer.write(piece)
                        self.up += len(piece)
                        await writer.drain()
                    continue
                if upstream:
                    self.up += len(data)
                else:
                    self.down += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except RuntimeError:
                pass

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            self._pipe(client_reader, server_writer, True), self._pipe(server_reader, client_writer, False)
        )

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def main() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            self._ready.set()
            async with self._server:
                await self._server.serve_forever()

        try:
            loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass

    def __enter__(self) -> CountingProxy:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
            for task in asyncio.all_tasks(self._loop):
                self._loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(5)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Scratch:
    """A scratch directory removed at the end (kept with ONEWINDOW_BENCH_KEEP=1)."""

    path: Path

    def __enter__(self) -> Path:
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        return self.path

    def __exit__(self, *_exc: object) -> None:
        if not os.environ.get("ONEWINDOW_BENCH_KEEP"):
            shutil.rmtree(self.path, ignore_errors=True)


def write_results(results: Results, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results.to_json(), ensure_ascii=False, indent=2), "utf-8")
    (out.parent / "results.txt").write_text(results.summary() + "\n", "utf-8")


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
