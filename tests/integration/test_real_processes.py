"""Node and central as separate operating-system processes over real sockets: the window keeps working while
central is down, and everything queued arrives exactly once when it comes up."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol.identifiers import resident_id_check_char
from protocol.keys import VerifyKey
from protocol.log import Receipt
from tests.support import (
    CLERK,
    PDF,
    REVIEWER,
    enroll_node_process,
    free_port,
    provision,
    spawn_central,
    spawn_node,
    stop,
    wait_healthy,
)

CASES = 20


def _id_number(n: int) -> str:
    first17 = f"22058119800101{n:03d}"
    return first17 + resident_id_check_char(first17)


def _accept(node: httpx.Client, item: dict[str, Any], n: int) -> str:
    created = node.post(
        "/api/v1/cases",
        json={"item_code": item["code"], "applicant": {"name": f"申请人{n}", "cert_number": _id_number(n)}},
    )
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
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text
    return case_id


@pytest.mark.slow
def test_cases_accepted_while_central_is_down_arrive_exactly_once(tmp_path: Path) -> None:
    central_port, node_port = free_port(), free_port()
    central_url, node_url = f"http://127.0.0.1:{central_port}", f"http://127.0.0.1:{node_port}"
    setup = provision(tmp_path, nodes=1, central_url=central_url)
    bundle = setup.bundles[0]
    node_dir = tmp_path / "node"
    enroll_node_process(bundle, node_dir)
    node_proc = spawn_node(node_dir, node_port, tmp_path / "node.log", sync_interval=0.3)
    central_proc: subprocess.Popen[bytes] | None = None
    try:
        wait_healthy(node_url, node_proc)
        with httpx.Client(base_url=node_url, timeout=10) as node:
            assert (
                node.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]}).status_code
                == 200
            )
            items = node.get("/api/v1/items").json()["items"]
            item = min(items, key=lambda i: sum(m["mandatory"] for m in i["materials"]))
            case_ids = {_accept(node, item, n) for n in range(1, CASES + 1)}
            assert len(case_ids) == CASES

            status = node.get("/api/v1/sync/status").json()
            # The enrolment entry and the cases' events, sealed at each acceptance (and by the sync loop's rounds).
            assert status["queue"]["entries"] >= 2 and status["queue"]["receipted_seq"] == 0
            assert status["queue"]["unsealed_events"] == 0
            assert status["link"] == "down"
            assert status["certificate"] is None  # enrolled offline, not yet activated by central

            central_proc = spawn_central(setup, tmp_path / "central", central_port, tmp_path / "central.log")
            wait_healthy(central_url, central_proc)
            deadline = time.monotonic() + 60
            # The queue empties when the receipts are kept; the link is marked up when the round (push, then
            # pull) ends, a moment later. Wait for both.
            status = node.get("/api/v1/sync/status").json()
            while (status["queue"]["entries"] or status["link"] != "up") and time.monotonic() < deadline:
                time.sleep(0.3)
                status = node.get("/api/v1/sync/status").json()
            assert status["queue"]["entries"] == 0, status
            assert status["link"] == "up"
            # Central activated the node and returned its certificate: this node's own keys, county-signed.
            certificate = status["certificate"]
            assert certificate["node_id"] == bundle.node_id and certificate["enrolled_at"]
            page = node.get("/sync", headers={"accept": "text/html"}).text
            assert "已由县中心激活" in page
            assert {c["sync_state"] for c in node.get("/api/v1/cases").json()["cases"]} == {"delivered"}

        with httpx.Client(base_url=central_url, timeout=10) as central:
            assert (
                central.post(
                    "/api/v1/login", json={"username": REVIEWER[0], "password": REVIEWER[1]}
                ).status_code
                == 200
            )
            arrived = central.get("/api/v1/cases").json()["cases"]
            nodes = central.get("/api/v1/nodes").json()["nodes"]
        assert [(n["node_id"], n["status"]) for n in nodes] == [(bundle.node_id, "active")]
        assert certificate["sign_key"] == nodes[0]["sign_key"]
        assert sorted(c["case_id"] for c in arrived) == sorted(case_ids)  # every case, each once
        assert {c["status"] for c in arrived} == {"accepted"}

        county_key = VerifyKey.from_text(
            json.loads((setup.county_dir / "county.json").read_text())["sign_key"]
        )
        with sqlite3.connect(node_dir / "node.db") as db:
            rows = list(db.execute("SELECT seq, entry_hash, receipt FROM up_entry ORDER BY seq"))
            local_events = db.execute("SELECT count(*) FROM event WHERE origin = 'local'").fetchone()[0]
        assert [seq for seq, _, _ in rows] == list(range(1, len(rows) + 1))
        for seq, entry_hash, receipt_json in rows:
            receipt = Receipt.from_wire(json.loads(receipt_json))
            receipt.verify(county_key)
            assert (receipt.seq, receipt.entry_hash, receipt.node_id) == (seq, entry_hash, bundle.node_id)
        with sqlite3.connect(tmp_path / "central" / "central.db") as db:
            assert db.execute("SELECT count(*) FROM up_entry").fetchone()[0] == len(rows)
            assert db.execute("SELECT count(*) FROM event").fetchone()[0] == local_events
            assert db.execute('SELECT count(DISTINCT case_number) FROM "case"').fetchone()[0] == CASES
    finally:
        stop(node_proc)
        if central_proc is not None:
            stop(central_proc)
