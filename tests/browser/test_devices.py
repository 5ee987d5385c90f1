"""Device capture in a real headless Chromium against a node process running simulated devices: the clerk puts
a card on the (simulated) reader, presses 读取身份证 and the applicant fields fill; receives the case; starts a
scan for a material; the (simulated) scanner drops a page into the scan folder and it appears on the case; a file
that is not what its name says shows up with the reason it was quarantined; the device page shows the devices.

Screenshots land in /tmp/onewindow-shots/ (devices-*.png).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, shot
from tests.support import (
    CLERK,
    enroll_node_process,
    free_port,
    provision,
    require_tool,
    spawn,
    stop,
    wait_healthy,
)

ITEM = "11220581MB0153015A4002000101000"  # 城乡居民基本养老保险参保登记


@dataclass
class DeviceNode:
    chromium: str
    url: str
    scans: Path


@pytest.fixture
def device_node(tmp_path: Path) -> Iterator[DeviceNode]:
    chromium = require_tool("chromium")
    port = free_port()
    setup = provision(
        tmp_path, nodes=1, central_url=f"http://127.0.0.1:{free_port()}"
    )  # central never answers
    node_dir = tmp_path / "node1"
    enroll_node_process(setup.bundles[0], node_dir)
    scans = tmp_path / "scans"
    log = tmp_path / "node.log"
    process: subprocess.Popen[bytes] = spawn(
        [
            "-m",
            "node",
            "serve",
            "--data",
            str(node_dir),
            "--port",
            str(port),
            "--sync-interval",
            "5",
            "--simulate-devices",
            "--scan-folder",
            str(scans),
        ],
        log,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        yield DeviceNode(chromium, f"http://127.0.0.1:{port}", scans)
    finally:
        stop(process)
        print(f"---- node.log ----\n{log.read_text(encoding='utf-8', errors='replace')[-8000:]}")


@pytest.mark.slow
def test_card_read_fills_the_applicant_and_a_scan_lands_on_the_case(device_node: DeviceNode) -> None:
    node = device_node.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=device_node.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto(f"{node}/login")
            page.get_by_label("用户名").fill(CLERK[0])
            page.get_by_label("密码").fill(CLERK[1])
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(f"{node}/cases")

            # -- the window page says how the devices are
            page.goto(f"{node}/window")
            page.get_by_label("窗口名称（显示在大屏上）").fill("1号窗口")
            page.get_by_role("button", name="保存").click()
            badge = page.locator("#device-badge")
            for device in ("身份证读卡器 正常", "评价器 正常", "取号票打印机 正常"):
                expect(badge).to_contain_text(device)
            shot(page, "devices-00-window")

            # -- the new-case form: place a card on the simulated reader, then 读取身份证
            page.goto(f"{node}/cases/new?item={ITEM}")
            expect(page.get_by_role("button", name="读取身份证")).to_be_visible()
            page.get_by_role("button", name="放上身份证（金美兰）").click()
            expect(page.locator("#sim-note-idcard")).to_contain_text("已把「金美兰」的身份证放在读卡器上")
            page.get_by_role("button", name="读取身份证").click()
            expect(page.locator("#idcard-status")).to_contain_text("已读取「金美兰」的身份证")
            expect(page.locator("#name")).to_have_value("金美兰")
            expect(page.locator("#cert_number")).to_have_value("220581198507082045")
            expect(page.locator("#cert_type")).to_have_value("111")
            expect(page.locator("#idcard-facts")).to_contain_text("朝鲜族")
            expect(page.locator("#idcard-facts")).to_contain_text("长期")
            shot(page, "devices-01-card-read")
            # A second press without lifting the card: the reader says so.
            page.get_by_role("button", name="读取身份证").click()
            expect(page.locator("#idcard-status")).to_contain_text("拿起后再放一次", timeout=10_000)
            page.get_by_role("button", name="收件，进入材料清单").click()
            expect(page).to_have_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
            expect(page.get_by_text("金美兰").first).to_be_visible()

            # -- the card just read is already the ID material's page (its image drawn from the chip)
            id_slot = page.locator('li[data-material="id-card"]')
            expect(id_slot.locator(".state-present")).to_contain_text("居民身份证（读卡）.jpg")
            expect(id_slot.locator("figure.page img")).to_have_count(1)

            # -- start a capture for the household register and let the simulated scanner deliver a page
            capture = page.locator("#capture")
            expect(capture.get_by_role("button", name="开始扫描")).to_be_visible()
            capture.get_by_label("扫描的材料").select_option(label="户口簿")
            expect(capture.get_by_label("窗口")).to_have_count(0)  # no window name to type: the tablet's own
            capture.get_by_role("button", name="开始扫描").click()
            expect(page.locator("#capture-waiting")).to_contain_text("1号窗口")
            shot(page, "devices-02-capture-waiting")
            page.get_by_role("button", name="模拟扫描一页").click()
            slot = page.locator('li[data-material="household-register"]')
            expect(slot.locator(".state-present")).to_contain_text(re.compile(r"已提交：扫描-.*\.pdf"))
            expect(page.locator("#capture-scans")).to_contain_text("已加入办件")

            # -- a file that claims to be a PDF and is not: quarantined, with the reason on the case
            (device_node.scans / "坏文件.pdf").write_bytes(b"this is not a PDF at all\n" * 40)
            expect(page.locator("#capture-scans")).to_contain_text("内容不是 PDF", timeout=20_000)
            expect(page.locator("#capture-scans")).to_contain_text("已隔离")
            shot(page, "devices-03-scan-on-case")

            # -- the device page
            page.goto(f"{node}/devices")
            expect(page.locator('#device-table tr[data-device="idcard"]')).to_contain_text("正常")
            expect(page.locator("#scan-files")).to_contain_text("坏文件.pdf")
            shot(page, "devices-04-status")
        finally:
            browser.close()
