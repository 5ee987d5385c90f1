"""Data at rest on the node (issue 6, R-SEC-1, acceptance 5): a copy of the node's data directory without the key
directory reveals no ID number, phone number, ID photo or scan.

One case goes the whole way through the real node with simulated devices: the applicant's card is read at the
window (its number, made up for this run, has a valid GB 11643 check character; its photo is random bytes), a
phone number is typed, a page is scanned through the hot folder (a real JPEG carrying a random 64-byte marker),
the case is accepted, decided on the spot, issued, synced to central, archived (the package is a blob) and put in
a courier file (spool files). Then every file under the data directory — the database and its WAL while the node
still runs, again after it stopped, blobs, spool, courier file — is searched for those bytes; and with the key
directory the node opens again and shows the case with the ID number and the scan, so nothing passed by losing
data. A node enrolled before (keys in ``<data>/keys``, plaintext columns) keeps working, says where its keys should
go, and is encrypted on its first open. The keys sealed with a passphrase: a wrong one stops the node with a clear
message, the right one starts it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from central.app import create_app as create_central
from central.settings import CentralSettings
from node.app import create_app as create_node
from node.archive.service import archive_case
from node.boot import open_runtime
from node.cli import build_parser, run
from node.devices.camera import drop_into_folder
from node.devices.sam import IdCard
from node.enrolment import enroll
from node.events import get_case
from node.intake.cases.applicants import Applicant
from node.intake.cases.receive import receive_case
from node.runtime import NodeRuntime
from node.settings import NodeSettings
from node.staff import Actor
from node.sync.client import sync_once
from node.sync.courier import export_courier_file
from node.trust.identity import default_key_dir, is_inside, load_identity
from node.trust.keyseal import PassphraseRequired, WrongPassphrase
from protocol.identifiers import resident_id_check_char
from tests.conftest import Stack
from tests.integration.test_devices_node import _all_connected, eventually
from tests.support import LEAD, VALID_IDS, CountySetup, FakeClock, free_port, stop, wait_healthy
from tests.unit.protocol.test_archive import LEAD_ACTOR, PENSION_ENROL, jpeg, pdf, signature_png


def made_up_id_number() -> str:
    """A resident ID number no fixture uses: 梅河口 (220581), born 1987-04-23, a random male serial."""
    serial = f"{secrets.randbelow(100):02d}{secrets.choice('13579')}"
    first17 = f"22058119870423{serial}"
    return first17 + resident_id_check_char(first17)


def marked_jpeg(marker: bytes) -> bytes:
    """A real JPEG (Pillow) with the marker in a comment segment (COM) right after the start of image."""
    image = jpeg((96, 64), quality=80)
    segment = b"\xff\xfe" + (len(marker) + 2).to_bytes(2, "big") + marker
    return image[:2] + segment + image[2:]


def files_under(root: Path) -> dict[Path, bytes]:
    """Every regular file under `root` (hidden ones and temp files included), with its bytes."""
    return {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def found(secrets_by_name: dict[str, bytes], files: dict[Path, bytes]) -> list[str]:
    return [
        f"{name} in {path}"
        for path, data in files.items()
        for name, s in secrets_by_name.items()
        if s in data
    ]


async def walk_one_case(stack: Stack, card: IdCard, phone: str, scan: bytes, scans: Path) -> str:
    """The card read, a typed phone, a scanned page through the hot folder, accepted, decided, issued."""
    node = stack.node
    assert (
        await node.post("/api/v1/login", json={"username": LEAD[0], "password": LEAD[1]})
    ).status_code == 200
    devices = stack.node_app.state.devices
    await eventually(lambda: _all_connected(devices))
    devices.simulator.reader.place(card)
    fields = (await node.post("/api/v1/devices/idcard/read")).json()
    assert fields["cert_number"] == card.number and fields["number_valid"] and fields["photo_kept"]
    item = next(i for i in (await node.get("/api/v1/items")).json()["items"] if i["name"] == PENSION_ENROL)
    applicant = {k: fields[k] for k in ("name", "cert_type", "cert_number", "sex", "birth_date")}
    created = await node.post(
        "/api/v1/cases", json={"item_code": item["code"], "applicant": {**applicant, "phone": phone}}
    )
    assert created.status_code == 201, created.text
    case_id: str = created.json()["case_id"]

    started = await node.post(
        f"/cases/{case_id}/capture", data={"material_id": "id-card", "window": "1号窗口"}
    )
    assert started.status_code in (200, 302, 303)
    drop_into_folder(scan, scans, "扫描0001.jpg")

    async def scanned() -> list[dict[str, Any]]:
        materials: list[dict[str, Any]] = (await node.get(f"/api/v1/cases/{case_id}")).json()["materials"]
        return [m for m in materials if m["material_id"] == "id-card"]

    await eventually(scanned)
    for material_id, file in (
        ("household-register", ("户口簿.jpg", jpeg((80, 60), quality=70), "image/jpeg")),
        ("enrolment-form", ("form.pdf", pdf(), "application/pdf")),
    ):
        attached = await node.post(
            f"/api/v1/cases/{case_id}/materials", data={"material_id": material_id}, files={"file": file}
        )
        assert attached.status_code == 201, attached.text
    for url, body in (
        (f"/api/v1/cases/{case_id}/accept", {}),
        (f"/api/v1/cases/{case_id}/decide-on-spot", {"outcome": "approve"}),
        (
            f"/api/v1/cases/{case_id}/issue",
            {"cert_type": "111", "cert_number": card.number, "signature": signature_png()},
        ),
    ):
        response = await node.post(url, json=body)
        assert response.status_code == 200, response.text
    return case_id


async def test_a_copy_of_the_data_directory_alone_reveals_no_id_number_phone_photo_or_scan(
    county: CountySetup, tmp_path: Path
) -> None:
    node_dir = tmp_path / "node1"
    await enroll(
        county.bundles[0].bundle_path, node_dir, expected_county=county.bundles[0].county_fingerprint
    )
    keys = default_key_dir(node_dir)
    assert sorted(p.name for p in keys.iterdir()) == ["data.key", "node-sign.key", "node.agekey"]
    assert not is_inside(keys, node_dir) and not (node_dir / "keys").exists()
    assert keys.stat().st_mode & 0o777 == 0o700

    id_number = made_up_id_number()
    phone = f"139{secrets.randbelow(10**8):08d}"
    photo = os.urandom(1024)
    marker = bytes(b if b != 0xFF else 0xFE for b in os.urandom(64))  # no 0xFF: it stays one JPEG comment
    card = IdCard(
        name="欧阳秀英",
        sex="1",
        nation="01",
        birth="19870423",
        address="吉林省梅河口市红梅镇红梅村五组7号",
        number=id_number,
        authority="梅河口市公安局",
        valid_from="20200101",
        valid_to="20400101",
        photo_wlt=photo,
    )
    scans = tmp_path / "scans"
    central_app = create_central(CentralSettings(data_dir=tmp_path / "central", county_dir=county.county_dir))
    node_app = create_node(
        NodeSettings(
            data_dir=node_dir,
            sync_enabled=False,
            clock_interval_s=0,
            simulate_devices=True,
            scan_folder=scans,
            device_poll_s=0.1,
        )
    )
    secrets_by_name = {
        "ID number (ASCII)": id_number.encode("ascii"),
        "ID number (UTF-16-LE)": id_number.encode("utf-16-le"),
        "ID number (UTF-16-BE)": id_number.encode("utf-16-be"),
        "phone (ASCII)": phone.encode("ascii"),
        "phone (UTF-16-LE)": phone.encode("utf-16-le"),
        "name (UTF-8)": card.name.encode("utf-8"),
        "ID photo": photo,
        "scan marker": marker,
        "scan": marked_jpeg(marker),
    }
    async with (
        AsyncTestClient(app=central_app, base_url="http://central.test") as central,
        AsyncTestClient(app=node_app, base_url="http://node.test") as node,
    ):
        stack = Stack(county, central_app, central, node_app, node, node_dir, FakeClock())
        case_id = await walk_one_case(stack, card, phone, marked_jpeg(marker), scans)
        runtime: NodeRuntime = node_app.state.runtime
        report = await sync_once(central, runtime)
        assert report.sent >= 1 and report.attachments >= 4, report  # entries and every blob reached central
        outcome = await archive_case(runtime, actor=LEAD_ACTOR, case_id=case_id)
        assert outcome.archived, outcome.report
        exported = await export_courier_file(runtime, node_dir / "courier" / "up-1.owc")
        assert exported.attachments >= 1  # the package, spooled for the courier
        assert list((node_dir / "spool").iterdir()) and list((node_dir / "blobs").rglob("*"))
        # A copy taken while the node runs (database, WAL and shared memory as they are now).
        running = files_under(node_dir)
        assert node_dir / "node.db" in running
        assert found(secrets_by_name, running) == []

    # The processed scan was deleted once stored: no plaintext copy beside the scan folder either.
    assert found({"scan marker": marker}, files_under(tmp_path / "scans-processed")) == []
    assert not any(scans.iterdir())
    # The copy a thief takes of the stopped node's data directory.
    stopped = files_under(node_dir)
    assert {node_dir / "node.db", node_dir / "node.json", node_dir / "courier" / "up-1.owc"} <= set(stopped)
    assert (
        any(p.parent.name == "spool" for p in stopped)
        and sum(p.parent.parent.name == "blobs" for p in stopped) >= 5
    )
    assert found(secrets_by_name, stopped) == []
    data_key = (keys / "data.key").read_text().strip()
    assert found({"data key": data_key.encode(), "raw data key": bytes.fromhex(data_key)}, stopped) == []

    # With its keys the node opens again and has everything: the number, the phone, the photo, the scan.
    runtime = await open_runtime(node_dir)
    try:
        state = await get_case(runtime, case_id)
        assert (state.applicant["cert_number"], state.applicant["phone"]) == (id_number, phone)
        assert state.status == "issued"
        blobs = [runtime.blobs.get(str(m["blob"])) for m in state.materials]
        assert marked_jpeg(marker) in blobs
        assert any(photo == runtime.blobs.get(b.sha256) for b in await _blob_rows(runtime))
    finally:
        await runtime.close()


async def _blob_rows(runtime: NodeRuntime) -> list[Any]:
    from sqlmodel import select

    from node.models import Blob

    async with runtime.db.read() as session:
        return list((await session.exec(select(Blob))).all())


def _as_an_older_version_left_it(node_dir: Path, data_key: bytes) -> None:
    """The node's database as a version before encryption at rest wrote it: every encrypted column in
    plaintext, no conversion mark; and the keys in ``<data>/keys`` where enrolment used to put them."""
    from node.models import NodeTable
    from node.trust.atrest import CONVERTED_KEY, ColumnCipher, encrypted_columns

    cipher = ColumnCipher(data_key)
    with closing(sqlite3.connect(node_dir / "node.db")) as db, db:
        for table, column, where in encrypted_columns(NodeTable.metadata):
            rows = db.execute(f'SELECT rowid, "{column}" FROM "{table}"').fetchall()
            db.executemany(
                f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = ?',
                [(cipher.decrypt(value, where), rowid) for rowid, value in rows],
            )
        db.execute("DELETE FROM meta WHERE key = ?", (CONVERTED_KEY,))
    shutil.move(default_key_dir(node_dir), node_dir / "keys")


async def test_a_node_enrolled_before_keeps_working_and_is_encrypted_on_its_first_open(
    county: CountySetup, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    node_dir = tmp_path / "node1"
    await enroll(
        county.bundles[0].bundle_path, node_dir, expected_county=county.bundles[0].county_fingerprint
    )
    runtime = await open_runtime(node_dir)
    try:
        item = next(i for i in runtime.catalogue.items if i.name == PENSION_ENROL)
        applicant = Applicant(name="张三", cert_type="111", cert_number=VALID_IDS[0], phone="13912345678")
        state = await receive_case(
            runtime, actor=Actor("clerk", "window"), item_code=item.code, applicant=applicant
        )
        data_key = runtime.identity.data_key
    finally:
        await runtime.close()
    _as_an_older_version_left_it(node_dir, data_key)
    assert VALID_IDS[0].encode() in (node_dir / "node.db").read_bytes()

    with caplog.at_level(logging.INFO):
        runtime = await open_runtime(node_dir)
    try:
        assert runtime.identity.key_dir == node_dir / "keys"
        assert "inside the data directory" in caplog.text and "mv " in caplog.text  # says how to move them
        assert "sensitive values at rest" in caplog.text
        again = await get_case(runtime, state.case_id)
        assert (again.applicant["cert_number"], again.applicant["phone"]) == (VALID_IDS[0], "13912345678")
    finally:
        await runtime.close()
    stored = b"".join(p.read_bytes() for p in node_dir.glob("node.db*"))
    assert VALID_IDS[0].encode() not in stored and b"13912345678" not in stored


def _cli(*argv: str) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    build_parser(parser)
    return run(parser.parse_args(list(argv)))


@pytest.mark.slow
def test_sealed_keys_start_the_node_only_with_the_right_passphrase(
    county: CountySetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    node_dir, keys = tmp_path / "node1", tmp_path / "usb" / "onewindow-keys"
    bundle = county.bundles[0]
    asyncio.run(enroll(bundle.bundle_path, node_dir, key_dir=keys, expected_county=bundle.county_fingerprint))
    plain = load_identity(node_dir, keys)
    monkeypatch.setenv("SEAL_PASS", "correct horse battery")
    seal = ("--data", str(node_dir), "--keys", str(keys), "--passphrase-env", "SEAL_PASS")
    assert _cli("seal-keys", *seal) == 0
    assert "已用口令封存 3 个密钥文件" in capsys.readouterr().out
    assert plain.data_key.hex() not in (keys / "data.key").read_text()
    with pytest.raises(PassphraseRequired):
        load_identity(node_dir, keys)
    with pytest.raises(WrongPassphrase):
        load_identity(node_dir, keys, passphrase="wrong horse battery")
    opened = load_identity(node_dir, keys, passphrase="correct horse battery")
    assert (opened.data_key, opened.signing_key.to_text()) == (plain.data_key, plain.signing_key.to_text())

    # `node serve` as the centre runs it: a wrong or missing passphrase stops it before it listens, in Chinese.
    port = free_port()
    command = [sys.executable, "-m", "node", "serve", "--data", str(node_dir), "--keys", str(keys)]
    command += ["--port", str(port)]
    env = {**os.environ, "ONEWINDOW_NODE_KEY_PASSPHRASE": "wrong horse battery", "PYTHONUNBUFFERED": "1"}
    refused = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert "无法打开节点密钥：口令不正确，无法解封节点密钥；节点未启动" in refused.stderr
    env.pop("ONEWINDOW_NODE_KEY_PASSPHRASE")
    missing = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "ONEWINDOW_NODE_KEY_PASSPHRASE" in missing.stderr

    env["ONEWINDOW_NODE_KEY_PASSPHRASE"] = "correct horse battery"
    with (tmp_path / "node.log").open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        stop(process)

    # Unsealed again (to change the passphrase: unseal, then seal anew) the keys open without one.
    assert _cli("unseal-keys", *seal) == 0
    assert load_identity(node_dir, keys).data_key == plain.data_key
