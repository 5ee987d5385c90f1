"""Node staff accounts in a real headless Chromium, central and the node as real processes (issue 6, R-PROV-3):
the county admin opens a centre's accounts from the fleet page, creates a logistics account (its password shown
once), disables the window clerk; after the node's next sync the clerk's login at the tablet is refused. Screenshots
land in /tmp/onewindow-shots/ for a human to look at."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import CLERK


def test_the_county_admin_manages_a_centres_accounts_and_the_node_follows(county: County) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=TABLET, locale="zh-CN")
        page.goto(f"{county.central_url}/login?next=/fleet")
        page.fill("#username", "admin")
        page.fill("#password", "admin-pass-1")
        page.click("button[type=submit]")
        # The node enrols at its first sync; until then its accounts cannot be changed.
        deadline = time.monotonic() + 30
        while "运行中" not in page.locator("table.fleet").inner_text() and time.monotonic() < deadline:
            time.sleep(0.5)
            page.reload()
        page.get_by_role("link", name="工作人员账号").first.click()
        expect(page.locator("h1")).to_contain_text("工作人员账号")
        expect(page.locator("tr[data-username=clerk]")).to_contain_text("启用")

        page.fill("#username", "porter")
        page.fill("#display_name", "赵物流")
        page.select_option("#role", "logistics")
        page.get_by_role("button", name="新建并生成临时密码").click()
        once = page.locator(".password-once")
        expect(once).to_contain_text("只显示这一次")
        password = once.locator("code").inner_text()
        assert re.fullmatch(r"[A-Za-z0-9_-]{12}", password), password
        expect(page.locator("tr[data-username=porter]")).to_contain_text("物料流转窗口")
        shot(page, "central-node-staff-created")

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("tr[data-username=clerk]").get_by_role("button", name="停用").click()
        expect(page.locator("tr[data-username=clerk]")).to_contain_text("已停用")
        expect(page.locator(".password-once")).to_have_count(0)  # the password is never shown again
        shot(page, "central-node-staff-disabled")

        tablet = browser.new_page(viewport=TABLET, locale="zh-CN")
        deadline = time.monotonic() + 30
        while True:
            tablet.goto(f"{county.node_url}/login")
            tablet.fill("#username", CLERK[0])
            tablet.fill("#password", CLERK[1])
            tablet.click("button[type=submit]")
            if "停用" in tablet.content() or time.monotonic() > deadline:
                break
            tablet.context.clear_cookies()
            time.sleep(0.5)
        expect(tablet.locator(".error")).to_contain_text("该账号已被县中心停用")
        shot(tablet, "node-login-disabled-account")

        tablet.goto(f"{county.node_url}/login")
        tablet.fill("#username", "porter")
        tablet.fill("#password", password)
        tablet.click("button[type=submit]")
        expect(tablet.locator(".error")).to_have_count(0)
        browser.close()
