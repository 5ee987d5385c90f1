"""The whole path once, in-process: a case accepted at a node reaches central, its decision comes back.
Plus the refusals that keep the path honest: bad input, tampered, forged and replayed entries."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from central.models import CaseRecord, EventRecord, QuarantineRecord, UpEntryRecord
from node.models import UpEntry
from node.sync.client import sync_once
from node.sync.log import entry_of
from protocol.canonical import canonical_json, parse_json
from protocol.keys import SigningKey
from protocol.log import LogEntry, Receipt
from protocol.requests import sign_request
from tests.backoffice_support import decide, make_lead
from tests.conftest import Stack, login_central, login_node
from tests.support import PDF, VALID_IDS, require_tool

ITEM_QUERY = "zdsh"  # 最低生活保障申请: a 承诺件 with several mandatory materials


async def _item(stack: Stack) -> dict[str, Any]:
    response = await stack.node.get("/api/v1/items", params={"q": ITEM_QUERY})
    assert response.status_code == 200
    item: dict[str, Any] = response.json()["items"][0]
    assert item["name"] == "最低生活保障申请"
    return item


async def accept_one(stack: Stack, id_number: str = VALID_IDS[0], name: str = "张三") -> dict[str, Any]:
    """Walk one case through the window: receive, attach every mandatory material, accept."""
    item = await _item(stack)
    created = await stack.node.post(
        "/api/v1/cases",
        json={
            "item_code": item["code"],
            "applicant": {"name": name, "cert_type": "111", "cert_number": id_number},
        },
    )
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["status"] == "received"
    for material in item["materials"]:
        if material["mandatory"]:
            attached = await stack.node.post(
                f"/api/v1/cases/{case['case_id']}/materials",
                data={"material_id": material["id"]},
                files={"file": (f"{material['id']}.pdf", PDF, "application/pdf")},
            )
            assert attached.status_code == 201, attached.text
    accepted = await stack.node.post(f"/api/v1/cases/{case['case_id']}/accept")
    assert accepted.status_code == 200, accepted.text
    result: dict[str, Any] = accepted.json()
    assert result["status"] == "accepted"
    return result


async def central_counts(stack: Stack) -> dict[str, int]:
    db = stack.central_app.state.central.db
    async with db.transaction() as session:
        return {
            name: int((await session.exec(select(func.count()).select_from(model))).one())
            for name, model in (
                ("entries", UpEntryRecord),
                ("events", EventRecord),
                ("cases", CaseRecord),
                ("quarantine", QuarantineRecord),
            )
        }


async def test_case_accepted_offline_reaches_central_and_the_decision_comes_back(stack: Stack) -> None:
    await login_node(stack)
    case = await accept_one(stack)

    # Nothing has left the node yet: the list says so.
    listed = (await stack.node.get("/api/v1/cases")).json()["cases"]
    assert [(c["case_number"], c["sync_state"]) for c in listed] == [(case["case_number"], "queued")]

    report = await sync_once(stack.central, stack.runtime)
    assert report.rejected == 0 and report.receipted == 2  # enrolment entry + the case's events

    await login_central(stack)
    cases = (await stack.central.get("/api/v1/cases")).json()["cases"]
    assert [(c["case_number"], c["status"], c["applicant_name"]) for c in cases] == [
        (case["case_number"], "accepted", "张三")
    ]
    assert (await stack.node.get("/api/v1/cases")).json()["cases"][0]["sync_state"] == "delivered"

    decided = await decide(stack.central, case["case_id"], "approve", "经审核符合低保条件")
    assert decided.status_code == 200, decided.text

    report = await sync_once(stack.central, stack.runtime)
    # Routing (the job's entry), the decision, and its result document (a 行政给付: no e-licence) come down;
    # the document itself follows as a blob.
    assert report.pulled == 3 and report.applied_events == 3 and report.documents == 1
    at_node = (await stack.node.get(f"/api/v1/cases/{case['case_id']}")).json()
    assert at_node["status"] == "approved"
    assert at_node["decision"]["outcome"] == "approve"
    assert at_node["decision"]["reason"] == "经审核符合低保条件"
    page = await stack.node.get(f"/cases/{case['case_id']}", headers={"accept": "text/html"})
    assert "办理结果：准予" in page.text

    # A second round changes nothing on either side.
    before = await central_counts(stack)
    report = await sync_once(stack.central, stack.runtime)
    assert (report.sent, report.pulled) == (0, 0)
    assert await central_counts(stack) == before


async def test_a_decision_cannot_be_made_twice_or_without_a_reason_for_refusal(stack: Stack) -> None:
    await login_node(stack)
    case = await accept_one(stack)
    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    await make_lead(stack.central, case["case_id"])
    no_reason = await stack.central.post(
        f"/api/v1/cases/{case['case_id']}/decision", json={"outcome": "deny"}
    )
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    ok = await stack.central.post(
        f"/api/v1/cases/{case['case_id']}/decision", json={"outcome": "deny", "reason": "收入超标"}
    )
    assert ok.status_code == 200
    again = await stack.central.post(f"/api/v1/cases/{case['case_id']}/decision", json={"outcome": "approve"})
    assert again.status_code == 409 and again.json()["code"] == "OW-1301"


async def test_bad_input_is_refused_with_the_field_and_changes_nothing(stack: Stack) -> None:
    await login_node(stack)
    item = await _item(stack)

    async def create(body: Any) -> dict[str, Any]:
        response = await stack.node.post("/api/v1/cases", json=body)
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem: dict[str, Any] = response.json()
        return problem

    wrong_digit = VALID_IDS[0][:-1] + "1"
    problem = await create(
        {"item_code": item["code"], "applicant": {"name": "张三", "cert_number": wrong_digit}}
    )
    assert (problem["code"], problem["field"]) == ("OW-1005", "applicant.cert_number")
    assert "校验位" in problem["detail"]

    problem = await create(
        {
            "item_code": "11220581MB015288084000500199000",
            "applicant": {"name": "张三", "cert_number": VALID_IDS[0]},
        }
    )
    assert (problem["code"], problem["field"]) == ("OW-1004", "item_code")

    problem = await create(
        {"item_code": item["code"], "applicant": {"name": "  ", "cert_number": VALID_IDS[0]}}
    )
    assert (problem["code"], problem["field"]) == ("OW-1006", "applicant.name")

    problem = await create({"item_code": item["code"], "applicant": {"name": "张三", "cert_number": ""}})
    assert (problem["code"], problem["field"]) == ("OW-1006", "applicant.cert_number")

    malformed = await stack.node.post(
        "/api/v1/cases", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["code"] == "OW-1002"

    assert (await stack.node.get("/api/v1/cases")).json()["cases"] == []

    # A case missing mandatory materials cannot be accepted; a file that is not what it claims is refused.
    created = await stack.node.post(
        "/api/v1/cases",
        json={"item_code": item["code"], "applicant": {"name": "李四", "cert_number": VALID_IDS[1]}},
    )
    case_id = created.json()["case_id"]
    refused = await stack.node.post(f"/api/v1/cases/{case_id}/accept")
    assert refused.status_code == 409 and refused.json()["field"] == "materials"
    assert refused.json()["code"] == "OW-1302"
    fake_pdf = await stack.node.post(
        f"/api/v1/cases/{case_id}/materials",
        data={"material_id": item["materials"][0]["id"]},
        files={"file": ("scan.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
    )
    assert fake_pdf.status_code == 422 and fake_pdf.json()["field"] == "file"
    state = (await stack.node.get(f"/api/v1/cases/{case_id}")).json()
    assert state["status"] == "received" and state["materials"] == []
    listed = (await stack.node.get("/api/v1/cases")).json()["cases"]
    assert [(c["case_id"], c["sync_state"]) for c in listed] == [(case_id, "draft")]


async def test_every_api_needs_a_login(stack: Stack) -> None:
    for path in ("/api/v1/cases", "/api/v1/items", "/api/v1/sync/status"):
        response = await stack.node.get(path)
        assert response.status_code == 401 and response.json()["code"] == "OW-1101"
    assert (await stack.central.get("/api/v1/cases")).status_code == 401
    wrong = await stack.node.post("/api/v1/login", json={"username": "clerk", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "OW-1103"


def _db_rows(node_dir: Path) -> list[tuple[int, str, bytes]]:
    with sqlite3.connect(node_dir / "node.db") as db:
        return list(db.execute("SELECT seq, kind, ciphertext FROM up_entry ORDER BY seq"))


async def test_the_age_tool_decrypts_an_up_entry_with_the_county_identity(
    stack: Stack, tmp_path: Path
) -> None:
    age = require_tool("age")
    await login_node(stack)
    case = await accept_one(stack)
    rows = _db_rows(stack.node_dir)
    assert [kind for _, kind, _ in rows] == ["enrol", "events"]
    encrypted = tmp_path / "entry2.age"
    encrypted.write_bytes(rows[1][2])
    result = subprocess.run(
        [age, "-d", "-i", str(stack.setup.county.identity_file), str(encrypted)],
        capture_output=True,
        check=True,
    )
    payload = parse_json(result.stdout)
    assert canonical_json(payload) == result.stdout  # the plaintext is the canonical payload itself
    types = [e["type"] for e in payload["events"]]
    assert types[0] == "case.received" and types[-1] == "case.accepted"
    assert {e["case_id"] for e in payload["events"]} == {case["case_id"]}
    # The node's own age identity cannot read its queue.
    node_identity = tmp_path / "node.agekey"
    node_identity.write_text((stack.runtime.identity.key_dir / "node.agekey").read_text())
    refused = subprocess.run([age, "-d", "-i", str(node_identity), str(encrypted)], capture_output=True)
    assert refused.returncode != 0


async def _push(stack: Stack, entries: list[LogEntry], key: SigningKey | None = None) -> dict[str, Any]:
    runtime = stack.runtime
    body = canonical_json(
        {"node_id": runtime.node_id, "entries": [e.to_wire() for e in entries], "down_head": 0}
    )
    headers = sign_request(
        key or runtime.identity.signing_key, runtime.node_id, "POST", "/sync/v1/up", runtime.now_iso(), body
    )
    response = await stack.central.post(
        "/sync/v1/up", content=body, headers={**headers, "content-type": "application/json"}
    )
    answer: dict[str, Any] = response.json()
    answer["_status"] = response.status_code
    return answer


async def _pending_entry(stack: Stack) -> LogEntry:
    async with stack.runtime.db.read() as session:
        row = (await session.exec(select(UpEntry).order_by(UpEntry.seq.desc()).limit(1))).one()  # type: ignore[attr-defined]
    return entry_of(row, stack.runtime.node_id)


async def test_tampered_forged_and_replayed_entries_are_refused_and_change_nothing(stack: Stack) -> None:
    await login_node(stack)
    await accept_one(stack)
    await sync_once(stack.central, stack.runtime)
    replayed = await _pending_entry(stack)  # seq 2, already at central
    await accept_one(stack, VALID_IDS[1], "李四")
    fresh = await _pending_entry(stack)  # seq 3, not yet sent
    assert fresh.seq == replayed.seq + 1
    before = await central_counts(stack)

    # One bit flipped in the ciphertext.
    flipped = bytearray(fresh.ciphertext)
    flipped[len(flipped) // 2] ^= 0x01
    tampered = LogEntry(
        fresh.node_id, "up", fresh.seq, fresh.prev_hash, fresh.kind, bytes(flipped), fresh.signature
    )
    answer = await _push(stack, [tampered])
    assert [(r["seq"], r["status"], r["code"]) for r in answer["results"]] == [(3, "rejected", "OW-1201")]
    assert await central_counts(stack) == before

    # A signature by another key over the genuine entry (and a request signed by that key).
    forger = SigningKey.generate()
    forged = LogEntry(
        fresh.node_id,
        "up",
        fresh.seq,
        fresh.prev_hash,
        fresh.kind,
        fresh.ciphertext,
        forger.sign(b"onewindow/entry/v1\x00" + bytes.fromhex(fresh.entry_hash)),
    )
    answer = await _push(stack, [forged])
    assert answer["results"][0]["code"] == "OW-1201"
    answer = await _push(stack, [fresh], key=forger)
    assert (answer["_status"], answer["code"]) == (401, "OW-1104")
    assert await central_counts(stack) == before

    # An old entry replayed: a numbered duplicate answer carrying the original receipt; nothing changes.
    first = await _push(stack, [replayed])
    second = await _push(stack, [replayed])
    assert first["results"][0]["status"] == "duplicate" and first["results"][0]["code"] == "OW-1203"
    assert first["results"][0]["receipt"] == second["results"][0]["receipt"]
    Receipt.from_wire(first["results"][0]["receipt"]).verify(stack.setup.county.signing_key().verify_key)
    assert await central_counts(stack) == before

    # The genuine entry still goes through afterwards: refusals poisoned nothing.
    report = await sync_once(stack.central, stack.runtime)
    assert report.rejected == 0 and report.receipted == 1
    after = await central_counts(stack)
    assert after["cases"] == before["cases"] + 1 and after["quarantine"] == 0


async def test_a_fork_is_quarantined_never_overwritten(stack: Stack) -> None:
    await login_node(stack)
    await accept_one(stack)
    await sync_once(stack.central, stack.runtime)
    genuine = await _pending_entry(stack)
    runtime = stack.runtime
    from protocol.log import seal_entry

    other = seal_entry(
        node_id=runtime.node_id,
        stream="up",
        seq=genuine.seq,
        prev_hash=genuine.prev_hash,
        kind="events",
        payload={"events": []},
        recipients=[runtime.identity.county_recipient],
        signer=runtime.identity.signing_key,
    )
    answer = await _push(stack, [other])
    assert answer["results"][0]["code"] == "OW-1204"
    db = stack.central_app.state.central.db
    async with db.transaction() as session:
        stored = await session.get(UpEntryRecord, (runtime.node_id, genuine.seq))
        quarantined = (await session.exec(select(QuarantineRecord))).all()
    assert stored is not None and stored.entry_hash == genuine.entry_hash
    assert [(q.seq, q.code, json.loads(q.wire)["seq"]) for q in quarantined] == [
        (genuine.seq, "OW-1204", genuine.seq)
    ]
