"""Parcels at the logistics window (物料流转窗口, DB22/T 2871.2 §6.2.2, §7.1.4; SPEC R-MAIL-1): what a parcel is
and who may handle it, and the inbound side — a parcel with a mailed application is registered and signed for
(`register_parcel`: tracking number with the UPU S10 check digit when it has that shape, sender, contents,
envelope photo), then opened into a case (`open_parcel`), whose materials are scanned into its checklist like any
other. The parcel's registration and opening are the first steps of the case's chain of custody.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import case_state, load_case, new_event, record
from node.intake.cases.applicants import Agent, Applicant
from node.intake.cases.materials import sniff_format, store_blob
from node.intake.cases.receive import receive_case
from node.intake.documents.notices import local_time
from node.intake.mail.models import Parcel
from node.models import Case
from node.runtime import NodeRuntime
from node.staff import LOGISTICS, WINDOW_STAFF, Actor
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
    CORRECTION_REQUESTED,
    PARCEL_OPENED,
    PARCEL_REGISTERED,
    CaseState,
)
from protocol.identifiers import TrackingNumber, parse_tracking_number
from protocol.ids import uuid7

#: Who may open a parcel and scan it into a case: anyone at a window.
OPENERS = WINDOW_STAFF


MAX_PHOTO_BYTES = 10 * 1024 * 1024


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


def require_role(actor: Actor, roles: Sequence[str], what: str) -> None:
    """Refuse (OW-1102) an actor whose role is not among `roles`."""
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


def clean_text(value: str, field: str, what: str, limit: int, *, required: bool = True) -> str:
    """A typed text trimmed and cut to `limit` characters; OW-1006 naming the field when required and empty."""
    value = value.strip()
    if required and not value:
        raise OneWindowError(REQUIRED_FIELD, f"请填写{what}", field=field)
    return value[:limit]


async def get_row(session: AsyncSession, model: Any, key: str, what: str) -> Any:
    """The row of `model` with primary key `key`; OW-1003 when there is none."""
    row = await session.get(model, key)
    if row is None:
        raise OneWindowError(NOT_FOUND, f"{what} {key} 不存在", field="id")
    return row


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
    require_role(actor, LOGISTICS, "登记邮件")
    tracking = check_tracking_number(tracking_number)
    sender = clean_text(sender, "sender", "寄件人", 100)
    contents = clean_text(contents, "contents", "内件（所附材料）", 500)
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
    require_role(actor, OPENERS, "拆封邮件")
    async with runtime.db.read() as session:
        parcel = await get_row(session, Parcel, parcel_id, "邮件")
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
        parcel = await get_row(session, Parcel, parcel_id, "邮件")
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


async def inbound_parcels(runtime: NodeRuntime, *, limit: int = 100) -> list[Parcel]:
    """Incoming parcels, newest first."""
    async with runtime.db.read() as session:
        query = (
            select(Parcel)
            .where(Parcel.direction == "in")
            .order_by(col(Parcel.registered_at).desc())
            .limit(limit)
        )
        return list((await session.exec(query)).all())


async def parcel_view(runtime: NodeRuntime, parcel_id: str) -> tuple[Parcel, CaseState | None]:
    """A parcel and the case it became (None before it is opened)."""
    async with runtime.db.read() as session:
        parcel = await get_row(session, Parcel, parcel_id, "邮件")
        state = None
        if parcel.case_id:
            state = await case_state(session, parcel.case_id)
    return parcel, state


async def mailed_cases_awaiting_corrections(runtime: NodeRuntime, *, limit: int = 50) -> list[Case]:
    """Mailed cases waiting for the applicant's corrections (newest first): an incoming parcel may bring them."""
    async with runtime.db.read() as session:
        mailed = select(Parcel.case_id).where(Parcel.direction == "in", col(Parcel.case_id).is_not(None))
        query = select(Case).where(Case.status == CORRECTION_REQUESTED, col(Case.case_id).in_(mailed))
        return list((await session.exec(query.order_by(col(Case.received_at).desc()).limit(limit))).all())
