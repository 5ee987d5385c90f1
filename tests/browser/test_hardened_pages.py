"""Issue 18 in a real Chromium: the pages of both apps live with their Content-Security-Policy (no violation
reported, HTMX and the page scripts work), a state-changing request from the app's own pages works (the browser
sends its Origin), the same request from a foreign page is refused, and after 退出 the old cookie gets the login
page back."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import CLERK

ADMIN = ("admin", "admin-pass-1")
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def _login(page: Page, url: str, who: tuple[str, str]) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _violations(page: Page) -> list[Any]:
    found: list[Any] = page.evaluate("window.__csp || []")
    return found


@pytest.mark.slow
def test_pages_live_with_the_csp_and_forged_posts_are_refused(county: County) -> None:
    node, central = county.node_url, county.central_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.add_init_script(WATCH_CSP)
            page = context.new_page()
            _login(page, node, CLERK)
            for path in ("/cases", "/items", "/window", "/devices", "/sync"):
                page.goto(f"{node}{path}")
                page.wait_for_load_state("networkidle")
                assert _violations(page) == [], (path, _violations(page))
            # HTMX at work under the CSP: the item search answers as the clerk types.
            page.goto(f"{node}/items")
            page.fill("input[name=q]", "dbsh")
            expect(page.get_by_text("最低生活保障申请").first).to_be_visible()
            # A form of the app's own page (a same-origin POST): receive a case.
            page.get_by_text("最低生活保障申请").first.click()
            page.wait_for_load_state("networkidle")
            assert _violations(page) == []
            shot(page, "18_case_form_under_csp")
            # The same POST with the clerk's cookie but from a foreign origin (as a hostile page would send it,
            # were SameSite not there): refused, nothing received.
            forged = page.request.post(
                f"{node}/api/v1/cases", data={"item_code": "x"}, headers={"origin": "http://evil.example"}
            )
            assert forged.status == 403 and forged.json()["field"] == "origin"
            cases = page.request.get(f"{node}/api/v1/cases").json()["cases"]
            assert cases == []
            # 退出: the same cookie gets the login page back.
            cookies = context.cookies()
            page.goto(f"{node}/cases")
            page.click("text=退出")
            page.wait_for_url("**/login**")
            context.add_cookies(cookies)  # the cookie from before the logout
            page.goto(f"{node}/cases")
            expect(page).to_have_url(f"{node}/login?next=/cases&why=ended")

            _login(page, central, ADMIN)
            for path in ("/cases", "/fleet", "/staff", "/catalogue", "/audit"):
                page.goto(f"{central}{path}")
                page.wait_for_load_state("networkidle")
                assert _violations(page) == [], (path, _violations(page))
            shot(page, "18_central_audit_under_csp")
        finally:
            browser.close()
