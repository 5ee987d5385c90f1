"""The clerk's path through the tablet in a real headless Chromium: log in, find an item by pinyin initials,
receive a case (a wrong ID check digit is refused first), attach every mandatory material, accept; the case
reaches central, a reviewer approves it there, and the decision comes back to the tablet.

Central and the node run as real processes, enrolled through the node's own CLI, exactly as in a centre.
Screenshots of each step land in /tmp/onewindow-shots/ for a human to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import (
    CLERK,
    PDF,
    REVIEWER,
    VALID_IDS,
)

ITEM_NAME = "最低生活保障申请"
APPLICANT = "张三"


def _wrong_check_digit(id_number: str) -> str:
    body, check = id_number[:-1], id_number[-1]
    return body + ("1" if check != "1" else "2")


def _shot(page: Page, name: str) -> None:
    shot(page, name)


def _reload_until(page: Page, url: str, text: str, timeout_s: float = 20.0) -> None:
    """Reload `url` until `text` is on the page (the sync loop runs in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(url)
        if page.get_by_text(text, exact=True).count() > 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not show {text!r} within {timeout_s:.0f} s")
        page.wait_for_timeout(300)


@pytest.mark.slow
def test_clerk_receives_accepts_and_sees_the_county_decision(county: County, tmp_path: Path) -> None:
    scan = tmp_path / "扫描件.pdf"
    scan.write_bytes(PDF)
    node, central = county.node_url, county.central_url

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(10_000)
            page = context.new_page()

            # -- log in on the tablet
            page.goto(f"{node}/login")
            expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
            page.get_by_label("用户名").fill(CLERK[0])
            page.get_by_label("密码").fill(CLERK[1])
            _shot(page, "01-login")
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(f"{node}/cases")

            # -- find the item by pinyin initials (HTMX swaps the list in place)
            page.get_by_role("link", name="受理新办件").click()
            expect(page.get_by_role("heading", name="选择办理事项")).to_be_visible()
            page.get_by_role("searchbox").press_sequentially("zdsh")
            expect(page).to_have_url(re.compile(r"/items\?q=zdsh$"))
            results = page.locator("#item-list a.item")
            expect(results).to_have_count(1)
            expect(results.first.locator(".name")).to_have_text(ITEM_NAME)
            _shot(page, "02-item-search")
            results.first.click()

            # -- the applicant: a wrong check digit is refused in Chinese, and no case is created
            expect(page.get_by_role("heading", name=f"收件：{ITEM_NAME}")).to_be_visible()
            id_number = VALID_IDS[0]
            page.get_by_label("姓名", exact=True).fill(APPLICANT)
            page.get_by_label("证件号码", exact=True).fill(_wrong_check_digit(id_number))
            page.get_by_role("button", name="收件，进入材料清单").click()
            expect(page.get_by_role("alert")).to_contain_text("校验位")
            expect(page.get_by_role("alert")).to_be_visible()
            expect(page.get_by_label("姓名", exact=True)).to_have_value(
                APPLICANT
            )  # the clerk keeps what was typed
            _shot(page, "03-applicant-error")
            listed = context.request.get(f"{node}/api/v1/cases")
            assert listed.ok, listed.text()
            assert listed.json()["cases"] == [], "a refused ID number must not create a case"

            page.get_by_label("证件号码", exact=True).fill(id_number)
            page.get_by_role("button", name="收件，进入材料清单").click()
            expect(page).to_have_url(re.compile(r"/cases/[^/?]+$"))
            case_url = page.url
            case_number = page.locator("#case-number").inner_text().strip()
            assert case_number

            # -- the checklist: one PDF into every mandatory slot, then accept
            slots = page.locator(".checklist > li")
            mandatory = [
                slots.nth(i).locator("strong").inner_text()
                for i in range(slots.count())
                if slots.nth(i).locator(".badge", has_text=re.compile(r"^必备$")).count() == 1
            ]
            assert len(mandatory) >= 2, mandatory
            _shot(page, "04-checklist")
            for name in mandatory:
                slot = slots.filter(has=page.get_by_text(name, exact=True))
                expect(slot.locator(".state-missing")).to_be_visible()
                slot.locator("input[type=file]").set_input_files(scan)
                slot.get_by_role("button", name="上传").click()
                expect(slot.locator(".state-present")).to_contain_text(scan.name)
            expect(page.get_by_text("还缺必备材料")).to_have_count(0)
            page.get_by_role("button", name="确认受理，出具受理通知书").click()
            expect(page.locator("#case-status")).to_have_text("已受理")
            expect(page.locator("#done")).to_contain_text("打印受理通知书")
            _shot(page, "05-accepted")

            # -- the sync loop delivers it to the county
            _reload_until(page, f"{node}/cases", "已送达县中心")
            row = page.locator("tbody tr", has_text=APPLICANT)
            expect(row).to_have_count(1)
            expect(row).to_contain_text("已送达县中心")
            _shot(page, "06-node-list")

            # -- the county routes it to 民政局 and places the reviewer there: only the lead department decides
            county_admin = browser.new_context().request
            login = county_admin.post(
                f"{central}/api/v1/login", data={"username": "admin", "password": "admin-pass-1"}
            )
            assert login.ok, login.text()
            assert county_admin.post(f"{central}/api/v1/backoffice/jobs").json()["routed"] == 1
            placed = county_admin.post(
                f"{central}/departments",
                form={
                    "username": REVIEWER[0],
                    "department_code": "11220581MB01528808",
                    "position": "reviewer",
                },
            )
            assert placed.ok, placed.text()

            # -- the reviewer approves it at central
            reviewer = browser.new_context(viewport=TABLET, locale="zh-CN")
            reviewer.set_default_timeout(10_000)
            back_office = reviewer.new_page()
            back_office.goto(f"{central}/login")
            back_office.get_by_label("用户名").fill(REVIEWER[0])
            back_office.get_by_label("密码").fill(REVIEWER[1])
            back_office.get_by_role("button", name="登录").click()
            expect(back_office).to_have_url(f"{central}/cases")
            back_office.get_by_role("link", name=case_number).click()
            expect(back_office.get_by_role("heading", level=1, name=re.compile(ITEM_NAME))).to_be_visible()
            expect(back_office.get_by_role("heading", name="作出决定")).to_be_visible()
            _shot(back_office, "07-central-case")
            back_office.get_by_role("button", name="准予").click()
            expect(back_office.get_by_role("heading", name="办理决定：准予")).to_be_visible()
            reviewer.close()

            # -- the decision comes back down to the tablet
            _reload_until(page, case_url, "办理结果：准予")
            expect(page.locator("#decision")).to_be_visible()
            _shot(page, "08-node-decision")
        finally:
            browser.close()
