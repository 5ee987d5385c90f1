"""The audit pages in a real headless Chromium, with central and the node as real processes: what a clerk and a
reviewer did shows up for the node admin and the county admin, with filters and the chain check; a clerk has no
link to the trail and is refused it. Screenshots land in /tmp/onewindow-shots/ for a human to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import CLERK, NODE_ADMIN, REVIEWER


def _login(page: Page, url: str, who: tuple[str, str]) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("用户名").fill(who[0])
    page.get_by_label("密码").fill(who[1])
    page.get_by_role("button", name="登录").click()


def _logout(page: Page) -> None:
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_label("用户名")).to_be_visible()


@pytest.mark.slow
def test_the_node_admin_searches_the_trail_and_checks_the_chain(county: County) -> None:
    node = county.node_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            _login(page, node, ("clerk", "not-the-password"))
            expect(page.locator(".error")).to_be_visible()
            _login(page, node, CLERK)
            page.goto(f"{node}/cases")
            expect(page.get_by_role("link", name="审计日志")).to_have_count(0)
            assert page.goto(f"{node}/audit").status == 403  # type: ignore[union-attr]
            page.goto(f"{node}/cases")
            _logout(page)

            _login(page, node, NODE_ADMIN)
            page.goto(f"{node}/cases")
            page.get_by_role("link", name="审计日志").click()
            expect(page.get_by_role("heading", name="审计日志")).to_be_visible()
            table = page.locator("table.audit-table")
            expect(table).to_contain_text("登录失败")
            expect(table).to_contain_text("查看 /cases")
            page.get_by_label("工作人员账号").fill("clerk")
            page.get_by_label("操作").select_option("view")
            page.get_by_role("button", name="查询").click()
            rows = page.locator("table.audit-table tbody tr")
            expect(rows.first).to_contain_text("clerk")
            expect(table).not_to_contain_text("nodeadmin")
            expect(table).to_contain_text("403")  # the refused look at /audit
            page.get_by_role("button", name="校验记录链").click()
            expect(page.locator("#chain")).to_contain_text("记录链完整")
            shot(page, "audit-01-node")
        finally:
            browser.close()


@pytest.mark.slow
def test_the_county_admin_sees_who_viewed_a_case_at_central(county: County) -> None:
    central = county.central_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            _login(page, central, REVIEWER)
            page.goto(f"{central}/cases")
            page.goto(f"{central}/fleet")
            _logout(page)

            _login(page, central, ("admin", "admin-pass-1"))
            page.goto(f"{central}/cases")
            page.get_by_role("link", name="审计日志").click()
            table = page.locator("table.audit-table")
            expect(table).to_contain_text("reviewer")
            expect(table).to_contain_text("查看 /fleet")
            expect(table).not_to_contain_text("/sync/v1/")  # the node's own traffic is in the sync logs
            page.get_by_label("路径包含").fill("/fleet")
            page.get_by_role("button", name="查询").click()
            expect(page.locator("table.audit-table tbody tr")).to_have_count(1)
            page.get_by_role("button", name="校验记录链").click()
            expect(page.locator("#chain")).to_contain_text("记录链完整")
            shot(page, "audit-02-central")
        finally:
            browser.close()
