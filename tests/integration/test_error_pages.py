"""Every error a page user can meet is a Chinese page or inline message saying what to do; JSON problem documents
only for API clients (issue 19: 403, 404, 409, 422, 500 at both ends).

A browser asks for ``text/html``; HTMX marks its requests ``HX-Request`` and gets an inline alert (ui.js shows
it at the top of the page); an API client (``/api/``, or a request that does not ask for HTML) gets
``application/problem+json`` as before."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from provisioning.county import catalogue_departments
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_walking_skeleton import accept_one
from tests.support import CLERK, REVIEWER

HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
ADMIN = ("admin", "admin-pass-1")


def _a_person_can_read(text: str) -> None:
    """Chinese, with a way on, and neither JSON nor the catalogue's code nor an English word in the body."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", text, flags=re.S)
    visible = re.sub(r"<[^>]+>", " ", body)
    assert not re.search(r'\{\s*"', visible), visible[:300]
    assert "OW-" not in visible and "urn:onewindow" not in visible
    assert not re.findall(r"(?<![A-Za-z0-9/.-])[A-Za-z]{3,}(?![A-Za-z0-9-])", visible), visible[:400]
    assert re.search(r"请", visible), "the page says what to do"


def _page(answer: Any, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("text/html"), answer.headers["content-type"]
    _a_person_can_read(answer.text)
    return str(answer.text)


async def test_node_pages_answer_403_404_409_in_chinese_and_api_clients_get_json(stack: Stack) -> None:
    await login_node(stack, CLERK)
    # 403: a page of another role (今日大厅 is the lead's and the node admin's), inside the layout with the menu
    forbidden = _page(await stack.node.get("/hall", headers=HTML), 403)
    assert "岗位" in forbidden and "回到首页" in forbidden and 'href="/cases"' in forbidden
    # 404: an address that does not exist, and a case that does not exist
    _page(await stack.node.get("/no-such-page", headers=HTML), 404)
    _page(await stack.node.get("/cases/0000-no-such-case", headers=HTML), 404)
    # 409: a case accepted twice from its page (the second 受理 is refused inline)
    case = await accept_one(stack)
    again = await stack.node.post(f"/cases/{case['case_id']}/accept", headers=HTML)
    assert again.status_code == 409
    assert "不允许" in again.text or "已" in again.text
    assert not re.search(r'\{\s*"type"', again.text)
    # HTMX asks for a part of a page: an inline alert, not JSON
    inline = await stack.node.get("/hall", headers={"HX-Request": "true"})
    assert inline.status_code == 403 and inline.headers["content-type"].startswith("text/html")
    assert inline.text.startswith('<div class="error" role="alert">')
    _a_person_can_read(inline.text)
    # API clients still get problem documents
    api = await stack.node.get("/api/v1/cases/0000-no-such-case")
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")
    assert api.json()["code"] == "OW-1003"
    program = await stack.node.get("/hall", headers={"accept": "application/json"})
    assert program.status_code == 403 and program.json()["code"] == "OW-1102"


async def test_central_pages_answer_403_404_422_in_chinese(stack: Stack) -> None:
    await login_central(stack, REVIEWER)
    forbidden = _page(await stack.central.get("/staff", headers=HTML), 403)
    assert "岗位" in forbidden and "退出" in forbidden  # the layout, with the reviewer's menu
    _page(await stack.central.get("/cases/0000-no-such-case", headers=HTML), 404)
    _page(await stack.central.get("/no-such-page", headers=HTML), 404)
    await login_central(stack, ADMIN)
    department = next(iter(catalogue_departments(stack.setup.county.catalogue())))
    refused = await stack.central.post(
        "/departments",
        data={"username": REVIEWER[0], "department_code": department, "position": "x"},
        headers=HTML,
    )
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    assert not re.search(r'\{\s*"type"', refused.text)
    api = await stack.central.get("/api/v1/cases/0000-no-such-case")
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")


async def test_a_500_is_a_chinese_page_in_the_layout(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import node.intake.hall.dashboard_routes as dashboard

    await login_node(stack, ("lead", "lead-pass-1"))

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("disk /srv/secret is gone")

    monkeypatch.setattr(dashboard, "hall_day", broken)
    with caplog.at_level(logging.ERROR, logger="onewindow.web"):
        page = _page(await stack.node.get("/hall", headers=HTML), 500)
    assert "secret" not in page and "RuntimeError" not in page and "稍后重试" in page
