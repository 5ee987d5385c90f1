"""The audit trail (R-SEC-2) end to end, in-process: who viewed and who did what at the node and at central,
failed logins naming the account tried, admins alone reading the trail, and the chain intact afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from central.audit.service import verify as verify_central
from node.audit.service import verify as verify_node
from provisioning.county import StaffSpec, add_central_user, add_node, init_county
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_walking_skeleton import accept_one
from tests.support import CLERK, LEAD, NODE_ADMIN, REVIEWER, CountySetup

COUNTY_ADMIN = ("admin", "admin-pass-1")
SUPERVISOR = ("supervisor", "supervisor-pass-1")


@pytest.fixture
def county(tmp_path: Path) -> CountySetup:
    """One node whose bundle also holds a node admin; central with a reviewer and a supervisor."""
    county = init_county(
        tmp_path / "county", name="梅河口市", division="220581", admin_password=COUNTY_ADMIN[1]
    )
    add_central_user(
        county, username=REVIEWER[0], display_name="审核员", role="reviewer", password=REVIEWER[1]
    )
    add_central_user(
        county, username=SUPERVISOR[0], display_name="督查员", role="supervisor", password=SUPERVISOR[1]
    )
    bundle = add_node(
        county,
        name="测试1号便民服务中心",
        division="220581101000",
        central_urls=["http://central.test"],
        out=tmp_path / "node1.bundle",
        staff=[
            StaffSpec(CLERK[0], "窗口", "window", CLERK[1]),
            StaffSpec(LEAD[0], "负责人", "lead", LEAD[1]),
            StaffSpec(NODE_ADMIN[0], "管理员", "node_admin", NODE_ADMIN[1]),
        ],
    )
    return CountySetup(tmp_path, county, [bundle])


async def _node_audit(stack: Stack, **params: str) -> list[dict[str, Any]]:
    response = await stack.node.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


async def test_a_clerk_viewing_and_accepting_a_case_is_on_the_node_trail(stack: Stack) -> None:
    await login_node(stack)
    case = await accept_one(stack, id_number="11010519491231002X")
    case_id = case["case_id"]
    viewed = await stack.node.get(f"/cases/{case_id}", headers={"accept": "text/html"})
    assert viewed.status_code == 200
    # The search box's words are not kept, only that there was a search.
    assert (await stack.node.get("/api/v1/items", params={"q": "11010519491231002X"})).status_code == 200
    await stack.node.post("/logout")

    # A clerk may not read the trail.
    await login_node(stack)
    assert (await stack.node.get("/api/v1/audit")).status_code == 403
    assert (await stack.node.get("/audit", headers={"accept": "text/html"})).status_code == 403

    await login_node(stack, NODE_ADMIN)
    on_case = await _node_audit(stack, object=case_id)
    by_what = {(e["actor"], e["role"], e["action"], e["route"]) for e in on_case}
    assert ("clerk", "window", "create", "/api/v1/cases") in by_what  # the new case's id, from the answer
    assert ("clerk", "window", "update", "/api/v1/cases/{case_id}/accept") in by_what
    assert ("clerk", "window", "view", "/cases/{case_id}") in by_what
    accepted = next(e for e in on_case if e["route"].endswith("/accept"))
    assert (accepted["method"], accepted["status"], accepted["object_type"]) == ("POST", 200, "case")

    # The case number finds the same rows as the case id.
    assert await _node_audit(stack, object=case["case_number"]) == on_case
    # A failed read is on the trail too, with its status.
    refused = await _node_audit(stack, actor="clerk", text="/api/v1/audit")
    assert [(e["action"], e["status"]) for e in refused] == [("view", 403)]
    # Logins and logouts, by name.
    sessions = [(e["actor"], e["action"]) for e in reversed(await _node_audit(stack, text="/log"))]
    assert sessions[:3] == [("clerk", "login"), ("clerk", "logout"), ("clerk", "login")]
    assert sessions[-1] == ("nodeadmin", "login")
    # No ID number anywhere in the trail, not even from the query string.
    everything = await _node_audit(stack)
    assert everything and all("11010519491231002X" not in str(e) for e in everything)
    search = next(e for e in everything if e["route"] == "/api/v1/items")
    assert search["query"] == "q"

    report = await verify_node(stack.runtime.db)
    assert report.intact and report.rows >= len(everything)
    chain = (await stack.node.get("/api/v1/audit/verify")).json()
    assert chain["intact"] is True


async def test_a_failed_login_names_the_account_tried(stack: Stack) -> None:
    refused = await stack.node.post("/api/v1/login", json={"username": "clerk", "password": "wrong-password"})
    assert refused.status_code == 401
    form = await stack.node.post("/login", data={"username": "nobody", "password": "x", "next": "/cases"})
    assert form.status_code == 401
    await login_node(stack, NODE_ADMIN)
    failed = await _node_audit(stack, action="login_failed")
    assert [(e["actor"], e["path"], e["status"]) for e in failed] == [
        ("nobody", "/login", 401),
        ("clerk", "/api/v1/login", 401),
    ]
    assert all("wrong-password" not in str(e) for e in failed)


async def test_filters_and_pages_newest_first(stack: Stack) -> None:
    await login_node(stack, NODE_ADMIN)
    for _ in range(60):
        assert (await stack.node.get("/api/v1/cases")).status_code == 200
    first = (await stack.node.get("/api/v1/audit", params={"text": "/api/v1/cases"})).json()
    assert len(first["entries"]) == 50 and first["next_before"] is not None
    ids = [e["id"] for e in first["entries"]]
    assert ids == sorted(ids, reverse=True)
    rest = (
        await stack.node.get(
            "/api/v1/audit", params={"text": "/api/v1/cases", "before": first["next_before"]}
        )
    ).json()
    assert len(rest["entries"]) == 10 and rest["next_before"] is None
    today = stack.runtime.today().isoformat()
    assert len(await _node_audit(stack, date_from=today, date_to=today, text="/api/v1/cases")) == 50
    assert await _node_audit(stack, date_to="2020-01-01") == []
    bad = await stack.node.get("/api/v1/audit", params={"date_from": "yesterday"})
    assert bad.status_code == 422 and bad.json()["field"] == "date_from"
    unknown = await stack.node.get("/api/v1/audit", params={"action": "teleport"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "action"


async def test_central_records_a_reviewer_viewing_a_case_and_only_admins_read_it(stack: Stack) -> None:
    await login_node(stack)
    case = await accept_one(stack)
    from node.sync.client import sync_once

    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    page = await stack.central.get(f"/cases/{case['case_id']}", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert (await stack.central.get("/api/v1/audit")).status_code == 403  # a reviewer may not read it
    await stack.central.post("/api/v1/login", json={"username": "admin", "password": "not-it"})

    for who in (COUNTY_ADMIN, SUPERVISOR):
        await login_central(stack, who)
        response = await stack.central.get("/api/v1/audit", params={"object": case["case_number"]})
        assert response.status_code == 200, response.text
        rows = response.json()["entries"]
        assert [(e["actor"], e["role"], e["action"], e["route"], e["status"]) for e in rows] == [
            ("reviewer", "reviewer", "view", "/cases/{case_id}", 200)
        ]
    failed = (await stack.central.get("/api/v1/audit", params={"action": "login_failed"})).json()["entries"]
    assert [(e["actor"], e["status"]) for e in failed] == [("admin", 401)]
    # The node's sync traffic is not on the trail: nodes are logged by the sync logs.
    assert not [
        e for e in (await stack.central.get("/api/v1/audit")).json()["entries"] if "/sync/" in e["path"]
    ]
    assert (await verify_central(stack.central_app.state.central.db)).intact
