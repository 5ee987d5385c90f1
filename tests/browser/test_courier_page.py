"""A centre with no link at all, in a real headless Chromium: the clerk writes the courier's file on the sync page,
the county imports it with `onewindow central import`, and the clerk imports the reply the courier brought back.
A damaged reply is refused whole with a message the clerk can read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import CLERK


@pytest.mark.slow
def test_clerk_sends_and_receives_by_courier(offline_node: County, tmp_path: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=offline_node.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=TABLET, locale="zh-CN", accept_downloads=True).new_page()
            page.goto(offline_node.node_url + "/login")
            page.fill("input[name=username]", CLERK[0])
            page.fill("input[name=password]", CLERK[1])
            page.click("button[type=submit]")
            page.goto(offline_node.node_url + "/sync")
            expect(page.get_by_text("没有网络时：信使带 U 盘同步")).to_be_visible()

            page.get_by_role("button", name="生成同步文件").click()
            expect(page.locator("#courier-result")).to_contain_text("条目 1 条")  # the enrolment entry
            shot(page, "sync-courier-export")
            with page.expect_download() as download_info:
                page.locator("#courier-result a").click()
            stick = tmp_path / "stick"
            stick.mkdir()
            up_file = stick / download_info.value.suggested_filename
            download_info.value.save_as(up_file)

            reply = stick / "reply.owc"
            imported = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "central",
                    "import",
                    str(up_file),
                    "--out",
                    str(reply),
                    "--data",
                    str(tmp_path / "central-hall"),
                    "--county-dir",
                    str(tmp_path / "county"),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert imported.returncode == 0, imported.stderr

            damaged = stick / "damaged.owc"
            raw = bytearray(reply.read_bytes())
            raw[-2000] ^= 0x01
            damaged.write_bytes(bytes(raw))
            page.set_input_files("#reply-file", str(damaged))
            page.get_by_role("button", name="导入回执").click()
            expect(page.locator("#courier-error")).to_contain_text("整份拒收")

            page.set_input_files("#reply-file", str(reply))
            page.get_by_role("button", name="导入回执").click()
            expect(page.locator("#courier-result")).to_contain_text("确认条目 1 条")
            expect(page.locator("#queue-entries")).to_contain_text("0 条")
            shot(page, "sync-courier-import")
        finally:
            browser.close()
