"""Trust on the pages, in a real headless Chromium (issue 6): the node shows it was activated by central, its admin
rotates the node's keys and shows a new tablet the pairing QR code; the county admin revokes the node on the
fleet page, and the node's sync page says so, keeping everything."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import NODE_ADMIN

COUNTY_ADMIN = ("admin", "admin-pass-1")


@pytest.mark.slow
def test_activation_key_rotation_pairing_and_revocation(county: County) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            node = browser.new_context(viewport=TABLET, locale="zh-CN").new_page()
            node.on("dialog", lambda dialog: dialog.accept())
            node.goto(county.node_url + "/login")
            node.fill("input[name=username]", NODE_ADMIN[0])
            node.fill("input[name=password]", NODE_ADMIN[1])
            node.click("button[type=submit]")
            node.goto(county.node_url + "/sync")
            for _ in range(40):
                if "已由县中心激活" in node.locator("#enrolment-state").inner_text():
                    break
                node.wait_for_timeout(500)
                node.reload()
            expect(node.locator("#enrolment-state")).to_contain_text("已由县中心激活")

            fingerprint = node.locator("#node-keys dd").first.inner_text()
            node.get_by_role("button", name="轮换本节点密钥").click()
            expect(node.locator("#node-keys dd").first).not_to_have_text(fingerprint)
            for _ in range(40):  # the sync loop takes the rotation to central and brings back its receipt
                if "由县中心确认" in node.locator("#node-key-state").inner_text():
                    break
                node.wait_for_timeout(500)
                node.reload()
            expect(node.locator("#node-key-state")).to_contain_text("由县中心确认")
            shot(node, "trust-01-node-sync")

            node.get_by_role("link", name="新平板连接本节点（二维码）").click()
            expect(node.locator("#pairing svg")).to_be_visible()
            expect(node.locator("#pair-fingerprint")).not_to_have_text(fingerprint)
            shot(node, "trust-02-pairing")

            central = browser.new_context(viewport=TABLET, locale="zh-CN").new_page()
            central.on("dialog", lambda dialog: dialog.accept())
            central.goto(county.central_url + "/login")
            central.fill("input[name=username]", COUNTY_ADMIN[0])
            central.fill("input[name=password]", COUNTY_ADMIN[1])
            central.click("button[type=submit]")
            central.goto(county.central_url + "/fleet")
            central.locator("details.revoke summary").first.click()
            central.fill("details.revoke input[name=reason]", "设备被盗")
            central.get_by_role("button", name="吊销节点").click()
            expect(central.locator("table.fleet")).to_contain_text("已吊销")
            expect(central.locator("table.fleet")).to_contain_text("设备被盗")
            shot(central, "trust-03-fleet-revoked")

            node.goto(county.node_url + "/sync")
            for _ in range(40):
                if node.locator("#revoked-banner").count():
                    break
                node.wait_for_timeout(500)
                node.reload()
            expect(node.locator("#revoked-banner")).to_contain_text("不会删除")
            shot(node, "trust-04-node-revoked")
        finally:
            browser.close()
