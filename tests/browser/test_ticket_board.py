"""Tickets and calling in a real headless Chromium against a node running as its own process: a staff member
opens the kiosk tablet (取号机模式), a citizen takes a ticket, the window clerk calls it, and the hall board —
open in another browser context without any login — shows the called number within two seconds.

Screenshots land in /tmp/onewindow-shots/ticket-*.png for a human to look at.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import (
    CLERK,
    LEAD,
    VALID_IDS,
)

HALL_SCREEN = {"width": 1920, "height": 1080}  # the TV on the hall wall


def _shot(page: Page, name: str) -> None:
    shot(page, f"ticket-{name}")


def _login(page: Page, who: tuple[str, str]) -> None:
    expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    page.get_by_label("用户名").fill(who[0])
    page.get_by_label("密码").fill(who[1])
    page.get_by_role("button", name="登录").click()


@pytest.mark.slow
def test_a_ticket_taken_at_the_kiosk_is_called_at_the_window_and_shown_on_the_board(
    offline_node: County,
) -> None:
    url = offline_node.node_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=offline_node.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            # -- the hall board: no login, nothing called yet
            hall = browser.new_context(viewport=HALL_SCREEN, locale="zh-CN")
            hall.set_default_timeout(10_000)
            board = hall.new_page()
            board.goto(f"{url}/board")
            expect(board.get_by_text("今日尚未开始叫号")).to_be_visible()
            _shot(board, "board-empty")

            # -- the kiosk tablet: opened once by staff, then in kiosk mode
            kiosk_context = browser.new_context(viewport=TABLET, locale="zh-CN")
            kiosk_context.set_default_timeout(10_000)
            kiosk = kiosk_context.new_page()
            kiosk.goto(f"{url}/kiosk")
            _login(kiosk, CLERK)
            expect(kiosk).to_have_url(f"{url}/kiosk")
            kiosk.get_by_role("button", name="开启取号机模式").click()
            expect(kiosk.get_by_role("heading", name="请点击要办理的业务取号")).to_be_visible()
            expect(kiosk.get_by_role("button", name="开启取号机模式")).to_have_count(0)
            expect(kiosk.get_by_text("绿色通道")).to_have_count(0)  # staff only
            _shot(kiosk, "kiosk")

            kiosk.get_by_role("button", name="A 综合受理").click()
            expect(kiosk).to_have_url(re.compile(r"/kiosk/tickets/[^/]+$"))
            expect(kiosk.locator("#ticket-number")).to_have_text("A001")
            expect(kiosk.locator("#ticket-ahead")).to_contain_text("前面还有 0 人")
            _shot(kiosk, "slip")

            # A second citizen, elderly, swipes the ID card for 出件领取.
            kiosk.get_by_role("link", name="完成").click()
            kiosk.get_by_text("老年人", exact=True).click()
            kiosk.get_by_label("刷身份证取号（可选）").fill(VALID_IDS[0])
            kiosk.get_by_role("button", name="B 出件领取").click()
            expect(kiosk.locator("#ticket-number")).to_have_text("B001")
            expect(kiosk.get_by_text("优先：老年人")).to_be_visible()
            # The same card cannot hold two waiting tickets of one category.
            kiosk.get_by_role("link", name="完成").click()
            kiosk.get_by_label("刷身份证取号（可选）").fill(VALID_IDS[0])
            kiosk.get_by_role("button", name="B 出件领取").click()
            expect(kiosk.get_by_role("alert")).to_contain_text("不能重复取号")

            # -- the window clerk: name the window once, then call
            desk = browser.new_context(viewport=TABLET, locale="zh-CN")
            desk.set_default_timeout(10_000)
            window = desk.new_page()
            window.goto(f"{url}/window")
            _login(window, CLERK)
            expect(window.get_by_role("heading", name="设置本窗口")).to_be_visible()
            window.get_by_label("窗口名称（显示在大屏上）").fill("3号窗口")
            window.get_by_role("button", name="保存").click()
            expect(window.locator("#window-name")).to_have_text("3号窗口")
            expect(window.locator("#next-numbers")).to_contain_text("B001")

            # Priority first: the elderly B001 before A001.
            window.get_by_role("button", name="叫号", exact=True).click()
            expect(board.locator("#latest-number")).to_have_text("B001", timeout=2000)
            expect(board.locator("#latest-window")).to_have_text("3号窗口")
            expect(window.locator("#current-number")).to_have_text("B001")
            window.get_by_role("button", name="开始办理").click()
            expect(window.locator("#current-status")).to_have_text("办理中")
            expect(board.locator('[data-window="3号窗口"] .state')).to_have_text("正在办理", timeout=2000)
            window.get_by_role("button", name="办结").click()
            expect(window.locator("#current-number")).to_have_text("—")

            window.get_by_role("button", name="叫号", exact=True).click()
            expect(board.locator("#latest-number")).to_have_text("A001", timeout=2000)
            expect(board.locator('[data-window="3号窗口"] .number')).to_have_text("A001")
            expect(window.locator("#current-number")).to_have_text("A001")
            expect(window.get_by_role("link", name="收件")).to_have_attribute(
                "href", re.compile(r"^/items\?ticket=")
            )
            _shot(window, "window")
            _shot(board, "board")

            # 过号: A001 leaves the window and the board; it can never be called again.
            window.get_by_role("button", name="过号").click()
            expect(window.locator("#current-number")).to_have_text("—")
            expect(board.locator('[data-window="3号窗口"] .state')).to_have_text("空闲", timeout=2000)
            window.get_by_role("button", name="叫号", exact=True).click()
            expect(window.get_by_role("status")).to_have_text("现在没有等候的群众")
            _shot(window, "window-idle")

            # -- the lead's category editor
            lead = browser.new_context(viewport=TABLET, locale="zh-CN")
            lead.set_default_timeout(10_000)
            editor = lead.new_page()
            editor.goto(f"{url}/tickets/categories")
            _login(editor, LEAD)
            expect(editor.get_by_role("heading", name="取号业务类别")).to_be_visible()
            _shot(editor, "categories")
        finally:
            browser.close()
