"""The county back office in a real headless Chromium, central and the node as real processes (issue 8): the
admin places reviewers in departments, the routing job sends a joint case (联办) to three departments, each
partner gives its opinion on the workbench, the lead department decides and the e-licence identifier and
result PDF appear, the result is dispatched; the supervisor's page shows the statistics. Screenshots land
in /tmp/onewindow-shots/ for a human to look at."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from protocol.identifiers import parse_licence_identifier
from protocol.passwords import hash_password
from tests.browser.conftest import CHROMIUM_ARGS, TABLET, County, shot
from tests.support import CLERK, VALID_IDS
from tests.unit.protocol.test_archive import pdf

ACCOUNTS = (  # username, name, role, department, position
    ("town_a", "山城镇审核员", "reviewer", "梅河口市山城镇人民政府", "审核"),
    ("town_head", "山城镇负责人", "reviewer", "梅河口市山城镇人民政府", "负责人"),
    ("farm_a", "农业农村局审核员", "reviewer", "梅河口市农业农村局", "审核"),
    ("land_a", "自然资源局审核员", "reviewer", "梅河口市自然资源局", "审核"),
    ("watch", "督查员", "supervisor", "", ""),
)


def _accept_joint_case(page: Page, node: str) -> str:
    api = page.request
    login = api.post(f"{node}/api/v1/login", data={"username": CLERK[0], "password": CLERK[1]})
    assert login.status == 200, login.text()
    item = api.get(f"{node}/api/v1/items", params={"q": "nczjdsq"}).json()["items"][0]
    case = api.post(
        f"{node}/api/v1/cases",
        data={
            "item_code": item["code"],
            "applicant": {"name": "赵六", "cert_type": "111", "cert_number": VALID_IDS[1]},
        },
    ).json()
    for material in item["materials"]:
        attached = api.post(
            f"{node}/api/v1/cases/{case['case_id']}/materials",
            multipart={
                "material_id": material["id"],
                "file": {"name": f"{material['id']}.pdf", "mimeType": "application/pdf", "buffer": pdf()},
            },
        )
        assert attached.status == 201, attached.text()
    accepted = api.post(f"{node}/api/v1/cases/{case['case_id']}/accept")
    assert accepted.status == 200, accepted.text()
    return str(case["case_id"])


def _add_accounts(central_db: Path) -> None:
    """Back-office accounts as provisioning would import them (straight into central's database)."""
    with sqlite3.connect(central_db, timeout=30) as db:
        db.executemany(
            "INSERT INTO central_user (username, display_name, role, password_hash, disabled) VALUES (?, ?, ?, ?, 0)",
            [(u, name, role, hash_password(f"{u}-pass-1")) for u, name, role, _, _ in ACCOUNTS],
        )


def _login(page: Page, central: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{central}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(f"{username}-pass-1")
    page.get_by_role("button", name="登录").click()


@pytest.mark.slow
def test_reviewers_and_supervisor_handle_a_joint_case_in_the_browser(county: County, tmp_path: Path) -> None:
    central = county.central_url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=county.chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=TABLET, locale="zh-CN")
            context.set_default_timeout(15_000)
            page = context.new_page()
            case_id = _accept_joint_case(page, county.node_url)
            _add_accounts(tmp_path / "central" / "central.db")

            # The admin places each reviewer in a department, then runs the routing job.
            _login(page, central, "admin")
            page.goto(f"{central}/departments")
            for username, _name, role, department, position in ACCOUNTS:
                if role != "reviewer":
                    continue
                page.get_by_label("后台账号").select_option(username)
                page.get_by_label("部门").select_option(label=department)
                page.get_by_label("岗位").select_option(label=position)
                page.get_by_role("button", name="分配").click()
                expect(page.locator("table")).to_contain_text(username)
            shot(page, "backoffice-01-departments")
            page.get_by_text("更多", exact=True).click()  # the menu's less used pages
            page.get_by_role("link", name="事项目录").click()
            expect(page.get_by_role("heading", name="调整事项")).to_be_visible()
            shot(page, "backoffice-06-catalogue")
            deadline = time.monotonic() + 30
            while True:  # the node syncs every half second; route once central has the case
                routed = page.request.post(f"{central}/api/v1/backoffice/jobs").json()
                if routed["routed"] == 1:
                    break
                assert time.monotonic() < deadline, "the case never reached central"
                page.wait_for_timeout(500)

            # Each partner department sees the case in its queue and gives its opinion.
            for username, comment in (("farm_a", "符合村庄规划"), ("land_a", "用地符合国土空间规划")):
                _login(page, central, username)
                page.goto(f"{central}/queue")
                row = page.locator("tbody tr").filter(has_text="农村宅基地申请")
                expect(row).to_contain_text("梅河口市山城镇人民政府（牵头）")
                if username == "farm_a":
                    shot(page, "backoffice-02-queue")
                row.get_by_role("link").click()
                page.get_by_label("本部门意见").fill(comment)
                page.get_by_role("button", name="同意", exact=True).click()
                expect(page.locator("table").first).to_contain_text(comment)

            # The lead department decides; the e-licence identifier and the result PDF appear.
            _login(page, central, "town_a")
            page.goto(f"{central}/work/{case_id}")
            expect(page.get_by_text("待出具")).to_have_count(0)
            shot(page, "backoffice-03-workbench")
            page.get_by_label("审查意见 / 不予理由").fill("三部门意见一致，符合一户一宅规定")
            page.get_by_role("button", name="准予", exact=True).click()
            expect(page.get_by_role("heading", name="办理结果：准予")).to_be_visible()
            identifier = page.locator("code").inner_text()
            parse_licence_identifier(identifier)  # its check character verifies
            result = page.request.get(f"{central}/work/{case_id}/result.pdf")
            assert result.status == 200 and result.body().startswith(b"%PDF")
            page.get_by_role("button", name="下发结果").click()
            expect(page.get_by_text("结果已下发至 测试1号便民服务中心")).to_be_visible()
            shot(page, "backoffice-04-decided")

            # The supervisor's page: no anomaly, the case counted for its centre, item and department.
            _login(page, central, "watch")
            page.goto(f"{central}/supervision")
            expect(page.get_by_text("未发现超期、越权、逆程序或滞留办件")).to_be_visible()
            expect(page.locator("table.stats").nth(2)).to_contain_text("梅河口市山城镇人民政府")
            shot(page, "backoffice-05-supervision")
        finally:
            browser.close()
