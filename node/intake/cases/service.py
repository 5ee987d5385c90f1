"""Front-desk intake services: receive a case (收件) and attach materials (材料) to its checklist.

Every step is an event written in one transaction with its projection. The four outcomes of acceptance live in
`node.intake.cases.outcomes`, issuing the result in `node.intake.cases.issuing`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case as case_when
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import case_state, load_case, new_event, record
from node.intake.cases.numbers import next_case_number, next_notice_number
from node.intake.hall.tickets import link_case
from node.models import Blob, Case, CaseEvent, UpEntry
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.catalogue import CatalogueItem, Material
from protocol.errors import (
    FILE_REJECTED,
    ID_NUMBER_INVALID,
    INVALID_TRANSITION,
    REQUIRED_FIELD,
    UNKNOWN_ITEM,
    VALIDATION,
    OneWindowError,
)
from protocol.events import (
    ACCEPTED,
    CASE_RECEIVED,
    CASE_WAIVER_SUPPLIED,
    MATERIAL_ATTACHED,
    OPEN_FOR_MATERIALS,
    RECEIVED,
    CaseState,
)
from protocol.identifiers import (
    CERTIFICATE_TYPES,
    parse_credit_code,
    parse_resident_id,
    validate_certificate,
)
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


LEGAL_PERSON_CERT = "001"  # holder code type of a unified social credit code (e-licence catalogue)
APPLICANT_KINDS = {"natural_person": "自然人", "legal_person": "法人或其他组织"}
_SEX = {"1": "male", "2": "female", "男": "male", "女": "female", "male": "male", "female": "female"}


@dataclass(frozen=True)
class Applicant:
    """Applicant details as typed at the window or read from the ID card (validated by `receive_case`).

    A legal person (法人) applies under its unified social credit code (``cert_type`` "001"); a natural person
    under a GA/T 2000.156 certificate. ``sex`` and ``birth_date`` come from the card reader (or are typed) and
    must agree with the ID number.
    """

    name: str
    cert_type: str
    cert_number: str
    phone: str = ""
    kind: str = "natural_person"
    legal_representative: str = ""
    sex: str = ""
    birth_date: str = ""


@dataclass(frozen=True)
class Agent:
    """代理人: someone applying (and later collecting) on the applicant's behalf."""

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


def _name(value: str, field: str, what: str) -> str:
    name = value.strip()
    if not name:
        raise OneWindowError(REQUIRED_FIELD, f"请填写{what}", field=field)
    if len(name) > 100:
        raise OneWindowError(VALIDATION, f"{what}过长（最多100字）", field=field)
    return name


def _phone(value: str, field: str) -> str:
    phone = value.strip()
    if phone and not _PHONE.match(phone):
        raise OneWindowError(VALIDATION, "联系电话格式不对（11位手机号或带区号的固话）", field=field)
    return phone


def _person_certificate(cert_type: str, cert_number: str, field: str, today: date) -> str:
    if cert_type not in CERTIFICATE_TYPES:
        raise OneWindowError(VALIDATION, f"未知证件类型 {cert_type!r}", field=f"{field}.cert_type")
    number = cert_number.strip().upper()
    if not number:
        raise OneWindowError(REQUIRED_FIELD, "请填写证件号码", field=f"{field}.cert_number")
    try:
        return validate_certificate(cert_type, number, today=today)
    except ValueError as exc:
        raise OneWindowError(ID_NUMBER_INVALID, str(exc), field=f"{field}.cert_number") from exc


def validate_applicant(applicant: Applicant, *, today: date | None = None) -> dict[str, str]:
    """The applicant as stored on the case, or a clear error naming the field."""
    today = today or date.today()
    if applicant.kind not in APPLICANT_KINDS:
        raise OneWindowError(VALIDATION, f"未知申请人类型 {applicant.kind!r}", field="applicant.kind")
    phone = _phone(applicant.phone, "applicant.phone")
    if applicant.kind == "legal_person":
        name = _name(applicant.name, "applicant.name", "单位名称")
        try:
            code = parse_credit_code(applicant.cert_number).code
        except ValueError as exc:
            raise OneWindowError(ID_NUMBER_INVALID, str(exc), field="applicant.cert_number") from exc
        representative = applicant.legal_representative.strip()
        return {
            "kind": "legal_person",
            "name": name,
            "cert_type": LEGAL_PERSON_CERT,
            "cert_number": code,
            "legal_representative": representative,
            "phone": phone,
        }
    name = _name(applicant.name, "applicant.name", "申请人姓名")
    number = _person_certificate(applicant.cert_type, applicant.cert_number, "applicant", today)
    stored = {"kind": "natural_person", "name": name, "cert_type": applicant.cert_type, "cert_number": number}
    if applicant.cert_type in ("111", "112") and (applicant.sex or applicant.birth_date):
        resident = parse_resident_id(number, today=today)
        if applicant.sex:
            sex = _SEX.get(applicant.sex.strip())
            if sex is None:
                raise OneWindowError(VALIDATION, "性别应为“男”或“女”", field="applicant.sex")
            if sex != resident.sex:
                said = "男" if resident.sex == "male" else "女"
                raise OneWindowError(
                    ID_NUMBER_INVALID, f"性别与身份号码不符（号码第17位表示{said}）", field="applicant.sex"
                )
            stored["sex"] = "1" if sex == "male" else "2"
        if applicant.birth_date:
            digits = applicant.birth_date.strip().replace("-", "")
            if digits != resident.birth_date.strftime("%Y%m%d"):
                raise OneWindowError(
                    ID_NUMBER_INVALID,
                    f"出生日期与身份号码不符（号码中为{resident.birth_date:%Y年%m月%d日}）",
                    field="applicant.birth_date",
                )
            stored["birth_date"] = resident.birth_date.isoformat()
    stored["phone"] = phone
    return stored


def validate_agent(agent: Agent, *, today: date | None = None) -> dict[str, str]:
    name = _name(agent.name, "agent.name", "代理人姓名")
    number = _person_certificate(agent.cert_type, agent.cert_number, "agent", today or date.today())
    return {
        "name": name,
        "cert_type": agent.cert_type,
        "cert_number": number,
        "phone": _phone(agent.phone, "agent.phone"),
    }


async def receive_case(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    item_code: str,
    applicant: Applicant,
    agent: Agent | None = None,
    ticket_id: str = "",
) -> CaseState:
    """收件: open a case for an item and applicant; the receipt time is fixed here and never changes.

    The case gets its 办件编号 and its 收件凭证 number now, from this node's own ranges. When it starts from a
    called ticket, the ticket records the case (叫号信息关联办件信息) in the same transaction.
    """
    item = find_item(runtime, item_code)
    today = runtime.today()
    stored = validate_applicant(applicant, today=today)
    kind = stored["kind"]
    if kind not in item.service_target:
        raise OneWindowError(
            VALIDATION, f"「{item.name}」不受理{APPLICANT_KINDS[kind]}的申请", field="applicant.kind"
        )
    stored_agent = validate_agent(agent, today=today) if agent is not None else None
    if kind == "legal_person" and stored_agent is None:
        raise OneWindowError(REQUIRED_FIELD, "单位申请须登记经办人（代理人）", field="agent.name")
    case_id = uuid7()
    async with runtime.db.write() as session:
        payload = {
            "case_number": await next_case_number(
                session, node_number=runtime.identity.number, item_code=item.code, day=today
            ),
            "receipt_no": await next_notice_number(
                session,
                node_number=runtime.identity.number,
                prefix=runtime.notice_prefix,
                kind="receipt",
                year=today.year,
            ),
            "item_code": item.code,
            "item_name": item.name,
            "catalogue_version": runtime.catalogue.version,
            "centre_name": runtime.identity.name,
            "applicant": stored,
            "agent": stored_agent,
            "received_at": runtime.now_iso(),
        }
        if ticket_id:
            payload["ticket_id"] = ticket_id
            await link_case(session, ticket_id, case_id, at=str(payload["received_at"]))
        await record(session, runtime, new_event(runtime, actor, case_id, CASE_RECEIVED, payload))
        return await case_state(session, case_id)


def sniff_format(data: bytes) -> str | None:
    for fmt, magics in _MAGIC.items():
        if any(data.startswith(m) for m in magics):
            return fmt
    return None


async def store_blob(
    session: AsyncSession, runtime: NodeRuntime, data: bytes, *, media_type: str, filename: str
) -> str:
    """Keep a file (encrypted, content-addressed) and its row; returns its SHA-256 (inside a write txn)."""
    digest = runtime.blobs.put(data)
    if await session.get(Blob, digest) is None:
        session.add(
            Blob(
                sha256=digest,
                size=len(data),
                media_type=media_type,
                filename=filename,
                created_at=runtime.now_iso(),
            )
        )
    return digest


def item_of(runtime: NodeRuntime, state: CaseState) -> CatalogueItem:
    """The item as the catalogue version the case was received under describes it."""
    return runtime.catalogues.get(state.catalogue_version, runtime.catalogue).by_code(state.item_code)


async def attach_material(
    runtime: NodeRuntime, *, actor: Actor, case_id: str, material_id: str, filename: str, data: bytes
) -> CaseState:
    """Attach a captured file to a checklist slot; the file must be what the slot accepts.

    Before acceptance (and while corrections are awaited) any slot takes files; after 容缺受理 only the waived
    slots do, and the file that completes the last of them records that the commitment was kept.
    """
    state = await get_case(runtime, case_id)
    if state.status not in OPEN_FOR_MATERIALS or (state.status == ACCEPTED and not state.waiver_pending):
        raise OneWindowError(
            INVALID_TRANSITION, f"办件当前为「{state.status_label}」，不能再补充材料", field="case_id"
        )
    item = item_of(runtime, state)
    material = next((m for m in item.materials if m.id == material_id), None)
    if material is None:
        raise OneWindowError(VALIDATION, f"该事项没有材料项 {material_id!r}", field="material_id")
    waived = {str(m["id"]) for m in (state.waiver or {}).get("materials", [])}
    if state.status == ACCEPTED and material.id not in waived:
        raise OneWindowError(
            INVALID_TRANSITION,
            f"已受理的办件只能补交容缺材料，「{material.name}」不在其中",
            field="material_id",
        )
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
    async with runtime.db.write() as session:
        digest = await store_blob(session, runtime, data, media_type=_MEDIA_TYPES[fmt], filename=safe_name)
        payload = {
            "material_id": material.id,
            "blob": digest,
            "filename": safe_name,
            "size": len(data),
            "media_type": _MEDIA_TYPES[fmt],
        }
        await record(session, runtime, new_event(runtime, actor, case_id, MATERIAL_ATTACHED, payload))
        state = await case_state(session, case_id)
        if state.waiver_pending and waived <= {str(m["material_id"]) for m in state.materials}:
            # The file that completes the waived materials records that the commitment was kept.
            supplied = {"supplied_at": runtime.now_iso(), "materials": sorted(waived)}
            await record(session, runtime, new_event(runtime, actor, case_id, CASE_WAIVER_SUPPLIED, supplied))
            state = await case_state(session, case_id)
        return state


def missing_materials(item: CatalogueItem, state: CaseState) -> list[Material]:
    """Mandatory materials of the item with no file attached yet."""
    present = {m["material_id"] for m in state.materials}
    return [m for m in item.materials if m.mandatory and m.id not in present]


def missing_mandatory(item: CatalogueItem, state: CaseState) -> list[str]:
    return [m.name for m in missing_materials(item, state)]


async def get_case(runtime: NodeRuntime, case_id: str) -> CaseState:
    """The case's state; OW-1004 when the node has no such case."""
    async with runtime.db.read() as session:
        return await load_case(session, case_id)


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


def plain(value: Any) -> Any:
    """Nested mappings from the fold as plain JSON values."""
    return json.loads(json.dumps(value))


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
        "applicant": plain(dict(state.applicant)),
        "agent": plain(dict(state.agent)) if state.agent else None,
        "received_at": state.received_at,
        "clock_from": state.clock_from,
        "accepted_at": state.accepted_at,
        "promised_days": state.promised_days,
        "promised_date": state.promised_date,
        "collection": state.collection,
        "materials": [dict(m) for m in state.materials],
        "corrections": [dict(c) for c in state.corrections],
        "waiver": plain(dict(state.waiver)) if state.waiver else None,
        "refusal": plain(dict(state.refusal)) if state.refusal else None,
        "deemed_accepted": state.deemed_accepted,
        "deemed_accepted_at": state.deemed_accepted_at,
        "termination": plain(dict(state.termination)) if state.termination else None,
        "decision": None
        if state.decision is None
        else {
            "outcome": state.decision.outcome,
            "reason": state.decision.reason,
            "department": state.decision.department,
            "decided_at": state.decision.decided_at,
            "on_spot": state.decision.on_spot,
        },
        "issue": plain(dict(state.issue)) if state.issue else None,
        "notices": [
            {"kind": n.kind, "title": n.title, "number": n.number, "issued_at": n.issued_at}
            for n in state.notices
        ],
        "anomalies": list(state.anomalies),
    }
