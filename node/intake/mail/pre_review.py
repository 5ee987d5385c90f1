"""预受理: the comprehensive window's review of a mailed application (SPEC R-MAIL-2). Complete → the case is
formally accepted without the applicant coming in; corrections needed → the 一次性告知书; not acceptable → the
不予受理决定书. The result goes to the applicant through the message queue (`node.intake.mail.messages`: an SMS for
the gateway and a letter to print), and the notice itself is mailed back (`node.intake.mail.outbound`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlmodel import select

from node.events import case_state, load_case, new_event, record
from node.intake.cases.outcomes import (
    Correction,
    accept_case,
    record_correction,
    request_correction,
)
from node.intake.cases.outcomes import refuse_case as refuse
from node.intake.documents.notices import issuer_name, local_time
from node.intake.mail.models import ApplicantMessage, Parcel
from node.intake.mail.parcels import inbound_parcel_of, require_role
from node.runtime import NodeRuntime
from node.staff import FRONT_DESK, Actor
from protocol.errors import (
    INVALID_TRANSITION,
    VALIDATION,
    OneWindowError,
)
from protocol.events import (
    ACCEPTED,
    CASE_PRE_REVIEWED,
    CORRECTION_REQUESTED,
    RECEIVED,
    REFUSED,
    CaseState,
)
from protocol.ids import uuid7

PRE_RESULTS = {"complete": "材料齐全，予以受理", "corrections": "材料需补正", "not_acceptable": "不予受理"}


_MOBILE = re.compile(r"^1[3-9]\d{9}$")


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
    require_role(actor, FRONT_DESK, "作出预受理结论")
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
