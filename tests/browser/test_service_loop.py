"""The service loop closed (issue 17, acceptance 1), in a real headless Chromium with central and the node as
real processes: a clerk accepts a 个体工商户设立登记 (行政许可) with three scanned materials; the routed reviewer
of 市场监督管理局 opens each material at central by its checklist name (the image renders, the PDF renders) and
approves; after sync the node's 统一出件 prints the 准予行政许可决定书 and the e-licence and records the pickup with
the applicant's signature. A reviewer of another department gets 403 on the materials and on every decision
route, and nothing is recorded. Both case pages show the round trip with times. Screenshots land in
/tmp/onewindow-shots/ for a human to look at."""

from __future__ import annotations

import io
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw
from playwright.sync_api import APIRequestContext, Page, expect, sync_playwright

from protocol.identifiers import parse_licence_identifier
from protocol.passwords import hash_password
from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.browser.test_waiver_acceptance import _sign
from tests.support import CLERK, VALID_IDS, require_tool

ITEM = "个体工商户设立登记"
MARKET = "11220581MB19845668"  # 梅河口市市场监督管理局
CIVIL = "11220581MB01528808"  # 梅河口市民政局
APPLICANT = "王五"
ADMIN = ("admin", "admin-pass-1")


def scan_pdf(text: str) -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=20)
    document.cell(text=text)
    return bytes(document.output())


def scan_jpeg(label: str) -> bytes:
    image = Image.new("RGB", (900, 560), (235, 240, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 30, 870, 530), outline=(40, 60, 140), width=6)
    draw.text((80, 250), label, fill=(20, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _pdftotext(data: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    out = subprocess.run([require_tool("pdftotext"), str(path), "-"], capture_output=True, check=True)
    return "".join(out.stdout.decode("utf-8").split())


def _add_reviewers(central_db: Path) -> None:
    with sqlite3.connect(central_db, timeout=30) as db:
        db.executemany(
            "INSERT INTO central_user (username, display_name, role, password_hash, disabled) "
            "VALUES (?, ?, 'reviewer', ?, 0)",
            [
                (u, name, hash_password(f"{u}-pass-1"))
                for u, name in (("market_a", "市场监管审核员"), ("civil_a", "民政审核员"))
            ],
        )


def _login(api: APIRequestContext, base: str, username: str, password: str) -> None:
    response = api.post(f"{base}/api/v1/login", data={"username": username, "password": password})
    assert response.status == 200, response.text()


def _reload_until(page: Page, url: str, selector: str, timeout_s: float = 45.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(url)
        if page.locator(selector).count() > 0:
            return
        assert time.monotonic() < deadline, f"{url} did not show {selector} within {timeout_s:.0f} s"
        page.wait_for_timeout(500)


@pytest.mark.slow
def test_the_result_comes_back_to_the_window(county: County, tmp_path: Path) -> None:
    node, central = county.node_url, county.central_url
    scans = {
        "《个体工商户登记（备案）申请书》": ("申请书.pdf", scan_pdf("Application form of Wang Wu")),
        "经营者居民身份证": ("身份证.jpg", scan_jpeg("ID card")),
        "经营场所使用证明（产权证明或租赁协议）": ("租赁协议.jpg", scan_jpeg("Lease")),
    }
    for filename, data in scans.values():
        (tmp_path / filename).write_bytes(data)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            tablet = browser.new_context(viewport=TABLET, locale="zh-CN")
            tablet.set_default_timeout(15_000)
            page = tablet.new_page()

            # -- the clerk receives the case, scans three materials into the checklist and accepts
            page.goto(f"{node}/login")
            page.get_by_label("用户名").fill(CLERK[0])
            page.get_by_label("密码").fill(CLERK[1])
            page.get_by_role("button", name="登录").click()
            page.goto(f"{node}/items?q=gtgshsldj")
            page.locator("#item-list a.item").first.click()
            expect(page.get_by_role("heading", name=f"收件：{ITEM}")).to_be_visible()
            page.locator("#name").fill(APPLICANT)  # a natural person (the form also takes a 个体户's name)
            page.locator("#cert_number").fill(VALID_IDS[2])
            page.get_by_role("button", name="收件，进入材料清单").click()
            expect(page).to_have_url(re.compile(r"/cases/[^/?]+$"))
            case_url = page.url
            case_id = case_url.rsplit("/", 1)[-1]
            slots = page.locator(".checklist > li")
            for name, (filename, _) in scans.items():
                slot = slots.filter(has=page.get_by_text(name, exact=True))
                slot.locator("input[type=file]").set_input_files(tmp_path / filename)
                slot.get_by_role("button", name="上传").click()
                expect(slot.locator(".state-present")).to_contain_text(filename)
            page.get_by_role("button", name="确认受理，出具受理通知书").click()
            expect(page.locator("#case-status")).to_have_text("已受理")

            # -- central: the admin places two reviewers and routes the case to 市场监督管理局
            _add_reviewers(tmp_path / "central" / "central.db")
            admin = browser.new_context(viewport=TABLET, locale="zh-CN").request
            _login(admin, central, *ADMIN)
            for username, code in (("market_a", MARKET), ("civil_a", CIVIL)):
                placed = admin.post(
                    f"{central}/departments",
                    form={"username": username, "department_code": code, "position": "reviewer"},
                )
                assert placed.ok, placed.text()
            deadline = time.monotonic() + 45
            while admin.post(f"{central}/api/v1/backoffice/jobs").json()["routed"] != 1:
                assert time.monotonic() < deadline, "the case never reached central"
                time.sleep(0.5)

            # -- the routed reviewer opens each material by its checklist name
            reviewer = browser.new_context(viewport=TABLET, locale="zh-CN")
            reviewer.set_default_timeout(15_000)
            back = reviewer.new_page()
            back.goto(f"{central}/login")
            back.get_by_label("用户名").fill("market_a")
            back.get_by_label("密码").fill("market_a-pass-1")
            back.get_by_role("button", name="登录").click()
            _reload_until(
                back, f"{central}/work/{case_id}", "#materials .material-thumb, #materials .material-pdf"
            )
            deadline = time.monotonic() + 45
            while back.locator("#materials-uploading").count():  # 「材料上传中 n/3」 until the scans are in
                assert time.monotonic() < deadline, back.locator("#materials-uploading").inner_text()
                back.wait_for_timeout(500)
                back.reload()
            groups = back.locator("#materials .material-group h3")
            expect(groups).to_have_text(list(scans))  # checklist names, in checklist order, not file names
            for name, (filename, data) in scans.items():
                group = back.locator(
                    ".material-group", has=back.get_by_role("heading", name=name, exact=True)
                )
                if filename.endswith(".jpg"):
                    image = group.locator("img.material-thumb")
                    expect(image).to_be_visible()
                    back.wait_for_function(
                        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
                    )
                    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [900, 560]
                    full = reviewer.request.get(f"{central}{image.get_attribute('src')}")
                    assert full.status == 200 and full.headers["content-type"] == "image/jpeg"
                    assert full.body() == data
                else:
                    frame = group.locator("iframe.material-pdf")
                    expect(frame).to_be_visible()
                    src = frame.get_attribute("src")
                    shown = reviewer.request.get(f"{central}{src}")
                    assert shown.status == 200 and shown.headers["content-type"] == "application/pdf"
                    assert shown.headers["content-disposition"].startswith("inline")
                    assert "ApplicationformofWangWu" in _pdftotext(shown.body(), tmp_path, "shown.pdf")
                    viewer = reviewer.new_page()
                    viewer.goto(f"{central}{src}")
                    viewer.wait_for_timeout(1500)
                    shot(viewer, "loop-02-central-pdf-viewer")
                    viewer.close()
                download = group.get_by_role("link", name="下载")
                got = reviewer.request.get(f"{central}{download.get_attribute('href')}")
                assert got.status == 200 and got.body() == data
                assert got.headers["content-disposition"].startswith("attachment")
            shot(back, "loop-01-central-materials")

            # -- a reviewer of another department: 403 on the materials and every decision route, nothing kept
            other = browser.new_context().request
            _login(other, central, "civil_a", "civil_a-pass-1")
            before = admin.get(f"{central}/api/v1/cases/{case_id}").json()["events"]
            blob = back.locator("img.material-thumb").first.get_attribute("src")
            assert other.get(f"{central}{blob}").status == 403
            page_for_other = other.get(f"{central}/work/{case_id}", headers={"accept": "text/html"}).text()
            assert (
                '<img class="material-thumb"' not in page_for_other
                and "只有本件承办部门的人员" in page_for_other
            )
            for path, kwargs in (
                (f"/api/v1/cases/{case_id}/decision", {"data": {"outcome": "approve", "reason": "同意"}}),
                (f"/cases/{case_id}/decision", {"form": {"outcome": "approve", "reason": "同意"}}),
                (f"/api/v1/work/{case_id}/decide", {"data": {"outcome": "approve", "reason": "同意"}}),
                (f"/work/{case_id}/decide", {"form": {"outcome": "approve", "reason": "同意"}}),
            ):
                refused = other.post(f"{central}{path}", **kwargs)  # type: ignore[arg-type]
                assert refused.status == 403, (path, refused.status, refused.text()[:200])
            assert admin.get(f"{central}/api/v1/cases/{case_id}").json()["events"] == before
            views = admin.get(f"{central}/api/v1/audit", params={"action": "view_material"}).json()
            viewers = {(r["actor"], r["status"]) for r in views["entries"]}
            assert ("market_a", 200) in viewers and ("civil_a", 403) in viewers, viewers

            # -- the reviewer approves; the result documents are made and sent down with the dispatch
            back.goto(f"{central}/work/{case_id}")
            back.get_by_label("审查意见 / 不予理由").fill("材料齐全，符合登记条件")
            back.get_by_role("button", name="准予", exact=True).click()
            expect(back.get_by_role("heading", name="办理结果：准予")).to_be_visible()
            identifier = back.locator("code").inner_text()
            parse_licence_identifier(identifier)
            back.get_by_role("button", name="下发结果").click()
            expect(back.get_by_text("结果已下发至 测试1号便民服务中心")).to_be_visible()

            # -- after sync the window prints the 决定书 and the e-licence
            _reload_until(page, case_url, "#result-documents")
            decision_link = page.get_by_role("link", name="打印准予行政许可决定书")
            licence_link = page.get_by_role("link", name="打印电子证照")
            expect(decision_link).to_be_visible()
            expect(licence_link).to_be_visible()
            shot(page, "loop-03-node-issuing")
            printed = tablet.request.get(f"{node}{decision_link.get_attribute('href')}")
            assert printed.status == 200 and printed.headers["content-type"] == "application/pdf"
            text = _pdftotext(printed.body(), tmp_path, "decision.pdf")
            assert "准予行政许可决定书" in text and "决定准予行政许可" in text and identifier in text
            assert re.search("二〇二[六七]年[一二三四五六七八九十]+月[一二三四五六七八九十]+日", text), text
            licence = tablet.request.get(f"{node}{licence_link.get_attribute('href')}")
            assert identifier in _pdftotext(licence.body(), tmp_path, "licence.pdf")

            # -- pickup: identity checked, the applicant signs, recorded
            page.get_by_label("领取人证件号码").fill(VALID_IDS[2])
            _sign(page, page.locator("#pickup-pad"))
            page.get_by_role("button", name="核验并出件").click()
            expect(page.locator("#case-status")).to_have_text("已出件")
            issued = tablet.request.get(f"{node}/api/v1/cases/{case_id}").json()
            assert issued["issue"]["collector"]["cert_number"] == VALID_IDS[2]
            assert re.fullmatch("[0-9a-f]{64}", issued["issue"]["signature"])
            trip = page.locator("#round-trip li")
            expect(trip).to_have_count(4)
            for step in ("accepted", "decided", "at_window", "collected"):
                expect(page.locator(f"#round-trip li[data-step={step}]")).to_have_class("done")
            shot(page, "loop-04-node-issued")

            # -- central sees the whole round trip, with times
            deadline = time.monotonic() + 45
            while True:
                steps = admin.get(f"{central}/api/v1/cases/{case_id}").json()["round_trip"]
                if all(s["at"] for s in steps):
                    break
                assert time.monotonic() < deadline, steps
                time.sleep(0.5)
            back.goto(f"{central}/cases/{case_id}")
            expect(back.locator("#round-trip li.done")).to_have_count(4)
            shot(back, "loop-05-central-round-trip")
            stats = admin.get(f"{central}/api/v1/supervision/statistics").json()
            market = next(t for t in stats["by_department"] if t["name"] == "梅河口市市场监督管理局")
            assert market["at_window"] == 1 and market["collected"] == 1, market
            assert market["mean_to_window_hours"] is not None and market["mean_round_trip_days"] is not None
            admin_page = browser.new_page()
            admin_page.context.request.post(
                f"{central}/api/v1/login", data={"username": ADMIN[0], "password": ADMIN[1]}
            )
            admin_page.goto(f"{central}/supervision")
            expect(admin_page.get_by_text("受理→领取（平均天）").first).to_be_visible()
            shot(admin_page, "loop-06-supervision")
        finally:
            browser.close()
