"""The logistics window on the tablet in a real headless Chromium (issue 9, acceptance 4): a lead registers a
mailed parcel (a mistyped S10 number is refused in Chinese first), opens it into a case and scans the materials,
pre-accepts it (complete → formally accepted, the applicant told by SMS and letter), packs the acceptance notice
and the originals for the county with their labels, groups them on a courier manifest, and the courier signs
the handover on the pad. The case page then shows every custody step, and the courier file is exported with a
summary of what it holds.

The node runs as a real process, with no link to central (the courier's case). Screenshots land in /tmp/onewindow-shots/logistics-*.png.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import segno
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.browser.test_waiver_acceptance import _sign
from tests.support import LEAD, PDF, VALID_IDS

ITEM_NAME = "城乡居民基本养老保险待遇领取"
MATERIALS = ("id-card", "household-register", "benefit-form", "bank-account")


def _shot(page: Page, name: str) -> None:
    shot(page, f"logistics-{name}")


@pytest.mark.slow
def test_register_pre_accept_pack_and_hand_over_at_the_logistics_window(
    offline_node: County, tmp_path: Path
) -> None:
    county = offline_node  # no link: what the courier file holds stays put for the last step
    scan = tmp_path / "扫描件.pdf"
    scan.write_bytes(PDF)
    envelope = tmp_path / "envelope.png"
    buffer = io.BytesIO()
    segno.make("EA123456785CN").save(buffer, kind="png", scale=8)
    envelope.write_bytes(buffer.getvalue())
    node = county.node_url

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto(f"{node}/login")
            page.get_by_label("用户名").fill(LEAD[0])
            page.get_by_label("密码").fill(LEAD[1])
            page.get_by_role("button", name="登录").click()
            page.get_by_role("link", name="物料流转").click()
            expect(page.get_by_role("heading", name=re.compile("物料流转窗口"))).to_be_visible()
            _shot(page, "01-window")

            # -- register: a mistyped S10 number is refused, what was typed comes back with the message
            page.get_by_label("物流单号", exact=True).fill("EA123456784CN")
            page.get_by_label("寄件人", exact=True).fill("张三")
            page.get_by_label("寄件人电话").fill("13912345678")
            page.get_by_label("寄件人地址（回寄文书用）").fill("吉林省梅河口市红梅镇幸福村3组12号")
            page.get_by_label("内件（所附材料）").fill("待遇申领表、身份证和户口簿复印件、银行卡复印件")
            page.get_by_label("邮件封皮照片").set_input_files(str(envelope))
            page.get_by_role("button", name="登记并签收").click()
            expect(page.locator(".field-error")).to_contain_text("校验位错误：应为 5")
            expect(page.get_by_label("寄件人", exact=True)).to_have_value("张三")
            _shot(page, "02-register-typo")
            page.get_by_label("物流单号", exact=True).fill("EA123456785CN")
            page.get_by_label("邮件封皮照片").set_input_files(str(envelope))
            page.get_by_role("button", name="登记并签收").click()
            expect(page).to_have_url(re.compile(r"/logistics/parcels/[^/?]+\?done=registered$"))
            expect(page.locator("#parcel-status")).to_have_text("已登记签收，待拆封")
            expect(page.locator("#tracking")).to_contain_text("UPU S10")
            expect(page.get_by_role("img", name="邮件封皮照片")).to_be_visible()
            parcel_url = page.url.split("?")[0]

            # -- open it into a case and scan the four materials
            page.get_by_label("申请事项").select_option(label=ITEM_NAME)
            expect(page.get_by_label("申请人姓名")).to_have_value("张三")
            page.get_by_label("证件号码").fill(VALID_IDS[0])
            _shot(page, "03-open")
            page.get_by_role("button", name="拆封并建立办件").click()
            expect(page.locator("#done")).to_contain_text("已拆封并建立办件")
            expect(page.locator("#custody li")).to_have_count(2)
            for material in MATERIALS:
                slot = page.locator(f"#material-{material}")
                slot.locator("input[type=file]").set_input_files(str(scan))
                slot.get_by_role("button", name="上传扫描件").click()
                expect(page.locator(f"#material-{material} .state-present")).to_be_visible()
            expect(page.locator("#pre-review .state-present")).to_have_text("必备材料齐全。")
            _shot(page, "04-scanned")

            # -- pre-accept: complete → accepted without the applicant coming in
            page.get_by_role("button", name="记录预受理结论并通知申请人").click()
            expect(page.locator("#pre-result h2")).to_have_text("预受理结论：材料齐全，予以受理")
            expect(page.locator("#case-link")).to_be_visible()
            _shot(page, "05-pre-accepted")

            # -- the window now has the notice to send back and the originals for the county
            page.goto(f"{node}/logistics")
            expect(page.locator("#messages + table tbody tr")).to_have_count(2)
            rows = page.locator("#to-pack + table tbody tr")
            expect(rows).to_have_count(2)
            notice_row = page.locator("tr[id$='-notice']")
            notice_row.get_by_label("物流单号").fill("1187654321098")
            notice_row.get_by_role("button", name="封装").click()
            expect(page.locator("#done")).to_contain_text("已封装")
            original_row = page.locator("tr[id$='-original']")
            original_row.get_by_label("物流单号").fill("RR473124828GB")  # one digit off
            original_row.get_by_role("button", name="封装").click()
            expect(page.locator(".error").first).to_contain_text("校验位错误：应为 9")
            page.locator("tr[id$='-original']").get_by_label("物流单号").fill("RR473124829GB")
            page.locator("tr[id$='-original']").get_by_role("button", name="封装").click()
            expect(page.locator("tr[id^='packed-']")).to_have_count(2)
            label = page.request.get(
                node + page.locator("#packed-RR473124829GB a").get_attribute("href")  # type: ignore[operator]
            )
            assert label.ok and label.body().startswith(b"%PDF-")
            _shot(page, "06-packed")

            # -- one manifest for the pickup; the courier signs on the pad
            page.get_by_role("button", name="编制交接清单").click()
            expect(page.locator("#manifest-status")).to_have_text("待快递员签字")
            page.get_by_label("快递员姓名").fill("王师傅")
            page.get_by_role("button", name="确认交寄（2 件）").click()
            expect(page.locator(".field-error")).to_contain_text("请快递员在平板的签名框内签名")
            page.get_by_label("快递员姓名").fill("王师傅")
            _sign(page, page.locator("#courier-pad"))
            _shot(page, "07-manifest-signing")
            page.get_by_role("button", name="确认交寄（2 件）").click()
            expect(page.locator("#manifest-status")).to_have_text("已交寄")
            sheet = page.request.get(
                node + page.get_by_role("link", name="打印交接清单").get_attribute("href")  # type: ignore[operator]
            )
            assert sheet.ok and sheet.body().startswith(b"%PDF-")
            _shot(page, "08-handed")

            # -- on the road, with its due date; the case shows the whole chain of custody
            page.goto(f"{node}/logistics")
            expect(page.locator("tr[id^='road-']")).to_have_count(2)
            expect(page.locator("#overdue")).to_have_count(0)
            page.goto(parcel_url)
            page.locator("#case-link").click()
            steps = page.locator("#custody tr[data-step]")
            expect(steps).to_have_count(6)
            expect(page.locator("#case-status")).to_have_text("已受理")
            for step in ("registered", "opened", "packed", "handed_to_courier"):
                expect(page.locator(f"#custody tr[data-step='{step}']").first).to_be_visible()
            _shot(page, "09-case-custody")

            # -- the courier file, with what it holds
            page.goto(f"{node}/logistics#courier")
            expect(page.locator("#courier")).to_contain_text("交寄记录 2 个")
            page.get_by_role("button", name="导出给信使").click()
            expect(page.locator("#courier-done")).to_contain_text("已写入")
            expect(
                page.get_by_role("link", name=re.compile(r"下载到U盘：up-\d{8}-\d{6}\.owc"))
            ).to_be_visible()
            _shot(page, "10-courier")
        finally:
            browser.close()
