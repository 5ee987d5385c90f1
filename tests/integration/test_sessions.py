"""Issue 18: a logout ends the session server-side at both apps (the same cookie, kept by an attacker or left in a
browser, gets 401 / the login page afterwards), each login starts a session with a new id, and the node's
lockout counts parallel guesses one after another: 30 at once check the password at most 5 times."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

import node.staff
from tests.conftest import Stack
from tests.support import CLERK, REVIEWER


async def _login(client: AsyncTestClient[Litestar], who: tuple[str, str]) -> str:
    answer = await client.post("/api/v1/login", json={"username": who[0], "password": who[1]})
    assert answer.status_code == 200, answer.text
    return str(answer.cookies.get(_cookie_name(client)) or client.cookies.get(_cookie_name(client)))


def _cookie_name(client: AsyncTestClient[Litestar]) -> str:
    return "ow_node" if "node" in str(client.base_url) else "ow_central"


@pytest.mark.parametrize("app", ["node", "central"])
async def test_a_cookie_used_after_logout_is_refused(stack: Stack, app: str) -> None:
    client, who, api = (
        (stack.node, CLERK, "/api/v1/cases") if app == "node" else (stack.central, REVIEWER, "/api/v1/cases")
    )
    name = _cookie_name(client)
    first = await _login(client, who)
    assert (await client.get(api)).status_code == 200
    second = await _login(client, who)
    assert second != first  # a new session id at every login (the cookie is replaced whole)
    kept = client.cookies.get(name)
    assert (await client.post("/logout")).status_code in (200, 302, 303)
    client.cookies.set(name, kept)  # the cookie as it was before the logout, replayed
    refused = await client.get(api)
    assert refused.status_code == 401 and refused.json()["code"] in ("OW-1101", "OW-1106"), refused.text
    client.cookies.set(name, kept)
    page = await client.get("/cases", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
    # The session of the first login (another tablet, say) is its own: still open until it logs out.
    client.cookies.set(name, first)
    assert (await client.get(api)).status_code == 200


async def test_thirty_parallel_wrong_logins_check_the_password_at_most_five_times(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = 0
    real = node.staff.verify_password

    def counting(password: str, hashed: str) -> bool:
        nonlocal checked
        checked += 1
        return real(password, hashed)

    monkeypatch.setattr(node.staff, "verify_password", counting)

    async def guess(n: int) -> Any:
        return await stack.node.post("/api/v1/login", json={"username": CLERK[0], "password": f"wrong-{n}"})

    answers = await asyncio.gather(*(guess(n) for n in range(30)))
    statuses = sorted(answer.status_code for answer in answers)
    assert checked <= 5, checked
    assert statuses.count(401) == 4 and statuses.count(423) == 26, statuses
    locked = await stack.node.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
    assert locked.status_code == 423 and checked <= 5  # even the right password: locked, not checked
