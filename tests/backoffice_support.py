"""Deciding a case the one way the county decides (issue 17): the case routed by the back-office job, and the
decision taken by a member of its lead department — never by a role alone. Tests that need a decided case go
through `decide` (in-process stack) or `decide_sync` (central as a real process); both place the test
reviewer in the case's lead department first, as a county admin would on the 部门人员 page."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import REVIEWER

ADMIN = ("admin", "admin-pass-1")


async def _login(client: Any, who: tuple[str, str]) -> None:
    response = await client.post("/api/v1/login", json={"username": who[0], "password": who[1]})
    assert response.status_code == 200, response.text


async def make_lead(client: Any, case_id: str, who: tuple[str, str] = REVIEWER) -> str:
    """Route pending cases (the admin runs the jobs) and place `who` in `case_id`'s lead department; ends
    logged in as `who`. Returns the lead department's code."""
    await _login(client, ADMIN)
    jobs = await client.post("/api/v1/backoffice/jobs")
    assert jobs.status_code == 200, jobs.text
    case = (await client.get(f"/api/v1/cases/{case_id}")).json()
    assert case["routing"], f"case {case_id} was not routed: {case.get('status')}"
    lead = str(case["routing"]["lead"])
    placed = await client.post(
        "/departments", data={"username": who[0], "department_code": lead, "position": "head"}
    )
    assert placed.status_code in (200, 201, 302, 303), placed.text
    await _login(client, who)
    return lead


async def decide(client: Any, case_id: str, outcome: str, reason: str = "") -> Any:
    """Route the case, make the test reviewer its lead department's, and decide through the case API."""
    await make_lead(client, case_id)
    body: dict[str, str] = {"outcome": outcome}
    if reason:
        body["reason"] = reason
    return await client.post(f"/api/v1/cases/{case_id}/decision", json=body)


def make_lead_sync(client: httpx.Client, case_id: str, who: tuple[str, str] = REVIEWER) -> str:
    """`make_lead` for central as a real process (a plain httpx client)."""
    for account in (ADMIN,):
        assert (
            client.post("/api/v1/login", json={"username": account[0], "password": account[1]}).status_code
            == 200
        )
    jobs = client.post("/api/v1/backoffice/jobs")
    assert jobs.status_code == 200, jobs.text
    case = client.get(f"/api/v1/cases/{case_id}").json()
    assert case["routing"], f"case {case_id} was not routed: {case.get('status')}"
    lead = str(case["routing"]["lead"])
    placed = client.post(
        "/departments", data={"username": who[0], "department_code": lead, "position": "head"}
    )
    assert placed.status_code in (200, 201, 302, 303), placed.text
    assert client.post("/api/v1/login", json={"username": who[0], "password": who[1]}).status_code == 200
    return lead
