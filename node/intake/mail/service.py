"""The logistics window (物料流转窗口, DB22/T 2871.2 §6.2.2, §7.1.4, §7.3.2–7.3.3; SPEC R-MAIL-1…3).

Inbound: a parcel with a mailed application is registered and signed for (`register_parcel`: tracking number
with the UPU S10 check digit when it has that shape, sender, contents, envelope photo), opened and scanned into
a case (`open_parcel`), and pre-reviewed at the comprehensive window (`pre_review`, 预受理): complete → the case
is formally accepted without the applicant coming in; corrections needed → the 一次性告知书; not acceptable →
the 不予受理决定书. The result goes to the applicant through the message queue (`ApplicantMessage`: an SMS for the
gateway and a letter to print), and the notice itself is mailed back.

Outbound: notices and results for applicants, and paper originals for county departments, are packed into
parcels (`pack_parcel`), grouped into a courier manifest per pickup (`create_manifest`), and handed over with the
courier's signature on the tablet (`hand_over`). Each step is a case event (chain of custody), so it travels to
the county in the case's up log; the county hall's logistics desk confirms receipt there and its confirmation
comes back down as a case event. The courier's delivery result (`record_delivery`) is fed back the same way; a
delivered result issues the case. A parcel not confirmed within the configured number of days after the
handover is flagged (`outbound_parcels`); the due date travels in the handover event, so both ends flag the
same parcel on the same day.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import case_events, case_state, load_case, new_event, record
from node.intake.cases.applicants import Agent, Applicant
from node.intake.cases.materials import sniff_format, store_blob
from node.intake.cases.outcomes import (
    Correction,
    accept_case,
    record_correction,
    request_correction,
    signature_png,
)
from node.intake.cases.outcomes import refuse_case as refuse
from node.intake.cases.receive import item_of, receive_case
from node.intake.documents.notices import issuer_name, local_time
from node.intake.documents.pdf import Fields, OfficialDocument, Paragraph, Signatures, Table, render_pdf
from node.intake.mail.models import ApplicantMessage, Manifest, Parcel
from node.meta import get_meta, set_meta
from node.models import Counter
from node.runtime import NodeRuntime
from node.staff import FRONT_DESK, LOGISTICS, WINDOW_STAFF, Actor
from protocol.errors import (
    FILE_REJECTED,
    FORBIDDEN,
    INVALID_TRANSITION,
    NOT_FOUND,
    REQUIRED_FIELD,
    VALIDATION,
    OneWindowError,
)
from protocol.events import (
    ACCEPTED,
    CASE_PRE_REVIEWED,
    CORRECTION_REQUESTED,
    ISSUED,
    MAILING,
    PARCEL_DELIVERED,
    PARCEL_HANDED_TO_COURIER,
    PARCEL_OPENED,
    PARCEL_PACKED,
    PARCEL_REGISTERED,
    PARCEL_RETURNED,
    RECEIVED,
    REFUSED,
    CaseState,
    fold,
)
from protocol.identifiers import TrackingNumber, parse_tracking_number
from protocol.ids import uuid7

#: Who may open a parcel and scan it into a case: anyone at a window.
OPENERS = WINDOW_STAFF
CONFIRM_DAYS_KEY = "mail.confirm_days"
DEFAULT_CONFIRM_DAYS = 3
MAX_CONFIRM_DAYS = 60
MAX_PHOTO_BYTES = 10 * 1024 * 1024
PRE_RESULTS = {"complete": "材料齐全，予以受理", "corrections": "材料需补正", "not_acceptable": "不予受理"}
OUT_KINDS = {"notice": "文书寄回申请人", "result": "办理结果寄送申请人", "original": "纸质原件移交县级部门"}
PARCEL_STATUS = {
    "registered": "已登记签收，待拆封",
    "opened": "已拆封",
    "packed": "已封装，待交寄",
    "handed": "已交寄",
    "received": "县级已签收",
    "delivered": "已妥投",
    "returned": "已退回",
}
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def _require(actor: Actor, roles: Sequence[str], what: str) -> None:
    if actor.role not in roles:
        raise OneWindowError(FORBIDDEN, f"您的岗位不能{what}", field="role")


def check_tracking_number(text: str, field: str = "tracking_number") -> TrackingNumber:
    """物流单号 as stored: an S10 number must carry the right check digit; other formats are kept as given."""
    if not text.strip():
        raise OneWindowError(REQUIRED_FIELD, "请填写或扫描物流单号", field=field)
    try:
        return parse_tracking_number(text)
    except ValueError as exc:
        raise OneWindowError(VALIDATION, str(exc), field=field) from None


def _text(value: str, field: str, what: str, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise OneWindowError(REQUIRED_FIELD, f"请填写{what}", field=field)
    return value[:limit]


async def confirm_days(runtime: NodeRuntime) -> int:
    """How many days after the handover a parcel must be confirmed before it is flagged."""
    async with runtime.db.read() as session:
        value = await get_meta(session, CONFIRM_DAYS_KEY)
    return int(value) if value else DEFAULT_CONFIRM_DAYS


async def set_confirm_days(runtime: NodeRuntime, *, actor: Actor, days: int) -> int:
    _require(actor, LOGISTICS, "修改签收期限")
    if not 1 <= days <= MAX_CONFIRM_DAYS:
        raise OneWindowError(VALIDATION, f"签收期限应为1至{MAX_CONFIRM_DAYS}天", field="confirm_days")
    async with runtime.db.write() as session:
        await set_meta(session, CONFIRM_DAYS_KEY, str(days))
    return days


async def _get(session: AsyncSession, model: Any, key: str, what: str) -> Any:
    row = await session.get(model, key)
    if row is None:
        raise OneWindowError(NOT_FOUND, f"{what} {key} 不存在", field="id")
    return row


# ---- inbound ----------------------------------------------------------------------------------------------


async def register_parcel(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    tracking_number: str,
    sender: str,
    contents: str,
    envelope_photo: bytes | None,
    phone: str = "",
    address: str = "",
) -> Parcel:
    """登记签收: record an incoming parcel with a photo of its envelope; the clerk signs for it."""
    _require(actor, LOGISTICS, "登记邮件")
    tracking = check_tracking_number(tracking_number)
    sender = _text(sender, "sender", "寄件人", 100)
    contents = _text(contents, "contents", "内件（所附材料）", 500)
    if not envelope_photo:
        raise OneWindowError(REQUIRED_FIELD, "请拍摄邮件封皮照片", field="envelope_photo")
    fmt = sniff_format(envelope_photo)
    if fmt not in ("jpg", "png") or len(envelope_photo) > MAX_PHOTO_BYTES:
        raise OneWindowError(FILE_REJECTED, "封皮照片应为不超过10 MB的JPG或PNG图片", field="envelope_photo")
    async with runtime.db.write() as session:
        existing = (
            await session.exec(
                select(Parcel).where(Parcel.tracking_number == tracking.number, Parcel.direction == "in")
            )
        ).first()
        if existing is not None:
            raise OneWindowError(
                VALIDATION,
                f"单号 {tracking.number} 已于 {local_time(existing.registered_at)} 登记",
                field="tracking_number",
            )
        photo = await store_blob(
            session,
            runtime,
            envelope_photo,
            media_type="image/jpeg" if fmt == "jpg" else "image/png",
            filename=f"envelope-{tracking.number}.{fmt}",
        )
        now = runtime.now_iso()
        parcel = Parcel(
            id=uuid7(),
            direction="in",
            kind="application",
            tracking_number=tracking.number,
            is_s10=tracking.is_s10,
            party=sender,
            phone=phone.strip()[:30],
            address=address.strip()[:300],
            contents=contents,
            photo_blob=photo,
            status="registered",
            registered_at=now,
            registered_by=actor.username,
            signed_by=actor.username,
            updated_at=now,
        )
        session.add(parcel)
        return parcel


async def open_parcel(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    parcel_id: str,
    item_code: str = "",
    applicant: Applicant | None = None,
    agent: Agent | None = None,
    case_id: str = "",
) -> CaseState:
    """拆封: open a registered parcel into a case for the item on its application form.

    The case is received now (its receipt time starts the five-day clock, as for a walk-in); the parcel's
    registration and opening become the first two steps of its chain of custody. Materials are then scanned
    into the case's checklist like any other (`attach_material`). With `case_id`, the parcel brings the
    corrections (补正) a mailed case awaits: it joins that case's chain of custody instead, and the scans go
    into the same checklist before the case is pre-reviewed again.
    """
    _require(actor, OPENERS, "拆封邮件")
    async with runtime.db.read() as session:
        parcel = await _get(session, Parcel, parcel_id, "邮件")
        existing = await load_case(session, case_id) if case_id else None
    if parcel.direction != "in" or parcel.status != "registered":
        raise OneWindowError(
            INVALID_TRANSITION, f"该邮件当前为「{PARCEL_STATUS[parcel.status]}」，不能拆封", field="parcel_id"
        )
    if existing is not None:
        if existing.status != CORRECTION_REQUESTED:
            raise OneWindowError(
                INVALID_TRANSITION, f"办件当前为「{existing.status_label}」，不在等待补正", field="case_id"
            )
        state = existing
    elif applicant is None:
        raise OneWindowError(REQUIRED_FIELD, "请登记申请人", field="applicant.name")
    else:
        state = await receive_case(
            runtime, actor=actor, item_code=item_code, applicant=applicant, agent=agent
        )
    async with runtime.db.write() as session:
        parcel = await _get(session, Parcel, parcel_id, "邮件")
        common = {
            "parcel_id": parcel.id,
            "direction": "in",
            "kind": "corrections" if existing is not None else "application",
            "tracking_number": parcel.tracking_number,
            "is_s10": parcel.is_s10,
        }
        registered = {
            **common,
            "at": parcel.registered_at,
            "sender": parcel.party,
            "contents": parcel.contents,
            "signed_by": parcel.signed_by,
            "envelope_blob": parcel.photo_blob,
        }
        registrar = Actor(parcel.registered_by, "logistics")
        now = runtime.now_iso()
        await record(
            session,
            runtime,
            new_event(runtime, registrar, state.case_id, PARCEL_REGISTERED, registered),
            new_event(runtime, actor, state.case_id, PARCEL_OPENED, {**common, "at": now}),
        )
        parcel.status, parcel.case_id, parcel.updated_at = "opened", state.case_id, now
        session.add(parcel)
        return await case_state(session, state.case_id)


def inbound_parcel_of(state: CaseState) -> dict[str, Any] | None:
    """The registration step of the newest parcel the applicant mailed (the application, or corrections)."""
    found = [dict(s) for s in state.custody if s.get("step") == "registered"]
    return found[-1] if found else None


def may_pre_review(state: CaseState) -> bool:
    """A mailed case waits for a pre-acceptance result: never reviewed, or corrections mailed since the last
    result asked for them."""
    parcel = inbound_parcel_of(state)
    if parcel is None:
        return False
    if state.pre_acceptance is None:
        return state.status == RECEIVED
    return (
        state.pre_acceptance.get("result") == "corrections"
        and state.status in (RECEIVED, CORRECTION_REQUESTED)
        and parcel["parcel_id"] != state.pre_acceptance.get("parcel_id")
    )


def _message_texts(runtime: NodeRuntime, state: CaseState, result: str) -> tuple[str, str]:
    """(SMS, letter) wording of the pre-acceptance result."""
    centre = issuer_name(runtime)
    head = f"您邮寄申请的「{state.item_name}」（办件编号{state.case_number}）"
    if result == "complete":
        notice = state.notice("acceptance")
        body = (
            f"{head}材料齐全，已于{local_time(state.accepted_at)}正式受理，无需到窗口。"
            f"承诺办结日期{state.promised_date}，受理通知书（{notice.number if notice else ''}）及办理结果将邮寄给您。"
        )
    elif result == "corrections":
        notice = state.notice("correction")
        items = "；".join(f"{c['material_name']}：{c['problem']}" for c in state.corrections)
        body = (
            f"{head}需补正：{items}。一次性告知书（{notice.number if notice else ''}）已邮寄给您，"
            "请按要求补正后寄回或到窗口提交。"
        )
    else:
        notice = state.notice("refusal")
        reasons = str((state.refusal or {}).get("reasons", ""))
        body = (
            f"{head}不予受理，理由：{reasons}。不予受理决定书（{notice.number if notice else ''}）"
            "已邮寄给您，其中载明复议和诉讼的途径与期限。"
        )
    return f"【{centre}】{body}", body


async def pre_review(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    case_id: str,
    result: str,
    corrections: Sequence[Correction] = (),
    reasons: str = "",
    legal_basis: str = "",
    note: str = "",
) -> CaseState:
    """预受理: the comprehensive window's review of mailed materials against the item's checklist.

    The outcome is recorded the way a walk-in's is (受理 / 一次性告知 / 不予受理, with its notice; a complete
    application is accepted with the result to be mailed), then the pre-acceptance result itself, with the
    messages queued for the applicant, in one transaction. Repeating the call after a crash between the two
    finds the outcome already recorded and only records the result.
    """
    _require(actor, FRONT_DESK, "作出预受理结论")
    if result not in PRE_RESULTS:
        raise OneWindowError(VALIDATION, "预受理结论只能是齐全、需补正或不予受理", field="result")
    async with runtime.db.read() as session:
        state = await load_case(session, case_id)
    parcel = inbound_parcel_of(state)
    if parcel is None:
        raise OneWindowError(INVALID_TRANSITION, "该办件不是邮寄申请，无需预受理", field="case_id")
    done = {"complete": ACCEPTED, "corrections": CORRECTION_REQUESTED, "not_acceptable": REFUSED}[result]
    # The outcome may already be recorded for this parcel, its result not (a crash in between): then only the
    # result is recorded now.
    opened = next(
        (
            str(x["at"])
            for x in state.custody
            if x["step"] == "opened" and x["parcel_id"] == parcel["parcel_id"]
        ),
        "",
    )
    outcome = state.notice({"complete": "acceptance", "corrections": "correction"}.get(result, "refusal"))
    retry = (
        state.status == done
        and outcome is not None
        and outcome.issued_at >= opened
        and (state.pre_acceptance or {}).get("parcel_id") != parcel["parcel_id"]
    )
    if not may_pre_review(state) and not retry:
        raise OneWindowError(INVALID_TRANSITION, "该办件已记录预受理结论", field="case_id")
    if state.status == CORRECTION_REQUESTED and not retry:
        state = await record_correction(runtime, actor=actor, case_id=case_id)  # 补正到件 by mail
    if state.status != done:
        if result == "complete":
            state = await accept_case(runtime, actor=actor, case_id=case_id, collection="mail")
        elif result == "corrections":
            state = await request_correction(runtime, actor=actor, case_id=case_id, corrections=corrections)
        else:
            state = await refuse(
                runtime, actor=actor, case_id=case_id, reasons=reasons, legal_basis=legal_basis
            )
    sms, letter = _message_texts(runtime, state, result)
    applicant = state.applicant
    async with runtime.db.write() as session:
        row = (await session.exec(select(Parcel).where(Parcel.id == parcel["parcel_id"]))).first()
        address = row.address if row is not None else ""
        now = runtime.now_iso()
        messages = []
        phone = str(applicant.get("phone", "")) or (row.phone if row is not None else "")
        if _MOBILE.match(phone):
            messages.append(("sms", phone, "", sms))
        messages.append(("letter", phone, address, letter))
        queued = []
        for channel, to_phone, to_address, text in messages:
            message = ApplicantMessage(
                id=uuid7(),
                case_id=case_id,
                channel=channel,
                recipient=str(applicant.get("name", "")),
                phone=to_phone,
                address=to_address,
                subject=f"邮寄申请预受理结果：{PRE_RESULTS[result]}",
                text=text,
                status="queued",
                queued_at=now,
            )
            session.add(message)
            queued.append({"id": message.id, "channel": channel})
        notice = {"complete": "acceptance", "corrections": "correction", "not_acceptable": "refusal"}[result]
        payload = {
            "result": result,
            "reviewed_at": now,
            "parcel_id": parcel["parcel_id"],
            "notice_kind": notice,
            "notice_no": getattr(state.notice(notice), "number", ""),
            "note": note.strip()[:500],
            "messages": queued,
        }
        await record(session, runtime, new_event(runtime, actor, case_id, CASE_PRE_REVIEWED, payload))
        return await case_state(session, case_id)


async def queued_messages(runtime: NodeRuntime, *, limit: int = 100) -> list[ApplicantMessage]:
    async with runtime.db.read() as session:
        query = (
            select(ApplicantMessage)
            .where(ApplicantMessage.status == "queued")
            .order_by(col(ApplicantMessage.queued_at))
            .limit(limit)
        )
        return list((await session.exec(query)).all())


async def mark_message_sent(runtime: NodeRuntime, *, actor: Actor, message_id: str) -> ApplicantMessage:
    """The letter was printed and posted (or the SMS sent by hand): it leaves the queue."""
    _require(actor, OPENERS, "处理告知消息")
    async with runtime.db.write() as session:
        message: ApplicantMessage = await _get(session, ApplicantMessage, message_id, "消息")
        if message.status != "sent":
            message.status, message.sent_at, message.sent_by = "sent", runtime.now_iso(), actor.username
            session.add(message)
        return message


# ---- outbound ---------------------------------------------------------------------------------------------


def _newest_notice(state: CaseState) -> tuple[str, str]:
    kinds = ("acceptance", "waiver_notice", "correction", "refusal")
    found = [n for n in state.notices if n.kind in kinds]
    if not found:
        raise OneWindowError(INVALID_TRANSITION, "该办件还没有可寄回的文书", field="case_id")
    return found[-1].title, found[-1].number


async def pack_parcel(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    case_id: str,
    kind: str,
    tracking_number: str,
    recipient: str = "",
    phone: str = "",
    address: str = "",
    contents: str = "",
) -> Parcel:
    """封装: make up an outgoing parcel for a case with its tracking number (and print its label).

    - notice: the case's newest notice back to a mailed application's sender;
    - result: the result of a case handed to logistics for mailing (邮寄送达), to the address given then;
    - original: the paper originals of an accepted case to the item's lead department at the county.
    Blank recipient fields are filled from the case.
    """
    _require(actor, LOGISTICS, "封装邮件")
    if kind not in OUT_KINDS:
        raise OneWindowError(VALIDATION, f"未知的寄件类型 {kind!r}", field="kind")
    tracking = check_tracking_number(tracking_number)
    async with runtime.db.write() as session:
        state = await load_case(session, case_id)
        destination, notice_no = "applicant", ""
        if kind == "result":
            if state.status != MAILING:
                raise OneWindowError(
                    INVALID_TRANSITION,
                    f"办件当前为「{state.status_label}」，结果尚未交物流窗口寄递",
                    field="case_id",
                )
            issue = state.issue or {}
            recipient = recipient or str(issue.get("recipient", ""))
            phone = phone or str(issue.get("phone", ""))
            address = address or str(issue.get("address", ""))
            decided = "准予" if state.decision and state.decision.outcome == "approve" else "不予"
            contents = contents or f"办理结果文书（{decided}）"
        elif kind == "notice":
            title, number = _newest_notice(state)
            inbound = inbound_parcel_of(state)
            row = await session.get(Parcel, inbound["parcel_id"]) if inbound else None
            recipient = recipient or (row.party if row else str(state.applicant.get("name", "")))
            phone = phone or (row.phone if row else "") or str(state.applicant.get("phone", ""))
            address = address or (row.address if row else "")
            contents = contents or f"{title}（{number}）"
            notice_no = number
        else:
            if state.status in (RECEIVED, CORRECTION_REQUESTED, REFUSED, None):
                raise OneWindowError(
                    INVALID_TRANSITION,
                    f"办件当前为「{state.status_label}」，原件无需移交部门",
                    field="case_id",
                )
            department = item_of(runtime, state).lead_department.name
            destination = "county"
            recipient = (
                recipient or f"{runtime.identity.county_name}政务服务中心物料流转窗口（转{department}）"
            )
            address = address or f"{runtime.identity.county_name}政务服务中心"
            contents = contents or f"纸质申请材料原件（{len(state.materials)}份）"
        recipient = _text(recipient, "recipient", "收件人", 100)
        address = _text(address, "address", "收件地址", 300)
        used = (
            await session.exec(
                select(Parcel).where(
                    Parcel.tracking_number == tracking.number,
                    Parcel.direction == "out",
                    Parcel.status != "returned",
                )
            )
        ).first()
        if used is not None:
            raise OneWindowError(
                VALIDATION, f"单号 {tracking.number} 已用于另一件邮件", field="tracking_number"
            )
        now = runtime.now_iso()
        parcel = Parcel(
            id=uuid7(),
            direction="out",
            kind=kind,
            tracking_number=tracking.number,
            is_s10=tracking.is_s10,
            party=recipient,
            phone=phone.strip()[:30],
            address=address,
            contents=contents.strip()[:500],
            destination=destination,
            status="packed",
            case_id=case_id,
            registered_at=now,
            registered_by=actor.username,
            updated_at=now,
        )
        session.add(parcel)
        payload = {
            "parcel_id": parcel.id,
            "at": now,
            "direction": "out",
            "kind": kind,
            "destination": destination,
            "tracking_number": tracking.number,
            "is_s10": tracking.is_s10,
            "recipient": recipient,
            "contents": parcel.contents,
        }
        if notice_no:
            payload["notice_no"] = notice_no
        await record(session, runtime, new_event(runtime, actor, case_id, PARCEL_PACKED, payload))
        return parcel


async def _next_manifest_number(session: AsyncSession, runtime: NodeRuntime) -> str:
    year = runtime.today().year
    name = f"mail:manifest:{year}"
    counter = await session.get(Counter, name) or Counter(name=name, value=0)
    counter.value += 1
    session.add(counter)
    await session.flush()
    return f"{runtime.notice_prefix}物流交接〔{year}〕第{counter.value:04d}号"


async def create_manifest(runtime: NodeRuntime, *, actor: Actor, parcel_ids: Sequence[str]) -> Manifest:
    """交接清单: group packed parcels for one courier pickup."""
    _require(actor, LOGISTICS, "编制交接清单")
    chosen = list(dict.fromkeys(parcel_ids))
    if not chosen:
        raise OneWindowError(REQUIRED_FIELD, "请选择要交寄的邮件", field="parcel_ids")
    async with runtime.db.write() as session:
        parcels = [await _get(session, Parcel, pid, "邮件") for pid in chosen]
        for parcel in parcels:
            if parcel.direction != "out" or parcel.status != "packed" or parcel.manifest_id:
                raise OneWindowError(
                    INVALID_TRANSITION,
                    f"邮件 {parcel.tracking_number} 不是待交寄的封装邮件",
                    field="parcel_ids",
                )
        manifest = Manifest(
            id=uuid7(),
            number=await _next_manifest_number(session, runtime),
            created_at=runtime.now_iso(),
            created_by=actor.username,
        )
        session.add(manifest)
        for parcel in parcels:
            parcel.manifest_id = manifest.id
            session.add(parcel)
        return manifest


async def manifest_parcels(session: AsyncSession, manifest_id: str) -> list[Parcel]:
    query = select(Parcel).where(Parcel.manifest_id == manifest_id).order_by(col(Parcel.registered_at))
    return list((await session.exec(query)).all())


async def hand_over(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    manifest_id: str,
    courier_name: str,
    signature: bytes | None,
    courier_phone: str = "",
    courier_company: str = "",
) -> Manifest:
    """交寄: the courier signs the manifest on the tablet; every parcel on it is now in the courier's hands.

    The due date (today + the configured days) goes into each parcel's handover event, so central flags the
    same parcels on the same day as the node.
    """
    _require(actor, LOGISTICS, "办理交寄")
    courier_name = _text(courier_name, "courier_name", "快递员姓名", 50)
    signed = signature_png(signature, "signature", "快递员")
    days = await confirm_days(runtime)
    async with runtime.db.write() as session:
        manifest: Manifest = await _get(session, Manifest, manifest_id, "交接清单")
        if manifest.handed_at:
            raise OneWindowError(INVALID_TRANSITION, "该交接清单已交寄", field="manifest_id")
        parcels = await manifest_parcels(session, manifest_id)
        if not parcels:
            raise OneWindowError(INVALID_TRANSITION, "交接清单中没有邮件", field="manifest_id")
        blob = await store_blob(
            session, runtime, signed, media_type="image/png", filename=f"courier-{manifest.number}.png"
        )
        now = runtime.now_iso()
        due_by = (runtime.today() + timedelta(days=days)).isoformat()
        manifest.courier_name, manifest.courier_phone = courier_name, courier_phone.strip()[:30]
        manifest.courier_company = courier_company.strip()[:50]
        manifest.handed_at, manifest.signature_blob = now, blob
        manifest.confirm_days, manifest.due_by = days, due_by
        session.add(manifest)
        handovers = []
        for parcel in parcels:
            payload = {
                "parcel_id": parcel.id,
                "at": now,
                "direction": "out",
                "kind": parcel.kind,
                "destination": parcel.destination,
                "tracking_number": parcel.tracking_number,
                "recipient": parcel.party,
                "manifest_id": manifest.id,
                "manifest_number": manifest.number,
                "manifest_parcels": len(parcels),
                "courier_name": courier_name,
                "courier_company": manifest.courier_company,
                "courier_signature": blob,
                "confirm_days": days,
                "due_by": due_by,
            }
            assert parcel.case_id is not None
            handovers.append(new_event(runtime, actor, parcel.case_id, PARCEL_HANDED_TO_COURIER, payload))
            parcel.status, parcel.updated_at = "handed", now
            session.add(parcel)
        await record(session, runtime, *handovers)  # one up entry for the whole pickup
        return manifest


async def record_delivery(
    runtime: NodeRuntime, *, actor: Actor, parcel_id: str, delivered: bool, note: str = ""
) -> CaseState:
    """妥投 / 退回: the courier's delivery result, fed back to the case (and through it to the department).

    A delivered result closes the case (出件); a returned one can be packed again with a new tracking number.
    """
    _require(actor, LOGISTICS, "登记投递结果")
    async with runtime.db.write() as session:
        parcel = await _get(session, Parcel, parcel_id, "邮件")
        if parcel.direction != "out" or parcel.status != "handed" or parcel.case_id is None:
            raise OneWindowError(
                INVALID_TRANSITION,
                f"该邮件当前为「{PARCEL_STATUS[parcel.status]}」，不能登记投递结果",
                field="parcel_id",
            )
        if not delivered and not note.strip():
            raise OneWindowError(REQUIRED_FIELD, "请写明退回原因", field="note")
        now = runtime.now_iso()
        payload = {
            "parcel_id": parcel.id,
            "at": now,
            "kind": parcel.kind,
            "destination": parcel.destination,
            "tracking_number": parcel.tracking_number,
            "note": note.strip()[:300],
        }
        step = PARCEL_DELIVERED if delivered else PARCEL_RETURNED
        await record(session, runtime, new_event(runtime, actor, parcel.case_id, step, payload))
        parcel.status, parcel.updated_at = ("delivered" if delivered else "returned"), now
        session.add(parcel)
        return await case_state(session, parcel.case_id)


# ---- what the logistics page shows ------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundParcel:
    """An outgoing parcel with where its chain of custody stands."""

    parcel: Parcel
    case_number: str
    steps: tuple[dict[str, Any], ...]
    confirmed: str  # "" | received | delivered | returned: the step that closed it
    due_by: str
    overdue: bool


def _parcel_steps(state: CaseState, parcel_id: str) -> tuple[dict[str, Any], ...]:
    return tuple(dict(s) for s in state.custody if s.get("parcel_id") == parcel_id)


def closing_step(steps: Sequence[dict[str, Any]]) -> str:
    """The step that ends the wait after the handover: the county's receipt, a delivery, or a return."""
    handed = False
    for step in steps:
        if step["step"] == "handed_to_courier":
            handed = True
        elif handed and step["step"] in ("received", "delivered", "returned"):
            return str(step["step"])
    return ""


async def settle_county_receipts(runtime: NodeRuntime) -> int:
    """Mark parcels the county signed for (its confirmation came down as a case event) as received, so the
    parcels still on the road stay a short list. Safe to run at any time; returns how many changed."""
    changed = 0
    async with runtime.db.write() as session:
        rows = (
            await session.exec(
                select(Parcel).where(
                    Parcel.direction == "out", Parcel.status == "handed", Parcel.destination == "county"
                )
            )
        ).all()
        for row in rows:
            state = fold(str(row.case_id), await case_events(session, str(row.case_id)))
            if closing_step(_parcel_steps(state, row.id)) == "received":
                row.status, row.updated_at = "received", runtime.now_iso()
                session.add(row)
                changed += 1
    return changed


async def outbound_parcels(
    runtime: NodeRuntime, *, statuses: Sequence[str] = ("packed", "handed"), limit: int = 200
) -> list[OutboundParcel]:
    """Outgoing parcels (packed or with the courier), each with its custody and whether it is overdue."""
    today = runtime.today()
    out = []
    async with runtime.db.read() as session:
        rows = (
            await session.exec(
                select(Parcel)
                .where(Parcel.direction == "out", col(Parcel.status).in_(list(statuses)))
                .order_by(col(Parcel.registered_at).desc())
                .limit(limit)
            )
        ).all()
        for row in rows:
            state = fold(str(row.case_id), await case_events(session, str(row.case_id)))
            steps = _parcel_steps(state, row.id)
            confirmed = closing_step(steps)
            handed = next((s for s in steps if s["step"] == "handed_to_courier"), None)
            due_by = str(handed.get("due_by", "")) if handed else ""
            overdue = bool(due_by) and not confirmed and today > date.fromisoformat(due_by)
            out.append(OutboundParcel(row, state.case_number, steps, confirmed, due_by, overdue))
    return out


async def inbound_parcels(runtime: NodeRuntime, *, limit: int = 100) -> list[Parcel]:
    async with runtime.db.read() as session:
        query = (
            select(Parcel)
            .where(Parcel.direction == "in")
            .order_by(col(Parcel.registered_at).desc())
            .limit(limit)
        )
        return list((await session.exec(query)).all())


async def parcel_view(runtime: NodeRuntime, parcel_id: str) -> tuple[Parcel, CaseState | None]:
    async with runtime.db.read() as session:
        parcel = await _get(session, Parcel, parcel_id, "邮件")
        state = None
        if parcel.case_id:
            state = fold(parcel.case_id, await case_events(session, parcel.case_id))
    return parcel, state


async def open_manifests(runtime: NodeRuntime) -> list[tuple[Manifest, list[Parcel]]]:
    async with runtime.db.read() as session:
        manifests = (
            await session.exec(select(Manifest).order_by(col(Manifest.created_at).desc()).limit(20))
        ).all()
        return [(m, await manifest_parcels(session, m.id)) for m in manifests]


async def to_pack(runtime: NodeRuntime) -> list[tuple[CaseState, str]]:
    """Cases with something to send: (case, kind) for a result handed over for mailing, a mailed application's
    notice not yet sent back, or an accepted case whose originals have not gone to the department."""
    from node.models import Case

    found: list[tuple[CaseState, str]] = []
    async with runtime.db.read() as session:
        packed = {
            (p.case_id, p.kind)
            for p in (
                await session.exec(
                    select(Parcel).where(Parcel.direction == "out", Parcel.status != "returned")
                )
            ).all()
        }
        opened = {
            p.case_id
            for p in (await session.exec(select(Parcel).where(Parcel.direction == "in"))).all()
            if p.case_id
        }
        mailing = (await session.exec(select(Case.case_id).where(Case.status == MAILING))).all()
        # Mailed applications still open: a closed case has nothing more to send.
        open_mailed = (
            await session.exec(
                select(Case.case_id).where(col(Case.case_id).in_(opened), Case.status != ISSUED)
            )
        ).all()
        for case_id in sorted(set(mailing) | set(open_mailed)):
            state = fold(case_id, await case_events(session, case_id))
            if state.status == MAILING and (case_id, "result") not in packed:
                found.append((state, "result"))
            if case_id in opened and state.pre_acceptance:
                returned = {s["parcel_id"] for s in state.custody if s["step"] == "returned"}
                sent = {
                    s.get("notice_no")
                    for s in state.custody
                    if s["step"] == "packed" and s.get("kind") == "notice" and s["parcel_id"] not in returned
                }
                if state.pre_acceptance.get("notice_no") not in sent:
                    found.append((state, "notice"))
            if case_id in opened and state.status == ACCEPTED and (case_id, "original") not in packed:
                found.append((state, "original"))
    return found


# ---- documents --------------------------------------------------------------------------------------------

DIRECTIONS = {"applicant": "申请人", "county": "县级部门"}


async def manifest_pdf(runtime: NodeRuntime, manifest_id: str) -> bytes:
    """交接清单 PDF: every parcel of the pickup with its tracking number, and the courier's signature."""
    async with runtime.db.read() as session:
        manifest = await _get(session, Manifest, manifest_id, "交接清单")
        parcels = await manifest_parcels(session, manifest_id)
        cases = {
            p.case_id: fold(p.case_id, await case_events(session, p.case_id)).case_number
            for p in parcels
            if p.case_id
        }
    rows = tuple(
        (
            str(i),
            p.tracking_number,
            f"{OUT_KINDS.get(p.kind, p.kind)}",
            p.party,
            p.contents,
            cases.get(p.case_id or "", ""),
        )
        for i, p in enumerate(parcels, 1)
    )
    signature = runtime.blobs.get(manifest.signature_blob) if manifest.signature_blob else None
    handed = local_time(manifest.handed_at) if manifest.handed_at else "（未交寄）"
    blocks = (
        Fields(
            (
                ("寄件单位", issuer_name(runtime)),
                ("快递公司", manifest.courier_company or "—"),
                ("快递员", f"{manifest.courier_name or '—'}  {manifest.courier_phone}"),
                ("交寄时间", handed),
                ("邮件数量", f"{len(parcels)} 件"),
                (
                    "签收期限",
                    f"交寄后 {manifest.confirm_days} 日内（至 {manifest.due_by}）"
                    if manifest.due_by
                    else "—",
                ),
            )
        ),
        Table(
            ("序号", "物流单号", "类别", "收件人", "内件", "办件编号"),
            rows,
            (0.45, 2.6, 1.4, 2.0, 1.8, 2.6),
        ),
        Paragraph("以上邮件已清点无误，由快递员签字确认后交寄。逾期未签收的邮件由寄件单位跟踪查询。"),
        Signatures(("快递员（签字）", "物料流转窗口（签字）"), (signature, None)),
    )
    document = OfficialDocument(
        title="邮件交接清单",
        number=manifest.number,
        issuer=issuer_name(runtime),
        issued_on=runtime.today(),
        blocks=blocks,
        qr_payload=manifest.number,
        qr_caption="交接清单编号",
    )
    return render_pdf(document)


async def label_pdf(runtime: NodeRuntime, parcel_id: str) -> bytes:
    """邮件面单: recipient, sender and contents, with the tracking number as a QR code."""
    parcel, state = await parcel_view(runtime, parcel_id)
    if parcel.direction != "out":
        raise OneWindowError(INVALID_TRANSITION, "只有寄出的邮件需要打印面单", field="parcel_id")
    blocks = (
        Fields(
            (
                ("物流单号", parcel.tracking_number + ("（UPU S10）" if parcel.is_s10 else "")),
                ("收件人", parcel.party),
                ("联系电话", parcel.phone or "—"),
                ("收件地址", parcel.address),
                ("寄件单位", issuer_name(runtime)),
                ("内件", parcel.contents),
                ("办件编号", state.case_number if state else ""),
                ("类别", OUT_KINDS.get(parcel.kind, parcel.kind)),
            )
        ),
        Paragraph("政务专递，请妥投本人或单位收发室；无法投递请退回寄件单位。"),
    )
    document = OfficialDocument(
        title="政务邮件面单",
        number="",
        issuer=issuer_name(runtime),
        issued_on=runtime.today(),
        blocks=blocks,
        qr_payload=parcel.tracking_number,
        qr_caption=f"单号 {parcel.tracking_number}",
    )
    return render_pdf(document)


async def letter_pdf(runtime: NodeRuntime, message_id: str) -> bytes:
    """预受理结果告知函: the letter version of a queued message, to print and post."""
    async with runtime.db.read() as session:
        message = await _get(session, ApplicantMessage, message_id, "消息")
        state = fold(message.case_id, await case_events(session, message.case_id))
    document = OfficialDocument(
        title="邮寄申请预受理结果告知函",
        number="",  # a cover letter: the notice it announces carries the document number
        issuer=issuer_name(runtime),
        issued_on=runtime.today(),
        addressee=f"{message.recipient}：",
        blocks=(
            Paragraph(message.text),
            Fields(
                (
                    ("办件编号", state.case_number),
                    ("申请事项", state.item_name),
                    ("预受理结论", PRE_RESULTS.get(str((state.pre_acceptance or {}).get("result", "")), "")),
                    ("随寄文书", str((state.pre_acceptance or {}).get("notice_no", "")) or "—"),
                    ("邮寄地址", message.address or "—"),
                )
            ),
        ),
        qr_payload=state.case_number,
        qr_caption=f"办件编号 {state.case_number}",
    )
    return render_pdf(document)
