"""Issue 18: what a fuzzer, a hostile page and a careless clerk found, each refused now — and one entry central
cannot take no longer stops a centre's log.

- bounds: a 17 MiB 法定代表人 is refused at the window naming the field (the JSON API and the form), nothing kept;
- no queue blocked: an entry central refuses as a whole is stored and quarantined, the entries behind it arrive,
  and both ends show the held one with its reason (central's limit lowered; and a real 17 MiB entry);
- the inputs that answered 5xx answer 4xx; an unforeseen error is logged with its traceback and answered in
  Chinese with no internals; every answer carries the security headers; the OpenAPI documents problem+json;
- a cross-origin POST with a valid session changes nothing at either app.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
from sqlmodel import select

from central.models import QuarantineRecord
from node.models import UpEntry
from node.sync.client import sync_once
from node.sync.log import append_up_entry, seal_pending
from protocol.limits import MAX_ENTRY_CIPHERTEXT, MAX_NAME
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_walking_skeleton import accept_one, central_counts
from tests.support import NODE_ADMIN, VALID_IDS

COMPANY = {"kind": "legal_person", "name": "梅河口市红梅镇好邻居超市", "cert_number": "91350100M000100Y43"}
AGENT = {"name": "李四", "cert_type": "111", "cert_number": VALID_IDS[1]}
BUSINESS = "个体工商户设立登记"
ADMIN = ("admin", "admin-pass-1")
EVIL = "http://evil.example"


async def _item(stack: Stack, name: str) -> dict[str, Any]:
    items = (await stack.node.get("/api/v1/items")).json()["items"]
    return next(i for i in items if i["name"] == name)


async def _cases(stack: Stack) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = (await stack.node.get("/api/v1/cases")).json()["cases"]
    return cases


# ---- bounds ----------------------------------------------------------------------------------------------------


async def test_a_17_mib_legal_representative_is_refused_at_the_window_naming_the_field(stack: Stack) -> None:
    await login_node(stack)
    item = await _item(stack, BUSINESS)
    huge = "法" * (17 * 1024 * 1024 // 3 + 1)  # 17 MiB of UTF-8
    for value, status in ((huge, 413), ("张" * (MAX_NAME + 1), 422)):
        answer = await stack.node.post(
            "/api/v1/cases",
            json={
                "item_code": item["code"],
                "applicant": {**COMPANY, "legal_representative": value},
                "agent": AGENT,
            },
        )
        assert answer.status_code == status, answer.text[:300]
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "legal_representative" in answer.json()["field"]
    # The form at the window: over the bound, the page comes back saying which field (法定代表人).
    form = {
        "item_code": item["code"],
        **{k: v for k, v in COMPANY.items()},
        "legal_representative": "张" * (MAX_NAME + 1),
        "agent_name": AGENT["name"],
        "agent_cert_type": "111",
        "agent_cert_number": AGENT["cert_number"],
    }
    page = await stack.node.post("/cases", data=form)
    assert page.status_code == 422 and "法定代表人过长" in page.text
    big_form = await stack.node.post("/cases", data={**form, "legal_representative": huge})
    assert big_form.status_code == 413 and big_form.json()["field"] == "legal_representative"
    assert await _cases(stack) == []  # nothing was received
    ok = await stack.node.post(
        "/api/v1/cases",
        json={
            "item_code": item["code"],
            "applicant": {**COMPANY, "legal_representative": "王五"},
            "agent": AGENT,
        },
    )
    assert ok.status_code == 201, ok.text


# ---- no queue can be blocked by one entry ----------------------------------------------------------------------


async def _lower_central_limit(stack: Stack, limit: int) -> None:
    central = stack.central_app.state.central
    central.settings = dataclasses.replace(central.settings, max_entry_bytes=limit)


async def test_an_entry_central_refuses_whole_no_longer_blocks_the_entries_behind_it(stack: Stack) -> None:
    await login_node(stack)
    await sync_once(stack.central, stack.runtime)  # enrolled
    item = await _item(stack, BUSINESS)
    big = await stack.node.post(
        "/api/v1/cases",
        json={
            "item_code": item["code"],
            "applicant": {**COMPANY, "legal_representative": "王" * MAX_NAME},
            "agent": AGENT,
        },
    )
    assert big.status_code == 201, big.text
    refused = await stack.node.post(
        f"/api/v1/cases/{big.json()['case_id']}/refuse",
        json={"reasons": "理由" * 1900, "legal_basis": "依据" * 1900, "competent_organ": "市场监督管理局"},
    )
    assert refused.status_code == 200, refused.text
    async with stack.runtime.db.write() as session:
        await seal_pending(session, stack.runtime)
    behind = await accept_one(stack, VALID_IDS[2], "后面的申请人")  # queued behind it
    async with stack.runtime.db.write() as session:
        await seal_pending(session, stack.runtime)
        pending = list((await session.exec(select(UpEntry).where(UpEntry.receipt == None))).all())  # noqa: E711
    assert len(pending) == 2
    largest, small = sorted(pending, key=lambda row: row.seq)
    assert len(largest.ciphertext) > len(small.ciphertext)
    # Central is configured to take less than that one entry (any "too large" a future rule might set).
    await _lower_central_limit(stack, (len(largest.ciphertext) + len(small.ciphertext)) // 2)
    report = await sync_once(stack.central, stack.runtime)
    assert report.rejected == 0 and report.quarantined == 1, report
    await login_central(stack)
    listed = {c["case_id"] for c in (await stack.central.get("/api/v1/cases")).json()["cases"]}
    assert behind["case_id"] in listed  # the case behind it reached central
    async with stack.runtime.db.read() as session:
        rows = list((await session.exec(select(UpEntry))).all())
    assert all(row.receipt for row in rows)  # nothing waits: the chain is whole at central
    held = [row for row in rows if row.central_status == "quarantined"]
    assert [row.seq for row in held] == [largest.seq] and "OW-1221" in (held[0].central_reason or "")
    # Visible at both ends: the node's sync page (its admin), central's held entries.
    await login_node(stack, NODE_ADMIN)
    status = (await stack.node.get("/api/v1/sync/status")).json()
    assert any(q["seq"] == largest.seq and "OW-1221" in q["reason"] for q in status["quarantined"]), status
    async with stack.central_app.state.central.db.transaction() as session:
        record = (await session.exec(select(QuarantineRecord))).one()
    assert (record.seq, record.code) == (largest.seq, "OW-1221") and "上限" in record.reason


async def test_a_real_17_mib_entry_is_held_at_central_and_the_case_behind_it_arrives(stack: Stack) -> None:
    """The failure of the issue itself: an entry of 17 MiB (more than central applies, `MAX_ENTRY_CIPHERTEXT`)
    signed by the node — as an older node could have sealed — is stored and quarantined; the log goes on."""
    await login_node(stack)
    await sync_once(stack.central, stack.runtime)
    async with stack.runtime.db.write() as session:
        oversized = await append_up_entry(
            session, stack.runtime, kind="events", payload={"events": [], "pad": "x" * (17 * 1024 * 1024)}
        )
    assert len(oversized.ciphertext) > MAX_ENTRY_CIPHERTEXT
    behind = await accept_one(stack)
    report = await sync_once(stack.central, stack.runtime)
    assert report.rejected == 0 and report.quarantined == 1, report
    counts = await central_counts(stack)
    assert counts["cases"] == 1 and counts["quarantine"] == 1
    await login_central(stack)
    assert (await stack.central.get(f"/api/v1/cases/{behind['case_id']}")).status_code == 200


# ---- inputs that answered 5xx ------------------------------------------------------------------------------


async def test_the_inputs_that_answered_5xx_answer_4xx(stack: Stack) -> None:
    await login_node(stack, NODE_ADMIN)
    await login_central(stack, ADMIN)
    deep = b"[" * 1000 + b"]" * 1000
    deep_object = b'{"a":' * 1000 + b"1" + b"}" * 1000
    json_posts = [
        (stack.node, "/api/v1/cases"),
        (stack.node, "/api/v1/login"),
        (stack.node, "/api/v1/ratings"),
        (stack.central, "/api/v1/login"),
        (stack.central, "/sync/v1/up"),  # without any signature
        (stack.central, "/sync/v1/hello"),
    ]
    for client, path in json_posts:
        for body in (deep, deep_object):
            answer = await client.post(path, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == 400, (path, answer.status_code, answer.text[:200])
            assert answer.json()["code"] == "OW-1002"
    huge = str(2**63)
    for client, method, path in (
        (stack.node, "GET", f"/api/v1/audit?before={huge}"),
        (stack.node, "GET", f"/audit?before={huge}"),
        (stack.central, "GET", f"/api/v1/audit?before={huge}"),
        (stack.central, "POST", f"/fleet/quarantine/{huge}/reject"),
        (stack.central, "GET", f"/sync/v1/down?after={huge}"),
    ):
        answer = await client.request(method, path)
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:200])
    for path, data in (("/devices/sim/card", {"card": "abc"}), ("/devices/sim/press", {"button": "x"})):
        answer = await stack.node.post(path, data=data)
        assert 400 <= answer.status_code < 500, (path, answer.text[:200])
    assert (await stack.node.post("/devices/0/window", data={"window": "1"})).status_code == 404


async def test_an_unforeseen_error_is_logged_with_its_traceback_and_answered_without_internals(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import node.auth_routes

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("database path /srv/secret/node.db is gone")

    monkeypatch.setattr(node.auth_routes, "authenticate", broken)
    with caplog.at_level(logging.ERROR, logger="onewindow.web"):
        api = await stack.node.post("/api/v1/login", json={"username": "clerk", "password": "x"})
        page = await stack.node.post(
            "/login", data={"username": "clerk", "password": "x"}, headers={"accept": "text/html"}
        )
    assert api.status_code == 500 and api.headers["content-type"].startswith("application/problem+json")
    assert api.json()["code"] == "OW-1901" and "服务器内部错误" in api.json()["title"]
    assert page.status_code == 500 and "服务器内部错误" in page.text
    for answer in (api, page):
        assert "secret" not in answer.text and "RuntimeError" not in answer.text
    logged = [r for r in caplog.records if r.name == "onewindow.web"]
    assert len(logged) == 2 and all(r.exc_info and r.exc_info[0] is RuntimeError for r in logged)
    assert "/api/v1/login" in logged[0].getMessage()


# ---- headers, documents ----------------------------------------------------------------------------------------


async def test_every_answer_carries_the_security_headers(stack: Stack) -> None:
    await login_node(stack)
    answers = [
        await stack.node.get("/cases", headers={"accept": "text/html"}),
        await stack.node.get("/api/v1/cases"),
        await stack.node.get("/static/htmx.min.js"),
        await stack.node.get("/no/such/page"),
        await stack.node.post("/api/v1/cases", json={}, headers={"origin": EVIL}),
        await stack.central.get("/login"),
        await stack.central.get("/sync/v1/info"),
        await stack.central.get("/static/style.css"),
    ]
    for answer in answers:
        csp = answer.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors" in csp, answer.url
        assert answer.headers["x-frame-options"] == "SAMEORIGIN"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"


async def test_the_openapi_documents_problem_json_for_errors(stack: Stack) -> None:
    await login_node(stack)
    await login_central(stack)
    for client in (stack.node, stack.central):
        spec = (await client.get("/schema/openapi.json")).json()
        assert "Problem" in spec["components"]["schemas"]
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                for code, answer in operation["responses"].items():
                    if str(code).startswith("4"):
                        media = answer.get("content", {})
                        assert "application/problem+json" in media, (method, path, code)
                        assert "application/json" not in media, (method, path, code)
    answer = await stack.node.post("/api/v1/cases", json={"item_code": 3})
    assert answer.status_code == 400 and answer.headers["content-type"].startswith("application/problem+json")


# ---- cross-site request forgery ------------------------------------------------------------------------------


async def test_a_cross_origin_post_with_a_valid_session_changes_nothing_at_either_app(stack: Stack) -> None:
    await login_node(stack)
    item = await _item(stack, BUSINESS)
    body = {"item_code": item["code"], "applicant": {"name": "张三", "cert_number": VALID_IDS[0]}}
    for headers in ({"origin": EVIL}, {"origin": "null"}, {"sec-fetch-site": "cross-site"}):
        forged = await stack.node.post("/api/v1/cases", json=body, headers=headers)
        assert forged.status_code == 403 and forged.json()["field"] == "origin", forged.text
        form = await stack.node.post(
            "/cases", data={"item_code": item["code"], "name": "张三"}, headers=headers
        )
        assert form.status_code == 403
    assert await _cases(stack) == []
    own = await stack.node.post("/api/v1/cases", json=body, headers={"origin": "http://node.test"})
    assert own.status_code == 201, own.text
    same = await stack.node.post("/api/v1/cases", json=body, headers={"sec-fetch-site": "same-origin"})
    assert same.status_code == 201, same.text

    await sync_once(stack.central, stack.runtime)  # enrolled: central can send the node accounts
    await login_central(stack, ADMIN)
    node_id = stack.setup.bundles[0].node_id
    account = {"username": "forged", "display_name": "伪造", "role": "window"}
    forged = await stack.central.post(f"/nodes/{node_id}/staff", data=account, headers={"origin": EVIL})
    assert forged.status_code == 403
    staff = (await stack.central.get(f"/api/v1/nodes/{node_id}/staff")).json()["staff"]
    assert "forged" not in {s["username"] for s in staff}
    own = await stack.central.post(
        f"/nodes/{node_id}/staff", data=account, headers={"origin": "http://central.test"}
    )
    assert own.status_code == 200, own.text[:300]
    staff = (await stack.central.get(f"/api/v1/nodes/{node_id}/staff")).json()["staff"]
    assert "forged" in {s["username"] for s in staff}
    # The signed sync API is not a browser's: exempt (its requests are signed by the node).
    info = await stack.central.post("/sync/v1/hello", json={}, headers={"origin": EVIL})
    assert info.status_code != 403 or info.json().get("field") != "origin"
