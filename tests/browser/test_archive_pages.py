"""Electronic archiving in a real headless Chromium, with central and the node as real processes: the lead sees
a closed case under 待归档, archives it with one tap, reads the four-property report; the node's sync loop takes
the package to central, whose register shows it checked again and confirmed, and the tablet then shows the case
archived (its local copy goes at the next archive sweep, tested in-process). Screenshots land in
/tmp/onewindow-shots/ for a human to look at.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import LEAD, REVIEWER, VALID_IDS
from tests.unit.protocol.test_archive import PENSION_ENROL, jpeg, pdf, signature_png


def _close_a_case(page: Page, node: str) -> str:
    """A 即办件 received, scanned, accepted, decided on the spot and issued, through the node's API with the
    lead's session: the case the archive starts from."""
    api = page.request
    items = api.get(f"{node}/api/v1/items").json()["items"]
    item = next(i for i in items if i["name"] == PENSION_ENROL)
    case = api.post(
        f"{node}/api/v1/cases",
        data={
            "item_code": item["code"],
            "applicant": {
                "name": "王五",
                "cert_type": "111",
                "cert_number": VALID_IDS[2],
                "phone": "13912345678",
            },
        },
    ).json()
    files = {
        "id-card": ("id-card.jpg", "image/jpeg", jpeg()),
        "household-register": ("household.jpg", "image/jpeg", jpeg((80, 60))),
        "enrolment-form": ("form.pdf", "application/pdf", pdf()),
    }
    for material in item["materials"]:
        name, mime, data = files[material["id"]]
        attached = api.post(
            f"{node}/api/v1/cases/{case['case_id']}/materials",
            multipart={
                "material_id": material["id"],
                "file": {"name": name, "mimeType": mime, "buffer": data},
            },
        )
        assert attached.status == 201, attached.text()
    for path, body in (
        ("accept", {}),
        ("decide-on-spot", {"outcome": "approve"}),
        ("issue", {"cert_type": "111", "cert_number": VALID_IDS[2], "signature": signature_png()}),
    ):
        response = api.post(f"{node}/api/v1/cases/{case['case_id']}/{path}", data=body)
        assert response.status == 200, response.text()
    return str(case["case_id"])


def _reload_until(page: Page, url: str, text: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(url)
        if page.get_by_text(text).count() > 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not show {text!r} within {timeout_s:.0f} s")
        page.wait_for_timeout(500)


def _login(page: Page, url: str, who: tuple[str, str]) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("用户名").fill(who[0])
    page.get_by_label("密码").fill(who[1])
    page.get_by_role("button", name="登录").click()


def _archive_from_the_tablet(page: Page, node: str) -> str:
    """The lead finds the closed case under 电子归档 and archives it; the report shows every item passed."""
    _login(page, node, LEAD)
    case_id = _close_a_case(page, node)
    page.goto(f"{node}/cases")
    page.locator("header.top summary", has_text="更多").click()  # the menu's less used pages
    page.get_by_role("link", name="电子归档").click()
    row = page.locator(f"#closed-{case_id}")
    expect(row).to_contain_text("王五")
    expect(row).to_contain_text("已出件")
    shot(page, "archive-01-closed")
    row.get_by_role("button", name="检测并归档").click()

    expect(page.get_by_role("heading", name="四性检测报告")).to_be_visible()
    expect(page.locator(".verdict")).to_contain_text("项全部通过")
    for heading in (
        "真实性（authenticity）",
        "完整性（integrity）",
        "可用性（usability）",
        "安全性（security）",
    ):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator("table.report tr.fail")).to_have_count(0)
    # Transfer state: awaiting the county, or already confirmed (the node syncs every half second).
    expect(page.locator("dl.facts .badge")).to_have_text(re.compile("待县级接收确认|县级已确认接收"))
    shot(page, "archive-02-report")
    return case_id


@pytest.mark.slow
def test_lead_archives_a_closed_case_from_the_tablet_and_reads_the_report(county: County) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            case_id = _archive_from_the_tablet(page, county.node_url)
            page.get_by_role("link", name="← 返回电子归档").click()
            expect(page.locator(f"#package-{case_id}, #archived-{case_id}")).to_have_count(1)
            expect(page.locator(f"#closed-{case_id}")).to_have_count(0)
            shot(page, "archive-03-awaiting")
        finally:
            browser.close()


@pytest.mark.slow
def test_the_county_confirms_the_package_and_the_tablet_shows_it_archived(county: County) -> None:
    node, central = county.node_url, county.central_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            case_id = _archive_from_the_tablet(page, node)

            # The node's sync loop uploads the package; central checks it again and confirms.
            _reload_until(page, f"{node}/archive", "县级已确认接收")
            expect(page.locator(f"#archived-{case_id}")).to_be_visible()
            shot(page, "archive-04-confirmed")

            central_page = context.new_page()
            _login(central_page, central, REVIEWER)
            central_page.get_by_text("更多", exact=True).click()  # the menu's less used pages
            central_page.get_by_role("link", name="电子档案").click()
            expect(central_page.get_by_text("通过，已确认接收")).to_be_visible()
            shot(central_page, "archive-05-central-register")
            central_page.locator("table a").first.click()
            expect(central_page.locator(".verdict")).to_contain_text("已向节点确认接收")
            shot(central_page, "archive-06-central-report")
        finally:
            browser.close()
