"""即办件 at one visit (issue 17, acceptance 3), in a real headless Chromium against the node as a real process whose
central never answers: the applicant takes a ticket, the lead calls it, receives the case, scans the materials,
accepts and decides on the spot; the 办理结果通知书 is made at the window at once and prints (worded for a 公共服务
item, dated in Chinese numerals); the applicant signs for it and leaves with it. The decision and its document
wait in the node's queue for the county. Screenshots land in /tmp/onewindow-shots/."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.browser.test_service_loop import scan_jpeg, scan_pdf
from tests.browser.test_waiver_acceptance import _sign
from tests.support import LEAD, VALID_IDS, require_tool

ITEM = "城乡居民基本养老保险参保登记"


@pytest.mark.slow
def test_an_on_the_spot_case_goes_from_ticket_to_printed_result_with_central_down(
    offline_node: County, tmp_path: Path
) -> None:
    node = offline_node.node_url
    files = {
        "申请人居民身份证": ("身份证.jpg", scan_jpeg("ID card")),
        "户口簿": ("户口簿.jpg", scan_jpeg("Household register")),
        "《城乡居民基本养老保险参保登记表》": ("登记表.pdf", scan_pdf("Enrolment form")),
    }
    for filename, data in files.values():
        (tmp_path / filename).write_bytes(data)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=offline_node.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto(f"{node}/login")
            page.get_by_label("用户名").fill(LEAD[0])
            page.get_by_label("密码").fill(LEAD[1])
            page.get_by_role("button", name="登录").click()

            # -- the ticket, called at the lead's window
            ticket = context.request.post(f"{node}/api/v1/tickets", data={"category": "A"})
            assert ticket.status == 201, ticket.text()
            page.goto(f"{node}/window")
            page.get_by_label("窗口名称（显示在大屏上）").fill("1号窗口")
            page.get_by_role("button", name="保存").click()
            page.get_by_role("button", name="叫号", exact=True).click()
            expect(page.locator("#current-number")).to_have_text("A001")
            page.get_by_role("link", name="收件").click()
            expect(page).to_have_url(re.compile(r"/items\?ticket="))

            # -- receive, scan, accept
            page.get_by_role("searchbox").press_sequentially("cxjmjbylbxcbdj")
            page.locator("#item-list a.item", has_text=ITEM).first.click()
            page.locator("#name").fill("赵六")
            page.locator("#cert_number").fill(VALID_IDS[0])
            page.get_by_role("button", name="收件，进入材料清单").click()
            expect(page).to_have_url(re.compile(r"/cases/[^/?]+$"))
            case_url = page.url
            case_id = case_url.rsplit("/", 1)[-1]
            slots = page.locator(".checklist > li")
            for name, (filename, _) in files.items():
                slot = slots.filter(has=page.get_by_text(name, exact=True))
                slot.locator("input[type=file]").set_input_files(tmp_path / filename)
                slot.get_by_role("button", name="上传").click()
                expect(slot.locator(".state-present")).to_contain_text(filename)
            page.get_by_role("button", name="确认受理，出具受理通知书").click()
            expect(page.locator("#case-status")).to_have_text("已受理")

            # -- the lead decides on the spot: the result document is there at once, central or not
            # The first document a node renders starts its render worker (fonts loaded once): allow for it.
            page.get_by_role("button", name="准予，当场办结").click(timeout=90_000)
            expect(page.locator("#case-status")).to_have_text("已办结（准予），待出件")
            link = page.get_by_role("link", name="打印办理结果通知书")
            expect(link).to_be_visible()
            shot(page, "onspot-01-result-ready")
            printed = context.request.get(f"{node}{link.get_attribute('href')}")
            assert printed.status == 200 and printed.headers["content-type"] == "application/pdf"
            path = tmp_path / "result.pdf"
            path.write_bytes(printed.body())
            out = subprocess.run([require_tool("pdftotext"), str(path), "-"], capture_output=True, check=True)
            text = "".join(out.stdout.decode("utf-8").split())
            assert "办理结果通知书" in text and "申请已办结" in text and "许可" not in text
            assert re.search("二〇二[六七]年[一二三四五六七八九十]+月[一二三四五六七八九十]+日", text), text
            assert "梅河口市人力资源和社会保障局" in text
            png = tmp_path / "result"
            subprocess.run(
                [require_tool("pdftoppm"), "-r", "60", "-png", "-f", "1", "-l", "1", str(path), str(png)]
            )

            # -- the applicant signs for it: the visit ends with the result in hand
            page.get_by_label("领取人证件号码").fill(VALID_IDS[0])
            _sign(page, page.locator("#pickup-pad"))
            page.get_by_role("button", name="核验并出件").click()
            expect(page.locator("#case-status")).to_have_text("已出件")
            for step in ("accepted", "decided", "at_window", "collected"):
                expect(page.locator(f"#round-trip li[data-step={step}]")).to_have_class("done")
            shot(page, "onspot-02-issued")

            # -- all of it waits for the county in the node's queue: the decision names its document's blob
            state = context.request.get(f"{node}/api/v1/cases/{case_id}").json()
            assert state["status"] == "issued"
            with sqlite3.connect(Path(offline_node.logs).parent / "node1" / "node.db") as db:
                unsent = db.execute("SELECT count(*) FROM up_entry WHERE receipt IS NULL").fetchone()[0]
                blobs = db.execute("SELECT count(*) FROM blob WHERE uploaded_at IS NULL").fetchone()[0]
            assert unsent >= 1 and blobs >= 5  # three scans, the result document, the signature
        finally:
            browser.close()
