"""Backups and restores (issue 21, acceptance 6): the restore drill with real processes — the node works, is
backed up while it runs, works on, the machine is lost; its keys come back from the county's safe, the backup
onto another data directory, and after a sync every case is at central exactly once. And the backup's own
promises: resumable, checked, pruned to N generations, the key export sealed by its passphrase."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from central.backup import restore_central
from common.backup import BackupError, list_generations, verify_backup
from node.intake.cases.materials import store_blob
from node.ops.backup import backup_node, export_keys, import_keys, restore_node
from node.sync.client import sync_once
from node.trust.identity import default_key_dir, load_identity
from tests.conftest import Stack, login_node
from tests.integration.test_real_processes import _accept
from tests.integration.test_walking_skeleton import accept_one
from tests.support import (
    CLERK,
    REVIEWER,
    enroll_node_process,
    free_port,
    provision,
    spawn_central,
    spawn_node,
    stop,
    wait_healthy,
)

PASSPHRASE = "county-safe-passphrase"


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        timeout=120,
    )


def wait_synced(node: httpx.Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    status = node.get("/api/v1/sync/status").json()
    while time.monotonic() < deadline:
        queue = status["queue"]
        if not queue["entries"] and not queue["unsealed_events"] and status["link"] == "up":
            return
        time.sleep(0.3)
        status = node.get("/api/v1/sync/status").json()
    raise AssertionError(f"node did not sync: {status}")


def login(client: httpx.Client, who: tuple[str, str]) -> None:
    assert client.post("/api/v1/login", json={"username": who[0], "password": who[1]}).status_code == 200


@pytest.mark.slow
def test_restore_drill_nothing_lost_nothing_doubled(tmp_path: Path) -> None:
    central_port, node_port = free_port(), free_port()
    central_url, node_url = f"http://127.0.0.1:{central_port}", f"http://127.0.0.1:{node_port}"
    setup = provision(tmp_path, nodes=1, central_url=central_url)
    node_dir, backup_dir, key_file = (
        tmp_path / "node",
        tmp_path / "usb" / "backup",
        tmp_path / "safe" / "keys.owk",
    )
    enroll_node_process(setup.bundles[0], node_dir)
    central = spawn_central(setup, tmp_path / "central", central_port, tmp_path / "central.log")
    node = spawn_node(node_dir, node_port, tmp_path / "node.log", sync_interval=0.3)
    restored_node: subprocess.Popen[bytes] | None = None
    try:
        wait_healthy(central_url, central, timeout=120)
        wait_healthy(node_url, node, timeout=120)
        with httpx.Client(base_url=node_url, timeout=10) as client:
            login(client, CLERK)
            items = client.get("/api/v1/items").json()["items"]
            item = min(items, key=lambda i: sum(m["mandatory"] for m in i["materials"]))
            before = {_accept(client, item, n) for n in range(1, 4)}
            wait_synced(client)

            # The county's safe gets the keys once; the nightly backup runs while the node serves.
            exported = cli(
                "export-keys",
                "--data",
                node_dir,
                "--to",
                key_file,
                "--passphrase-env",
                "SAFE",
                env={"SAFE": PASSPHRASE},
            )
            assert exported.returncode == 0, exported.stderr
            backed = cli("backup", "--data", node_dir, "--to", backup_dir, "--keep", "3")
            assert backed.returncode == 0, backed.stderr
            assert "备份完成" in backed.stdout

            # The day goes on: more cases, synced to central, then the machine is lost.
            after = {_accept(client, item, n) for n in range(4, 6)}
            wait_synced(client)
        stop(node)
        shutil.move(node_dir, tmp_path / "lost-node")
        shutil.move(default_key_dir(node_dir), tmp_path / "lost-keys")

        # Another machine: keys from the safe, the backup from the stick, checked first.
        new_dir = tmp_path / "new-machine" / "node"
        assert cli("backup-verify", backup_dir).returncode == 0
        wrong = cli(
            "import-keys", key_file, "--data", new_dir, "--passphrase-env", "SAFE", env={"SAFE": "nope-nope"}
        )
        assert wrong.returncode == 1 and "口令不对" in wrong.stderr
        imported = cli(
            "import-keys", key_file, "--data", new_dir, "--passphrase-env", "SAFE", env={"SAFE": PASSPHRASE}
        )
        assert imported.returncode == 0, imported.stderr
        restored = cli("restore", backup_dir, "--data-dir", new_dir)
        assert restored.returncode == 0, restored.stderr

        restored_node = spawn_node(new_dir, node_port, tmp_path / "node2.log", sync_interval=0.3)
        wait_healthy(node_url, restored_node, timeout=120)
        with httpx.Client(base_url=node_url, timeout=10) as client:
            login(client, CLERK)
            known = {c["case_id"] for c in client.get("/api/v1/cases").json()["cases"]}
            assert before <= known  # the backup's cases are there before any sync
            wait_synced(client)
            later = {_accept(client, item, n) for n in range(6, 8)}
            wait_synced(client)
            numbers = [c["case_number"] for c in client.get("/api/v1/cases").json()["cases"]]
        with httpx.Client(base_url=central_url, timeout=10) as client:
            login(client, REVIEWER)
            arrived = [c["case_id"] for c in client.get("/api/v1/cases").json()["cases"]]
        assert sorted(arrived) == sorted(before | after | later)  # every case, each exactly once
        assert len(numbers) == len(set(numbers))  # no case number used twice after the restore
        with sqlite3.connect(tmp_path / "central" / "central.db") as db:
            assert db.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
            assert db.execute('SELECT count(*), count(DISTINCT case_id) FROM "case"').fetchone() == (7, 7)
            central_head = db.execute("SELECT up_seq FROM node").fetchone()[0]
        with sqlite3.connect(new_dir / "node.db") as db:
            node_head = db.execute("SELECT max(seq) FROM up_entry").fetchone()[0]
            unsent = db.execute("SELECT count(*) FROM up_entry WHERE receipt IS NULL").fetchone()[0]
        assert node_head == central_head and unsent == 0
    finally:
        for proc in (node, restored_node, central):
            if proc is not None:
                stop(proc)


def _store_blobs(node_dir: Path, count: int, size: int) -> list[str]:
    """Blobs written straight into the node's encrypted store (what a scan leaves on disk)."""
    from node.blobs import BlobStore

    identity = load_identity(node_dir)
    store = BlobStore(node_dir / "blobs", identity.data_key)
    return [store.put(os.urandom(size)) for _ in range(count)]


def test_backup_resumes_verifies_prunes_and_restores(tmp_path: Path) -> None:
    setup = provision(tmp_path, nodes=1)
    node_dir, target = tmp_path / "node", tmp_path / "stick"
    enroll_node_process(setup.bundles[0], node_dir)
    identity = load_identity(node_dir)
    digests = _store_blobs(node_dir, 6, 50_000)

    first = backup_node(node_dir, target, identity, keep=2)
    assert (first.blobs, first.blobs_copied, first.blobs_skipped) == (6, 6, 0)
    # A run cut short: two blob files lost from the stick (and a half-written one left behind).
    for digest in digests[:2]:
        (target / "blobs" / digest[:2] / digest).unlink()
    (target / "blobs" / digests[2][:2] / f".{digests[2]}.x.part").write_bytes(b"half")
    more = _store_blobs(node_dir, 1, 10_000)
    second = backup_node(node_dir, target, identity, keep=2)
    assert (second.blobs, second.blobs_copied, second.blobs_skipped) == (7, 3, 4)  # only what was missing
    third = backup_node(node_dir, target, identity, keep=2)
    assert third.blobs_copied == 0 and third.pruned == [first.generation]
    assert list_generations(target) == [second.generation, third.generation]

    _, problems = verify_backup(target)
    assert problems == []
    # The stored copies are the node's encrypted blob files, never plaintext; the state is age.
    assert (target / "blobs" / more[0][:2] / more[0]).read_bytes() == (
        node_dir / "blobs" / more[0][:2] / more[0]
    ).read_bytes()
    state = target / "generations" / third.generation / "state.tar.age"
    assert state.read_bytes().startswith(b"age-encryption.org/v1\n")

    # A changed byte and a changed manifest are each found.
    blob = target / "blobs" / digests[3][:2] / digests[3]
    original = blob.read_bytes()
    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    _, problems = verify_backup(target)
    assert problems == [f"附件文件 {digests[3][:12]}… 与清单不符（已损坏或被改过）"]
    blob.write_bytes(original)
    manifest_path = target / "generations" / third.generation / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["node_name"] = "别的节点"
    manifest_path.write_text(json.dumps(manifest))
    assert verify_backup(target)[1] == ["清单签名不对：清单在备份后被改过"]
    assert verify_backup(target, second.generation)[1] == []

    # Keys to the safe and back; the restore on a fresh directory opens every blob with them.
    safe = tmp_path / "keys.owk"
    export_keys(node_dir, None, safe, PASSPHRASE)
    assert PASSPHRASE.encode() not in safe.read_bytes()
    assert identity.data_key.hex().encode() not in safe.read_bytes()
    new_dir = tmp_path / "elsewhere" / "node"
    import_keys(safe, default_key_dir(new_dir), PASSPHRASE)
    restore_node(target, new_dir, generation=second.generation)
    restored = load_identity(new_dir)
    from node.blobs import BlobStore

    store = BlobStore(new_dir / "blobs", restored.data_key)
    assert all(store.exists(d) for d in [*digests, *more])
    assert store.get(more[0]) == BlobStore(node_dir / "blobs", identity.data_key).get(more[0])
    with sqlite3.connect(new_dir / "node.db") as db:
        assert db.execute("SELECT count(*) FROM up_entry").fetchone()[0] >= 1  # the enrolment entry
    # Restoring over a node's data, or with another node's keys, is refused.
    with pytest.raises(Exception, match="已经有节点数据"):
        restore_node(target, new_dir, generation=second.generation)


async def test_central_backup_is_encrypted_to_the_county_and_restores(stack: Stack, tmp_path: Path) -> None:
    """`onewindow central backup` of the SQLite default while central runs: no plaintext scan on the stick;
    the county's keys restore it, and the restored central holds the same cases and blobs."""
    await login_node(stack)
    case = await accept_one(stack)
    scan = b"%PDF-1.4 " + b"scan of a certificate " * 5000
    async with stack.runtime.db.write() as session:
        digest = await store_blob(
            session, stack.runtime, scan, media_type="application/pdf", filename="s.pdf"
        )
    await sync_once(stack.central, stack.runtime)
    central_dir, target = tmp_path / "central", tmp_path / "county-nas"

    done = subprocess.run(
        [sys.executable, "-m", "central", "backup", "--data", central_dir, "--county-dir",
         stack.setup.county_dir, "--to", target],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = target / "blobs" / digest[:2] / digest
    assert stored.exists() and b"scan of a certificate" not in stored.read_bytes()
    assert all(b"scan of a certificate" not in f.read_bytes() for f in target.rglob("*") if f.is_file())
    _, problems = verify_backup(target)
    assert problems == []

    restored = tmp_path / "central-restored"
    restore_central(target, restored, stack.setup.county_dir)
    assert (restored / "blobs" / digest[:2] / digest).read_bytes() == scan
    with (
        sqlite3.connect(central_dir / "central.db") as live,
        sqlite3.connect(restored / "central.db") as copy,
    ):
        query = 'SELECT case_id, status FROM "case" ORDER BY case_id'
        assert copy.execute(query).fetchall() == live.execute(query).fetchall() != []
        assert (case["case_id"],) in copy.execute('SELECT case_id FROM "case"').fetchall()
    other = tmp_path / "other-county"
    other_setup = provision(other, nodes=1)
    with pytest.raises(BackupError, match="不是本县"):
        restore_central(target, tmp_path / "c3", other_setup.county_dir)
