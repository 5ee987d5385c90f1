"""容缺受理 on the tablet in a real headless Chromium: the clerk receives a pension claim whose bank-account copy
the applicant did not bring, tries to accept with waiver before the applicant has signed (refused in Chinese),
has the applicant sign the commitment on the signature pad, prints the notice and the commitment, and later
uploads the missing copy, which closes the waiver.

Central and an enrolled node run as real processes (the same fixture as the other browser test). Screenshots of
each step, and of the other outcome panels and the case-new form, land in /tmp/onewindow-shots/waiver-*.png.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import (
    CLERK,
    PDF,
    VALID_IDS,
    require_tool,
)

ITEM_NAME = "城乡居民基本养老保险待遇领取"
ITEM_INITIALS = "cxjmjbylbxdylq"  # its pinyin_initials in provisioning/data/sample_catalogue.json
WAIVABLE_ID = "bank-account"
WAIVABLE_NAME = "社会保障卡或本人银行账户复印件"
APPLICANT = "张三"


def _shot(page: Page, name: str) -> None:
    shot(page, f"waiver-{name}")


def _slot(page: Page, material_id: str) -> Locator:
    return page.locator(f'.checklist > li[data-material="{material_id}"]')


def _sign(page: Page, pad: Locator) -> None:
    """The applicant signs with a finger: a few strokes across the pad (pointer events from the mouse)."""
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100, box
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    strokes = [
        [(0.10, 0.30), (0.30, 0.30)],  # 张: a short bar, a hook, a long stroke
        [(0.20, 0.20), (0.18, 0.70), (0.28, 0.80)],
        [(0.40, 0.25), (0.45, 0.50), (0.38, 0.78), (0.52, 0.70)],
        [(0.60, 0.30), (0.85, 0.30)],  # 三
        [(0.62, 0.50), (0.82, 0.50)],
        [(0.58, 0.72), (0.90, 0.72)],
    ]
    for stroke in strokes:
        (fx, fy), rest = stroke[0], stroke[1:]
        page.mouse.move(x0 + fx * w, y0 + fy * h)
        page.mouse.down()
        for tx, ty in rest:
            page.mouse.move(x0 + tx * w, y0 + ty * h, steps=8)
        page.mouse.up()


@pytest.mark.slow
def test_clerk_accepts_with_waiver_and_the_applicant_supplies_later(county: County, tmp_path: Path) -> None:
    scan = tmp_path / "扫描件.pdf"
    scan.write_bytes(PDF)
    bank_copy = tmp_path / "银行卡复印件.pdf"
    bank_copy.write_bytes(PDF)
    node = county.node_url

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(10_000)
            page = context.new_page()

            # -- log in, find the item by its pinyin initials
            page.goto(f"{node}/login")
            page.get_by_label("用户名").fill(CLERK[0])
            page.get_by_label("密码").fill(CLERK[1])
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(f"{node}/cases")
            page.get_by_role("link", name="受理新办件").click()
            expect(page.get_by_role("heading", name="选择办理事项")).to_be_visible()
            page.get_by_role("searchbox").press_sequentially(ITEM_INITIALS)
            expect(page).to_have_url(re.compile(rf"/items\?q={ITEM_INITIALS}$"))
            results = page.locator("#item-list a.item")
            expect(results).to_have_count(1)
            expect(results.first.locator(".name")).to_have_text(ITEM_NAME)
            _shot(page, "01-item-search")
            results.first.click()

            # -- the case-new form, with and without the agent section open
            expect(page.get_by_role("heading", name=f"收件：{ITEM_NAME}")).to_be_visible()
            _shot(page, "02-case-new")
            agent = page.locator("details", has=page.get_by_label("代理人姓名"))
            agent.locator("summary").click()
            expect(page.get_by_label("代理人姓名")).to_be_visible()
            _shot(page, "03-case-new-agent-open")
            agent.locator("summary").click()
            expect(page.get_by_label("代理人姓名")).to_be_hidden()

            page.get_by_label("姓名", exact=True).fill(APPLICANT)
            page.get_by_label("证件号码", exact=True).fill(VALID_IDS[0])
            page.get_by_role("button", name="收件，进入材料清单").click()
            expect(page).to_have_url(re.compile(r"/cases/[^/?]+$"))
            case_url = page.url
            expect(page.locator("#case-status")).to_have_text("已收件")

            # -- right after receiving: four mandatory materials missing, one of them waivable; 容缺 is not
            #    offered yet (main materials are missing), so the correction panel is the one open
            slots = page.locator(".checklist > li")
            expect(slots).to_have_count(4)
            expect(page.locator(".checklist .state-missing")).to_have_count(4)
            expect(_slot(page, WAIVABLE_ID).locator(".badge.waiver")).to_have_text("可容缺")
            expect(page.locator("#waiver-panel")).to_have_count(0)
            expect(page.locator("#correction-panel")).to_have_attribute("open", "")
            _shot(page, "04-received-correction-open")

            refusal = page.locator("#refusal-panel")
            refusal.locator("summary").click()
            expect(refusal.get_by_label("不予受理的理由")).to_be_visible()
            _shot(page, "05-refusal-open")
            # blanks get past the browser's `required` but not the server: the page comes back with the refusal
            # panel still open and the message beside it, and nothing is refused
            refusal.get_by_label("不予受理的理由").fill("   ")
            refusal.get_by_label("法律依据").fill("   ")
            refusal.get_by_role("button", name="作出不予受理决定").click()
            expect(page.get_by_role("alert")).to_contain_text("请写明不予受理的理由")
            refusal = page.locator("#refusal-panel")
            expect(refusal).to_have_attribute("open", "")
            expect(refusal.locator(".field-error")).to_be_in_viewport()
            expect(page.locator("#case-status")).to_have_text("已收件")
            _shot(page, "05b-refusal-blank-reasons")
            page.goto(case_url)
            expect(page.locator("#refusal-panel")).not_to_have_attribute("open", "")

            # -- every mandatory material but the bank-account copy
            mandatory = [
                slots.nth(i).get_attribute("data-material")
                for i in range(slots.count())
                if slots.nth(i).locator(".badge", has_text=re.compile(r"^必备$")).count() == 1
            ]
            assert WAIVABLE_ID in mandatory and len(mandatory) == 4, mandatory
            for material_id in mandatory:
                if material_id == WAIVABLE_ID:
                    continue
                slot = _slot(page, str(material_id))
                slot.locator("input[type=file]").set_input_files(scan)
                slot.get_by_role("button", name="上传").click()
                expect(_slot(page, str(material_id)).locator(".state-present")).to_contain_text(scan.name)
            bank = _slot(page, WAIVABLE_ID)
            expect(bank.locator(".state-missing")).to_have_text("✘ 缺")
            expect(page.locator("#outcomes")).to_contain_text(f"还缺必备材料：{WAIVABLE_NAME}")
            waiver = page.locator("#waiver-panel")
            expect(waiver).to_have_attribute("open", "")
            expect(waiver.get_by_role("checkbox", name=WAIVABLE_NAME)).to_be_checked()
            expect(waiver.locator("#supply_by")).not_to_have_value("")
            expect(page.locator("#accept-panel button[type=submit]")).to_have_attribute(
                "aria-disabled", "true"
            )
            pad = waiver.locator("#commitment-pad")
            expect(pad).to_be_visible()
            _shot(page, "06-waiver-panel")

            # -- submitted before the applicant signed: refused in Chinese, nothing changes
            page.get_by_role("button", name="签署承诺，容缺受理").click()
            alert = page.get_by_role("alert")
            expect(alert).to_be_visible()
            expect(alert).to_contain_text(re.compile(r"请.*签名"))
            expect(alert).to_have_attribute("data-field", "commitment_signature")
            expect(page.locator("#case-status")).to_have_text("已收件")
            expect(page.locator(".badge", has_text="容缺待补齐")).to_have_count(0)
            expect(page.locator("#waiver-panel")).to_have_attribute("open", "")
            # the same message beside the pad, scrolled into view: the clerk need not hunt for the form
            beside = page.locator("#waiver-panel .field-error")
            expect(beside).to_contain_text("签名")
            expect(beside).to_be_in_viewport()
            expect(page.locator("#waiver-panel .signature-hint")).to_be_visible()
            _shot(page, "07-unsigned-error")

            # -- the applicant signs on the pad; the clerk submits
            pad = page.locator("#commitment-pad")
            _sign(page, pad)
            expect(page.locator("#commitment_signature")).to_have_value(
                re.compile(r"^data:image/png;base64,")
            )
            expect(page.locator("#waiver-panel .signature-hint")).to_be_hidden()
            _shot(page, "08-signed")
            page.get_by_role("button", name="签署承诺，容缺受理").click()
            expect(page).to_have_url(f"{case_url}?done=waiver_notice")
            expect(page.locator("#case-status")).to_have_text("已受理")
            expect(page.locator("h1 .badge.waiver")).to_have_text("容缺待补齐")
            expect(page.get_by_role("alert")).to_have_count(0)
            notices = page.locator("#notices")
            expect(notices).to_contain_text("容缺受理通知书")
            expect(notices).to_contain_text("容缺受理承诺书")
            done = page.locator("#done")
            expect(done).to_contain_text("已容缺受理")
            expect(done.get_by_role("link", name="打印容缺受理通知书")).to_be_visible()
            print_commitment = done.get_by_role("link", name="打印容缺受理承诺书")
            expect(print_commitment).to_be_visible()
            expect(_slot(page, WAIVABLE_ID).locator(".state-waived")).to_contain_text("容缺，待补齐")
            expect(page.locator("#outcomes")).to_have_count(0)
            _shot(page, "09-accepted-with-waiver")

            # -- the commitment prints: a real PDF naming the applicant and the owed material
            href = print_commitment.get_attribute("href")
            assert href and href.endswith("/notices/waiver_commitment.pdf"), href
            response = page.request.get(f"{node}{href}")
            assert response.ok, response.text()
            assert response.headers["content-type"].startswith("application/pdf")
            body = response.body()
            assert body.startswith(b"%PDF"), body[:40]
            pdftotext = require_tool("pdftotext")
            commitment = tmp_path / "承诺书.pdf"
            commitment.write_bytes(body)
            text = subprocess.run(
                [pdftotext, "-enc", "UTF-8", str(commitment), "-"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            flat = re.sub(r"\s+", "", text)
            assert APPLICANT in flat, text
            assert "银行账户" in flat, text

            # -- the applicant brings the bank-account copy: the waiver is closed
            bank = _slot(page, WAIVABLE_ID)
            bank.locator("input[type=file]").set_input_files(bank_copy)
            bank.get_by_role("button", name="上传").click()
            expect(_slot(page, WAIVABLE_ID).locator(".state-present")).to_contain_text(bank_copy.name)
            expect(page.locator(".badge", has_text="容缺待补齐")).to_have_count(0)
            expect(page.locator("#case-status")).to_have_text("已受理")
            expect(page.locator("dl.facts")).to_contain_text(re.compile(r"已于 .+ 补齐"))
            expect(page.locator(".checklist input[type=file]")).to_have_count(0)
            _shot(page, "10-supplied")
        finally:
            browser.close()
