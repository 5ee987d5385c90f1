"""Front-desk intake services: receive a case (收件), attach materials (材料), accept it (受理).

Every step is an event written in one transaction with its projection; accepting also seals the case's events
into an up entry for the county, so the action is durable and queued before the window moves on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case as case_when
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.models import Case, CaseEvent, Counter, UpEntry
from node.runtime import CST, NodeRuntime
from node.sync.log import case_events, insert_event, refresh_case, seal_pending
from protocol.catalogue import CatalogueItem
from protocol.errors import (
    FILE_REJECTED,
    ID_NUMBER_INVALID,
    INVALID_TRANSITION,
    NOT_FOUND,
    REQUIRED_FIELD,
    UNKNOWN_ITEM,
    VALIDATION,
    OneWindowError,
)
from protocol.events import (
    CASE_ACCEPTED,
    CASE_RECEIVED,
    MATERIAL_ATTACHED,
    RECEIVED,
    CaseState,
    Event,
    fold,
)
from protocol.identifiers import CERTIFICATE_TYPES, validate_certificate
from protocol.ids import uuid7

MAX_MATERIAL_BYTES = 20 * 1024 * 1024
_MEDIA_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png", "tiff": "image/tiff"}
_MAGIC = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "tiff": (b"II*\x00", b"MM\x00*"),
}
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


@dataclass(frozen=True)
class Actor:
    """The staff member doing the action."""

    username: str
    role: str


@dataclass(frozen=True)
class Applicant:
    """Applicant details as typed at the window (validated by `receive_case`)."""

    name: str
    cert_type: str
    cert_number: str
    phone: str = ""


def find_item(runtime: NodeRuntime, item_code: str) -> CatalogueItem:
    try:
        return runtime.catalogue.by_code(item_code)
    except KeyError:
        raise OneWindowError(
            UNKNOWN_ITEM, f"目录中没有编码为 {item_code!r} 的事项", field="item_code"
        ) from None


def validate_applicant(applicant: Applicant) -> dict[str, str]:
    """The applicant as stored on the case, or a clear error naming the field."""
    name = applicant.name.strip()
    if not name:
        raise OneWindowError(REQUIRED_FIELD, "请填写申请人姓名", field="applicant.name")
    if len(name) > 50:
        raise OneWindowError(VALIDATION, "姓名过长（最多50字）", field="applicant.name")
    if applicant.cert_type not in CERTIFICATE_TYPES:
        raise OneWindowError(VALIDATION, f"未知证件类型 {applicant.cert_type!r}", field="applicant.cert_type")
    number = applicant.cert_number.strip().upper()
    if not number:
        raise OneWindowError(REQUIRED_FIELD, "请填写证件号码", field="applicant.cert_number")
    try:
        validate_certificate(applicant.cert_type, number)
    except ValueError as exc:
        raise OneWindowError(ID_NUMBER_INVALID, str(exc), field="applicant.cert_number") from exc
    phone = applicant.phone.strip()
    if phone and not _PHONE.match(phone):
        raise OneWindowError(
            VALIDATION, "联系电话格式不对（11位手机号或带区号的固话）", field="applicant.phone"
        )
    return {"name": name, "cert_type": applicant.cert_type, "cert_number": number, "phone": phone}


async def _next_case_number(session: AsyncSession, runtime: NodeRuntime, item: CatalogueItem) -> str:
    """办件编号 = implementation code + yyyymmdd + 4-digit serial whose first two digits are this node's number,
    so numbers issued offline by different nodes of the county never collide."""
    day = runtime.now().astimezone(CST).strftime("%Y%m%d")
    name = f"case:{item.code}:{day}"
    counter = await session.get(Counter, name)
    if counter is None:
        counter = Counter(name=name, value=0)
    counter.value += 1
    if counter.value > 99:
        raise OneWindowError(VALIDATION, "本节点该事项今日编号已用完（99件）", field="item_code")
    session.add(counter)
    return f"{item.code}{day}{runtime.identity.number:02d}{counter.value:02d}"


def _event(runtime: NodeRuntime, actor: Actor, case_id: str, type_: str, payload: dict[str, Any]) -> Event:
    return Event(
        id=uuid7(),
        case_id=case_id,
        type=type_,
        authority=runtime.node_id,
        actor=actor.username,
        hlc=runtime.clock.now(),
        payload=payload,
    )


async def receive_case(
    runtime: NodeRuntime, *, actor: Actor, item_code: str, applicant: Applicant
) -> CaseState:
    """收件: open a case for an item and applicant; the receipt time is fixed here and never changes."""
    item = find_item(runtime, item_code)
    stored = validate_applicant(applicant)
    case_id = uuid7()
    async with runtime.db.write() as session:
        payload = {
            "case_number": await _next_case_number(session, runtime, item),
            "item_code": item.code,
            "item_name": item.name,
            "catalogue_version": runtime.catalogue.version,
            "centre_name": runtime.identity.name,
            "applicant": stored,
            "received_at": runtime.now_iso(),
        }
        await insert_event(session, _event(runtime, actor, case_id, CASE_RECEIVED, payload), origin="local")
        await refresh_case(session, case_id)
        return fold(case_id, await case_events(session, case_id))


def sniff_format(data: bytes) -> str | None:
    for fmt, magics in _MAGIC.items():
        if any(data.startswith(m) for m in magics):
            return fmt
    return None


async def attach_material(
    runtime: NodeRuntime, *, actor: Actor, case_id: str, material_id: str, filename: str, data: bytes
) -> CaseState:
    """Attach a captured file to a checklist slot; the file must be what the slot accepts."""
    state = await get_case(runtime, case_id)
    if state.status != RECEIVED:
        raise OneWindowError(INVALID_TRANSITION, "只有已收件、未受理的办件可以补充材料", field="case_id")
    item = runtime.catalogues.get(state.catalogue_version, runtime.catalogue).by_code(state.item_code)
    material = next((m for m in item.materials if m.id == material_id), None)
    if material is None:
        raise OneWindowError(VALIDATION, f"该事项没有材料项 {material_id!r}", field="material_id")
    if not data:
        raise OneWindowError(FILE_REJECTED, "文件是空的", field="file")
    if len(data) > MAX_MATERIAL_BYTES:
        raise OneWindowError(FILE_REJECTED, f"文件超过 {MAX_MATERIAL_BYTES // 1024 // 1024} MB", field="file")
    fmt = sniff_format(data)
    if fmt is None or fmt not in material.formats:
        allowed = "、".join(f.upper() for f in material.formats)
        found = fmt.upper() if fmt else "无法识别"
        raise OneWindowError(
            FILE_REJECTED, f"「{material.name}」只接受 {allowed}，此文件是 {found}", field="file"
        )
    safe_name = re.sub(r"[\\/\x00-\x1f]", "_", filename).strip(". ")[-120:] or f"{material.id}.{fmt}"
    digest = runtime.blobs.put(data)
    async with runtime.db.write() as session:
        from node.models import Blob

        if await session.get(Blob, digest) is None:
            session.add(
                Blob(
                    sha256=digest,
                    size=len(data),
                    media_type=_MEDIA_TYPES[fmt],
                    filename=safe_name,
                    created_at=runtime.now_iso(),
                )
            )
        payload = {
            "material_id": material.id,
            "blob": digest,
            "filename": safe_name,
            "size": len(data),
            "media_type": _MEDIA_TYPES[fmt],
        }
        await insert_event(
            session, _event(runtime, actor, case_id, MATERIAL_ATTACHED, payload), origin="local"
        )
        await refresh_case(session, case_id)
        return fold(case_id, await case_events(session, case_id))


def missing_mandatory(item: CatalogueItem, state: CaseState) -> list[str]:
    present = {m["material_id"] for m in state.materials}
    return [m.name for m in item.materials if m.mandatory and m.id not in present]


async def accept_case(runtime: NodeRuntime, *, actor: Actor, case_id: str) -> CaseState:
    """受理: accept a complete case and queue it, sealed and signed, for the county."""
    if actor.role not in ("window", "lead"):
        from protocol.errors import FORBIDDEN

        raise OneWindowError(FORBIDDEN, "只有综合窗口人员或业务负责人可以受理", field="role")
    async with runtime.db.write() as session:
        state = fold(case_id, await case_events(session, case_id))
        if state.status is None:
            raise OneWindowError(NOT_FOUND, f"办件 {case_id} 不存在", field="case_id")
        if state.status != RECEIVED:
            raise OneWindowError(
                INVALID_TRANSITION, f"办件当前状态为「{state.status_label}」，不能受理", field="case_id"
            )
        item = runtime.catalogues.get(state.catalogue_version, runtime.catalogue).by_code(state.item_code)
        missing = missing_mandatory(item, state)
        if missing:
            raise OneWindowError(
                INVALID_TRANSITION, f"必备材料未齐：{'、'.join(missing)}", field="materials", missing=missing
            )
        payload = {"accepted_at": runtime.now_iso(), "promised_days": item.promised_limit_days}
        await insert_event(session, _event(runtime, actor, case_id, CASE_ACCEPTED, payload), origin="local")
        await refresh_case(session, case_id)
        await seal_pending(session, runtime)
        return fold(case_id, await case_events(session, case_id))


async def get_case(runtime: NodeRuntime, case_id: str) -> CaseState:
    async with runtime.db.read() as session:
        state = fold(case_id, await case_events(session, case_id))
    if state.status is None:
        raise OneWindowError(NOT_FOUND, f"办件 {case_id} 不存在", field="case_id")
    return state


@dataclass(frozen=True)
class CaseListRow:
    case: Case
    sync_state: str  # draft | queued | delivered


async def list_cases(runtime: NodeRuntime, *, limit: int = 100) -> list[CaseListRow]:
    """Newest cases first, each with where it stands on the way to the county."""
    async with runtime.db.read() as session:
        cases = (await session.exec(select(Case).order_by(col(Case.received_at).desc()).limit(limit))).all()
        receipted = (
            await session.exec(select(func.max(UpEntry.seq)).where(col(UpEntry.receipt).is_not(None)))
        ).one() or 0
        # One grouped query for every listed case: how many of its events no entry carries yet, and the
        # newest entry that carries one.
        ids = [case.case_id for case in cases]
        unsealed = func.sum(case_when((col(CaseEvent.up_seq).is_(None), 1), else_=0))
        progress = {
            case_id: (int(pending or 0), int(newest or 0))
            for case_id, pending, newest in (
                await session.exec(
                    select(CaseEvent.case_id, unsealed, func.max(CaseEvent.up_seq))
                    .where(col(CaseEvent.case_id).in_(ids), CaseEvent.origin == "local")
                    .group_by(col(CaseEvent.case_id))
                )
            ).all()
        }
    rows = []
    for case in cases:
        pending, newest = progress.get(case.case_id, (0, 0))
        if pending:
            state = "draft" if case.status == RECEIVED else "queued"
        else:
            state = "delivered" if newest <= receipted else "queued"
        rows.append(CaseListRow(case, state))
    return rows


def state_to_json(state: CaseState) -> dict[str, Any]:
    """A case as the API returns it."""
    return {
        "case_id": state.case_id,
        "case_number": state.case_number,
        "status": state.status,
        "status_label": state.status_label,
        "item_code": state.item_code,
        "item_name": state.item_name,
        "catalogue_version": state.catalogue_version,
        "applicant": json.loads(json.dumps(dict(state.applicant))),
        "received_at": state.received_at,
        "accepted_at": state.accepted_at,
        "materials": [dict(m) for m in state.materials],
        "decision": None
        if state.decision is None
        else {
            "outcome": state.decision.outcome,
            "reason": state.decision.reason,
            "department": state.decision.department,
            "decided_at": state.decision.decided_at,
        },
        "anomalies": list(state.anomalies),
    }
