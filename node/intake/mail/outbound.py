"""Outbound parcels (SPEC R-MAIL-3): notices and results for applicants, and paper originals for county
departments, are packed into parcels (`pack_parcel`); after the courier's handover (`node.intake.mail.manifests`)
each parcel waits for the county hall's receipt (it comes back down as a case event) or the courier's delivery
result (`record_delivery`: a delivered result issues the case). A parcel not confirmed within the configured
number of days after the handover is flagged (`outbound_parcels`); the due date travels in the handover event,
so both ends flag the same parcel on the same day. `to_pack` lists what is waiting to be sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import col, select

from node.events import case_state, load_case, new_event, record
from node.intake.cases.receive import item_of
from node.intake.mail.models import Parcel
from node.intake.mail.parcels import (
    OUT_KINDS,
    PARCEL_STATUS,
    check_tracking_number,
    clean_text,
    get_row,
    inbound_parcel_of,
    require_role,
)
from node.meta import get_meta, set_meta
from node.models import Case
from node.runtime import NodeRuntime
from node.staff import LOGISTICS, Actor
from protocol.errors import (
    INVALID_TRANSITION,
    REQUIRED_FIELD,
    VALIDATION,
    OneWindowError,
)
from protocol.events import (
    ACCEPTED,
    CORRECTION_REQUESTED,
    ISSUED,
    MAILING,
    PARCEL_DELIVERED,
    PARCEL_PACKED,
    PARCEL_RETURNED,
    RECEIVED,
    REFUSED,
    CaseState,
)
from protocol.ids import uuid7

CONFIRM_DAYS_KEY = "mail.confirm_days"


DEFAULT_CONFIRM_DAYS = 3


MAX_CONFIRM_DAYS = 60


async def confirm_days(runtime: NodeRuntime) -> int:
    """How many days after the handover a parcel must be confirmed before it is flagged."""
    async with runtime.db.read() as session:
        value = await get_meta(session, CONFIRM_DAYS_KEY)
    return int(value) if value else DEFAULT_CONFIRM_DAYS


async def set_confirm_days(runtime: NodeRuntime, *, actor: Actor, days: int) -> int:
    require_role(actor, LOGISTICS, "修改签收期限")
    if not 1 <= days <= MAX_CONFIRM_DAYS:
        raise OneWindowError(VALIDATION, f"签收期限应为1至{MAX_CONFIRM_DAYS}天", field="confirm_days")
    async with runtime.db.write() as session:
        await set_meta(session, CONFIRM_DAYS_KEY, str(days))
    return days


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
    require_role(actor, LOGISTICS, "封装邮件")
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
            # The result documents themselves go into the parcel: printed from the case's 统一出件.
            enclosed = "、".join(f"{d['title']}（{d['number']}）" for d in state.documents)
            contents = contents or enclosed or f"办理结果文书（{decided}）"
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
        recipient = clean_text(recipient, "recipient", "收件人", 100)
        address = clean_text(address, "address", "收件地址", 300)
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


async def record_delivery(
    runtime: NodeRuntime, *, actor: Actor, parcel_id: str, delivered: bool, note: str = ""
) -> CaseState:
    """妥投 / 退回: the courier's delivery result, fed back to the case (and through it to the department).

    A delivered result closes the case (出件); a returned one can be packed again with a new tracking number.
    """
    require_role(actor, LOGISTICS, "登记投递结果")
    async with runtime.db.write() as session:
        parcel = await get_row(session, Parcel, parcel_id, "邮件")
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
            state = await case_state(session, str(row.case_id))
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
            state = await case_state(session, str(row.case_id))
            steps = _parcel_steps(state, row.id)
            confirmed = closing_step(steps)
            handed = next((s for s in steps if s["step"] == "handed_to_courier"), None)
            due_by = str(handed.get("due_by", "")) if handed else ""
            overdue = bool(due_by) and not confirmed and today > date.fromisoformat(due_by)
            out.append(OutboundParcel(row, state.case_number, steps, confirmed, due_by, overdue))
    return out


async def to_pack(runtime: NodeRuntime) -> list[tuple[CaseState, str]]:
    """Cases with something to send: (case, kind) for a result handed over for mailing, a mailed application's
    notice not yet sent back, or an accepted case whose originals have not gone to the department."""

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
            state = await case_state(session, case_id)
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
