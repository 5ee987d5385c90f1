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
from io import BytesIO
from pathlib import Path
from typing import Any

from fpdf import FPDF
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.departments import item_of
from central.cases.queries import load_case
from central.cases.record import record_central_event
from central.clock import CST, iso
from central.keys import CountyKeys
from central.models import LicenceRecord, LicenceSerialRecord, NodeRecord, ResultDocumentRecord
from protocol.catalogue import Catalogue
from protocol.errors import INVALID_TRANSITION, NOT_FOUND, OneWindowError
from protocol.events import APPROVED, CASE_LICENCE_ISSUED, CASE_RESULT_DISPATCHED, RESULT_READY, CaseState
from protocol.identifiers import licence_identifier, parse_licence_identifier

#: Appeal rights printed on a denial (行政复议法 2023 art. 20; 行政诉讼法 art. 46).
APPEAL_RIGHTS = (
    "如不服本决定，可以自收到本决定书之日起六十日内向{organ}申请行政复议，"
    "或者自收到本决定书之日起六个月内依法向人民法院提起行政诉讼。"
)


def _fonts() -> tuple[Path, Path]:
    import pylopdf_fonts_zh_cn

    base = Path(pylopdf_fonts_zh_cn.__file__).parent
    return base / "NotoSerifSC-Regular.otf", base / "NotoSansSC-Regular.otf"


_NO_LINE_START = frozenset("，。、；：！？）》」』”’")


def _wrap(pdf: FPDF, text: str, first_width: float, width: float) -> list[str]:
    """Break text into lines that fit, never starting a line with closing punctuation (禁则)."""
    lines: list[str] = []
    current = ""
    for char in text:
        limit = first_width if not lines else width
        if current and pdf.get_string_width(current + char) > limit:
            if char in _NO_LINE_START:  # hang the mark on this line rather than start the next with it
                current += char
                continue
            lines.append(current)
            current = ""
        current += char
    if current:
        lines.append(current)
    return lines


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


def result_pdf(
    state: CaseState,
    *,
    county_name: str,
    number: str,
    licence: str = "",
    reconsideration_organ: str = "",
) -> bytes:
    """准予/不予许可决定书 as an A4 PDF with an embedded CJK font."""
    assert state.decision is not None
    serif, sans = _fonts()
    pdf = FPDF(format="A4")
    pdf.set_margins(28, 30, 26)
    pdf.add_font("serif", "", str(serif))
    pdf.add_font("sans", "", str(sans))
    pdf.add_page()
    approve = state.decision.outcome == "approve"
    title = "准予许可决定书" if approve else "不予许可决定书"
    pdf.set_font("sans", size=20)
    pdf.cell(0, 14, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("serif", size=11)
    pdf.cell(0, 8, number, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("serif", size=13)
    applicant = str(state.applicant.get("name", ""))
    rows = [
        ("申请人", applicant),
        ("办件编号", state.case_number),
        ("申请事项", state.item_name),
        ("受理机构", state.centre_name),
        ("受理日期", state.accepted_at[:10]),
        ("决定部门", state.decision.department),
        ("决定日期", state.decision.decided_at[:10]),
    ]
    for label, value in rows:
        pdf.set_font("sans", size=11)
        pdf.cell(32, 9, label, border=1)
        pdf.set_font("serif", size=11)
        pdf.multi_cell(0, 9, value or "—", border=1, new_x="LMARGIN", new_y="NEXT")
    if licence:  # the identifier is long: its own full-width row, label above value
        pdf.set_font("sans", size=11)
        pdf.cell(0, 9, "电子证照标识（GB/T 36904）", border=1, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("serif", size=10)
        pdf.cell(0, 9, licence, border=1, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("serif", size=13)
    reason = state.decision.reason.rstrip("。.； ")
    if approve:
        body = f"{applicant}：你（单位）申请的“{state.item_name}”，经审查，符合法定条件，决定准予许可。"
        if reason:
            body += f"审查意见：{reason}。"
    else:
        organ = reconsideration_organ or f"{county_name}人民政府"
        body = (
            f"{applicant}：你（单位）申请的“{state.item_name}”，经审查，决定不予许可。"
            f"理由：{reason}。" + APPEAL_RIGHTS.format(organ=organ)
        )
    indent = 2 * pdf.get_string_width("中")  # two-character first-line indent (公文 style)
    for i, line in enumerate(_wrap(pdf, body, pdf.epw - indent, pdf.epw)):
        pdf.set_x(pdf.l_margin + (indent if i == 0 else 0))
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(14)
    pdf.cell(0, 8, state.decision.department, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 8, state.decision.decided_at[:10], align="R", new_x="LMARGIN", new_y="NEXT")
    out = BytesIO()
    pdf.output(out)
    return out.getvalue()


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
        pdf=result_pdf(
            state,
            county_name=county.name,
            number=number,
            licence=licence_row.identifier if licence_row else "",
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
