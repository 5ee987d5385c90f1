"""Trust (issue 6, R-PROV-1/2/4): bundles refused for the right reasons, revocation that loses nothing, county
key rotation that every node follows, with old and new entries readable by the matching `age` identity."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from central.keys import load_county
from central.models import CaseRecord, NodeRecord, QuarantineRecord, UpEntryRecord
from central.registry import registry_stamp
from central.sync.attachments import AttachmentStore
from central.sync.courier import CourierImport, import_courier_file
from central.sync.nodes import enrol as _enrol
from node.archive.service import archive_case
from node.boot import open_runtime
from node.enrolment import EnrolmentError, enroll
from node.meta import set_meta
from node.models import Blob, Case, DownEntry, UpEntry
from node.sync.client import sync_once
from node.sync.courier import export_courier_file, import_courier_reply
from node.sync.keys import NodeKeyRotationError, rotate_node_keys
from node.trust.identity import ROTATION_KEY, key_files, load_identity
from node.trust.keyseal import WrongPassphrase, seal_key_files
from protocol.enrolment import bundle_digest, secret_digest
from protocol.errors import OneWindowError
from protocol.keys import AgeIdentity, SigningKey, VerifyKey
from protocol.log import Receipt
from protocol.requests import sign_request
from provisioning.county import (
    StaffSpec,
    add_node,
    init_county,
    open_county,
    revoke_node,
    rotate_county_keys,
)
from tests.backoffice_support import decide
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_archive import central_record
from tests.integration.test_sync_reconcile import restore, sqlite_backup
from tests.integration.test_walking_skeleton import accept_one
from tests.support import CLERK, NODE_ADMIN, PDF, VALID_IDS, require_tool
from tests.unit.protocol.test_archive import LEAD_ACTOR, issued_case

ADMIN = ("admin", "admin-pass-1")  # the county admin `provision` creates


async def _sync_problem(client: object, runtime: object) -> str:
    """What went wrong in one round: its exception, or the refusals it recorded."""
    try:
        report = await sync_once(client, runtime)  # type: ignore[arg-type]
    except Exception as exc:
        return str(exc)
    return " ".join(report.errors)


# ---- enrolment refusals (acceptance 2) ------------------------------------------------------------------------


async def test_a_bundle_used_twice_is_refused_by_central_and_the_first_node_is_untouched(
    stack: Stack, tmp_path: Path
) -> None:
    bundle = stack.setup.bundles[0]
    report = await sync_once(stack.central, stack.runtime)
    assert report.sent >= 1 and not report.errors
    # The same bundle, enrolled again on another machine: offline it cannot know, central refuses it.
    copy_dir = tmp_path / "copy"
    await enroll(bundle.bundle_path, copy_dir, expected_county=bundle.county_fingerprint)
    copy = await open_runtime(copy_dir)
    try:
        problem = await _sync_problem(stack.central, copy)
        assert "注册密钥只能用一次" in problem, problem
    finally:
        await copy.close()
    async with stack.central_app.state.central.db.transaction() as session:
        node = await session.get(NodeRecord, bundle.node_id)
        assert node is not None and node.status == "active"
        assert node.sign_key == stack.runtime.identity.sign_key.to_text()  # still the first machine's key
    assert not (await sync_once(stack.central, stack.runtime)).errors


async def test_expired_foreign_and_tampered_bundles_are_refused_naming_why(
    stack: Stack, tmp_path: Path
) -> None:
    bundle = stack.setup.bundles[1]
    data = bundle.bundle_path.read_bytes()
    expires = datetime.fromisoformat(json.loads(data)["bundle"]["expires_at"])

    with pytest.raises(OneWindowError) as expired:
        await enroll(bundle.bundle_path, tmp_path / "late", now=expires + timedelta(seconds=1))
    assert expired.value.field == "expires_at" and "过期" in expired.value.reason

    other = init_county(tmp_path / "other", name="柳河县", division="220524", admin_password="other-pass-1")
    foreign = add_node(
        other,
        name="柳河某中心",
        division="220524100000",
        central_urls=["http://other.test"],
        out=tmp_path / "foreign.bundle",
        staff=[StaffSpec("clerk", "窗口", "window", "pass-1234")],
    )
    with pytest.raises(OneWindowError) as wrong_county:
        await enroll(foreign.bundle_path, tmp_path / "foreign", expected_county=bundle.county_fingerprint)
    assert wrong_county.value.field == "county.sign_key" and "不是本县签发" in wrong_county.value.reason
    with pytest.raises(OneWindowError) as wrong_qr:  # the right QR code beside the wrong file
        await enroll(foreign.bundle_path, tmp_path / "foreign2", qr=bundle.qr_text)
    assert "不是本县签发" in wrong_qr.value.reason

    tampered = tmp_path / "tampered.bundle"
    tampered.write_bytes(data.replace("测试2号".encode(), "测试9号".encode()))
    assert tampered.read_bytes() != data
    with pytest.raises(OneWindowError) as forged:
        await enroll(tampered, tmp_path / "tampered", expected_county=bundle.county_fingerprint)
    assert forged.value.field == "signature" and "签名无效" in forged.value.reason

    # A bundle of this county, but not the file the QR code describes (swapped on the stick).
    with pytest.raises(OneWindowError) as swapped:
        await enroll(stack.setup.bundles[0].bundle_path, tmp_path / "swapped", qr=bundle.qr_text)
    assert swapped.value.field == "qr"
    for refused in ("late", "foreign", "foreign2", "tampered", "swapped"):
        assert not (tmp_path / refused / "node.json").exists()  # nothing was enrolled

    # The right file with its QR code enrols; the same data directory cannot enrol twice.
    assert bundle_digest(data).startswith(bundle.qr_text.split("bundle=")[1].split("&")[0])
    await enroll(bundle.bundle_path, tmp_path / "ok", qr=bundle.qr_text)
    with pytest.raises(EnrolmentError):
        await enroll(bundle.bundle_path, tmp_path / "ok", qr=bundle.qr_text)


async def test_central_refuses_a_first_contact_long_after_the_bundle_expired(
    stack: Stack, tmp_path: Path
) -> None:
    issued = datetime.now(UTC) - timedelta(days=60)
    late = add_node(
        stack.setup.county,
        name="迟到中心",
        division="220581199000",
        central_urls=["http://central.test"],
        out=tmp_path / "late.bundle",
        staff=[StaffSpec("clerk", "窗口", "window", "pass-1234")],
        now=issued,
    )
    # Enrolled offline while the bundle was valid, but first seen by central 46 days after it expired.
    await enroll(late.bundle_path, tmp_path / "late", now=issued + timedelta(days=1))
    runtime = await open_runtime(tmp_path / "late")
    try:
        problem = await _sync_problem(stack.central, runtime)
        assert "过期" in problem, problem
    finally:
        await runtime.close()


@pytest.mark.slow  # runs the CLI as a process
def test_the_enrol_command_insists_on_checking_the_county(tmp_path: Path, stack: Stack) -> None:
    bundle = stack.setup.bundles[1]
    bare = subprocess.run(
        [sys.executable, "-m", "node", "enroll", str(bundle.bundle_path), "--data", str(tmp_path / "n")],
        capture_output=True,
        text=True,
    )
    assert bare.returncode == 2 and "--qr" in bare.stderr
    scanned = subprocess.run(
        [
            sys.executable,
            "-m",
            "node",
            "enroll",
            str(bundle.bundle_path),
            "--data",
            str(tmp_path / "n"),
            "--qr",
            bundle.qr_text,
        ],
        capture_output=True,
        text=True,
    )
    assert scanned.returncode == 0, scanned.stderr
    assert bundle.county_fingerprint in scanned.stdout


# ---- revocation (acceptance 3) --------------------------------------------------------------------------------


async def test_a_revoked_node_keeps_everything_and_its_new_entries_wait_in_quarantine(stack: Stack) -> None:
    await login_node(stack)
    before = await accept_one(stack, VALID_IDS[0], "张三")
    await sync_once(stack.central, stack.runtime)
    node_id = stack.setup.bundles[0].node_id

    record = revoke_node(stack.setup.county, node_id, reason="设备被盗")
    assert record["status"] == "revoked"
    # The node goes on working locally (it may not even know yet).
    after = await accept_one(stack, VALID_IDS[1], "李四")
    report = await sync_once(stack.central, stack.runtime)
    assert not report.errors

    central = stack.central_app.state.central
    async with central.db.transaction() as session:
        node = await session.get(NodeRecord, node_id)
        assert node is not None and node.status == "revoked" and node.revoked_reason == "设备被盗"
        cases = {c.case_id for c in (await session.exec(select(CaseRecord))).all()}
        assert before["case_id"] in cases  # what it sent before the revocation still counts
        assert after["case_id"] not in cases  # what it signed after is not applied …
        quarantined = (
            await session.exec(select(QuarantineRecord).where(QuarantineRecord.node_id == node_id))
        ).all()
        assert quarantined and {q.code for q in quarantined} == {"OW-1210"}
        kept = (await session.exec(select(UpEntryRecord).where(UpEntryRecord.node_id == node_id))).all()
        assert {q.seq for q in quarantined} <= {e.seq for e in kept}  # … but kept, whole, for review
        assert node.revoked_after_seq is not None
        assert all(q.seq > node.revoked_after_seq for q in quarantined)

    # Nothing on the node is deleted: its whole log, both cases, their scans.
    async with stack.runtime.db.read() as session:
        entries = (await session.exec(select(UpEntry).order_by(col(UpEntry.seq)))).all()
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        local_cases = {c.case_id for c in (await session.exec(select(Case))).all()}
        assert {before["case_id"], after["case_id"]} <= local_cases
        blobs = (await session.exec(select(Blob))).all()
    assert blobs and all(stack.runtime.blobs.exists(b.sha256) for b in blobs)
    assert {e.central_status for e in entries if e.seq in {q.seq for q in quarantined}} == {"quarantined"}

    status = (await stack.node.get("/api/v1/sync/status")).json()
    assert status["revoked"]["reason"] == "设备被盗"
    page = (await stack.node.get("/sync", headers={"accept": "text/html"})).text
    assert "吊销本节点" in page and "不会删除" in page

    await login_central(stack, ADMIN)
    fleet = (await stack.central.get("/fleet", headers={"accept": "text/html"})).text
    assert "已吊销" in fleet and "设备被盗" in fleet and "OW-1210" in fleet

    # The county reviews what was held back: the case a clerk accepted before the theft was noticed is
    # released (applied once, even if released twice), the rest would be rejected; nothing is deleted.
    held = quarantined[-1]
    assert held.id is not None
    no_note = await stack.central.post(f"/fleet/quarantine/{held.id}/release", data={"note": ""})
    assert no_note.status_code == 422 and no_note.json()["field"] == "note"
    released = await stack.central.post(
        f"/fleet/quarantine/{held.id}/release", data={"note": "核实为被盗前当日受理"}
    )
    assert released.status_code in (200, 302, 303), released.text
    twice = await stack.central.post(f"/fleet/quarantine/{held.id}/reject", data={"note": "x"})
    assert twice.status_code == 409
    async with central.db.transaction() as session:
        cases = {c.case_id for c in (await session.exec(select(CaseRecord))).all()}
        record = await session.get(QuarantineRecord, held.id)
    assert after["case_id"] in cases
    assert record is not None and record.resolution == "released" and record.resolved_by == ADMIN[0]
    fleet = (await stack.central.get("/fleet", headers={"accept": "text/html"})).text
    assert "已放行" in fleet and "核实为被盗前当日受理" in fleet


async def test_revoking_from_the_fleet_page_needs_an_admin_and_a_reason(stack: Stack) -> None:
    node_id = stack.setup.bundles[1].node_id
    await login_central(stack)  # a reviewer
    refused = await stack.central.post(f"/fleet/{node_id}/revoke", data={"reason": "x"})
    assert refused.status_code == 403
    await login_central(stack, ADMIN)
    empty = await stack.central.post(f"/fleet/{node_id}/revoke", data={"reason": " "})
    assert empty.status_code == 422 and empty.json()["field"] == "reason"
    done = await stack.central.post(f"/fleet/{node_id}/revoke", data={"reason": "中心撤并"})
    assert done.status_code in (200, 302, 303)
    registry = json.loads((stack.setup.county_dir / "nodes" / f"{node_id}.json").read_text("utf-8"))
    assert registry["status"] == "revoked" and registry["revoked_reason"] == "中心撤并"
    async with stack.central_app.state.central.db.transaction() as session:
        node = await session.get(NodeRecord, node_id)
        assert node is not None and node.status == "revoked"


# ---- county key rotation (acceptance 4) -----------------------------------------------------------------------


def _age_decrypts(identity: Path, ciphertext: bytes) -> bool:
    done = subprocess.run(
        [require_tool("age"), "-d", "-i", str(identity)], input=ciphertext, capture_output=True
    )
    return done.returncode == 0 and done.stdout.startswith(b"{")


async def test_after_rotate_keys_new_entries_use_the_new_key_and_age_reads_each_with_its_own(
    stack: Stack, tmp_path: Path
) -> None:
    await login_node(stack)
    old_case = await accept_one(stack, VALID_IDS[0], "张三")
    await sync_once(stack.central, stack.runtime)
    county_dir = stack.setup.county_dir
    old_fingerprint = stack.runtime.identity.county_ring.newest.fingerprint

    info = rotate_county_keys(stack.setup.county)
    assert info["key_generation"] == 2 and info["sign_fingerprint"] != old_fingerprint
    old_identity = county_dir / "keys" / "retired" / "county.g1.agekey"
    new_identity = county_dir / "keys" / "county.agekey"
    assert old_identity.exists() and (county_dir / "keys" / "retired" / "county-sign.g1.key").exists()

    await login_central(stack, ADMIN)
    assert "县密钥未更新" in (await stack.central.get("/fleet", headers={"accept": "text/html"})).text
    # The node learns the new keys from its down log (announced by the old key), then encrypts to the new one.
    await sync_once(stack.central, stack.runtime)
    ring = stack.runtime.identity.county_ring
    assert ring.newest.fingerprint == info["sign_fingerprint"]
    assert old_fingerprint in ring.fingerprints  # old signatures (receipts, catalogue) still verify
    assert json.loads((stack.node_dir / "node.json").read_text())["county_recipient"] == info["age_recipient"]
    async with stack.runtime.db.read() as session:
        kinds = [d.kind for d in (await session.exec(select(DownEntry).order_by(col(DownEntry.seq)))).all()]
    assert "county_keys" in kinds
    await sync_once(stack.central, stack.runtime)  # its next hello says it trusts the new key
    assert "县密钥未更新" not in (await stack.central.get("/fleet", headers={"accept": "text/html"})).text

    new_case = await accept_one(stack, VALID_IDS[1], "李四")
    report = await sync_once(stack.central, stack.runtime)
    assert not report.errors
    central = stack.central_app.state.central
    async with central.db.transaction() as session:
        node = await session.get(NodeRecord, stack.runtime.node_id)
        assert node is not None and node.county_key == info["sign_fingerprint"]  # answered in the new key now
        cases = {c.case_id for c in (await session.exec(select(CaseRecord))).all()}
        rows = (
            await session.exec(
                select(UpEntryRecord)
                .where(UpEntryRecord.node_id == node.node_id, UpEntryRecord.kind == "events")
                .order_by(col(UpEntryRecord.seq))
            )
        ).all()
    assert {old_case["case_id"], new_case["case_id"]} <= cases  # old entries still decrypt at central
    async with stack.runtime.db.read() as session:
        last = (await session.exec(select(UpEntry).order_by(col(UpEntry.seq).desc()))).first()
    assert last is not None and last.receipt
    Receipt.from_wire(json.loads(last.receipt)).verify(VerifyKey.from_text(info["sign_key"]))

    first, newest = rows[0], rows[-1]
    assert _age_decrypts(old_identity, first.ciphertext)
    assert not _age_decrypts(new_identity, first.ciphertext)
    assert _age_decrypts(new_identity, newest.ciphertext)
    assert not _age_decrypts(old_identity, newest.ciphertext)

    # A decision made at central now (signed in the new key) reaches the node.
    await login_central(stack)
    decided = await decide(stack.central, new_case["case_id"], "approve", "符合条件")
    assert decided.status_code == 200, decided.text
    await sync_once(stack.central, stack.runtime)
    async with stack.runtime.db.read() as session:
        mine = await session.get(Case, new_case["case_id"])
    assert mine is not None and mine.decision == "approve"


async def test_a_node_enrolled_from_an_old_bundle_after_a_rotation_still_joins(
    stack: Stack, tmp_path: Path
) -> None:
    rotate_county_keys(stack.setup.county)
    rotate_county_keys(stack.setup.county)  # two generations behind
    bundle = stack.setup.bundles[1]  # made before both rotations: it trusts generation 1
    await enroll(bundle.bundle_path, tmp_path / "late", expected_county=bundle.county_fingerprint)
    runtime = await open_runtime(tmp_path / "late")
    try:
        report = await sync_once(stack.central, runtime)
        assert not report.errors
        info = json.loads((stack.setup.county_dir / "county.json").read_text("utf-8"))
        assert runtime.identity.county_ring.newest.fingerprint == info["sign_fingerprint"]
        assert len(runtime.identity.county_ring.keys) == 3
    finally:
        await runtime.close()
    async with stack.central_app.state.central.db.transaction() as session:
        node = await session.get(NodeRecord, bundle.node_id)
        assert node is not None and node.status == "active"


def test_list_nodes_and_rotate_keys_commands(stack: Stack) -> None:
    county_dir = str(stack.setup.county_dir)
    listed = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", "provision", "list-nodes", "--dir", county_dir],
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    assert "测试1号便民服务中心" in listed.stdout and "第 1 代" in listed.stdout
    node_id = stack.setup.bundles[0].node_id
    revoked = subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioning.cli",
            "provision",
            "revoke-node",
            node_id[:12],
            "--dir",
            county_dir,
        ],
        capture_output=True,
        text=True,
    )
    assert revoked.returncode == 2  # --reason is required
    revoked = subprocess.run(
        [
            sys.executable,
            "-m",
            "provisioning.cli",
            "provision",
            "revoke-node",
            "1",
            "--dir",
            county_dir,
            "--reason",
            "退役",
        ],
        capture_output=True,
        text=True,
    )
    assert revoked.returncode == 0, revoked.stderr
    rotated = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", "provision", "rotate-keys", "--dir", county_dir],
        capture_output=True,
        text=True,
    )
    assert rotated.returncode == 0 and "第 2 代" in rotated.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", "provision", "list-nodes", "--dir", county_dir],
        capture_output=True,
        text=True,
    )
    assert "第 2 代" in listed.stdout and "已吊销" in listed.stdout and "退役" in listed.stdout


# ---- node key rotation ------------------------------------------------------------------------------------------


async def test_a_node_rotates_its_own_keys_and_central_follows_without_losing_a_round(stack: Stack) -> None:
    await login_node(stack)
    first = await accept_one(stack, VALID_IDS[0], "张三")
    await sync_once(stack.central, stack.runtime)
    old = stack.runtime.identity
    node_id = old.node_id

    await login_node(stack, CLERK)
    assert (await stack.node.post("/sync/rotate-keys")).status_code == 403  # a clerk may not
    await login_node(stack, NODE_ADMIN)
    rotated = await stack.node.post("/sync/rotate-keys", follow_redirects=False)
    assert rotated.status_code in (301, 302, 303), rotated.text
    new = stack.runtime.identity
    assert new.sign_key.to_text() != old.sign_key.to_text()
    assert new.request_key.verify_key.to_text() == old.sign_key.to_text()  # until central takes it
    page = (await stack.node.get("/sync", headers={"accept": "text/html"})).text
    assert "等待县中心确认" in page
    again = await stack.node.post("/sync/rotate-keys")
    assert again.status_code == 409 and "尚未被县中心确认" in again.text

    await login_node(stack)
    second = await accept_one(stack, VALID_IDS[1], "李四")  # signed with the new key
    report = await sync_once(stack.central, stack.runtime)
    assert not report.errors and report.rejected == 0
    assert stack.runtime.identity.request_key.verify_key.to_text() == new.sign_key.to_text()

    central = stack.central_app.state.central
    async with central.db.transaction() as session:
        node = await session.get(NodeRecord, node_id)
        assert node is not None and node.sign_key == new.sign_key.to_text()
        assert node.age_recipient == new.age_identity.recipient.to_text()
        history = json.loads(node.key_history or "[]")
        assert [h["sign_key"] for h in history] == [old.sign_key.to_text()]
        cases = {c.case_id for c in (await session.exec(select(CaseRecord))).all()}
    assert {first["case_id"], second["case_id"]} <= cases

    # Central's next words are encrypted to the new recipient; the node reads them.
    await login_central(stack)
    decided = await decide(stack.central, second["case_id"], "approve", "符合条件")
    assert decided.status_code == 200, decided.text
    assert not (await sync_once(stack.central, stack.runtime)).errors
    async with stack.runtime.db.read() as session:
        mine = await session.get(Case, second["case_id"])
    assert mine is not None and mine.decision == "approve"

    # The key files hold the new key first and the old after it; a restart reads both.
    reloaded = load_identity(stack.node_dir)
    assert reloaded.sign_key.to_text() == new.sign_key.to_text()
    assert [k.verify_key.to_text() for k in reloaded.previous_signing_keys] == [old.sign_key.to_text()]


async def test_a_rotation_whose_receipt_was_lost_still_settles(stack: Stack) -> None:
    await sync_once(stack.central, stack.runtime)
    old_key = stack.runtime.identity.signing_key
    seq = await rotate_node_keys(stack.runtime)
    assert not (await sync_once(stack.central, stack.runtime)).errors
    # The link was cut after central stored the rotation: the node never saw the receipt.
    async with stack.runtime.db.write() as session:
        for row in (await session.exec(select(UpEntry).where(col(UpEntry.seq) >= seq))).all():
            row.receipt, row.receipted_at = None, None
            session.add(row)
        await set_meta(session, ROTATION_KEY, json.dumps({"seq": seq, "at": "x"}))
    stack.runtime.identity = replace(stack.runtime.identity, request_signing_key=old_key)
    report = await sync_once(stack.central, stack.runtime)  # requests still signed with the old key: taken
    assert not report.errors
    assert stack.runtime.identity.request_signing_key is None
    async with stack.runtime.db.read() as session:
        assert all(e.receipt for e in (await session.exec(select(UpEntry))).all())


async def test_a_rotation_cut_short_before_its_entry_committed_is_dropped(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = stack.runtime.identity.sign_key.to_text()

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr("node.sync.keys.append_up_entry", crash)
    with pytest.raises(RuntimeError):
        await rotate_node_keys(stack.runtime)
    keys = stack.runtime.identity.key_dir
    assert keys is not None and (keys / "node-sign.key.next").exists()
    assert load_identity(stack.node_dir).sign_key.to_text() == before  # the half-made keys are dropped
    assert not (keys / "node-sign.key.next").exists()
    assert not (await sync_once(stack.central, stack.runtime)).errors


async def test_an_archive_package_sealed_before_a_node_key_rotation_still_passes_at_central(
    stack: Stack,
) -> None:
    state = await issued_case(stack)
    outcome = await archive_case(stack.runtime, actor=LEAD_ACTOR, case_id=state["case_id"])
    assert outcome.archived
    await rotate_node_keys(stack.runtime)  # central learns the new key before the package reaches it
    assert not (await sync_once(stack.central, stack.runtime)).errors
    record = await central_record(stack, outcome.package_sha256)
    assert record is not None and record.passed, record


@pytest.mark.slow  # runs the CLI as a process
def test_the_rotate_keys_command_for_a_stopped_node(stack: Stack, tmp_path: Path) -> None:
    bundle = stack.setup.bundles[1]
    data = tmp_path / "n2"
    node = [sys.executable, "-m", "node"]
    enrolled = subprocess.run(
        [*node, "enroll", str(bundle.bundle_path), "--data", str(data), "--qr", bundle.qr_text],
        capture_output=True,
        text=True,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    before = load_identity(data).sign_key.fingerprint
    rotated = subprocess.run([*node, "rotate-keys", "--data", str(data)], capture_output=True, text=True)
    assert rotated.returncode == 0, rotated.stderr
    after = load_identity(data)
    assert after.sign_key.fingerprint != before and after.sign_key.fingerprint in rotated.stdout
    assert [k.verify_key.fingerprint for k in after.previous_signing_keys] == [before]
    again = subprocess.run([*node, "rotate-keys", "--data", str(data)], capture_output=True, text=True)
    assert again.returncode == 2 and "尚未被县中心确认" in again.stderr


# ---- restores and revocation across key rotations (found in review) -----------------------------------------


async def test_central_restored_after_a_county_rotation_takes_back_down_entries_of_both_generations(
    stack: Stack,
) -> None:
    await login_node(stack)
    first = await accept_one(stack, VALID_IDS[0], "张三")
    await sync_once(stack.central, stack.runtime)
    central_db = stack.setup.root / "central" / "central.db"
    backup = stack.setup.root / "central-backup.db"
    sqlite_backup(central_db, backup)
    rotate_county_keys(stack.setup.county)
    await login_central(stack)
    decided = await decide(stack.central, first["case_id"], "approve", "符合条件")
    assert decided.status_code == 200, decided.text
    await sync_once(stack.central, stack.runtime)  # the key statement (old key) and the decision come down
    await stack.central_app.state.central.db.close()
    restore(backup, central_db)  # central loses both
    report = await sync_once(stack.central, stack.runtime)  # the node hands them back, signed by either key
    assert not report.errors and report.down_restored >= 2
    assert not (await sync_once(stack.central, stack.runtime)).errors


async def test_central_restored_from_before_a_node_key_rotation_learns_it_again(stack: Stack) -> None:
    await login_node(stack)
    await accept_one(stack, VALID_IDS[0], "张三")
    await sync_once(stack.central, stack.runtime)
    central_db = stack.setup.root / "central" / "central.db"
    backup = stack.setup.root / "central-backup.db"
    sqlite_backup(central_db, backup)
    await rotate_node_keys(stack.runtime)
    await sync_once(stack.central, stack.runtime)
    assert stack.runtime.identity.request_signing_key is None  # settled on the new key
    await stack.central_app.state.central.db.close()
    restore(backup, central_db)  # central knows only the old key again
    assert not (await sync_once(stack.central, stack.runtime)).errors  # signs with the old key, resends
    assert not (await sync_once(stack.central, stack.runtime)).errors
    async with stack.central_app.state.central.db.transaction() as session:
        node = await session.get(NodeRecord, stack.runtime.node_id)
    assert node is not None and node.sign_key == stack.runtime.identity.sign_key.to_text()


async def test_the_old_node_key_is_refused_once_the_new_one_has_been_used(stack: Stack) -> None:
    await sync_once(stack.central, stack.runtime)
    old = stack.runtime.identity.signing_key
    await rotate_node_keys(stack.runtime)
    await sync_once(stack.central, stack.runtime)  # receipted; the node settles
    await sync_once(stack.central, stack.runtime)  # a request signed with the new key
    path = "/sync/v1/down?after=0&limit=1"
    headers = sign_request(old, stack.runtime.node_id, "GET", path, stack.runtime.now_iso(), b"")
    refused = await stack.central.get(path, headers=headers)
    assert refused.status_code == 401 and refused.json()["code"] == "OW-1104"


async def test_a_node_revoked_before_it_rotated_stays_reachable_and_a_known_revoked_one_cannot_rotate(
    stack: Stack,
) -> None:
    await login_node(stack)
    await accept_one(stack, VALID_IDS[0], "张三")
    await sync_once(stack.central, stack.runtime)
    revoke_node(stack.setup.county, stack.runtime.node_id, reason="设备被盗")
    await rotate_node_keys(stack.runtime)  # the node does not know yet
    assert not (await sync_once(stack.central, stack.runtime)).errors
    await accept_one(stack, VALID_IDS[1], "李四")
    assert not (await sync_once(stack.central, stack.runtime)).errors
    async with stack.runtime.db.read() as session:
        unreceipted = (await session.exec(select(UpEntry).where(col(UpEntry.receipt).is_(None)))).all()
    assert unreceipted == []  # everything it sent reached central's quarantine
    with pytest.raises(NodeKeyRotationError):
        await rotate_node_keys(stack.runtime)  # now it knows


async def test_rotating_sealed_keys_with_a_mistyped_passphrase_changes_nothing(stack: Stack) -> None:
    files = key_files(stack.node_dir)
    seal_key_files(files, "correct horse battery")
    before = stack.runtime.identity.sign_key.to_text()
    with pytest.raises(WrongPassphrase):
        await rotate_node_keys(stack.runtime, passphrase="correct horse batterx")
    assert not list(files[0].parent.glob("*.next"))
    assert load_identity(stack.node_dir, passphrase="correct horse battery").sign_key.to_text() == before
    await rotate_node_keys(stack.runtime, passphrase="correct horse battery")
    assert load_identity(stack.node_dir, passphrase="correct horse battery").sign_key.to_text() != before


@pytest.mark.parametrize("central_took_it", [False, True])
async def test_a_node_data_directory_restored_from_before_a_key_rotation_keeps_syncing(
    stack: Stack, tmp_path: Path, central_took_it: bool
) -> None:
    """The data directory comes back from last night's backup; the key directory (kept apart) already holds the
    keys of a rotation made since. Whether or not central heard of that rotation, the node goes on syncing."""
    bundle = stack.setup.bundles[1]
    data = tmp_path / "restored"
    await enroll(bundle.bundle_path, data, expected_county=bundle.county_fingerprint)
    runtime = await open_runtime(data)
    try:
        assert not (await sync_once(stack.central, runtime)).errors
        source, target = sqlite3.connect(data / "node.db"), sqlite3.connect(tmp_path / "nightly.db")
        source.backup(target)
        source.close(), target.close()
        await rotate_node_keys(runtime)
        if central_took_it:
            assert not (await sync_once(stack.central, runtime)).errors
    finally:
        await runtime.close()
    restore(tmp_path / "nightly.db", data / "node.db")
    runtime = await open_runtime(data)  # keys: the new ones; database: from before the rotation
    try:
        for _ in range(2):
            assert not (await sync_once(stack.central, runtime)).errors
        assert runtime.identity.request_signing_key is None
        current = runtime.identity.sign_key.to_text()
    finally:
        await runtime.close()
    async with stack.central_app.state.central.db.transaction() as session:
        node = await session.get(NodeRecord, bundle.node_id)
    assert node is not None and node.sign_key == current


# ---- the courier's path, and the smaller review findings --------------------------------------------------------


async def _courier_round(stack: Stack, tmp_path: Path, name: str) -> CourierImport:
    """The node's file carried to central and central's reply carried back and imported."""
    out = tmp_path / f"{name}.owc"
    await export_courier_file(stack.runtime, out)
    central = stack.central_app.state.central
    await central.refresh_registry()
    outcome = await import_courier_file(
        central.db, central.county, AttachmentStore(central.settings.data_dir), out.read_bytes()
    )
    await import_courier_reply(stack.runtime, outcome.reply)
    return outcome


async def test_a_courier_file_from_a_revoked_node_leaves_its_scans_with_it(
    stack: Stack, tmp_path: Path
) -> None:
    await login_node(stack)
    await accept_one(stack, VALID_IDS[0], "张三")
    await sync_once(stack.central, stack.runtime)
    revoke_node(stack.setup.county, stack.runtime.node_id, reason="设备被盗")
    item = (await stack.node.get("/api/v1/items", params={"q": "zdsh"})).json()["items"][0]
    created = await stack.node.post(
        "/api/v1/cases",
        json={
            "item_code": item["code"],
            "applicant": {"name": "李四", "cert_type": "111", "cert_number": VALID_IDS[1]},
        },
    )
    assert created.status_code == 201, created.text
    scan = await stack.node.post(  # a scan central has never seen
        f"/api/v1/cases/{created.json()['case_id']}/materials",
        data={"material_id": item["materials"][0]["id"]},
        files={"file": ("new.pdf", PDF + b"%" + os.urandom(16).hex().encode(), "application/pdf")},
    )
    assert scan.status_code == 201, scan.text
    outcome = await _courier_round(stack, tmp_path, "revoked")
    assert outcome.quarantined >= 1 and outcome.accepted == 0
    assert outcome.attachments_new == 0 and outcome.attachments_known == 0
    async with stack.runtime.db.read() as session:
        waiting = (await session.exec(select(Blob).where(col(Blob.uploaded_at).is_(None)))).all()
    assert waiting and all(stack.runtime.blobs.exists(b.sha256) for b in waiting)  # kept on the node


async def test_a_courier_reply_for_a_node_restored_to_an_older_county_key_imports_first_time(
    stack: Stack, tmp_path: Path
) -> None:
    await login_node(stack)
    await accept_one(stack, VALID_IDS[0], "张三")
    await sync_once(stack.central, stack.runtime)
    old_node_json = (stack.node_dir / "node.json").read_bytes()  # trusts generation 1 only
    rotate_county_keys(stack.setup.county)
    for _ in range(2):  # the node learns generation 2 and says so: central answers it in generation 2
        await sync_once(stack.central, stack.runtime)
    (stack.node_dir / "node.json").write_bytes(old_node_json)  # restored from an older backup
    stack.runtime.identity = load_identity(stack.node_dir)
    assert len(stack.runtime.identity.county_ring.keys) == 1
    await accept_one(stack, VALID_IDS[1], "李四")
    outcome = await _courier_round(stack, tmp_path, "restored")  # receipts in the key it trusts
    assert outcome.accepted >= 1
    async with stack.runtime.db.read() as session:
        assert all(e.receipt for e in (await session.exec(select(UpEntry))).all())
    assert len(stack.runtime.identity.county_ring.keys) == 2  # and it learns generation 2 again


def test_central_reads_a_rotation_caught_between_county_json_and_its_key_files(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    county_dir = stack.setup.county_dir
    before = registry_stamp(county_dir)
    monkeypatch.setattr("provisioning.county._finish_rotation", lambda _path: None)
    info = rotate_county_keys(stack.setup.county)  # county.json names the new keys; the files wait as .next
    assert (county_dir / "keys" / "county-sign.next.key").exists()
    keys = load_county(county_dir)
    assert keys.signing_key.verify_key.to_text() == info["sign_key"] and keys.generation == 2
    monkeypatch.undo()
    open_county(county_dir)  # finishes the renames
    assert not (county_dir / "keys" / "county-sign.next.key").exists()
    assert registry_stamp(county_dir) != before
    assert load_county(county_dir).signing_key.verify_key.to_text() == info["sign_key"]


def test_an_enrolment_time_without_a_zone_is_taken_as_now_not_a_crash() -> None:
    record = NodeRecord(
        node_id="n1",
        name="测试",
        division="220581100000",
        number=1,
        secret_digest=secret_digest("s3cret"),
        expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    payload = {
        "node_id": "n1",
        "secret": "s3cret",
        "enrolled_at": "2026-12-02T08:00:00",  # no zone
        "sign_key": SigningKey.generate().verify_key.to_text(),
        "age_recipient": AgeIdentity.generate().recipient.to_text(),
    }
    _enrol(record, payload, datetime.now(UTC).isoformat())
    assert record.status == "active"
