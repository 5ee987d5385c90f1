"""The county back office (issue 8), node and central in-process: a joint case routed to three departments with
a 补正 pause across the National Day week (fake clock), its opinions, warnings, decision, e-licence and result
PDF; and supervision finding seeded anomalies and nothing on a clean history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import select

from central.backoffice.clocks import refresh_case_clock, refresh_clocks
from central.backoffice.deadlines import case_clock, load_calendar
from central.backoffice.departments import assign_member, work_queue
from central.backoffice.results import dispatch_result, make_result
from central.backoffice.routing import route_case, route_pending
from central.backoffice.supervision import findings
from central.backoffice.workflow import (
    decide_routed_case,
    extend_case,
    give_opinion,
    pause_clock,
    resume_clock,
)
from central.blobs import CentralBlobStore
from central.cases.store import refresh_case, store_event
from central.models import BackofficeCaseRecord, CentralUser, DeadlineAlertRecord, EventRecord
from central.runtime import Central
from central.sync.attachments import AttachmentStore
from node.sync.client import sync_once
from protocol.errors import OneWindowError
from protocol.events import CASE_DECIDED, CASE_DECIDED_ON_SPOT, CASE_ISSUED, Event
from protocol.identifiers import parse_licence_identifier
from protocol.ids import uuid7
from protocol.passwords import hash_password
from tests.conftest import Stack, login_node
from tests.integration.test_acceptance_outcomes import png_signature
from tests.support import PDF, VALID_IDS

CST = timezone(timedelta(hours=8))
JOINT_QUERY = (
    "nczjdsq"  # 农村宅基地申请: joint, 3 departments (山城镇 leads, 农业农村局, 自然资源局), 15 days
)
TOWN, FARM, LAND = "11220581MB0155125F", "11220581MB1984136E", "11220581MB1984304G"


def cst(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=CST)


def central_of(stack: Stack) -> Central:
    central: Central = stack.central_app.state.central
    return central


async def central_event_count(stack: Stack, case_id: str) -> int:
    async with central_of(stack).db.transaction() as session:
        return len((await session.exec(select(EventRecord).where(EventRecord.case_id == case_id))).all())


def blobs_of(stack: Stack) -> CentralBlobStore:
    return AttachmentStore(central_of(stack).settings.data_dir).blobs


async def accept_item(stack: Stack, query: str, id_number: str = VALID_IDS[0]) -> dict[str, Any]:
    item = (await stack.node.get("/api/v1/items", params={"q": query})).json()["items"][0]
    created = await stack.node.post(
        "/api/v1/cases",
        json={
            "item_code": item["code"],
            "applicant": {"name": "李四", "cert_type": "111", "cert_number": id_number},
        },
    )
    assert created.status_code == 201, created.text
    case = created.json()
    for material in item["materials"]:
        if material["mandatory"]:
            attached = await stack.node.post(
                f"/api/v1/cases/{case['case_id']}/materials",
                data={"material_id": material["id"]},
                files={"file": (f"{material['id']}.pdf", PDF, "application/pdf")},
            )
            assert attached.status_code == 201, attached.text
    accepted = await stack.node.post(f"/api/v1/cases/{case['case_id']}/accept")
    assert accepted.status_code == 200, accepted.text
    result: dict[str, Any] = accepted.json()
    return result


async def staff_departments(stack: Stack) -> None:
    """Two reviewers and a head in the lead department (山城镇), one reviewer in each partner department."""
    central = central_of(stack)
    accounts = [
        ("town_a", TOWN, "reviewer"),
        ("town_head", TOWN, "head"),
        ("farm_a", FARM, "reviewer"),
        ("land_a", LAND, "reviewer"),
    ]
    async with central.db.transaction() as session:
        for username, _, _ in accounts:
            session.add(
                CentralUser(
                    username=username,
                    display_name=username,
                    role="reviewer",
                    password_hash=hash_password(f"{username}-pass-1"),
                )
            )
    async with central.db.transaction() as session:
        for username, code, position in accounts:
            await assign_member(
                session,
                username=username,
                department_code=code,
                position=position,
                catalogue=central.catalogue,
            )


async def test_joint_case_with_a_correction_pause_across_the_national_day_week(stack: Stack) -> None:
    central = central_of(stack)
    calendar = load_calendar(stack.setup.county_dir)
    stack.clock.set(cst("2026-09-22"))  # a Tuesday; 中秋 25–27 Sep, 国庆 1–7 Oct, make-up Saturday 10 Oct
    await login_node(stack)
    case = await accept_item(stack, JOINT_QUERY)
    case_id = case["case_id"]
    # 15 working days after 22 Sep, skipping both holidays and counting Saturday 10 Oct.
    assert case["promised_date"] == "2026-10-20"
    await sync_once(stack.central, stack.runtime)
    await staff_departments(stack)

    async with central.db.transaction() as session:
        routed = await route_pending(
            session, central.county, catalogue=central.catalogue, calendar=calendar, now=cst("2026-09-22", 10)
        )
    assert routed == 1
    async with central.db.transaction() as session:  # a second run finds nothing left to route
        assert (
            await route_pending(
                session,
                central.county,
                catalogue=central.catalogue,
                calendar=calendar,
                now=cst("2026-09-22", 11),
            )
            == 0
        )
        queue = await work_queue(session, department=FARM)
        assert [r.case.case_id for r in queue] == [case_id]
        assert [d["code"] for d in queue[0].departments] == [TOWN, FARM, LAND]
        assert queue[0].backoffice.due_on == "2026-10-20"

    # Only people of the case's departments act on it; the partner asks for 补正 on 24 Sep, it arrives 29 Sep.
    async with central.db.transaction() as session:
        with pytest.raises(OneWindowError, match="承办部门"):
            await pause_clock(
                session, central.county, case_id=case_id, username="reviewer", kind="correction",
                reason="x", now=cst("2026-09-24"),
            )  # fmt: skip
    async with central.db.transaction() as session:
        await pause_clock(
            session, central.county, case_id=case_id, username="land_a", kind="correction",
            reason="宗地图比例尺不符，需补正", now=cst("2026-09-24"),
        )  # fmt: skip
    async with central.db.transaction() as session:
        with pytest.raises(OneWindowError, match="计时暂停中"):
            await decide_routed_case(
                session, central.county, case_id=case_id, username="town_a", outcome="approve",
                reason="", now=cst("2026-09-25"),
            )  # fmt: skip
    async with central.db.transaction() as session:
        state = await resume_clock(
            session, central.county, case_id=case_id, username="land_a", now=cst("2026-09-29")
        )
    # 28 and 29 Sep were paused: the due date moves two working days, past the holiday week, to 22 Oct.
    clock = case_clock(state, calendar, today=date(2026, 9, 30))
    assert clock is not None
    assert (clock.paused_days, clock.due_on, clock.level) == (2, date(2026, 10, 22), "ok")

    # Warnings: none on Friday 16 Oct (4 working days left), one on Monday 19 Oct (3 left), raised only once.
    for day, expected in (("2026-10-16", 0), ("2026-10-19", 1), ("2026-10-20", 1)):
        async with central.db.transaction() as session:
            await refresh_clocks(session, calendar=calendar, catalogue=central.catalogue, now=cst(day, 8))
        async with central.db.transaction() as session:
            alerts = (await session.exec(select(DeadlineAlertRecord))).all()
            row = await session.get(BackofficeCaseRecord, case_id)
        assert len(alerts) == expected, day
        assert row is not None and row.due_on == "2026-10-22"
    assert [(a.level, a.due_on, a.raised_on) for a in alerts] == [("warning", "2026-10-22", "2026-10-19")]
    assert row.level == "warning" and row.remaining_days == 2

    # The lead cannot decide before both partners gave their opinions.
    async with central.db.transaction() as session:
        await give_opinion(
            session, central.county, case_id=case_id, username="farm_a", agree=True,
            comment="符合村庄规划", now=cst("2026-10-19", 10),
        )  # fmt: skip
    async with central.db.transaction() as session:
        with pytest.raises(OneWindowError, match="梅河口市自然资源局"):
            await decide_routed_case(
                session, central.county, case_id=case_id, username="town_a", outcome="approve",
                reason="", now=cst("2026-10-19", 11),
            )  # fmt: skip
    async with central.db.transaction() as session:
        await give_opinion(
            session, central.county, case_id=case_id, username="land_a", agree=True,
            comment="用地符合国土空间规划", now=cst("2026-10-20", 10),
        )  # fmt: skip
    async with central.db.transaction() as session:
        with pytest.raises(OneWindowError, match="牵头部门"):  # a partner department cannot decide
            await decide_routed_case(
                session, central.county, case_id=case_id, username="farm_a", outcome="approve",
                reason="", now=cst("2026-10-21"),
            )  # fmt: skip
    async with central.db.transaction() as session:
        state = await decide_routed_case(
            session, central.county, case_id=case_id, username="town_a", outcome="approve",
            reason="三部门意见一致，符合一户一宅规定", now=cst("2026-10-21"),
        )  # fmt: skip
        document, licence = await make_result(
            session, central.county, case_id=case_id, catalogue=central.catalogue, now=cst("2026-10-21"),
            actor="town_a", blobs=blobs_of(stack),
        )  # fmt: skip
        await dispatch_result(session, central.county, case_id=case_id, actor="town_a", now=cst("2026-10-21"))
        await refresh_case_clock(
            session, case_id, calendar=calendar, catalogue=central.catalogue, now=cst("2026-10-21")
        )
    assert state.status == "approved" and state.decision is not None
    assert [o["department"] for o in state.opinions] == [FARM, LAND]
    assert licence is not None
    parsed = parse_licence_identifier(licence.identifier)
    assert parsed.issuer_code == TOWN and parsed.serial == "202600000001"
    assert document.kind == "approval" and document.pdf.startswith(b"%PDF")
    # Decided a day before the due date: the final state is done, never overdue, one warning in all.
    async with central.db.transaction() as session:
        row = await session.get(BackofficeCaseRecord, case_id)
        assert row is not None and row.level == "done"
        await refresh_clocks(session, calendar=calendar, catalogue=central.catalogue, now=cst("2026-10-26"))
        assert len((await session.exec(select(DeadlineAlertRecord))).all()) == 1
        assert (
            await findings(session, calendar=calendar, catalogue=central.catalogue, today=date(2026, 10, 26))
            == []
        )

    # Everything travels down: the node shows the decision, the licence and the pause history.
    report = await sync_once(stack.central, stack.runtime)
    # routed, paused, resumed, 2 opinions, decided, licence, result documents, dispatched
    assert report.applied_events == 9
    assert report.documents == 2  # the 准予行政许可决定书 and the e-licence came down as blobs
    at_node = (await stack.node.get(f"/api/v1/cases/{case_id}")).json()
    assert at_node["status"] == "approved"
    assert at_node["decision"]["department"] == "梅河口市山城镇人民政府"


async def test_an_extension_needs_the_lead_head_and_a_reason(stack: Stack) -> None:
    central = central_of(stack)
    calendar = load_calendar(stack.setup.county_dir)
    stack.clock.set(cst("2026-09-22"))
    await login_node(stack)
    case_id = (await accept_item(stack, JOINT_QUERY))["case_id"]
    await sync_once(stack.central, stack.runtime)
    await staff_departments(stack)
    async with central.db.transaction() as session:
        await route_pending(
            session, central.county, catalogue=central.catalogue, calendar=calendar, now=cst("2026-09-22", 10)
        )
    for approver, reason, message in (
        ("town_a", "需现场核实四至", "负责人"),
        ("farm_a", "需现场核实四至", "牵头部门"),
        ("town_head", "  ", "理由"),
    ):
        async with central.db.transaction() as session:
            with pytest.raises(OneWindowError, match=message):
                await extend_case(
                    session, central.county, case_id=case_id, requested_by="town_a", approved_by=approver,
                    reason=reason, now=cst("2026-10-12"),
                )  # fmt: skip
    async with central.db.transaction() as session:
        state = await extend_case(
            session, central.county, case_id=case_id, requested_by="town_a", approved_by="town_head",
            reason="需现场核实四至", now=cst("2026-10-12"),
        )  # fmt: skip
    clock = case_clock(state, calendar, today=date(2026, 10, 12))
    assert clock is not None
    # A joint case gets +15: 30 working days after 22 Sep.
    assert (clock.extension_days, clock.due_on) == (15, calendar.add_working_days(date(2026, 9, 22), 30))
    async with central.db.transaction() as session:
        with pytest.raises(OneWindowError, match="已延期"):
            await extend_case(
                session, central.county, case_id=case_id, requested_by="town_a", approved_by="town_head",
                reason="再次延期", now=cst("2026-10-13"),
            )  # fmt: skip


# ---- supervision ------------------------------------------------------------------------------------------------


async def test_supervision_finds_seeded_anomalies_and_nothing_on_a_clean_history(stack: Stack) -> None:
    """Real today (decisions through the plain API carry central's own time); the late case was accepted 40
    days ago by the node's clock."""
    central = central_of(stack)
    calendar = load_calendar(stack.setup.county_dir)
    now = datetime.now(UTC)
    today = now.astimezone(CST).date()
    await login_node(stack)
    stack.clock.set(now - timedelta(hours=2))
    clean = [await accept_item(stack, JOINT_QUERY, VALID_IDS[i]) for i in range(2)]
    civil = await accept_item(stack, "zdsh")  # 最低生活保障申请: 承诺件 of 民政局
    await sync_once(stack.central, stack.runtime)
    await staff_departments(stack)
    async with central.db.transaction() as session:
        session.add(CentralUser(username="civil_a", display_name="民政", role="reviewer", password_hash="x"))
    async with central.db.transaction() as session:
        await assign_member(
            session, username="civil_a", department_code="11220581MB01528808", position="reviewer",
            catalogue=central.catalogue,
        )  # fmt: skip
        await route_pending(session, central.county, catalogue=central.catalogue, calendar=calendar, now=now)
    for c in clean:
        async with central.db.transaction() as session:
            for partner in ("farm_a", "land_a"):
                await give_opinion(
                    session, central.county, case_id=c["case_id"], username=partner, agree=True, comment="同意",
                    now=now,
                )  # fmt: skip
            await decide_routed_case(
                session, central.county, case_id=c["case_id"], username="town_a", outcome="approve",
                reason="", now=now,
            )  # fmt: skip
            await make_result(
                session,
                central.county,
                case_id=c["case_id"],
                catalogue=central.catalogue,
                now=now,
                actor="town_a",
                blobs=blobs_of(stack),
            )
    async with central.db.transaction() as session:
        await decide_routed_case(
            session, central.county, case_id=civil["case_id"], username="civil_a", outcome="deny",
            reason="家庭收入高于低保标准", now=now,
        )  # fmt: skip
    await sync_once(stack.central, stack.runtime)
    issued = await stack.node.post(
        f"/api/v1/cases/{clean[0]['case_id']}/issue",
        json={"cert_type": "111", "cert_number": VALID_IDS[0], "signature": png_signature()},
    )
    assert issued.status_code in (200, 201), issued.text
    await sync_once(stack.central, stack.runtime)
    async with central.db.transaction() as session:
        assert await findings(session, calendar=calendar, catalogue=central.catalogue, today=today) == []

    # Seeds. 逆程序: a result handed over before any decision. 越权: a 民政局 case approved by the township's
    # reviewer (refused by every decision route, so seeded), and a 承诺件 "decided on the spot" at the window.
    # 超期: the joint case accepted 40 days ago is still undecided.
    stack.clock.set(now - timedelta(days=40))
    late = await accept_item(stack, JOINT_QUERY, VALID_IDS[2])
    stack.clock.set(now - timedelta(hours=1))
    unordered = await accept_item(stack, "zdsh", VALID_IDS[1])
    wrong_hands = await accept_item(stack, "zdsh", VALID_IDS[2])
    on_spot = await accept_item(stack, "lsjzsq")  # 临时救助申请, 承诺件
    await sync_once(stack.central, stack.runtime)
    async with central.db.transaction() as session:
        for case, type, payload, actor in (
            (
                unordered,
                CASE_ISSUED,
                {"issued_at": iso_z(now), "receipt_no": "LQ-9", "collector": "李四"},
                "clerk",
            ),
            (
                on_spot,
                CASE_DECIDED_ON_SPOT,
                {"outcome": "approve", "reason": "", "department": "窗口", "decided_at": iso_z(now)},
                "lead",
            ),
        ):
            rows = (
                await session.exec(select(EventRecord).where(EventRecord.case_id == case["case_id"]))
            ).all()
            event = Event(
                uuid7(),
                case["case_id"],
                type,
                rows[0].authority,
                actor,
                max(r.hlc for r in rows) + 1,
                payload,
            )
            await store_event(session, event, node_id=None, up_seq=None)
            await refresh_case(session, case["case_id"])
    # The township's reviewer cannot decide the 民政局 case through any route (issue 17: one decision path) …
    async with central.db.transaction() as session:
        await route_case(
            session, central.county, case_id=wrong_hands["case_id"], catalogue=central.catalogue,
            calendar=calendar, now=now,
        )  # fmt: skip
    login = await stack.central.post(
        "/api/v1/login", json={"username": "town_a", "password": "town_a-pass-1"}
    )
    assert login.status_code == 200
    events_before = await central_event_count(stack, wrong_hands["case_id"])
    for path, body in (
        (
            f"/api/v1/cases/{wrong_hands['case_id']}/decision",
            {"json": {"outcome": "approve", "reason": "同意"}},
        ),
        (f"/cases/{wrong_hands['case_id']}/decision", {"data": {"outcome": "approve", "reason": "同意"}}),
        (f"/api/v1/work/{wrong_hands['case_id']}/decide", {"json": {"outcome": "approve", "reason": "同意"}}),
        (f"/work/{wrong_hands['case_id']}/decide", {"data": {"outcome": "approve", "reason": "同意"}}),
    ):
        refused = await stack.central.post(path, **body)  # type: ignore[arg-type]
        assert refused.status_code == 403, (path, refused.status_code, refused.text[:300])
    assert await central_event_count(stack, wrong_hands["case_id"]) == events_before
    # … so the over-authority decision supervision must still catch is seeded into the event store, as a
    # forged or pre-issue-17 history would carry it.
    async with central.db.transaction() as session:
        rows = (
            await session.exec(select(EventRecord).where(EventRecord.case_id == wrong_hands["case_id"]))
        ).all()
        forged = Event(
            uuid7(), wrong_hands["case_id"], CASE_DECIDED, "central:11220581MB01528808", "town_a",
            max(r.hlc for r in rows) + 1,
            {"outcome": "approve", "reason": "同意", "department": "梅河口市民政局", "decided_at": iso_z(now)},
        )  # fmt: skip
        await store_event(session, forged, node_id=None, up_seq=None)
        await refresh_case(session, wrong_hands["case_id"])

    async with central.db.transaction() as session:
        found = await findings(session, calendar=calendar, catalogue=central.catalogue, today=today)
    assert sorted((f.case_number, f.kind) for f in found) == sorted(
        [
            (unordered["case_number"], "out_of_order"),
            (wrong_hands["case_number"], "over_authority"),
            (on_spot["case_number"], "over_authority"),
            (late["case_number"], "overdue"),
        ]
    )
    details = {f.case_number: f.detail for f in found}
    assert details[unordered["case_number"]] == "窗口出件早于办理决定"
    assert details[wrong_hands["case_number"]] == "决定人 town_a 不属于牵头部门"
    assert "承诺件由窗口 lead 当场办结" in details[on_spot["case_number"]]
    assert "仍未办结" in details[late["case_number"]]


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def test_pages_and_api_walk_a_joint_case_to_its_result(stack: Stack) -> None:
    """The same path through HTTP: the admin runs the jobs, partners give opinions on the workbench page,
    the lead decides, the result PDF downloads, the supervisor's page renders."""
    await login_node(stack)
    case_id = (await accept_item(stack, JOINT_QUERY))["case_id"]
    await sync_once(stack.central, stack.runtime)
    await staff_departments(stack)

    async def login(username: str, password: str) -> None:
        response = await stack.central.post(
            "/api/v1/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text

    await login("reviewer", "reviewer-pass-1")
    assert (await stack.central.post("/api/v1/backoffice/jobs")).status_code == 403
    await login("admin", "admin-pass-1")
    jobs = await stack.central.post("/api/v1/backoffice/jobs")
    assert jobs.status_code == 200 and jobs.json() == {"routed": 1, "refreshed": 0, "unrouted": 0}
    page = await stack.central.get("/departments", headers={"accept": "text/html"})
    assert page.status_code == 200 and "town_head" in page.text

    for partner in ("farm_a", "land_a"):
        await login(partner, f"{partner}-pass-1")
        queue = (await stack.central.get("/api/v1/queue")).json()["cases"]
        assert [c["case_id"] for c in queue] == [case_id]
        work = await stack.central.get(f"/work/{case_id}", headers={"accept": "text/html"})
        assert (
            "本部门意见" in work.text and "准予" not in work.text.split("办理结果")[0].split("本部门意见")[1]
        )
        done = await stack.central.post(f"/work/{case_id}/opinion", data={"agree": "true", "comment": "同意"})
        assert done.status_code in (200, 302, 303)
    await login("town_a", "town_a-pass-1")
    refused = await stack.central.post(f"/work/{case_id}/decide", data={"outcome": "deny", "reason": ""})
    assert refused.status_code == 422 and "不予许可必须写明理由" in refused.text
    decided = await stack.central.post(
        f"/api/v1/work/{case_id}/decide", json={"outcome": "approve", "reason": "符合规定"}
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "approved" and body["clock"]["level"] == "done"
    parse_licence_identifier(body["licence"]["identifier"])
    pdf = await stack.central.get(f"/work/{case_id}/result.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    work = await stack.central.get(f"/work/{case_id}", headers={"accept": "text/html"})
    assert body["licence"]["identifier"] in work.text and "下发结果" in work.text

    await login("admin", "admin-pass-1")
    supervision = await stack.central.get("/supervision", headers={"accept": "text/html"})
    assert supervision.status_code == 200 and "按受理中心" in supervision.text
    stats = (await stack.central.get("/api/v1/supervision/statistics")).json()
    assert [(t["name"], t["cases"], t["decided"]) for t in stats["by_department"]] == [
        ("梅河口市山城镇人民政府", 1, 1)
    ]
