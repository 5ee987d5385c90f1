"""Mailed pre-acceptance and the logistics window end to end (issue 9): a mailed application from the parcel's
registration to a formal case and a mailed result with every custody event on the case at both ends; tracking
numbers with the S10 check digit; the flag on a parcel nobody confirmed, at the centre and at the county, on a
fake clock. The documents (manifest, label, letter) are rendered and their text read back with `pdftotext`.
"""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import segno

from central.cases.queries import case_state as central_case_state
from central.hall.logistics import confirm_parcels, expected_parcels
from central.sync.attachments import AttachmentStore
from central.sync.courier import import_courier_file
from node.archive.service import archive_case
from node.intake.cases.applicants import Applicant
from node.intake.cases.issuing import hand_to_logistics
from node.intake.cases.materials import attach_material
from node.intake.cases.outcomes import Correction, accept_case
from node.intake.cases.receive import item_of, receive_case
from node.intake.mail.manifests import create_manifest, hand_over
from node.intake.mail.messages import queued_messages
from node.intake.mail.outbound import (
    outbound_parcels,
    pack_parcel,
    record_delivery,
    set_confirm_days,
    to_pack,
)
from node.intake.mail.papers import label_pdf, letter_pdf, manifest_pdf
from node.intake.mail.parcels import inbound_parcels, open_parcel, register_parcel
from node.intake.mail.pre_review import pre_review
from node.runtime import CST
from node.staff import Actor
from node.sync.client import sync_once
from protocol.errors import OneWindowError
from protocol.events import CUSTODY_STEPS, ISSUED, CaseState
from tests.backoffice_support import decide
from tests.conftest import Stack, login_central, login_node
from tests.support import LEAD, PDF, VALID_IDS, require_tool
from tests.unit.protocol.test_archive import pdf as real_pdf

LOGISTICS = Actor("lead", "lead")  # the provisioned centre has a lead (who may work every window) and a clerk
CLERK = Actor("clerk", "window")
PENSION_BENEFIT = "城乡居民基本养老保险待遇领取"  # 承诺件: the county decides
GOOD_S10 = "EA123456785CN"  # serial 12345678 → check digit 5 (the UPU reference serial)
GOOD_S10_GB = "RR473124829GB"  # a published S10 example: 4·8+7·6+3·4+1·2+2·3+4·5+8·9+2·7 = 200 → 11−2 = 9
SHOTS = Path("/tmp/onewindow-shots/mail")
DOMESTIC = "1187654321098"  # 13-digit domestic EMS number: no S10 shape, kept as given


def png(text: str = "签名") -> bytes:
    buffer = io.BytesIO()
    segno.make(text).save(buffer, kind="png", scale=3)
    return buffer.getvalue()


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), CST).replace(hour=hour)


def pdf_text(data: bytes) -> str:
    tool = require_tool("pdftotext")
    assert data.startswith(b"%PDF-")
    done = subprocess.run([tool, "-", "-"], input=data, capture_output=True, check=True)
    return "".join(done.stdout.decode("utf-8").split())


def item_code(stack: Stack, name: str) -> str:
    return next(i.code for i in stack.runtime.catalogue.items if i.name == name)


def steps_of(state: CaseState) -> list[tuple[str, str]]:
    """(step, tracking number) of every custody event on the case, in the fold's order."""
    return [(str(s["step"]), str(s.get("tracking_number", ""))) for s in state.custody]


async def mailed_case(stack: Stack, tracking: str = GOOD_S10) -> CaseState:
    """A parcel registered, signed for, opened into a case and every mandatory material scanned."""
    runtime = stack.runtime
    parcel = await register_parcel(
        runtime,
        actor=LOGISTICS,
        tracking_number=tracking,
        sender="张三",
        phone="13912345678",
        address="吉林省梅河口市红梅镇幸福村3组12号",
        contents="待遇领取申请表、身份证复印件等",
        envelope_photo=png("信封"),
    )
    assert (parcel.status, parcel.is_s10) == ("registered", tracking != DOMESTIC)
    state = await open_parcel(
        runtime,
        actor=LOGISTICS,
        parcel_id=parcel.id,
        item_code=item_code(stack, PENSION_BENEFIT),
        applicant=Applicant(name="张三", cert_type="111", cert_number=VALID_IDS[0], phone="13912345678"),
    )
    for material in item_of(runtime, state).materials:
        if material.mandatory:
            state = await attach_material(
                runtime,
                actor=LOGISTICS,
                case_id=state.case_id,
                material_id=material.id,
                filename=f"{material.id}.pdf",
                data=real_pdf(f"scan of {material.id}"),
            )
    return state


async def central_db(stack: Stack) -> Any:
    return stack.central_app.state.central


async def test_a_mailed_application_becomes_a_formal_case_and_its_result_is_mailed_with_every_custody_event(
    stack: Stack,
) -> None:
    runtime = stack.runtime
    stack.clock.set(at("2026-03-10"))
    state = await mailed_case(stack)
    assert state.status == "received"
    assert steps_of(state) == [("registered", GOOD_S10), ("opened", GOOD_S10)]
    registered = state.custody[0]
    assert registered["signed_by"] == "lead" and len(registered["envelope_blob"]) == 64

    # 预受理: complete → formally accepted without the applicant coming in; the result is to be mailed.
    state = await pre_review(runtime, actor=LOGISTICS, case_id=state.case_id, result="complete")
    assert (state.status, state.collection) == ("accepted", "mail")
    assert state.pre_acceptance is not None and state.pre_acceptance["result"] == "complete"
    assert state.notice("acceptance") is not None
    messages = {m.channel: m for m in await queued_messages(runtime) if m.case_id == state.case_id}
    assert set(messages) == {"sms", "letter"}
    assert messages["sms"].phone == "13912345678" and "正式受理" in messages["sms"].text
    assert messages["letter"].address.startswith("吉林省梅河口市")
    letter_bytes = await letter_pdf(runtime, messages["letter"].id)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "letter.pdf").write_bytes(letter_bytes)
    letter = pdf_text(letter_bytes)
    for expected in ("邮寄申请预受理结果告知函", "张三", state.case_number, "无需到窗口", "材料齐全"):
        assert expected in letter, expected
    with pytest.raises(OneWindowError, match="已记录预受理结论"):
        await pre_review(runtime, actor=LOGISTICS, case_id=state.case_id, result="complete")

    # The logistics window sees what to send: the acceptance notice back, the originals to the department.
    wanted = {(s.case_id, kind) for s, kind in await to_pack(runtime)}
    assert wanted == {(state.case_id, "notice"), (state.case_id, "original")}
    notice_parcel = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="notice", tracking_number=DOMESTIC
    )
    assert (notice_parcel.party, notice_parcel.is_s10) == ("张三", False)
    assert "受理通知书" in notice_parcel.contents
    original = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="original", tracking_number=GOOD_S10_GB
    )
    assert original.destination == "county"
    assert await to_pack(runtime) == []
    label = pdf_text(await label_pdf(runtime, original.id))
    for expected in ("政务邮件面单", GOOD_S10_GB, "UPUS10", state.case_number, "纸质申请材料原件"):
        assert expected in label, expected

    manifest = await create_manifest(runtime, actor=LOGISTICS, parcel_ids=[notice_parcel.id, original.id])
    manifest = await hand_over(
        runtime,
        actor=LOGISTICS,
        manifest_id=manifest.id,
        courier_name="王师傅",
        courier_company="中国邮政EMS",
        signature=png(),
    )
    assert manifest.handed_at and manifest.due_by == "2026-03-13"  # default: 3 days
    sheet_pdf = await manifest_pdf(runtime, manifest.id)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "manifest.pdf").write_bytes(sheet_pdf)
    (SHOTS / "label.pdf").write_bytes(await label_pdf(runtime, original.id))
    sheet = pdf_text(sheet_pdf)
    for expected in ("邮件交接清单", manifest.number, DOMESTIC, GOOD_S10_GB, "王师傅", "2件"):
        assert expected in sheet, expected

    # The manifest travels to the county in the cases' log; the hall's logistics desk signs for the originals.
    await sync_once(stack.central, runtime)
    central = await central_db(stack)
    async with central.db.transaction() as session:
        expected = await expected_parcels(session, today=date(2026, 3, 11))
        assert {(p.tracking_number, p.destination, p.closed_by) for p in expected} == {
            (DOMESTIC, "applicant", ""),
            (GOOD_S10_GB, "county", ""),
        }
        assert all(p.manifest_number == manifest.number and not p.overdue for p in expected)
        with pytest.raises(OneWindowError, match="由受理中心登记投递结果"):
            await confirm_parcels(
                session, central.county, parcels=[(state.case_id, notice_parcel.id)], receiver="reviewer"
            )
    async with central.db.transaction() as session:
        await confirm_parcels(
            session, central.county, parcels=[(state.case_id, original.id)], receiver="reviewer"
        )
    await sync_once(stack.central, runtime)
    state = await record_delivery(runtime, actor=LOGISTICS, parcel_id=notice_parcel.id, delivered=True)
    assert ("received", GOOD_S10_GB) in steps_of(state) and ("delivered", DOMESTIC) in steps_of(state)

    # The county decides; the result is handed to logistics for mailing; the first try comes back.
    await login_central(stack)
    decided = await decide(stack.central, state.case_id, "approve")
    assert decided.status_code == 200, decided.text
    await sync_once(stack.central, runtime)
    await hand_to_logistics(
        runtime,
        actor=LOGISTICS,
        case_id=state.case_id,
        recipient="张三",
        phone="13912345678",
        address="吉林省梅河口市红梅镇幸福村3组12号",
    )
    wanted_now = [(s.case_id, kind) for s, kind in await to_pack(runtime)]
    assert wanted_now == [(state.case_id, "result")]
    first = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="result", tracking_number="EA000000005CN"
    )
    m1 = await create_manifest(runtime, actor=LOGISTICS, parcel_ids=[first.id])
    await hand_over(runtime, actor=LOGISTICS, manifest_id=m1.id, courier_name="王师傅", signature=png())
    state = await record_delivery(
        runtime, actor=LOGISTICS, parcel_id=first.id, delivered=False, note="收件人外出，无人签收"
    )
    assert state.status == "mailing"
    second = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="result", tracking_number="EA000040000CN"
    )
    m2 = await create_manifest(runtime, actor=LOGISTICS, parcel_ids=[second.id])
    await hand_over(runtime, actor=LOGISTICS, manifest_id=m2.id, courier_name="王师傅", signature=png())
    state = await record_delivery(runtime, actor=LOGISTICS, parcel_id=second.id, delivered=True)

    # Delivered: the case is issued, and its chain of custody holds every step, at the centre and the county.
    assert state.status == ISSUED and state.issue is not None and state.issue["delivered"] is True
    assert state.anomalies == ()
    assert steps_of(state) == [
        ("registered", GOOD_S10),
        ("opened", GOOD_S10),
        ("packed", DOMESTIC),
        ("packed", GOOD_S10_GB),
        ("handed_to_courier", DOMESTIC),
        ("handed_to_courier", GOOD_S10_GB),
        ("received", GOOD_S10_GB),
        ("delivered", DOMESTIC),
        ("packed", "EA000000005CN"),
        ("handed_to_courier", "EA000000005CN"),
        ("returned", "EA000000005CN"),
        ("packed", "EA000040000CN"),
        ("handed_to_courier", "EA000040000CN"),
        ("delivered", "EA000040000CN"),
    ]
    assert {s for s, _ in steps_of(state)} == set(CUSTODY_STEPS.values())
    await sync_once(stack.central, runtime)
    async with central.db.transaction() as session:
        at_county = await central_case_state(session, state.case_id)
        closed = {
            p.tracking_number: p.closed_by for p in await expected_parcels(session, today=date(2026, 3, 20))
        }
    assert at_county.status == ISSUED and steps_of(at_county) == steps_of(state)
    assert closed == {
        DOMESTIC: "delivered",
        GOOD_S10_GB: "received",
        "EA000000005CN": "returned",
        "EA000040000CN": "delivered",
    }
    (inbound,) = await inbound_parcels(runtime)
    assert (inbound.status, inbound.case_id) == ("opened", state.case_id)

    # Closed by the delivery, the mailed case is archived like one collected at the window.
    archived = await archive_case(runtime, actor=LOGISTICS, case_id=state.case_id)
    assert archived.archived, archived


async def test_tracking_numbers_are_checked_when_they_have_the_s10_shape(stack: Stack) -> None:
    runtime = stack.runtime
    for good in (GOOD_S10, GOOD_S10_GB, "ee 123456785 cn".replace(" ", "")):
        parcel = await register_parcel(
            runtime,
            actor=LOGISTICS,
            tracking_number=good,
            sender="李四",
            contents="申请表",
            envelope_photo=png(good),
        )
        assert parcel.is_s10 and parcel.tracking_number == good.upper()
    for typo in ("EA123456784CN", "RR473124828GB"):  # one digit off: the check digit catches it
        with pytest.raises(OneWindowError, match="校验位错误") as refused:
            await register_parcel(
                runtime,
                actor=LOGISTICS,
                tracking_number=typo,
                sender="李四",
                contents="申请表",
                envelope_photo=png(typo),
            )
        assert refused.value.field == "tracking_number"
    domestic = await register_parcel(
        runtime,
        actor=LOGISTICS,
        tracking_number=DOMESTIC,
        sender="王五",
        contents="申请表",
        envelope_photo=png(),
    )
    assert (domestic.tracking_number, domestic.is_s10) == (DOMESTIC, False)
    with pytest.raises(OneWindowError, match="已于"):
        await register_parcel(
            runtime,
            actor=LOGISTICS,
            tracking_number=DOMESTIC,
            sender="王五",
            contents="再次",
            envelope_photo=png(),
        )
    with pytest.raises(OneWindowError, match="不能登记邮件"):
        await register_parcel(
            runtime,
            actor=CLERK,
            tracking_number="1187654321099",
            sender="王五",
            contents="x",
            envelope_photo=png(),
        )
    with pytest.raises(OneWindowError, match="封皮照片"):
        await register_parcel(
            runtime,
            actor=LOGISTICS,
            tracking_number="1187654321099",
            sender="王五",
            contents="x",
            envelope_photo=PDF,
        )
    assert len(await inbound_parcels(runtime)) == 4


async def test_a_parcel_never_confirmed_is_flagged_after_the_configured_days_at_both_ends(
    stack: Stack,
) -> None:
    runtime = stack.runtime
    stack.clock.set(at("2026-03-10"))
    await set_confirm_days(runtime, actor=LOGISTICS, days=2)
    state = await mailed_case(stack)
    state = await pre_review(runtime, actor=CLERK, case_id=state.case_id, result="complete")
    original = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="original", tracking_number=GOOD_S10_GB
    )
    notice = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="notice", tracking_number=DOMESTIC
    )
    manifest = await create_manifest(runtime, actor=LOGISTICS, parcel_ids=[original.id, notice.id])
    await hand_over(runtime, actor=LOGISTICS, manifest_id=manifest.id, courier_name="王师傅", signature=png())
    await record_delivery(runtime, actor=LOGISTICS, parcel_id=notice.id, delivered=True)
    await sync_once(stack.central, runtime)
    central = await central_db(stack)

    async def flagged(day: str) -> tuple[set[str], set[str]]:
        stack.clock.set(at(day))
        node = {p.parcel.tracking_number for p in await outbound_parcels(runtime) if p.overdue}
        async with central.db.transaction() as session:
            county = {
                p.tracking_number for p in await expected_parcels(session, today=runtime.today()) if p.overdue
            }
        return node, county

    # Handed over on 10 March with 2 days to confirm: due by the 12th, flagged from the 13th — at both ends.
    assert await flagged("2026-03-12") == (set(), set())
    assert await flagged("2026-03-13") == ({GOOD_S10_GB}, {GOOD_S10_GB})
    assert await flagged("2026-04-30") == ({GOOD_S10_GB}, {GOOD_S10_GB})

    # The county desk signs for it; once the confirmation comes down, neither end flags it any more.
    async with central.db.transaction() as session:
        await confirm_parcels(
            session, central.county, parcels=[(state.case_id, original.id)], receiver="reviewer"
        )
        # Confirming twice records nothing new.
        await confirm_parcels(
            session, central.county, parcels=[(state.case_id, original.id)], receiver="reviewer"
        )
    assert (await flagged("2026-04-30"))[1] == set()
    assert (await flagged("2026-04-30"))[0] == {GOOD_S10_GB}  # the node has not heard yet
    await sync_once(stack.central, runtime)
    assert await flagged("2026-04-30") == (set(), set())
    received = [
        s for s in (await central_case_state_of(stack, state.case_id)).custody if s["step"] == "received"
    ]
    assert len(received) == 1


async def central_case_state_of(stack: Stack, case_id: str) -> CaseState:
    async with (await central_db(stack)).db.transaction() as session:
        return await central_case_state(session, case_id)


async def test_pre_review_with_corrections_sends_the_one_time_notice_by_mail(stack: Stack) -> None:
    runtime = stack.runtime
    state = await mailed_case(stack, tracking=DOMESTIC)
    material = item_of(runtime, state).materials[0]
    state = await pre_review(
        runtime,
        actor=CLERK,
        case_id=state.case_id,
        result="corrections",
        corrections=[Correction(material.id, "复印件不清晰", "请寄送清晰的复印件")],
    )
    assert state.status == "correction_requested" and state.notice("correction") is not None
    (letter,) = [m for m in await queued_messages(runtime) if m.channel == "letter"]
    assert "复印件不清晰" in letter.text and "一次性告知书" in letter.text
    (wanted,) = await to_pack(runtime)
    assert wanted[1] == "notice"
    parcel = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="notice", tracking_number=GOOD_S10
    )
    assert "一次性告知书" in parcel.contents
    with pytest.raises(OneWindowError, match="原件无需移交"):
        await pack_parcel(
            runtime, actor=LOGISTICS, case_id=state.case_id, kind="original", tracking_number=GOOD_S10_GB
        )
    with pytest.raises(OneWindowError, match="已记录预受理结论"):
        await pre_review(runtime, actor=CLERK, case_id=state.case_id, result="complete")

    # The applicant mails the corrections: the parcel joins the same case, the copy is scanned again, and the
    # second pre-review records 补正到件 and accepts; the acceptance notice is the next one to mail back.
    second = await register_parcel(
        runtime,
        actor=LOGISTICS,
        tracking_number=GOOD_S10_GB,
        sender="张三",
        contents="补正的复印件",
        envelope_photo=png(),
    )
    with pytest.raises(OneWindowError, match="不在等待补正"):
        other = await mailed_case(stack, tracking="EA000000005CN")
        await open_parcel(runtime, actor=LOGISTICS, parcel_id=second.id, case_id=other.case_id)
    state = await open_parcel(runtime, actor=LOGISTICS, parcel_id=second.id, case_id=state.case_id)
    assert [s for s, _ in steps_of(state)] == ["registered", "opened", "packed", "registered", "opened"]
    assert state.custody[-1]["kind"] == "corrections" and state.status == "correction_requested"
    state = await attach_material(
        runtime,
        actor=LOGISTICS,
        case_id=state.case_id,
        material_id=material.id,
        filename="清晰.pdf",
        data=PDF + b"%2",
    )
    state = await pre_review(runtime, actor=CLERK, case_id=state.case_id, result="complete")
    assert state.status == "accepted" and state.corrected_at and state.pre_acceptance is not None
    assert state.pre_acceptance["parcel_id"] == second.id and state.anomalies == ()
    wanted = [(s.case_id, kind) for s, kind in await to_pack(runtime) if s.case_id == state.case_id]
    assert sorted(wanted) == [(state.case_id, "notice"), (state.case_id, "original")]


async def test_the_logistics_pages_flag_the_overdue_parcel_and_the_county_desk_signs_for_it(
    stack: Stack,
) -> None:
    """The same flag as people see it: the centre's logistics page and the county's, then the desk's form."""
    runtime = stack.runtime
    # Central's page reads the real clock: hand the parcel over ten days ago, on the node's clock.
    stack.clock.set(datetime.now(UTC) - timedelta(days=10))
    state = await mailed_case(stack)
    await pre_review(runtime, actor=LOGISTICS, case_id=state.case_id, result="complete")
    original = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="original", tracking_number=GOOD_S10_GB
    )
    manifest = await create_manifest(runtime, actor=LOGISTICS, parcel_ids=[original.id])
    await hand_over(runtime, actor=LOGISTICS, manifest_id=manifest.id, courier_name="王师傅", signature=png())
    await sync_once(stack.central, runtime)
    stack.clock.set(datetime.now(UTC))

    await login_node(stack, LEAD)
    page = (await stack.node.get("/logistics")).text
    assert 'id="overdue"' in page and GOOD_S10_GB in page and "逾期未签收" in page
    api = (await stack.node.get("/api/v1/logistics/parcels")).json()
    assert [(p["tracking_number"], p["overdue"], p["steps"]) for p in api["outbound"]] == [
        (GOOD_S10_GB, True, ["packed", "handed_to_courier"])
    ]
    assert [p["status"] for p in api["inbound"]] == ["opened"]
    await login_central(stack)
    county = await stack.central.get("/logistics")
    assert county.status_code == 200, county.text
    assert 'id="overdue"' in county.text and "逾期未签收" in county.text and manifest.number in county.text
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "central-logistics.html").write_text(county.text, encoding="utf-8")  # for a human to look at

    signed = await stack.central.post(
        "/logistics/confirm", data={"parcel": f"{state.case_id}/{original.id}", "note": "包装完好"}
    )
    assert signed.status_code == 200 and 'id="overdue"' not in signed.text  # followed the redirect
    everything = (await stack.central.get("/logistics?all=1")).text
    assert "县级签收" in everything and GOOD_S10_GB in everything
    api = (await stack.central.get("/api/v1/logistics/parcels")).json()["parcels"]
    assert [(p["tracking_number"], p["closed_by"], p["overdue"]) for p in api] == [
        (GOOD_S10_GB, "received", False)
    ]

    await sync_once(stack.central, runtime)
    page = (await stack.node.get("/logistics")).text
    assert 'id="overdue"' not in page and 'id="road-' not in page  # off the road, into the signed list
    assert 'id="signed"' in page and "包装完好" in page
    (row,) = await outbound_parcels(runtime, statuses=("received",))
    assert row.confirmed == "received" and row.parcel.id == original.id
    case_page = (await stack.node.get(f"/cases/{state.case_id}")).text
    assert "邮件流转记录" in case_page and "县级签收" in case_page and "包装完好" in case_page


async def test_originals_of_a_walk_in_case_are_packed_by_its_case_number(stack: Stack) -> None:
    runtime = stack.runtime
    walk_in = await receive_case(
        runtime,
        actor=CLERK,
        item_code=item_code(stack, PENSION_BENEFIT),
        applicant=Applicant(name="李四", cert_type="111", cert_number=VALID_IDS[1]),
    )
    for material in item_of(runtime, walk_in).materials:
        await attach_material(
            runtime, actor=CLERK, case_id=walk_in.case_id, material_id=material.id, filename="a.pdf", data=PDF
        )
    await accept_case(runtime, actor=CLERK, case_id=walk_in.case_id)
    await login_node(stack, LEAD)
    unknown = await stack.node.post(
        "/logistics/pack", data={"kind": "original", "case_number": "999999999", "tracking_number": GOOD_S10}
    )
    assert unknown.status_code == 404 and "没有找到该办件" in unknown.text
    packed = await stack.node.post(
        "/logistics/pack",
        data={"kind": "original", "case_number": walk_in.case_number[-12:], "tracking_number": GOOD_S10},
    )
    assert packed.status_code == 200 and 'id="packed-EA123456785CN"' in packed.text
    (parcel,) = await outbound_parcels(runtime)
    assert (parcel.parcel.case_id, parcel.parcel.destination) == (walk_in.case_id, "county")


async def test_the_manifest_travels_by_courier_file_from_the_logistics_page_and_the_receipt_comes_back(
    stack: Stack,
) -> None:
    """R-MAIL-4 with no link at all: the logistics page exports the courier file (saying what it holds), the
    county imports it, signs for the originals, and the next round's reply, imported on the same page, clears
    the centre's flag."""
    runtime = stack.runtime
    stack.clock.set(datetime.now(UTC) - timedelta(days=10))
    state = await mailed_case(stack)
    await pre_review(runtime, actor=LOGISTICS, case_id=state.case_id, result="complete")
    original = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="original", tracking_number=GOOD_S10_GB
    )
    manifest = await create_manifest(runtime, actor=LOGISTICS, parcel_ids=[original.id])
    await hand_over(runtime, actor=LOGISTICS, manifest_id=manifest.id, courier_name="王师傅", signature=png())
    stack.clock.set(datetime.now(UTC))
    await login_node(stack, LEAD)
    page = (await stack.node.get("/logistics")).text
    assert "交寄记录 1 个" in page and 'id="overdue"' in page

    central = await central_db(stack)
    store = AttachmentStore(central.settings.data_dir)

    async def courier_round() -> str:
        exported = await stack.node.post("/logistics/courier/export")
        assert exported.status_code == 200 and 'id="courier-done"' in exported.text
        name = exported.text.split("/sync/courier/files/", 1)[1].split('"', 1)[0]
        data = (await stack.node.get(f"/sync/courier/files/{name}")).content
        reply = (await import_courier_file(central.db, central.county, store, data)).reply
        imported = await stack.node.post("/logistics/courier/import", files={"file": ("reply.owc", reply)})
        assert imported.status_code == 200, imported.text
        return imported.text

    answered = await courier_round()
    assert "已导入回执" in answered and 'id="overdue"' in answered  # central has it, nobody signed yet
    assert '尚未得到县中心回执的日志条目 <strong id="courier-entries">0</strong>' in answered
    async with central.db.transaction() as session:
        (parcel,) = await expected_parcels(session, today=date.today())
        assert (parcel.manifest_number, parcel.overdue) == (manifest.number, True)
        await confirm_parcels(
            session, central.county, parcels=[(state.case_id, original.id)], receiver="reviewer"
        )
    answered = await courier_round()
    assert "新事件 1 个" in answered and 'id="overdue"' not in answered

    bad = await stack.node.post(
        "/logistics/courier/import", files={"file": ("reply.owc", b"not a courier file")}
    )
    assert bad.status_code >= 400 and "整份拒收" in bad.text


async def test_a_mailed_application_not_acceptable_is_refused_with_the_appeal_terms_by_letter(
    stack: Stack,
) -> None:
    runtime = stack.runtime
    state = await mailed_case(stack)
    with pytest.raises(OneWindowError, match="理由"):
        await pre_review(runtime, actor=CLERK, case_id=state.case_id, result="not_acceptable")
    state = await pre_review(
        runtime,
        actor=CLERK,
        case_id=state.case_id,
        result="not_acceptable",
        reasons="申请人未达到领取待遇的年龄",
        legal_basis="《城乡居民基本养老保险经办规程》第二十条",
    )
    assert state.status == "refused" and state.pre_acceptance is not None
    assert state.pre_acceptance["notice_no"] == state.notice("refusal").number  # type: ignore[union-attr]
    texts = {m.channel: m.text for m in await queued_messages(runtime)}
    assert "不予受理" in texts["sms"] and "复议" in texts["letter"]
    parcel = await pack_parcel(
        runtime, actor=LOGISTICS, case_id=state.case_id, kind="notice", tracking_number=GOOD_S10
    )
    assert "不予受理决定书" in parcel.contents and await to_pack(runtime) == []
