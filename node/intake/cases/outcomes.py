"""The four outcomes of front-desk acceptance (R-ACC-4) and the legal clocks that run on a received case.

- 受理 `accept_case`: every mandatory material present; 受理通知书 with the promised completion date.
- 容缺受理 `accept_with_waiver`: only 容缺-eligible materials missing, the applicant signs a commitment to supply
  them by a date no later than the promised completion date; 承诺书 and 通知书. Not supplied in time → the clock
  sweep records 终止办理.
- 一次性告知 `request_correction`: every correction listed at once (行政许可法 art. 32); the case waits for 补正
  (`record_correction`), then comes back to the window for one of the outcomes.
- 不予受理 `refuse_case`: reasons, legal basis, the competent organ where known, and the appeal terms.
- 即办件 `decide_on_spot`: a lead with delegated authority (the item is on the lead's authority list, set at
  central) decides at once (DB22/T 2871.2 §6.3.5); its result document is rendered then and there, so the
  applicant leaves with it at the same visit, link or no link.

Which materials may be owed under 容缺受理 is decided in `node.intake.cases.waiver`; the legal clocks that run on
a received case (视为受理, 终止办理) in `node.intake.cases.clocks`. Each outcome seals the case's events into the
up log in the same transaction (`node.events.record`), so it is queued for the county before the window moves
on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from common.documents.render import render_document
from common.documents.results import decision_document
from node.events import case_events, case_state, get_case, load_case, new_event, record
from node.intake.cases.clocks import promised_deadline
from node.intake.cases.materials import missing_materials, store_blob
from node.intake.cases.numbers import next_notice_number
from node.intake.cases.receive import item_of
from node.intake.cases.waiver import check_waiver
from node.intake.hall.tickets import finish_case_ticket
from node.models import Staff
from node.runtime import NodeRuntime
from node.staff import FRONT_DESK, Actor, authorities_of
from protocol.catalogue import CatalogueItem
from protocol.errors import (
    FILE_REJECTED,
    FORBIDDEN,
    INVALID_TRANSITION,
    MATERIALS_INCOMPLETE,
    REQUIRED_FIELD,
    VALIDATION,
    OneWindowError,
)
from protocol.events import (
    ACCEPTED,
    CASE_ACCEPTED,
    CASE_ACCEPTED_WITH_WAIVER,
    CASE_CORRECTED,
    CASE_CORRECTION_REQUESTED,
    CASE_DECIDED_ON_SPOT,
    CASE_REFUSED,
    CORRECTION_REQUESTED,
    RECEIVED,
    CaseState,
    fold,
)

COLLECTION_METHODS = {"window": "窗口领取", "mail": "邮寄送达"}
#: A correction not tied to one material (the form's 「其他」 row): the application form, a signature, …
OTHER_CORRECTION = "其他"
MAX_SIGNATURE_BYTES = 512 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Correction:
    """One item of a 一次性告知书: which material (or "" for the application as a whole), what is wrong, what
    the applicant must bring."""

    material_id: str
    problem: str
    requirement: str = ""


def _require_front_desk(actor: Actor, what: str) -> None:
    if actor.role not in FRONT_DESK:
        raise OneWindowError(FORBIDDEN, f"只有综合窗口人员或业务负责人可以{what}", field="role")


def expect_status(state: CaseState, allowed: Sequence[str], what: str) -> None:
    """Refuse (OW-1301, naming case_id) unless the case is in one of the `allowed` states."""
    if state.status not in allowed:
        raise OneWindowError(
            INVALID_TRANSITION, f"办件当前为「{state.status_label}」，不能{what}", field="case_id"
        )


#: Outcomes that end the applicant's visit: the called ticket that started the case is finished with them.
VISIT_ENDS = frozenset(
    {CASE_ACCEPTED, CASE_ACCEPTED_WITH_WAIVER, CASE_CORRECTION_REQUESTED, CASE_REFUSED, CASE_DECIDED_ON_SPOT}
)


async def record_event(
    session: AsyncSession,
    runtime: NodeRuntime,
    actor: Actor,
    case_id: str,
    type_: str,
    payload: Mapping[str, Any],
) -> CaseState:
    """Record one step of a case (`node.events.record`: an outcome seals the case's events with it) and return
    the case's new state. An outcome of acceptance also finishes the called ticket the case started from (办结),
    so the window needs no second step at 叫号."""
    await record(session, runtime, new_event(runtime, actor, case_id, type_, payload))
    if type_ in VISIT_ENDS:
        await finish_case_ticket(session, case_id, at=runtime.now_iso(), staff=actor.username)
    return await case_state(session, case_id)


async def _number(session: AsyncSession, runtime: NodeRuntime, kind: str) -> str:
    return await next_notice_number(
        session,
        node_number=runtime.identity.number,
        prefix=runtime.notice_prefix,
        kind=kind,
        year=runtime.today().year,
    )


def _collection(value: str) -> str:
    if value not in COLLECTION_METHODS:
        raise OneWindowError(VALIDATION, "结果领取方式只能是窗口领取或邮寄送达", field="collection")
    return value


async def accept_case(
    runtime: NodeRuntime, *, actor: Actor, case_id: str, collection: str = "window"
) -> CaseState:
    """受理: accept a complete case; the 受理通知书 states the promised completion date."""
    _require_front_desk(actor, "受理")
    collection = _collection(collection)
    async with runtime.db.write() as session:
        state = await load_case(session, case_id)
        expect_status(state, (RECEIVED,), "受理")
        item = item_of(runtime, state)
        missing = [m.name for m in missing_materials(item, state)]
        if missing:
            raise OneWindowError(
                MATERIALS_INCOMPLETE,
                f"必备材料未齐：{'、'.join(missing)}。可一次性告知补正，或对可容缺材料办理容缺受理",
                field="materials",
                missing=missing,
            )
        promise = promised_deadline(runtime, runtime.today(), item.promised_limit_days)
        payload = {
            "notice_no": await _number(session, runtime, "acceptance"),
            "accepted_at": runtime.now_iso(),
            "promised_days": item.promised_limit_days,
            "promised_date": promise.due_on.isoformat(),
            **_provisional(promise.uncovered),
            "collection": collection,
        }
        return await record_event(session, runtime, actor, case_id, CASE_ACCEPTED, payload)


def _provisional(years: Sequence[int]) -> dict[str, Any]:
    """The acceptance payload's note that its promised date was counted through years the calendar lacks (the
    notice then says the date is provisional); nothing when the date is certain."""
    return {"promised_provisional": list(years)} if years else {}


def signature_png(data: bytes | None, field: str, who: str) -> bytes:
    """The signature drawn on the tablet (a PNG), or a clear request for one."""
    if not data:
        raise OneWindowError(REQUIRED_FIELD, f"请{who}在平板的签名框内签名", field=field)
    if not data.startswith(PNG_MAGIC) or len(data) > MAX_SIGNATURE_BYTES:
        raise OneWindowError(FILE_REJECTED, "签名应为不超过512 KB的PNG图片", field=field)
    return data


async def accept_with_waiver(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    case_id: str,
    waived: Sequence[str],
    supply_by: date,
    commitment_signature: bytes | None,
    collection: str = "window",
) -> CaseState:
    """容缺受理: accept with secondary materials owed, under the applicant's signed commitment.

    Every missing mandatory material must be waived, and each waived one must be marked 容缺 in the catalogue;
    the supply deadline is after today and no later than the promised completion date.
    """
    _require_front_desk(actor, "容缺受理")
    collection = _collection(collection)
    signature = signature_png(commitment_signature, "commitment_signature", "申请人")
    async with runtime.db.write() as session:
        state = await load_case(session, case_id)
        expect_status(state, (RECEIVED,), "容缺受理")
        item = item_of(runtime, state)
        chosen, due = check_waiver(runtime, item, state, waived=waived, supply_by=supply_by)
        by_id = {m.id: m for m in item.materials}
        signature_blob = await store_blob(
            session, runtime, signature, media_type="image/png", filename="commitment-signature.png"
        )
        payload = {
            "notice_no": await _number(session, runtime, "waiver_notice"),
            "commitment_no": await _number(session, runtime, "waiver_commitment"),
            "accepted_at": runtime.now_iso(),
            "promised_days": item.promised_limit_days,
            "promised_date": due.isoformat(),
            **_provisional(runtime.calendar.unsettled_years(runtime.today(), due)),
            "collection": collection,
            "waived": [{"id": by_id[m].id, "name": by_id[m].name} for m in chosen],
            "supply_by": supply_by.isoformat(),
            "commitment_signature": signature_blob,
        }
        return await record_event(session, runtime, actor, case_id, CASE_ACCEPTED_WITH_WAIVER, payload)


async def request_correction(
    runtime: NodeRuntime, *, actor: Actor, case_id: str, corrections: Sequence[Correction]
) -> CaseState:
    """一次性告知: tell the applicant every correction at once; the case waits for 补正."""
    _require_front_desk(actor, "出具一次性告知书")
    if not corrections:
        raise OneWindowError(REQUIRED_FIELD, "请至少列出一项需要补正的内容", field="corrections")
    async with runtime.db.write() as session:
        state = await load_case(session, case_id)
        expect_status(state, (RECEIVED,), "出具一次性告知书")
        if state.deemed_accepted:
            raise OneWindowError(
                INVALID_TRANSITION,
                "收件已超过5个工作日未告知补正，依法视为受理，不能再要求补正；请办理受理",
                field="case_id",
            )
        item = item_of(runtime, state)
        by_id = {m.id: m for m in item.materials}
        listed = []
        for i, correction in enumerate(corrections):
            material = by_id.get(correction.material_id) if correction.material_id else None
            if correction.material_id and material is None:
                raise OneWindowError(
                    VALIDATION,
                    f"该事项没有材料项 {correction.material_id!r}",
                    field=f"corrections[{i}].material_id",
                )
            problem = correction.problem.strip()
            if not problem:
                raise OneWindowError(
                    REQUIRED_FIELD, "请写明需要补正的问题", field=f"corrections[{i}].problem"
                )
            listed.append(
                {
                    "material_id": correction.material_id,
                    "material_name": material.name if material else OTHER_CORRECTION,
                    "problem": problem[:500],
                    "requirement": correction.requirement.strip()[:500],
                }
            )
        payload = {
            "notice_no": await _number(session, runtime, "correction"),
            "issued_at": runtime.now_iso(),
            "corrections": listed,
        }
        return await record_event(session, runtime, actor, case_id, CASE_CORRECTION_REQUESTED, payload)


async def record_correction(runtime: NodeRuntime, *, actor: Actor, case_id: str) -> CaseState:
    """补正到件: the applicant brought the corrections; the case is back at the window for an outcome."""
    _require_front_desk(actor, "登记补正")
    async with runtime.db.write() as session:
        state = await load_case(session, case_id)
        expect_status(state, (CORRECTION_REQUESTED,), "登记补正")
        return await record_event(
            session, runtime, actor, case_id, CASE_CORRECTED, {"corrected_at": runtime.now_iso()}
        )


def appeal_organs(runtime: NodeRuntime) -> tuple[str, str]:
    """(复议机关, 人民法院) named on a refusal: the county government and the county court by default."""
    county = runtime.identity.county_name
    return f"{county}人民政府", f"{county}人民法院"


async def refuse_case(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    case_id: str,
    reasons: str,
    legal_basis: str,
    competent_organ: str = "",
) -> CaseState:
    """不予受理: a written decision with reasons, legal basis, the competent organ and the appeal terms."""
    _require_front_desk(actor, "作出不予受理决定")
    reasons, legal_basis, competent_organ = reasons.strip(), legal_basis.strip(), competent_organ.strip()
    if not reasons:
        raise OneWindowError(REQUIRED_FIELD, "请写明不予受理的理由", field="reasons")
    if not legal_basis:
        raise OneWindowError(REQUIRED_FIELD, "请写明法律依据（条款）", field="legal_basis")
    reconsideration, court = appeal_organs(runtime)
    async with runtime.db.write() as session:
        state = await load_case(session, case_id)
        expect_status(state, (RECEIVED, CORRECTION_REQUESTED), "作出不予受理决定")
        payload = {
            "notice_no": await _number(session, runtime, "refusal"),
            "refused_at": runtime.now_iso(),
            "reasons": reasons[:1000],
            "legal_basis": legal_basis[:500],
            "competent_organ": competent_organ[:200],
            "reconsideration_organ": reconsideration,
            "court": court,
        }
        return await record_event(session, runtime, actor, case_id, CASE_REFUSED, payload)


def on_spot_refusal(item: CatalogueItem, state: CaseState) -> OneWindowError | None:
    """Why the case cannot be decided on the spot as it stands (None: it can, by a lead whose delegated
    authority covers the item): it must be an accepted 即办件 with no 容缺 materials owed."""
    if state.status != ACCEPTED:
        return OneWindowError(
            INVALID_TRANSITION, f"办件当前为「{state.status_label}」，不能当场办结", field="case_id"
        )
    if item.case_type != 1:
        return OneWindowError(
            FORBIDDEN, f"「{item.name}」是承诺件，须由县级部门办理，不能当场办结", field="case_id"
        )
    if state.waiver_pending:
        return OneWindowError(INVALID_TRANSITION, "容缺材料补齐前不能办结", field="case_id")
    return None


async def may_decide_on_spot(runtime: NodeRuntime, *, actor: Actor, item: CatalogueItem) -> bool:
    """Whether `actor` is a lead whose delegated authority (as central sent it down) covers `item`, a 即办件."""
    if actor.role != "lead" or item.case_type != 1:
        return False
    async with runtime.db.read() as session:
        staff = await session.get(Staff, actor.username)
    return staff is not None and not staff.disabled and item.code in authorities_of(staff)


async def accept_and_decide_on_spot(
    runtime: NodeRuntime, *, actor: Actor, case_id: str, collection: str = "window"
) -> CaseState:
    """即办件 in one action (issue 19): a lead with authority for the item 受理s the complete case and 准予s it on
    the spot; nothing is recorded unless the lead may do both (the authority is checked before the 受理)."""
    state = await get_case(runtime, case_id)
    item = item_of(runtime, state)
    if not await may_decide_on_spot(runtime, actor=actor, item=item):
        raise OneWindowError(
            FORBIDDEN,
            f"「{item.name}」不是您可当场办结的即办件；请先受理，再报县级部门或由有此授权的负责人办结",
            field="item_code",
        )
    await accept_case(runtime, actor=actor, case_id=case_id, collection=collection)
    return await decide_on_spot(runtime, actor=actor, case_id=case_id, outcome="approve")


async def decide_on_spot(
    runtime: NodeRuntime, *, actor: Actor, case_id: str, outcome: str, reason: str = ""
) -> CaseState:
    """即办件当场办结: a lead with delegated authority decides an accepted 即办件; the result is ready at once."""
    if actor.role != "lead":
        raise OneWindowError(FORBIDDEN, "即办件只能由有授权的业务负责人当场办结", field="role")
    if outcome not in ("approve", "deny"):
        raise OneWindowError(VALIDATION, "决定只能是准予（approve）或不予（deny）", field="outcome")
    reason = reason.strip()
    if outcome == "deny" and not reason:
        raise OneWindowError(REQUIRED_FIELD, "不予办理必须写明理由", field="reason")
    async with runtime.db.write() as session:
        state = await load_case(session, case_id)
        item = item_of(runtime, state)
        refusal = on_spot_refusal(item, state)
        if refusal is not None:
            raise refusal
        # The lead's authority list comes from the account central sent down, read now (not from the
        # session), so an authority withdrawn at central stops the next decision.
        staff = await session.get(Staff, actor.username)
        if staff is None or staff.disabled or item.code not in authorities_of(staff):
            raise OneWindowError(
                FORBIDDEN,
                f"「{item.name}」（{item.code}）不在您的即办件授权范围内，不能当场办结；"
                "请报县级部门办理或由有此授权的负责人办结",
                field="item_code",
            )
        payload: dict[str, Any] = {
            "outcome": outcome,
            "reason": reason[:1000],
            "department": item.lead_department.name,
            "decided_at": runtime.now_iso(),
        }
        # The result document is made now, at the window, so it prints at this visit with or without the link:
        # the decision as it will stand, worded by the item's type like central's (`common.documents.results`).
        decided = fold(
            case_id,
            [
                *await case_events(session, case_id),
                new_event(runtime, actor, case_id, CASE_DECIDED_ON_SPOT, payload),
            ],
        )
        number = await _number(session, runtime, "result")
        document = decision_document(
            decided,
            item_type=item.item_type,
            county_name=runtime.identity.county_name,
            number=number,
            reconsideration_organ=appeal_organs(runtime)[0],
        )
        pdf = await render_document(document)  # in the worker process: the other tablets keep being answered
        blob = await store_blob(
            session, runtime, pdf, media_type="application/pdf", filename=f"{document.title}-{number}.pdf"
        )
        payload["documents"] = [
            {
                "kind": "decision",
                "title": document.title,
                "number": number,
                "blob": blob,
                "media_type": "application/pdf",
                "size": len(pdf),
            }
        ]
        return await record_event(session, runtime, actor, case_id, CASE_DECIDED_ON_SPOT, payload)
