"""No deadline is a silent guess (issue 17, point 5): a date counted through a year the county's holiday calendar
does not cover is provisional at the node (case page, 受理通知书) and at central (case page, work page, queue)
with the same warning, the county's pages warn from 1 November that next year's arrangement is missing, and
publishing it with `onewindow central publish-calendar` (the real command, beside the running central) counts
every provisional deadline again, at central at once and at the node when the calendar comes down its log.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from central.app import create_app as create_central
from central.backoffice.jobs import run_jobs
from central.models import BackofficeCaseRecord
from central.runtime import Central
from central.settings import CentralSettings
from node.sync.client import sync_once
from provisioning.county import sample_calendar
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_acceptance_outcomes import (
    at,
    attach_all,
    item_named,
    pdf_text,
    publish_calendar_cli,
    receive,
)
from tests.integration.test_notices_read_right import SHOTS, keep, pages
from tests.support import CountySetup, FakeClock, provision

WARNING_2027 = "2027 年节假日安排未发布，期限为暂定"
TWENTY_DAYS = "特困人员救助供养申请"  # 承诺件, 20 working days (statutory 30)
COUNTY_ADMIN = ("admin", "admin-pass-1")


def calendar_with_2027(path: Path) -> Path:
    """The shipped calendar (2025, 2026) and a 2027 arrangement: 元旦 on Friday 1 January is a day off."""
    data = sample_calendar()
    data["version"] += 1
    data["years"].append(
        {
            "year": 2027,
            "source": "测试：国务院办公厅关于2027年部分节假日安排的通知",
            "holidays": [{"name": "元旦", "days_off": ["2027-01-01"], "workdays": []}],
        }
    )
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


def text_of(page: str, element_id: str) -> str:
    """The text of one element of a page (tags dropped, whitespace collapsed)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</dd>', page, re.S)
    assert match, f"#{element_id} not on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


async def page(client: AsyncTestClient, url: str, keep_as: str = "") -> str:  # type: ignore[type-arg]
    response = await client.get(url)
    assert response.status_code == 200, response.text
    if keep_as:  # for a human to look at (rendered with the stylesheet by hand)
        with contextlib.suppress(OSError):
            SHOTS.mkdir(parents=True, exist_ok=True)
            (SHOTS / f"{keep_as}.html").write_text(response.text, "utf-8")
    return response.text


async def test_a_deadline_in_an_unpublished_year_is_provisional_until_the_county_publishes_it(
    stack: Stack, tmp_path: Path
) -> None:
    stack.clock.set(at("2026-12-10"))  # a Thursday; 20 working days run into January 2027
    await login_node(stack)
    item = await item_named(stack, TWENTY_DAYS)
    case = await receive(stack, item)
    case_id = case["case_id"]
    await attach_all(stack, case_id, item)
    accepted = await stack.node.post(f"/api/v1/cases/{case_id}/accept", json={"collection": "window"})
    assert accepted.status_code == 200, accepted.text
    # Counted Monday to Friday through 2027 (元旦 taken as a working day): 2027-01-07, and only provisionally.
    assert accepted.json()["promised_date"] == "2027-01-07"

    # The node: the case page and the 受理通知书 say the date is provisional, and why.
    promised = text_of(await page(stack.node, f"/cases/{case_id}", "node-case-provisional"), "promised")
    assert "2027-01-07" in promised and "暂定" in promised and WARNING_2027 in promised
    notice = (await stack.node.get(f"/cases/{case_id}/notices/acceptance.pdf")).content
    keep(notice, "acceptance-provisional")
    notice_text = pdf_text(notice)
    assert "预计2027年1月7日前办结，暂定" in notice_text
    assert WARNING_2027.replace(" ", "") in notice_text
    assert pages(notice) == 1

    # Central: the case page, the work page and the queue, with the same warning.
    await sync_once(stack.central, stack.runtime)
    central: Central = stack.central_app.state.central
    await run_jobs(central, now=datetime.now(UTC), instance="test")  # routes the case to its department
    await login_central(stack, COUNTY_ADMIN)
    promised = text_of(await page(stack.central, f"/cases/{case_id}"), "promised")
    assert "2027-01-07" in promised and WARNING_2027 in promised
    work = await page(stack.central, f"/work/{case_id}", "central-work-provisional")
    assert "2027-01-07" in text_of(work, "due-on") and "暂定" in text_of(work, "due-on")
    assert WARNING_2027 in work
    queue = await page(stack.central, "/queue?department=")
    assert "2027-01-07" in queue and f'title="{WARNING_2027}"' in queue
    async with central.db.transaction() as session:
        stored = await session.get(BackofficeCaseRecord, case_id)
        assert stored is not None and stored.due_on == "2027-01-07"

    # The county publishes 2027 through the real command, beside the running central.
    published = publish_calendar_cli(stack, calendar_with_2027(tmp_path / "calendar-2027.json"))
    assert published.returncode == 0, published.stderr
    assert "已下发给 1 个节点" in published.stdout and "已按新日历重算 1 件办件的期限" in published.stdout

    # Central counts again at once: 元旦 is a day off, so one working day later, and certain.
    promised = text_of(await page(stack.central, f"/cases/{case_id}"), "promised")
    assert "2027-01-08" in promised and "暂定" not in promised.replace("（暂定）", "")
    assert WARNING_2027 not in promised and "受理通知书所载 2027-01-07（暂定）" in promised
    work = await page(stack.central, f"/work/{case_id}", "central-work-recounted")
    assert "2027-01-08" in text_of(work, "due-on") and "暂定" not in text_of(work, "due-on")
    assert WARNING_2027 not in work
    queue = await page(stack.central, "/queue?department=")
    assert "2027-01-08" in queue and "provisional" not in queue
    async with central.db.transaction() as session:
        stored = await session.get(BackofficeCaseRecord, case_id)
        assert stored is not None and stored.due_on == "2027-01-08"  # counted by the publish itself

    # The node: before the calendar comes down it still says provisional; after its sync, the new date.
    promised = text_of(await page(stack.node, f"/cases/{case_id}"), "promised")
    assert "2027-01-07" in promised and WARNING_2027 in promised
    report = await sync_once(stack.central, stack.runtime)
    assert report.pulled >= 1 and 2027 in {y.year for y in stack.runtime.calendar.years}
    promised = text_of(await page(stack.node, f"/cases/{case_id}", "node-case-recounted"), "promised")
    assert promised.startswith("20 个工作日，2027-01-08 前")
    assert WARNING_2027 not in promised and "受理通知书所载 2027-01-07（暂定）" in promised
    # What was handed to the applicant is not rewritten: the reprint is the original, provisional date and all.
    assert (await stack.node.get(f"/cases/{case_id}/notices/acceptance.pdf")).content == notice

    # A case accepted now is certain from the start: no warning, no provisional mark on the notice.
    second = await receive(stack, item, name="李四")
    await attach_all(stack, second["case_id"], item)
    again = await stack.node.post(f"/api/v1/cases/{second['case_id']}/accept", json={"collection": "window"})
    assert again.json()["promised_date"] == "2027-01-08"
    promised = text_of(await page(stack.node, f"/cases/{second['case_id']}"), "promised")
    assert promised == "20 个工作日，2027-01-08 前"
    fresh = pdf_text((await stack.node.get(f"/cases/{second['case_id']}/notices/acceptance.pdf")).content)
    assert "预计2027年1月8日前办结）" in fresh and "暂定" not in fresh


async def test_an_acceptance_notice_counted_within_published_years_is_not_marked(stack: Stack) -> None:
    """The mark is earned: a date counted on published years only carries no warning at all."""
    stack.clock.set(at("2026-11-16"))
    await login_node(stack)
    item = await item_named(stack, TWENTY_DAYS)
    case = await receive(stack, item)
    await attach_all(stack, case["case_id"], item)
    accepted = await stack.node.post(f"/api/v1/cases/{case['case_id']}/accept", json={"collection": "window"})
    assert accepted.json()["promised_date"] == "2026-12-14"
    promised = text_of(await page(stack.node, f"/cases/{case['case_id']}"), "promised")
    assert promised == "20 个工作日，2026-12-14 前"
    text = pdf_text((await stack.node.get(f"/cases/{case['case_id']}/notices/acceptance.pdf")).content)
    assert "暂定" not in text and "节假日安排未发布" not in text


# --- the county's warning that next year's arrangement is missing -------------------------------------------


@pytest.fixture
def county_only(tmp_path: Path) -> CountySetup:
    return provision(tmp_path, nodes=1)


@pytest.fixture
async def central_at(
    county_only: CountySetup, tmp_path: Path
) -> AsyncIterator[tuple[AsyncTestClient, FakeClock]]:  # type: ignore[type-arg]
    clock = FakeClock()
    app = create_central(
        CentralSettings(data_dir=tmp_path / "central", county_dir=county_only.county_dir), now=clock
    )
    async with AsyncTestClient(app=app, base_url="http://central.test") as client:
        yield client, clock


async def test_the_county_is_warned_from_november_that_next_years_calendar_is_missing(
    central_at: tuple[AsyncTestClient, FakeClock],  # type: ignore[type-arg]
    county_only: CountySetup,
    tmp_path: Path,
) -> None:
    client, clock = central_at

    async def on(moment: datetime) -> None:
        """Central's clock moved (a new login: sessions end after 12 hours of central's time)."""
        clock.set(moment)
        login = await client.post(
            "/api/v1/login", json={"username": COUNTY_ADMIN[0], "password": COUNTY_ADMIN[1]}
        )
        assert login.status_code == 200, login.text

    await on(at("2026-10-31"))
    for url in ("/fleet", "/cases"):
        assert "calendar-warning" not in await page(client, url), url

    await on(at("2026-11-01", 9))
    for url in ("/fleet", "/cases"):
        shown = await page(client, url, f"central-{url.strip('/')}-calendar-missing")
        assert "calendar-warning" in shown and "缺少 2027 年的节假日安排" in shown, url
        assert "publish-calendar" in shown

    # Published (the file the command keeps as the county's): the warning goes at once.
    calendar_with_2027(county_only.county_dir / "calendar.json")
    for url in ("/fleet", "/cases"):
        assert "calendar-warning" not in await page(client, url), url
    # And in 2027 the warning is about 2028 from November on.
    await on(at("2027-11-02"))
    assert "缺少 2028 年的节假日安排" in await page(client, "/fleet")
    # A county directory without any calendar file: the pages say so instead of failing.
    (county_only.county_dir / "calendar.json").unlink()
    assert "没有工作日历（calendar.json）" in await page(client, "/fleet")
