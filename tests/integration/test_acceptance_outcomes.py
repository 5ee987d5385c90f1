"""Front-desk acceptance end to end through the node's API (issue 3): the four outcomes with their notices,
即办件, the legal clocks on a fake clock, unified issuing, and the refusals that keep each step honest.

Every notice is fetched as a PDF and its text extracted with `pdftotext`, so what is checked is what the applicant
takes home.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import segno

from node.intake.cases.clocks import run_legal_clocks
from node.runtime import CST
from node.sync.client import sync_once
from tests.backoffice_support import decide
from tests.conftest import Stack, login_central, login_node
from tests.support import LEAD, PDF, VALID_IDS, require_tool

SHOTS = Path("/tmp/onewindow-shots/notices")
PENSION_BENEFIT = "城乡居民基本养老保险待遇领取"  # 承诺件, 10 working days; 银行账户 may be waived (容缺)
PENSION_ENROL = "城乡居民基本养老保险参保登记"  # 即办件
BUSINESS = "个体工商户设立登记"  # natural or legal persons


def png_signature() -> str:
    """A real PNG, as the tablet's signature pad sends it (a data URL)."""
    buffer = io.BytesIO()
    segno.make("签名").save(buffer, kind="png", scale=3)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), CST).replace(hour=hour)


def pdf_text(data: bytes) -> str:
    tool = require_tool("pdftotext")
    assert data.startswith(b"%PDF-")
    done = subprocess.run([tool, "-", "-"], input=data, capture_output=True, check=True)
    # Table cells wrap; join the text so a phrase split across lines is still found.
    return "".join(done.stdout.decode("utf-8").split())


async def item_named(stack: Stack, name: str) -> dict[str, Any]:
    items = (await stack.node.get("/api/v1/items")).json()["items"]
    return next(i for i in items if i["name"] == name)


async def receive(
    stack: Stack, item: dict[str, Any], *, id_number: str = VALID_IDS[0], name: str = "张三", **extra: Any
) -> dict[str, Any]:
    body = {
        "item_code": item["code"],
        "applicant": {"name": name, "cert_type": "111", "cert_number": id_number, "phone": "13912345678"},
        **extra,
    }
    created = await stack.node.post("/api/v1/cases", json=body)
    assert created.status_code == 201, created.text
    case: dict[str, Any] = created.json()
    return case


async def attach(stack: Stack, case_id: str, material_id: str) -> dict[str, Any]:
    response = await stack.node.post(
        f"/api/v1/cases/{case_id}/materials",
        data={"material_id": material_id},
        files={"file": (f"{material_id}.pdf", PDF, "application/pdf")},
    )
    assert response.status_code == 201, response.text
    state: dict[str, Any] = response.json()
    return state


async def attach_all(
    stack: Stack, case_id: str, item: dict[str, Any], *, except_: tuple[str, ...] = ()
) -> None:
    for material in item["materials"]:
        if material["mandatory"] and material["id"] not in except_:
            await attach(stack, case_id, material["id"])


async def notice(stack: Stack, case_id: str, kind: str) -> str:
    response = await stack.node.get(f"/api/v1/cases/{case_id}/notices/{kind}.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    with contextlib.suppress(OSError):  # kept for a human to look at, like the browser screenshots
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / f"{kind}.pdf").write_bytes(response.content)
    return pdf_text(response.content)


async def events_of(stack: Stack, case_id: str) -> list[str]:
    from node.events import case_events

    async with stack.runtime.db.read() as session:
        events = await case_events(session, case_id)
    return [e.type for e in sorted(events, key=lambda e: (e.hlc, e.id))]


def problem(response: Any, status: int, code: str, field: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body.get("field")) == (code, field), body
    detail: str = body["detail"]
    return detail


async def test_complete_case_is_accepted_with_a_notice_then_decided_and_issued_to_the_applicant(
    stack: Stack,
) -> None:
    stack.clock.set(at("2026-02-10"))  # a Tuesday before the Spring Festival
    await login_node(stack)
    item = await item_named(stack, PENSION_BENEFIT)
    case = await receive(stack, item)
    case_id = case["case_id"]
    assert case["case_number"].startswith(item["code"] + "20260210")
    assert len(case["case_number"]) == 43
    receipt = await notice(stack, case_id, "receipt")
    for text in ("收件凭证", "张三", PENSION_BENEFIT, case["case_number"], "2026年2月10日", "五个工作日"):
        assert text in receipt, text
    assert VALID_IDS[0] not in receipt  # the voucher masks the ID number
    assert VALID_IDS[0][:6] + "********" + VALID_IDS[0][14:] in receipt

    await attach_all(stack, case_id, item)
    accepted = await stack.node.post(f"/api/v1/cases/{case_id}/accept", json={"collection": "window"})
    assert accepted.status_code == 200, accepted.text
    state = accepted.json()
    # 10 working days from Tue 10 Feb 2026, counting the make-up Saturdays 14 and 28 Feb and skipping 15–23 Feb.
    assert (state["status"], state["promised_days"], state["promised_date"]) == ("accepted", 10, "2026-03-02")
    number = state["notices"][-1]["number"]
    assert number == "测试1号便民受字〔2026〕第10001号"
    text = await notice(stack, case_id, "acceptance")
    for expected in (
        "受理通知书",
        number,
        "张三",
        PENSION_BENEFIT,
        "2026年2月10日",
        "2026年3月2日",
        "予以受理",
    ):
        assert expected in text, expected
    assert await events_of(stack, case_id) == [
        "case.received",
        *["case.material_attached"] * 4,
        "case.accepted",
    ]

    # Central decides; the result comes back ready to issue.
    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    decided = await decide(stack.central, case_id, "approve")
    assert decided.status_code == 200, decided.text
    await sync_once(stack.central, stack.runtime)
    ready = (await stack.node.get(f"/api/v1/cases/{case_id}")).json()
    assert ready["status"] == "approved"

    # Someone else's ID card does not collect it; a wrong check digit is refused before anything is compared.
    stranger = await stack.node.post(
        f"/api/v1/cases/{case_id}/issue",
        json={"cert_type": "111", "cert_number": VALID_IDS[1], "signature": png_signature()},
    )
    assert "不一致" in problem(stranger, 403, "OW-1304", "collector.cert_number")
    typo = await stack.node.post(
        f"/api/v1/cases/{case_id}/issue",
        json={"cert_type": "111", "cert_number": VALID_IDS[0][:-1] + "3", "signature": png_signature()},
    )
    problem(typo, 422, "OW-1005", "collector.cert_number")
    unsigned = await stack.node.post(
        f"/api/v1/cases/{case_id}/issue", json={"cert_type": "111", "cert_number": VALID_IDS[0]}
    )
    problem(unsigned, 422, "OW-1006", "signature")
    assert (await stack.node.get(f"/api/v1/cases/{case_id}")).json()["status"] == "approved"

    stack.clock.set(at("2026-03-03", 15))
    issued = await stack.node.post(
        f"/api/v1/cases/{case_id}/issue",
        json={
            "cert_type": "111",
            "cert_number": VALID_IDS[0],
            "signature": png_signature(),
            "read_from_card": True,
        },
    )
    assert issued.status_code == 200, issued.text
    done = issued.json()
    assert done["status"] == "issued" and done["issue"]["collector"]["role"] == "applicant"
    slip = await notice(stack, case_id, "pickup")
    for expected in ("领取签收单", "张三", "申请人本人", "准予", "读取身份证", "2026年3月3日"):
        assert expected in slip, expected
    again = await stack.node.post(
        f"/api/v1/cases/{case_id}/issue",
        json={"cert_type": "111", "cert_number": VALID_IDS[0], "signature": png_signature()},
    )
    problem(again, 409, "OW-1301", "case_id")


async def test_waiver_acceptance_with_commitment_and_termination_when_the_deadline_passes(
    stack: Stack,
) -> None:
    stack.clock.set(at("2026-02-10"))
    await login_node(stack)
    item = await item_named(stack, PENSION_BENEFIT)
    waivable = [m["id"] for m in item["materials"] if m["waivable"]]
    fixed = [m["id"] for m in item["materials"] if m["mandatory"] and not m["waivable"]]
    assert waivable == ["bank-account"] and fixed

    case = await receive(stack, item)
    case_id = case["case_id"]
    await attach_all(stack, case_id, item, except_=(*waivable, fixed[0]))

    def waiver(**body: Any) -> dict[str, Any]:
        return {
            "waived": waivable,
            "supply_by": "2026-02-27",
            "commitment_signature": png_signature(),
            **body,
        }

    url = f"/api/v1/cases/{case_id}/accept-with-waiver"
    # A main material cannot be waived; a missing main material cannot be left unwaived either.
    main = await stack.node.post(url, json=waiver(waived=[*waivable, fixed[0]]))
    assert "不能容缺" in problem(main, 422, "OW-1303", "waived")
    unwaived = await stack.node.post(url, json=waiver())
    problem(unwaived, 409, "OW-1302", "materials")
    await attach(stack, case_id, fixed[0])
    # The supply deadline may not run past the promised completion date (2 March).
    late = await stack.node.post(url, json=waiver(supply_by="2026-03-03"))
    assert "2026年03月02日" in problem(late, 422, "OW-1306", "supply_by")
    unsigned = await stack.node.post(url, json=waiver(commitment_signature=""))
    problem(unsigned, 422, "OW-1006", "commitment_signature")
    plain = await stack.node.post(f"/api/v1/cases/{case_id}/accept")
    problem(plain, 409, "OW-1302", "materials")
    assert (await stack.node.get(f"/api/v1/cases/{case_id}")).json()["status"] == "received"

    accepted = await stack.node.post(url, json=waiver())
    assert accepted.status_code == 200, accepted.text
    state = accepted.json()
    assert state["status"] == "accepted"
    assert state["waiver"]["supply_by"] == "2026-02-27" and state["waiver"]["supplied_at"] == ""
    commitment = await notice(stack, case_id, "waiver_commitment")
    for expected in ("容缺受理承诺书", "张三", "银行账户", "2026年2月27日", "终止办理", case["case_number"]):
        assert expected in commitment, expected
    waiver_notice = await notice(stack, case_id, "waiver_notice")
    for expected in (
        "容缺受理通知书",
        "容缺受理",
        "2026年2月27日",
        "2026年3月2日",
        "测试1号便民容字〔2026〕第10001号",
    ):
        assert expected in waiver_notice, expected

    # Only the waived slot takes files now; the deadline day itself is still in time.
    other = await stack.node.post(
        f"/api/v1/cases/{case_id}/materials",
        data={"material_id": fixed[0]},
        files={"file": ("x.pdf", PDF, "application/pdf")},
    )
    problem(other, 409, "OW-1301", "material_id")
    stack.clock.set(at("2026-02-27", 17))
    assert await run_legal_clocks(stack.runtime) == []
    stack.clock.set(at("2026-02-28", 9))
    [terminated] = await run_legal_clocks(stack.runtime)
    assert terminated.status == "terminated" and "银行账户" in str(terminated.termination)
    assert (await events_of(stack, case_id))[-1] == "case.terminated"
    assert await run_legal_clocks(stack.runtime) == []  # recorded once

    # A second applicant keeps the commitment: the file that completes the waived slot records it.
    stack.clock.set(at("2026-03-02", 9))
    kept = await receive(stack, item, id_number=VALID_IDS[2], name="王五")
    await attach_all(stack, kept["case_id"], item, except_=tuple(waivable))
    ok = await stack.node.post(
        f"/api/v1/cases/{kept['case_id']}/accept-with-waiver", json=waiver(supply_by="2026-03-06")
    )
    assert ok.status_code == 200, ok.text
    supplied = await attach(stack, kept["case_id"], waivable[0])
    assert supplied["waiver"]["supplied_at"] and supplied["status"] == "accepted"
    stack.clock.set(at("2026-03-20"))
    assert await run_legal_clocks(stack.runtime) == []


async def test_one_time_correction_notice_lists_everything_and_the_case_resumes_after_correction(
    stack: Stack,
) -> None:
    stack.clock.set(at("2026-11-16"))
    await login_node(stack)
    item = await item_named(stack, "最低生活保障申请")
    case = await receive(stack, item)
    case_id = case["case_id"]
    url = f"/api/v1/cases/{case_id}/correction"
    empty = await stack.node.post(url, json={"corrections": []})
    problem(empty, 422, "OW-1006", "corrections")
    blank = await stack.node.post(url, json={"corrections": [{"material_id": "id-card", "problem": " "}]})
    problem(blank, 422, "OW-1006", "corrections[0].problem")
    corrections = [
        {"material_id": "id-card", "problem": "未提交", "requirement": "提交原件1份、复印件1份"},
        {
            "material_id": "income-proof",
            "problem": "收入证明未加盖村委会公章",
            "requirement": "加盖公章后重新提交",
        },
        {"material_id": "", "problem": "申请书家庭成员栏填写不完整", "requirement": ""},
    ]
    asked = await stack.node.post(url, json={"corrections": corrections})
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "correction_requested"
    text = await notice(stack, case_id, "correction")
    for expected in (
        "一次性告知书",
        "张三",
        "最低生活保障申请",
        "2026年11月16日",
        "收入证明未加盖村委会公章",
        "申请书家庭成员栏填写不完整",
        "一次性告知",
        "测试1号便民补字〔2026〕第10001号",
    ):
        assert expected in text, expected
    # All at once: a second notice for the same submission is refused.
    twice = await stack.node.post(url, json={"corrections": corrections[:1]})
    problem(twice, 409, "OW-1301", "case_id")
    not_yet = await stack.node.post(f"/api/v1/cases/{case_id}/accept")
    problem(not_yet, 409, "OW-1301", "case_id")

    stack.clock.set(at("2026-11-18"))
    await attach_all(stack, case_id, item)
    resumed = await stack.node.post(f"/api/v1/cases/{case_id}/corrected")
    assert resumed.status_code == 200, resumed.text
    body = resumed.json()
    assert body["status"] == "received" and body["received_at"] == case["received_at"]  # receipt time kept
    assert body["clock_from"] > case["received_at"]
    accepted = await stack.node.post(f"/api/v1/cases/{case_id}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert await events_of(stack, case_id) == [
        "case.received",
        "case.correction_requested",
        *["case.material_attached"] * 6,
        "case.corrected",
        "case.accepted",
    ]


async def test_refusal_states_reasons_basis_competent_organ_and_appeal_rights(stack: Stack) -> None:
    stack.clock.set(at("2026-11-16"))
    await login_node(stack)
    item = await item_named(stack, "农村宅基地申请")
    case = await receive(stack, item)
    url = f"/api/v1/cases/{case['case_id']}/refuse"
    missing = await stack.node.post(url, json={"reasons": "x", "legal_basis": ""})
    problem(missing, 422, "OW-1006", "legal_basis")
    refused = await stack.node.post(
        url,
        json={
            "reasons": "申请人已有一处宅基地，不符合一户一宅的规定。",
            "legal_basis": "《中华人民共和国土地管理法》第六十二条",
            "competent_organ": "梅河口市农业农村局",
        },
    )
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "refused"
    text = await notice(stack, case["case_id"], "refusal")
    for expected in (
        "不予受理决定书",
        "张三",
        "农村宅基地申请",
        "2026年11月16日",
        "一户一宅",
        "土地管理法》第六十二条",
        "梅河口市农业农村局",
        "六十日内",
        "梅河口市人民政府",
        "六个月内",
        "梅河口市人民法院",
        "测试1号便民不受字〔2026〕第10001号",
    ):
        assert expected in text, expected
    assert "三个月" not in text  # the pre-2015 lawsuit period must never appear
    again = await stack.node.post(url, json={"reasons": "x", "legal_basis": "y"})
    problem(again, 409, "OW-1301", "case_id")


async def test_immediate_case_is_decided_on_the_spot_by_a_lead_and_issued_to_the_agent(stack: Stack) -> None:
    await login_node(stack)
    item = await item_named(stack, PENSION_ENROL)
    agent = {"name": "李四", "cert_type": "111", "cert_number": VALID_IDS[1], "phone": "13800000000"}
    case = await receive(stack, item, agent=agent)
    case_id = case["case_id"]
    await attach_all(stack, case_id, item)
    accepted = (await stack.node.post(f"/api/v1/cases/{case_id}/accept")).json()
    assert accepted["promised_days"] == 0
    assert accepted["promised_date"] == stack.runtime.today().isoformat()  # 即办件: due the same day
    by_clerk = await stack.node.post(f"/api/v1/cases/{case_id}/decide-on-spot", json={"outcome": "approve"})
    problem(by_clerk, 403, "OW-1102", "role")

    await login_node(stack, LEAD)
    decided = await stack.node.post(f"/api/v1/cases/{case_id}/decide-on-spot", json={"outcome": "approve"})
    assert decided.status_code == 200, decided.text
    state = decided.json()
    assert state["status"] == "approved" and state["decision"]["on_spot"] is True
    assert state["decision"]["department"]

    # The county may not decide a 即办件 a second time.
    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    at_central = (await stack.central.get(f"/api/v1/cases/{case_id}")).json()
    assert at_central["status"] == "approved"
    twice = await stack.central.post(f"/api/v1/cases/{case_id}/decision", json={"outcome": "approve"})
    assert twice.status_code == 409

    issued = await stack.node.post(
        f"/api/v1/cases/{case_id}/issue",
        json={"cert_type": "111", "cert_number": VALID_IDS[1], "signature": png_signature()},
    )
    assert issued.status_code == 200, issued.text
    assert issued.json()["issue"]["collector"] == {
        "role": "agent",
        "name": "李四",
        "cert_type": "111",
        "cert_number": VALID_IDS[1],
        "verified_by": "typed",
    }
    assert "代理人" in await notice(stack, case_id, "pickup")


async def test_a_promised_case_cannot_be_decided_on_the_spot_and_a_result_can_go_by_mail(
    stack: Stack,
) -> None:
    await login_node(stack, LEAD)
    item = await item_named(stack, PENSION_BENEFIT)
    case = await receive(stack, item)
    await attach_all(stack, case["case_id"], item)
    await stack.node.post(f"/api/v1/cases/{case['case_id']}/accept", json={"collection": "mail"})
    on_spot = await stack.node.post(
        f"/api/v1/cases/{case['case_id']}/decide-on-spot", json={"outcome": "approve"}
    )
    assert "承诺件" in problem(on_spot, 403, "OW-1102", "case_id")
    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    denied = await decide(stack.central, case["case_id"], "deny", "不符合领取条件")
    assert denied.status_code == 200, denied.text
    await sync_once(stack.central, stack.runtime)
    short = await stack.node.post(
        f"/api/v1/cases/{case['case_id']}/mail",
        json={"recipient": "张三", "phone": "13912345678", "address": "红梅镇"},
    )
    problem(short, 422, "OW-1001", "address")
    mailed = await stack.node.post(
        f"/api/v1/cases/{case['case_id']}/mail",
        json={"recipient": "张三", "phone": "13912345678", "address": "梅河口市红梅镇红梅村三组18号"},
    )
    assert mailed.status_code == 200 and mailed.json()["status"] == "mailing"


async def test_deemed_acceptance_after_five_working_days_without_a_notice(stack: Stack) -> None:
    # Received on Friday 13 Feb 2026: the five working days are Sat 14 Feb (a make-up working day) and
    # 24–27 Feb, after the Spring Festival days off. Deemed accepted from Saturday 28 Feb.
    stack.clock.set(at("2026-02-13", 16))
    await login_node(stack)
    item = await item_named(stack, "最低生活保障申请")
    case = await receive(stack, item)
    page = await stack.node.get(f"/cases/{case['case_id']}", headers={"accept": "text/html"})
    assert "2026年02月27日 前须受理" in page.text
    stack.clock.set(at("2026-02-27", 23))
    assert await run_legal_clocks(stack.runtime) == []
    stack.clock.set(at("2026-02-28", 8))
    [deemed] = await run_legal_clocks(stack.runtime)
    assert deemed.deemed_accepted and deemed.received_at == case["received_at"]
    assert await run_legal_clocks(stack.runtime) == []
    state = (await stack.node.get(f"/api/v1/cases/{case['case_id']}")).json()
    assert state["deemed_accepted"] is True and state["status"] == "received"
    late = await stack.node.post(
        f"/api/v1/cases/{case['case_id']}/correction",
        json={"corrections": [{"material_id": "id-card", "problem": "未提交"}]},
    )
    assert "视为受理" in problem(late, 409, "OW-1301", "case_id")
    # The flag reaches the county with the case.
    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    assert (await stack.central.get(f"/api/v1/cases/{case['case_id']}")).json()["deemed_accepted"] is True


async def test_applicants_are_validated_naming_the_field(stack: Stack) -> None:
    await login_node(stack)
    business = await item_named(stack, BUSINESS)
    pension = await item_named(stack, PENSION_BENEFIT)

    async def create(item: dict[str, Any], applicant: dict[str, str], **extra: Any) -> Any:
        return await stack.node.post(
            "/api/v1/cases", json={"item_code": item["code"], "applicant": applicant, **extra}
        )

    person = {"name": "张三", "cert_type": "111", "cert_number": VALID_IDS[0]}
    wrong_sex = await create(pension, {**person, "sex": "男"})  # …002X: the 17th digit is even, a woman
    assert "女" in problem(wrong_sex, 422, "OW-1005", "applicant.sex")
    wrong_birth = await create(pension, {**person, "birth_date": "1949-12-30"})
    problem(wrong_birth, 422, "OW-1005", "applicant.birth_date")
    matching = await create(pension, {**person, "sex": "女", "birth_date": "1949-12-31"})
    assert matching.status_code == 201 and matching.json()["applicant"]["birth_date"] == "1949-12-31"

    company = {
        "kind": "legal_person",
        "name": "梅河口市红梅镇好邻居超市",
        "cert_number": "91350100M000100Y43",
    }
    agent = {"name": "李四", "cert_type": "111", "cert_number": VALID_IDS[1]}
    bad_code = await create(business, {**company, "cert_number": "91350100M000100Y44"}, agent=agent)
    problem(bad_code, 422, "OW-1005", "applicant.cert_number")
    no_agent = await create(business, company)
    problem(no_agent, 422, "OW-1006", "agent.name")
    not_for_companies = await create(pension, company, agent=agent)
    problem(not_for_companies, 422, "OW-1001", "applicant.kind")
    bad_agent = await create(business, company, agent={**agent, "cert_number": VALID_IDS[1][:-1] + "5"})
    problem(bad_agent, 422, "OW-1005", "agent.cert_number")
    created = await create(business, company, agent=agent)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["applicant"]["cert_type"] == "001" and body["agent"]["name"] == "李四"
    # Only the two valid applications were recorded.
    assert len((await stack.node.get("/api/v1/cases")).json()["cases"]) == 2


async def test_service_guide_prints_the_checklist(stack: Stack) -> None:
    await login_node(stack)
    item = await item_named(stack, "最低生活保障申请")
    response = await stack.node.get(f"/items/{item['code']}/guide.pdf")
    assert response.status_code == 200
    with contextlib.suppress(OSError):
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "service_guide.pdf").write_bytes(response.content)
    text = pdf_text(response.content)
    for expected in (
        "服务指南",
        "最低生活保障申请",
        item["code"],
        "申请材料",
        "可容缺",
        "受理条件",
        "设定依据",
    ):
        assert expected in text, expected
    for material in item["materials"]:
        assert material["name"].replace(" ", "") in text, material["name"]


def publish_calendar_cli(stack: Stack, calendar_file: Path) -> subprocess.CompletedProcess[str]:
    """`onewindow central publish-calendar`, as the county admin runs it beside the running central."""
    args = [
        "central",
        "publish-calendar",
        "--data",
        str(stack.setup.root / "central"),
        "--county-dir",
        str(stack.setup.county_dir),
        "--file",
        str(calendar_file),
    ]
    code = f"from provisioning.cli import main; raise SystemExit(main({args!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


async def test_calendar_published_by_the_county_reaches_the_node(stack: Stack, tmp_path: Path) -> None:
    from provisioning.county import sample_calendar

    await login_node(stack)
    await sync_once(stack.central, stack.runtime)  # the node is enrolled at central
    assert stack.runtime.calendar.version == 1
    newer = sample_calendar()
    newer["version"] = 2
    newer["years"].append(
        {
            "year": 2027,
            "source": "测试：2027年安排",
            "holidays": [{"name": "元旦", "days_off": ["2027-01-01"], "workdays": []}],
        }
    )
    # A broken file is refused as a whole, naming the field; nothing is sent.
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**newer, "version": 0}), "utf-8")
    refused = publish_calendar_cli(stack, broken)
    assert refused.returncode == 1 and "version" in refused.stderr, refused
    assert (await sync_once(stack.central, stack.runtime)).pulled == 0

    good = tmp_path / "calendar.json"
    good.write_text(json.dumps(newer, ensure_ascii=False), "utf-8")
    published = publish_calendar_cli(stack, good)
    assert published.returncode == 0, published.stderr
    assert "已下发给 1 个节点" in published.stdout
    report = await sync_once(stack.central, stack.runtime)
    assert report.pulled == 1
    assert stack.runtime.calendar.version == 2
    assert not stack.runtime.calendar.is_working_day(date(2027, 1, 1))
    # New bundles carry it too, and the node keeps it across a restart (it is in its database).
    assert json.loads((stack.setup.county_dir / "calendar.json").read_text("utf-8"))["version"] == 2
    await stack.runtime.reload_catalogues()
    assert stack.runtime.calendar.version == 2
