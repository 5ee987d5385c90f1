"""Sneakernet (R-SYNC-9), with the network never up: the courier carries the node's file to the county and the
reply back, through the real `onewindow node export / central import / node import` commands.

Cases and attachments reach central, the decision comes back, importing the same file twice changes nothing,
and a file changed by a single byte is refused whole.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from central.app import create_app as create_central
from central.settings import CentralSettings
from node.app import create_app as create_node
from node.settings import NodeSettings
from tests.backoffice_support import decide
from tests.integration.test_walking_skeleton import accept_one
from tests.support import CLERK, REVIEWER, VALID_IDS, enroll_node_process, provision

TABLES = ("up_entry", "event", '"case"', "blob", "down_entry", "quarantine")


def onewindow(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def central_snapshot(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables that hold what nodes sent and central decided."""
    with sqlite3.connect(db) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


@pytest.mark.slow  # every kind of entry and blob, twice over, by file
async def test_courier_round_trip_with_the_network_never_up(tmp_path: Path) -> None:
    setup = provision(tmp_path, nodes=1, central_url="http://127.0.0.1:9")  # nothing ever listens there
    node_dir, central_dir = tmp_path / "node", tmp_path / "central"
    enroll_node_process(setup.bundles[0], node_dir)
    central_cmd = ("--data", central_dir, "--county-dir", setup.county_dir)

    node_app = create_node(NodeSettings(data_dir=node_dir, sync_enabled=False, clock_interval_s=0))
    async with AsyncTestClient(app=node_app, base_url="http://node.test") as node:
        assert (
            await node.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
        ).status_code == 200

        class _Stack:  # what accept_one needs of a stack
            pass

        stack = _Stack()
        stack.node = node  # type: ignore[attr-defined]
        cases = [await accept_one(stack, VALID_IDS[n], f"村民{n}") for n in range(3)]  # type: ignore[arg-type]

    # At the centre: write the courier's file.
    up1 = tmp_path / "stick" / "hongmei-1.owc"
    exported = onewindow("node", "export", "--data", node_dir, "--out", up1)
    assert exported.returncode == 0, exported.stderr
    assert "条目" in exported.stdout and "附件" in exported.stdout

    # A copy changed by one byte (in the middle, inside an attachment or an entry) is refused whole.
    tampered = tmp_path / "stick" / "tampered.owc"
    raw = bytearray(up1.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    tampered.write_bytes(bytes(raw))
    refused = onewindow("central", "import", tampered, "--out", tmp_path / "never.owc", *central_cmd)
    assert refused.returncode == 1 and "整份拒收" in refused.stderr
    assert not (tmp_path / "never.owc").exists()
    before_any = central_snapshot(central_dir / "central.db")
    assert all(not rows for name, rows in before_any.items())  # nothing of it was kept

    # At the county hall: import, write the reply.
    reply1 = tmp_path / "stick" / "reply-1.owc"
    imported = onewindow("central", "import", up1, "--out", reply1, *central_cmd)
    assert imported.returncode == 0, imported.stderr
    after_first = central_snapshot(central_dir / "central.db")
    with sqlite3.connect(central_dir / "central.db") as conn:
        arrived = {row[0] for row in conn.execute('SELECT case_id FROM "case"')}
        blobs = dict(conn.execute("SELECT sha256, size FROM blob").fetchall())
        status = conn.execute("SELECT status, up_seq FROM node").fetchone()
    assert arrived == {c["case_id"] for c in cases}
    assert status[0] == "active"  # enrolled by courier: its first entry was the enrolment
    with sqlite3.connect(node_dir / "node.db") as conn:
        node_blobs = dict(conn.execute("SELECT sha256, size FROM blob").fetchall())
    assert blobs == node_blobs
    for digest in blobs:
        data = (central_dir / "blobs" / digest[:2] / digest).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest

    # The same file imported again changes nothing and answers with the same receipts.
    reply1b = tmp_path / "stick" / "reply-1b.owc"
    again = onewindow("central", "import", up1, "--out", reply1b, *central_cmd)
    assert again.returncode == 0, again.stderr
    assert "重复 " in again.stdout and "新接收 0" in again.stdout
    assert central_snapshot(central_dir / "central.db") == after_first

    # Back at the centre: receipts kept; importing the reply twice is harmless.
    for reply in (reply1, reply1b, reply1):
        applied = onewindow("node", "import", reply, "--data", node_dir)
        assert applied.returncode == 0, applied.stderr
    with sqlite3.connect(node_dir / "node.db") as conn:
        unreceipted = conn.execute("SELECT count(*) FROM up_entry WHERE receipt IS NULL").fetchone()[0]
        unsent_blobs = conn.execute("SELECT count(*) FROM blob WHERE uploaded_at IS NULL").fetchone()[0]
    assert unreceipted == 0 and unsent_blobs == 0

    # The county decides one case; the decision goes down with the next courier round trip.
    central_app = create_central(CentralSettings(data_dir=central_dir, county_dir=setup.county_dir))
    async with AsyncTestClient(app=central_app, base_url="http://central.test") as central:
        login = await central.post("/api/v1/login", json={"username": REVIEWER[0], "password": REVIEWER[1]})
        assert login.status_code == 200
        decided = await decide(central, cases[0]["case_id"], "approve", "符合条件")
        assert decided.status_code == 200, decided.text
    up2, reply2 = tmp_path / "stick" / "hongmei-2.owc", tmp_path / "stick" / "reply-2.owc"
    assert onewindow("node", "export", "--data", node_dir, "--out", up2).returncode == 0
    assert onewindow("central", "import", up2, "--out", reply2, *central_cmd).returncode == 0
    first = onewindow("node", "import", reply2, "--data", node_dir)
    # The three cases' routing, the decision and its result document's event; the document itself rides along.
    assert first.returncode == 0 and "新事件 5 个" in first.stdout and "结果文书 1 份" in first.stdout, (
        first.stdout
    )
    second = onewindow("node", "import", reply2, "--data", node_dir)
    assert second.returncode == 0 and "新事件 0 个" in second.stdout, second.stdout
    assert "结果文书 0 份" in second.stdout, second.stdout

    node_app = create_node(NodeSettings(data_dir=node_dir, sync_enabled=False, clock_interval_s=0))
    async with AsyncTestClient(app=node_app, base_url="http://node.test") as node:
        await node.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
        at_node = (await node.get(f"/api/v1/cases/{cases[0]['case_id']}")).json()
    assert at_node["status"] == "approved" and at_node["decision"]["reason"] == "符合条件"

    # A reply changed by one byte is refused whole at the node too.
    bad_reply = tmp_path / "stick" / "bad-reply.owc"
    raw = bytearray(reply2.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    bad_reply.write_bytes(bytes(raw))
    refused_at_node = onewindow("node", "import", bad_reply, "--data", node_dir)
    assert refused_at_node.returncode == 1 and "整份拒收" in refused_at_node.stderr
