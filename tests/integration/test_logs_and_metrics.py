"""Issue 21, acceptance 3 and 4, with node and central as real processes logging the way they would under systemd
(one line per event on stderr, captured here in files as journald would keep them):

- a run with cases that carry ID numbers, phones and names, a refused login, a revoked node whose entries are
  quarantined, device plug-in and the back-office jobs logs none of the ID numbers, phones or names; every line is
  one event; every sync round and every quarantine is one line (as many quarantine lines as quarantined rows);
- after the sync, ``GET /metrics`` with the token shows the named series with the values the databases hold
  (entries ingested and quarantined per node, blobs pending, queue, last contact, requests by route, jobs run,
  process memory); without the token 401, at the node too."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol.identifiers import resident_id_check_char
from tests.backoffice_support import make_lead_sync
from tests.integration.test_deploy import alert_series
from tests.support import CLERK, PDF, REVIEWER, enroll_node_process, free_port, provision, stop, wait_healthy

TOKEN = "metrics-token-for-the-test-0123456789"
NAMES = ("李建国", "王秀英", "刘德明", "陈静怡", "杨振华", "赵淑芬", "黄志强", "周玉兰")
#: One line per event: our formatter's shape and nothing else (no bare traceback line, no uvicorn banner).
LINE = re.compile(r"^ts=\S+ level=(debug|info|warning|error|critical) logger=\S+ (event|msg)=")


def _id_number(n: int) -> str:
    first17 = f"22058119850312{n:03d}"
    return first17 + resident_id_check_char(first17)


def _phone(n: int) -> str:
    return f"139{n:08d}"


def _spawn(args: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    environ = dict(os.environ, PYTHONUNBUFFERED="1", ONEWINDOW_LOG_LEVEL="INFO", **env)
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, env=environ)


def _accept(node: httpx.Client, item: dict[str, Any], n: int) -> str:
    applicant = {"name": NAMES[n % len(NAMES)], "cert_number": _id_number(n), "phone": _phone(n)}
    created = node.post("/api/v1/cases", json={"item_code": item["code"], "applicant": applicant})
    assert created.status_code == 201, created.text
    case_id: str = created.json()["case_id"]
    for material in item["materials"]:
        if material["mandatory"]:
            response = node.post(
                f"/api/v1/cases/{case_id}/materials",
                data={"material_id": material["id"]},
                files={"file": ("scan.pdf", PDF, "application/pdf")},
            )
            assert response.status_code == 201, response.text
    accepted = node.post(f"/api/v1/cases/{case_id}/accept")
    assert accepted.status_code == 200, accepted.text
    return case_id


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples of a Prometheus text exposition: (name, labels) → value; every line must parse."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert not line or re.match(r"^# (HELP|TYPE) \S+ ", line), line
            continue
        found = sample.match(line)
        assert found, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', found.group(2) or ""))
        samples[(found.group(1), labels)] = float(found.group(3))
    return samples


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    hits = [v for (n, ls), v in samples.items() if n == name and want <= ls]
    assert hits, f"no sample {name} {labels}"
    return sum(hits)


def _wait_synced(
    node: httpx.Client, *, timeout: float = 60
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Node metrics once nothing is queued and the last round succeeded."""
    deadline = time.monotonic() + timeout
    while True:
        samples = parse_metrics(node.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text)
        done = (
            _value(samples, "onewindow_node_queue_entries") == 0
            and _value(samples, "onewindow_node_unsealed_events") == 0
            and _value(samples, "onewindow_node_link_up") == 1
        )
        if done or time.monotonic() > deadline:
            return samples
        time.sleep(0.3)


@pytest.mark.slow
def test_a_run_logs_one_line_per_event_with_no_personal_data_and_metrics_match_the_sync(
    tmp_path: Path,
) -> None:
    central_port, node_port = free_port(), free_port()
    central_url, node_url = f"http://127.0.0.1:{central_port}", f"http://127.0.0.1:{node_port}"
    setup = provision(tmp_path, nodes=1, central_url=central_url)
    bundle = setup.bundles[0]
    node_dir, central_dir = tmp_path / "node", tmp_path / "central"
    central_log, node_log = tmp_path / "central.log", tmp_path / "node.log"
    enroll_node_process(bundle, node_dir)
    central_args = [
        "-m",
        "central",
        "serve",
        "--data",
        str(central_dir),
        "--county-dir",
        str(setup.county_dir),
    ]
    central = _spawn(
        [*central_args, "--port", str(central_port)],
        central_log,
        ONEWINDOW_CENTRAL_METRICS_TOKEN=TOKEN,
        ONEWINDOW_BACKOFFICE_JOBS_S="0.5",
    )
    node_args = [
        "-m",
        "node",
        "serve",
        "--data",
        str(node_dir),
        "--port",
        str(node_port),
        "--sync-interval",
        "0.3",
    ]
    node_proc = _spawn([*node_args, "--simulate-devices"], node_log, ONEWINDOW_NODE_METRICS_TOKEN=TOKEN)
    try:
        wait_healthy(central_url, central, timeout=120)
        wait_healthy(node_url, node_proc, timeout=120)
        with (
            httpx.Client(base_url=node_url, timeout=15) as node,
            httpx.Client(base_url=central_url, timeout=15) as c,
        ):
            # A refused login (its password must not reach the log either).
            bad = node.post("/api/v1/login", json={"username": CLERK[0], "password": "wrong-password-xyz"})
            assert bad.status_code == 401
            assert (
                node.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]}).status_code
                == 200
            )
            items = node.get("/api/v1/items").json()["items"]
            item = min(items, key=lambda i: sum(m["mandatory"] for m in i["materials"]))
            case_ids = [_accept(node, item, n) for n in range(1, 7)]
            # A search by ID number and by phone: the query string never reaches the log.
            assert (
                node.get("/api/v1/cases", params={"q": _id_number(1), "phone": _phone(1)}).status_code == 200
            )
            node_samples = _wait_synced(node)
            # The back office decides two cases (a refused login first); decisions and result documents come down.
            bad = c.post("/api/v1/login", json={"username": REVIEWER[0], "password": "not-my-password"})
            assert bad.status_code == 401
            make_lead_sync(c, case_ids[0])
            decided = c.post(
                f"/api/v1/cases/{case_ids[0]}/decision", json={"outcome": "approve", "reason": "符合条件"}
            )
            assert decided.status_code == 200, decided.text
            make_lead_sync(c, case_ids[1])
            denied = c.post(
                f"/api/v1/cases/{case_ids[1]}/decision", json={"outcome": "deny", "reason": "材料不符"}
            )
            assert denied.status_code == 200, denied.text
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                statuses = {node.get(f"/api/v1/cases/{i}").json()["status"] for i in case_ids[:2]}
                if statuses == {"approved", "denied"}:
                    break
                time.sleep(0.3)
            assert statuses == {"approved", "denied"}
            node_samples = _wait_synced(node)
            assert _value(node_samples, "onewindow_node_queue_entries") == 0
            deadline = time.monotonic() + 60
            while _value(node_samples, "onewindow_node_blobs_pending") and time.monotonic() < deadline:
                time.sleep(0.3)
                node_samples = _wait_synced(node)
            assert _value(node_samples, "onewindow_node_blobs_pending") == 0

            # Metrics: the gate, then the figures against what the two databases hold.
            assert c.get("/metrics").status_code == 401
            assert c.get("/metrics", headers={"authorization": "Bearer not-the-token"}).status_code == 401
            assert node.get("/metrics").status_code == 401
            answer = c.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
            samples = parse_metrics(answer.text)
            # The queue central shows is what the node reported at its last reconcile (the start of a round):
            # the round after the last push reports it empty.
            # The node goes on sealing (a result document fetched is an event too): compare once both ends hold
            # the same log, i.e. the scrape agrees with the node's database read just before it.
            node_label = {"node": bundle.node_id}
            deadline = time.monotonic() + 60
            while True:
                with sqlite3.connect(node_dir / "node.db") as db:
                    node_entries = db.execute("SELECT count(*) FROM up_entry").fetchone()[0]
                samples = parse_metrics(c.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text)
                settled = (
                    _value(samples, "onewindow_central_node_queue_entries", **node_label) == 0
                    and _value(samples, "onewindow_central_entries_ingested", **node_label) == node_entries
                )
                if settled or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            with sqlite3.connect(central_dir / "central.db") as db:
                central_entries = db.execute("SELECT count(*) FROM up_entry").fetchone()[0]
            assert node_entries >= 7  # the enrolment and the six cases
            assert _value(samples, "onewindow_central_entries_ingested", **node_label) == node_entries
            assert central_entries == node_entries
            assert _value(samples, "onewindow_central_entries_quarantined", **node_label) == 0
            assert _value(samples, "onewindow_central_blobs_pending", **node_label) == 0
            assert _value(samples, "onewindow_central_node_queue_entries", **node_label) == 0
            assert _value(samples, "onewindow_central_nodes", status="active") == 1
            contact = _value(samples, "onewindow_central_node_last_contact_timestamp_seconds", **node_label)
            assert abs(contact - time.time()) < 120
            pushes = _value(
                samples, "onewindow_central_http_requests_total", route="/sync/v1/up", status="200"
            )
            assert pushes >= 1
            assert _value(
                samples, "onewindow_central_http_request_duration_seconds_count", route="/sync/v1/up"
            ) == (_value(samples, "onewindow_central_http_requests_total", route="/sync/v1/up"))
            assert _value(samples, "onewindow_central_job_runs_total", outcome="ok") >= 1
            assert _value(samples, "onewindow_central_cases_overdue") == 0
            assert _value(samples, "process_resident_memory_bytes") > 10_000_000
            assert _value(node_samples, "onewindow_node_devices", kind="idcard", state="connected") == 1
            # The alert rules in deploy/prometheus/alerts.yml use only series the two ends export.
            exported = {name for name, _ in samples} | {name for name, _ in node_samples}
            assert alert_series() <= exported, alert_series() - exported
            assert (
                _value(
                    node_samples, "onewindow_node_http_requests_total", route="/api/v1/cases", status="201"
                )
                == 6
            )

            # Revoke the node: what it signs afterwards is quarantined at central, each entry one log line.
            revoked = subprocess.run(
                [
                    str(Path(sys.executable).parent / "onewindow"),
                    "provision",
                    "revoke-node",
                    "1",
                    "--dir",
                    str(setup.county_dir),
                    "--reason",
                    "设备被盗",
                ],
                capture_output=True,
                text=True,
            )
            assert revoked.returncode == 0, revoked.stderr
            time.sleep(1.0)  # central takes the registry change at its next request
            c.get("/healthz")
            for n in range(7, 9):
                _accept(node, item, n)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                samples = parse_metrics(c.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text)
                if _value(samples, "onewindow_central_entries_quarantined", **node_label) >= 2:
                    break
                time.sleep(0.3)
            quarantined = _value(samples, "onewindow_central_entries_quarantined", **node_label)
            assert quarantined >= 2
            assert _value(samples, "onewindow_central_quarantine_open", **node_label) == quarantined
    finally:
        stop(node_proc)
        stop(central)

    with sqlite3.connect(central_dir / "central.db") as db:
        quarantine_rows = db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    logs = {"node": node_log.read_text("utf-8"), "central": central_log.read_text("utf-8")}
    for which, text in logs.items():
        for n in range(1, 9):
            for secret in (_id_number(n), _phone(n), NAMES[n % len(NAMES)]):
                assert secret not in text, f"{which} log holds {secret!r}"
        for password in ("wrong-password-xyz", "not-my-password", CLERK[1], REVIEWER[1]):
            assert password not in text
        lines = text.splitlines()
        assert lines, which
        strays = [line for line in lines if line and not LINE.match(line)]
        assert not strays, f"{which}: lines that are not one event each: {strays[:5]}"
    node_lines, central_lines = logs["node"].splitlines(), logs["central"].splitlines()

    rounds = [line for line in node_lines if " event=sync_round " in line]
    assert len(rounds) >= 3
    assert all(" ok=" in line and " duration_ms=" in line for line in rounds)
    assert any(" ok=true " in line and " sent=" in line for line in rounds)
    quarantines = [line for line in central_lines if " event=quarantine " in line]
    assert len(quarantines) == quarantine_rows >= quarantined  # the node may seal more after the scrape
    assert all(f"node={bundle.node_id}" in line and "code=OW-1210" in line for line in quarantines)
    assert [line for line in central_lines if " event=ingest " in line]
    assert [line for line in central_lines if " event=jobs_run " in line]
    for lines in (node_lines, central_lines):
        failed = [line for line in lines if " event=login_failed " in line]
        assert len(failed) == 1 and "status=401" in failed[0]
    assert [line for line in node_lines if " event=device_plugged " in line and "kind=idcard" in line]
    requests = [line for line in node_lines if " event=request " in line and "route=/api/v1/cases " in line]
    shape = (
        r" id=\w+ method=(GET|POST) path=/api/v1/cases route=/api/v1/cases status=20[01] duration_ms=[\d.]+ "
    )
    assert len(requests) == 9 and all(re.search(shape, line) for line in requests), requests[
        :2
    ]  # 8 cases, 1 search
