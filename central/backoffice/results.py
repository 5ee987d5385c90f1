"""Decision results (办理结果, SPEC R-BO-3, R-BO-4): the result document as a PDF, the e-licence (电子证照) of an
approved case with its GB/T 36904 identifier, and the dispatch of the result to the issuing centre.

The identifier is ``1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>`` (`protocol.identifiers`): the
issuer is the lead department (its unified social credit code), the serial is numbered per issuer and year
under a row lock, so two central processes never hand out the same one. The licence-type code is the defining
authority's credit code + a 3-digit sequence; no national type code is configured per item yet, so the lead
department's own code + ``001`` is used (recorded in the licence, replaceable once the province assigns codes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.departments import item_of
from central.cases.queries import load_case
from central.cases.record import record_central_event
from central.clock import CST, iso
from central.keys import CountyKeys
from central.models import LicenceRecord, LicenceSerialRecord, NodeRecord, ResultDocumentRecord
from common.documents.pdf import Block, Fields, OfficialDocument, Paragraph
from common.documents.render import render_document
from protocol.catalogue import Catalogue
from protocol.errors import INVALID_TRANSITION, NOT_FOUND, OneWindowError
from protocol.events import APPROVED, CASE_LICENCE_ISSUED, CASE_RESULT_DISPATCHED, RESULT_READY, CaseState
from protocol.identifiers import licence_identifier, parse_licence_identifier

#: Appeal rights printed on a denial (行政复议法 2023 art. 20; 行政诉讼法 art. 46).
APPEAL_RIGHTS = (
    "如不服本决定，可以自收到本决定书之日起六十日内向{organ}申请行政复议，"
    "或者自收到本决定书之日起六个月内依法向人民法院提起行政诉讼。"
)


async def next_serial(session: AsyncSession, key: str, year: int) -> int:
    """The next number of a per-key, per-year sequence, taken under a row lock."""
    row = (
        await session.exec(
            select(LicenceSerialRecord)
            .where(LicenceSerialRecord.issuer_code == key, LicenceSerialRecord.year == year)
            .with_for_update()
        )
    ).first()
    if row is None:
        row = LicenceSerialRecord(issuer_code=key, year=year, last=0)
    row.last += 1
    session.add(row)
    await session.flush()
    return row.last


def decision_document(
    state: CaseState,
    *,
    county_name: str,
    number: str,
    licence: str = "",
    reconsideration_organ: str = "",
) -> OfficialDocument:
    """准予/不予许可决定书 as a document for the shared engine (`common.documents.pdf`): the decision, the case's
    particulars, the e-licence identifier on an approval, the appeal rights on a denial."""
    assert state.decision is not None
    approve = state.decision.outcome == "approve"
    applicant = str(state.applicant.get("name", ""))
    reason = state.decision.reason.rstrip("。.； ")
    decided_on = (
        datetime.fromisoformat(state.decision.decided_at.replace("Z", "+00:00")).astimezone(CST).date()
    )
    if approve:
        body = f"你（单位）申请的“{state.item_name}”，经审查，符合法定条件，决定准予许可。"
        if reason:
            body += f"审查意见：{reason}。"
    else:
        organ = reconsideration_organ or f"{county_name}人民政府"
        body = f"你（单位）申请的“{state.item_name}”，经审查，决定不予许可。理由：{reason}。"
    rows = [
        ("申请人", applicant),
        ("办件编号", state.case_number),
        ("申请事项", state.item_name),
        ("受理机构", state.centre_name),
        ("受理日期", state.accepted_at[:10]),
        ("决定部门", state.decision.department),
        ("决定日期", state.decision.decided_at[:10]),
    ]
    if licence:
        rows.append(("电子证照标识（GB/T 36904）", licence))
    blocks: list[Block] = [Paragraph(body), Fields(rows=tuple((k, v or "—") for k, v in rows))]
    if not approve:
        blocks.append(Paragraph(APPEAL_RIGHTS.format(organ=organ)))
    return OfficialDocument(
        title="准予许可决定书" if approve else "不予许可决定书",
        number=number,
        issuer=state.decision.department,
        issued_on=decided_on,
        blocks=tuple(blocks),
        addressee=f"{applicant}：",
        qr_payload=state.case_number,
        qr_caption=f"办件编号 {state.case_number}",
        seal="行政许可专用章",
    )


async def make_result(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    catalogue: Catalogue | None,
    now: datetime,
    actor: str,
) -> tuple[ResultDocumentRecord, LicenceRecord | None]:
    """The result document of a decided case, and for an approval the e-licence (event sent to the node).
    Made once: asked again, it returns what was made."""
    events, state = await load_case(session, case_id)
    if state.decision is None or state.decision.on_spot:
        raise OneWindowError(INVALID_TRANSITION, "办件尚无县级办理决定", field="case_id")
    existing = await session.get(ResultDocumentRecord, case_id)
    if existing is not None:
        return existing, (
            await session.exec(select(LicenceRecord).where(LicenceRecord.case_id == case_id))
        ).first()
    year = now.astimezone(CST).year
    item = item_of(catalogue, state.item_code)
    lead_code = (state.routing or {}).get("lead") or (item.lead_department.code if item else "")
    lead_name = state.decision.department
    licence_row: LicenceRecord | None = None
    if state.status == APPROVED and lead_code:
        serial = f"{year}{await next_serial(session, lead_code, year):08d}"
        identifier = licence_identifier(lead_code + "001", lead_code, serial)
        parse_licence_identifier(identifier)  # its check character verifies before anyone sees it
        holder_code = str(state.applicant.get("cert_number", ""))
        licence_row = LicenceRecord(
            identifier=identifier,
            case_id=case_id,
            licence_name=f"{state.item_name}准予许可决定",
            holder=str(state.applicant.get("name", "")),
            holder_code=holder_code,
            issuer_code=lead_code,
            issuer_name=lead_name,
            issued_at=iso(now),
        )
        session.add(licence_row)
        recorded = await record_central_event(
            session,
            county,
            case_id=case_id,
            events=events,
            state=state,
            type=CASE_LICENCE_ISSUED,
            authority=f"central:{lead_code}",
            actor=actor,
            payload={
                "identifier": identifier,
                "licence_name": licence_row.licence_name,
                "holder": licence_row.holder,
                "issuer": lead_name,
                "issuer_code": lead_code,
                "issued_at": iso(now),
            },
        )
        state = recorded.state
    assert state.decision is not None  # checked above; the licence event keeps it
    kind = "approval" if state.decision.outcome == "approve" else "denial"
    word = "准许" if kind == "approval" else "不许"
    number = f"{county.name}{word}字〔{year}〕第{await next_serial(session, f'doc:{kind}', year):04d}号"
    document = ResultDocumentRecord(
        case_id=case_id,
        kind=kind,
        number=number,
        created_at=iso(now),
        pdf=await render_document(
            decision_document(
                state,
                county_name=county.name,
                number=number,
                licence=licence_row.identifier if licence_row else "",
            )
        ),
    )
    session.add(document)
    return document, licence_row


async def dispatch_result(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    actor: str,
    now: datetime,
    to_node: str | None = None,
) -> CaseState:
    """结果下发: tell the origin centre where the result is issued: there (default) or at another centre on the
    applicant's request (就近办)."""
    events, state = await load_case(session, case_id)
    if state.status not in RESULT_READY:
        raise OneWindowError(
            INVALID_TRANSITION, f"办件当前为「{state.status_label}」，尚无结果可下发", field="case_id"
        )
    if state.dispatch is not None:
        raise OneWindowError(INVALID_TRANSITION, "结果已下发", field="case_id")
    target = to_node or state.origin_node
    node = await session.get(NodeRecord, target)
    if node is None or node.status == "revoked":
        raise OneWindowError(NOT_FOUND, f"出件中心 {target} 不存在或已停用", field="to_node")
    payload: dict[str, Any] = {
        "to_node": target,
        "centre_name": node.name,
        "nearby": target != state.origin_node,
        "dispatched_at": iso(now),
    }
    recorded = await record_central_event(
        session,
        county,
        case_id=case_id,
        events=events,
        state=state,
        type=CASE_RESULT_DISPATCHED,
        authority="central:county",
        actor=actor,
        payload=payload,
    )
    return recorded.state


async def result_document(session: AsyncSession, case_id: str) -> ResultDocumentRecord | None:
    """The result document made at a case's decision, if any."""
    return await session.get(ResultDocumentRecord, case_id)


async def licence_of(session: AsyncSession, case_id: str) -> LicenceRecord | None:
    """The e-licence issued for a case, if any."""
    return (await session.exec(select(LicenceRecord).where(LicenceRecord.case_id == case_id))).first()
