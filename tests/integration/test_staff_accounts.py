"""Staff accounts and roles (issue 6, R-PROV-3; acceptance 6): every route of the node and of central is closed
without a login; the county admin manages a node's accounts at central and the node applies them after a real
sync; roles, the lead's 即办件 authorities, lockout and expiring sessions are enforced."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from central.app import create_app as create_central
from central.settings import CentralSettings
from node.app import create_app as create_node
from node.enrolment import enroll
from node.settings import NodeSettings
from node.sync.client import sync_once
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_acceptance_outcomes import attach_all, item_named, problem, receive
from tests.support import CLERK, LEAD, CountySetup, FakeClock

ADMIN = ("admin", "admin-pass-1")
PENSION_ENROL = "城乡居民基本养老保险参保登记"  # 即办件
BIRTH = "生育登记服务"  # 即办件

# Open without a login, by design: the login itself, health, the hall board (it hangs in the hall), static files,
# and the Prometheus endpoint (its own bearer token, tests/integration/test_metrics.py).
NODE_PUBLIC = {
    ("GET", "/metrics"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/v1/login"),
    ("GET", "/healthz"),
    ("GET", "/board"),
    ("GET", "/board/state"),
    ("GET", "/api/v1/tickets/board"),
    ("GET", "/static/{file_path:path}"),
}
# Central: the same, and the node sync API, where each request is signed by the node's key.
CENTRAL_PUBLIC = {
    ("GET", "/metrics"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/v1/login"),
    ("GET", "/healthz"),
    ("GET", "/static/{file_path:path}"),
}


def _routes(app: Litestar) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}
    )


async def _assert_closed(
    client: AsyncTestClient[Litestar], app: Litestar, public: set[tuple[str, str]], signed: str | None = None
) -> int:
    """Every route outside `public` answers an anonymous caller with 401 (JSON) or a redirect to the login page
    (a browser), never with its content or a crash; routes under `signed` authenticate by request signature
    instead. Returns how many routes were checked."""
    checked = 0
    seen_public = set()
    for method, path in _routes(app):
        if (method, path) in public or (signed is not None and path.startswith(signed)):
            seen_public.add((method, path))
            continue
        # Any value of the parameter's type reaches the handler (an int path parameter needs digits to route).
        url = re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0).endswith(":int}") else "x", path)
        as_api = await client.request(
            method, url, headers={"accept": "application/json"}, follow_redirects=False
        )
        assert as_api.status_code == 401, (method, path, as_api.status_code, as_api.text[:200])
        assert as_api.json()["code"] == "OW-1101", (method, path)
        if not path.startswith(("/api/", "/sync/")):
            as_page = await client.request(
                method, url, headers={"accept": "text/html"}, follow_redirects=False
            )
            assert as_page.status_code in (302, 303), (method, path, as_page.status_code)
            assert as_page.headers["location"].startswith("/login?next="), (method, path)
        checked += 1
    assert public <= seen_public, f"allow-listed routes that no longer exist: {public - seen_public}"
    return checked


async def test_every_route_of_node_and_central_needs_a_login(stack: Stack) -> None:
    assert await _assert_closed(stack.node, stack.node_app, NODE_PUBLIC) > 100
    assert await _assert_closed(stack.central, stack.central_app, CENTRAL_PUBLIC, signed="/sync/v1/") > 50
    # The public ones really are public, and a kiosk tablet reaches the kiosk but nothing else.
    assert (await stack.node.get("/board")).status_code == 200
    assert (await stack.central.get("/sync/v1/info")).status_code == 200
    await login_node(stack)
    assert (await stack.node.post("/kiosk/open", follow_redirects=False)).status_code in (302, 303)
    assert (await stack.node.get("/kiosk")).status_code == 200
    assert (await stack.node.get("/api/v1/cases")).status_code == 401
    assert (await stack.node.get("/archive", follow_redirects=False)).status_code in (302, 303, 401)


# ---- accounts managed at central, applied at the node --------------------------------------------------------


async def _admin_page(stack: Stack, url: str, data: dict[str, Any]) -> str:
    response = await stack.central.post(url, data=data, headers={"accept": "text/html"})
    assert response.status_code == 200, response.text[:500]
    return response.text


def _shown_password(page: str) -> str:
    found = re.search(r'<p class="password"><code>([^<]+)</code>', page)
    assert found, "the new password is shown once on the page"
    return found.group(1)


async def _enrolled(stack: Stack) -> str:
    await sync_once(stack.central, stack.runtime)  # the node enrols at its first contact
    await login_central(stack, ADMIN)
    return stack.runtime.node_id


async def _accepted(stack: Stack, item_name: str) -> str:
    item = await item_named(stack, item_name)
    case = await receive(stack, item)
    await attach_all(stack, case["case_id"], item)
    accepted = await stack.node.post(f"/api/v1/cases/{case['case_id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return str(case["case_id"])


async def test_roles_at_the_window_with_accounts_managed_at_central(stack: Stack) -> None:
    """Acceptance 6: a window clerk cannot decide a 即办件, a lead only those on the authority list the county
    gave, a logistics account cannot accept a case in any form."""
    node_id = await _enrolled(stack)
    base = f"/nodes/{node_id}/staff"
    page = (await stack.central.get(base, headers={"accept": "text/html"})).text
    assert "clerk" in page and "lead" in page  # seeded from the enrolment bundle
    created = await _admin_page(
        stack, base, {"username": "porter", "display_name": "赵物流", "role": "logistics"}
    )
    porter = ("porter", _shown_password(created))
    assert (
        porter[1] not in (await stack.central.get(base, headers={"accept": "text/html"})).text
    )  # shown once
    await login_node(stack)
    pension = await item_named(stack, PENSION_ENROL)
    await _admin_page(stack, f"{base}/lead/authorities", {"authorities": [pension["code"]]})
    wrong = await stack.central.post(
        f"{base}/clerk/authorities", data={"authorities": [pension["code"]]}, headers={"accept": "text/html"}
    )
    assert wrong.status_code == 422 and "只有业务负责人" in wrong.text
    listed = (await stack.central.get(f"/api/v1/nodes/{node_id}/staff")).json()["staff"]
    assert {a["username"]: (a["role"], a["authorities"]) for a in listed}["lead"] == (
        "lead",
        [pension["code"]],
    )
    assert all("password_hash" not in a for a in listed)

    report = await sync_once(stack.central, stack.runtime)
    assert report.pulled == 2  # one staff entry per change

    pension_case = await _accepted(stack, PENSION_ENROL)
    birth_case = await _accepted(stack, BIRTH)
    by_clerk = await stack.node.post(
        f"/api/v1/cases/{pension_case}/decide-on-spot", json={"outcome": "approve"}
    )
    problem(by_clerk, 403, "OW-1102", "role")

    await login_node(stack, porter)
    item = await item_named(stack, BIRTH)
    for attempt in (
        stack.node.post(f"/api/v1/cases/{birth_case}/accept"),
        stack.node.post(f"/cases/{birth_case}/accept", data={"collection": "window"}),
        stack.node.post(
            f"/api/v1/cases/{birth_case}/accept-with-waiver", json={"waived": [], "supply_by": "2030-01-01"}
        ),
        stack.node.post(
            "/api/v1/cases",
            json={
                "item_code": item["code"],
                "applicant": {"name": "王五", "cert_type": "111", "cert_number": "x"},
            },
        ),
    ):
        response = await attempt
        assert response.status_code == 403, response.text
        if response.headers["content-type"].startswith("text/html"):
            assert "只有综合窗口人员或业务负责人可以受理" in response.text  # the page says why
        else:
            assert response.json()["code"] == "OW-1102"

    await login_node(stack, LEAD)
    outside = await stack.node.post(f"/api/v1/cases/{birth_case}/decide-on-spot", json={"outcome": "approve"})
    reason = problem(outside, 403, "OW-1102", "item_code")
    assert BIRTH in reason and "授权" in reason
    inside = await stack.node.post(
        f"/api/v1/cases/{pension_case}/decide-on-spot", json={"outcome": "approve"}
    )
    assert inside.status_code == 200 and inside.json()["status"] == "approved", inside.text


async def test_an_account_disabled_at_central_is_refused_at_the_node_after_the_sync(stack: Stack) -> None:
    node_id = await _enrolled(stack)
    await login_node(stack)
    assert (await stack.node.get("/api/v1/cases")).status_code == 200
    await _admin_page(stack, f"/nodes/{node_id}/staff/clerk/disable", {})
    # Offline, the node still knows only what it had: the clerk works on until the change arrives.
    assert (await stack.node.get("/api/v1/cases")).status_code == 200
    await sync_once(stack.central, stack.runtime)

    refused = await stack.node.get("/api/v1/cases")
    assert refused.status_code == 401 and refused.json()["code"] == "OW-1106"
    assert "停用" in refused.json()["detail"]
    login = await stack.node.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
    assert login.status_code == 401 and "停用" in login.json()["detail"]

    # Enabled again: a newer version, applied; replaying the older entry changes nothing.
    await _admin_page(stack, f"/nodes/{node_id}/staff/clerk/enable", {})
    await sync_once(stack.central, stack.runtime)
    await login_node(stack)


async def test_lockout_after_five_failures_and_a_reset_at_central_lifts_it(stack: Stack) -> None:
    node_id = await _enrolled(stack)
    clock: FakeClock = stack.clock
    clock.set(clock())
    for attempt in range(1, 5):
        wrong = await stack.node.post("/api/v1/login", json={"username": "lead", "password": "nope"})
        assert wrong.status_code == 401 and f"再错 {5 - attempt} 次" in wrong.json()["detail"]
    fifth = await stack.node.post("/api/v1/login", json={"username": "lead", "password": "nope"})
    assert fifth.status_code == 423 and fifth.json()["code"] == "OW-1105"
    right_but_locked = await stack.node.post("/api/v1/login", json={"username": LEAD[0], "password": LEAD[1]})
    assert right_but_locked.status_code == 423
    assert "后再试" in right_but_locked.json()["detail"] and right_but_locked.json()["field"] == "username"
    page = await stack.node.post(
        "/login", data={"username": LEAD[0], "password": LEAD[1]}, headers={"accept": "text/html"}
    )
    assert page.status_code == 423 and "账号已锁定" in page.text

    clock.advance(minutes=16)  # the lock lapses by itself
    await login_node(stack, LEAD)

    for _ in range(5):
        await stack.node.post("/api/v1/login", json={"username": "lead", "password": "nope"})
    assert (
        await stack.node.post("/api/v1/login", json={"username": "lead", "password": LEAD[1]})
    ).status_code == 423
    reset = await _admin_page(stack, f"/nodes/{node_id}/staff/lead/reset", {})
    new_password = _shown_password(reset)
    await sync_once(stack.central, stack.runtime)
    assert (
        await stack.node.post("/api/v1/login", json={"username": "lead", "password": LEAD[1]})
    ).status_code == 401
    await login_node(stack, ("lead", new_password))  # the reset lifted the lock, at once


async def test_central_locks_a_back_office_name_after_five_failures(
    county: CountySetup, tmp_path: Path
) -> None:
    clock = FakeClock()
    clock.set(clock())
    app = create_central(CentralSettings(data_dir=tmp_path / "c", county_dir=county.county_dir), now=clock)
    async with AsyncTestClient(app=app, base_url="http://central.test") as central:
        for _ in range(5):
            await central.post("/api/v1/login", json={"username": "admin", "password": "wrong"})
        locked = await central.post("/api/v1/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        assert locked.status_code == 423 and locked.json()["code"] == "OW-1105"
        clock.advance(minutes=15, seconds=1)
        assert (
            await central.post("/api/v1/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        ).status_code == 200


# ---- sessions expire ----------------------------------------------------------------------------------------


@pytest.fixture
async def short_sessions(county: CountySetup, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    """A node and central whose logins last 0.6 s idle and 1.5 s at most."""
    node_dir = tmp_path / "short-node"
    await enroll(
        county.bundles[0].bundle_path, node_dir, expected_county=county.bundles[0].county_fingerprint
    )
    node_app = create_node(
        NodeSettings(
            data_dir=node_dir, sync_enabled=False, clock_interval_s=0, session_idle_s=0.6, session_max_s=1.5
        )
    )
    central_app = create_central(
        CentralSettings(
            data_dir=tmp_path / "short-central",
            county_dir=county.county_dir,
            session_idle_s=0.6,
            session_max_s=1.5,
        )
    )
    async with (
        AsyncTestClient(app=node_app, base_url="http://node.test") as node,
        AsyncTestClient(app=central_app, base_url="http://central.test") as central,
    ):
        yield node, central


async def test_an_expired_session_is_refused(short_sessions: tuple[Any, Any]) -> None:
    node, central = short_sessions
    for client, who, url in ((node, CLERK, "/cases"), (central, ADMIN, "/cases")):
        assert (
            await client.post("/api/v1/login", json={"username": who[0], "password": who[1]})
        ).status_code == 200
        for _ in range(3):  # busy: each request keeps the session alive …
            await asyncio.sleep(0.3)
            assert (await client.get(f"/api/v1{url}")).status_code == 200
        await asyncio.sleep(0.7)  # … then over the 1.5 s lifetime however busy
        expired = await client.get(f"/api/v1{url}")
        assert expired.status_code == 401 and expired.json()["code"] == "OW-1106", expired.text
        assert (await client.get(f"/api/v1{url}")).json()["code"] == "OW-1101"  # the cookie is gone too

        assert (
            await client.post("/api/v1/login", json={"username": who[0], "password": who[1]})
        ).status_code == 200
        await asyncio.sleep(0.7)  # idle
        page = await client.get(url, headers={"accept": "text/html"}, follow_redirects=False)
        assert page.status_code in (302, 303) and page.headers["location"] == f"/login?next={url}&why=idle"
        login_page = await client.get(page.headers["location"], headers={"accept": "text/html"})
        assert "长时间未操作，登录已超时" in login_page.text


def test_session_policy_reasons() -> None:
    from protocol.staff import SessionPolicy

    policy = SessionPolicy(idle_s=timedelta(minutes=30).total_seconds(), max_s=12 * 3600)
    assert policy.refusal(issued_at=0, last_seen=0, now=60) is None
    assert policy.refusal(issued_at=0, last_seen=0, now=30 * 60) == "idle"
    assert policy.refusal(issued_at=0, last_seen=12 * 3600 - 1, now=12 * 3600) == "lifetime"
    assert policy.refusal(issued_at=10_000, last_seen=10_000, now=0) == "lifetime"  # issued in the future
