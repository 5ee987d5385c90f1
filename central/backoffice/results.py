"""Decision results (办理结果, SPEC R-BO-3, R-BO-4): the result document as a PDF worded by the item's type
(`common.documents.results`, the same wording a node uses for a 即办件), the e-licence (电子证照) of an approved
licence or confirmation with its GB/T 36904 identifier and its own page, and the dispatch of the result to the
issuing centre (就近办: the chosen centre receives the whole case).

The PDFs are kept in central's blob store and named (by SHA-256) in a ``case.result_documents`` event, which goes
down to the window with the case; the node fetches them resumably, encrypted to it (`central.sync.down_blobs`).

The identifier is ``1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>`` (`protocol.identifiers`): the
issuer is the lead department (its unified social credit code), the serial is numbered per issuer and year
under a row lock, so two central processes never hand out the same one. The licence-type code is the defining
authority's credit code + a 3-digit sequence; no national type code is configured per item yet, so the lead
department's own code + ``001`` is used (recorded in the licence, replaceable once the province assigns codes).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.departments import item_of
from central.blobs import CentralBlobStore
from central.cases.queries import case_events, load_case
from central.cases.record import record_central_event
from central.clock import CST, iso
from central.downlog import append_down, lock_node
from central.keys import CountyKeys
from central.models import BlobRecord, LicenceRecord, LicenceSerialRecord, NodeRecord, ResultDocumentRecord
from common.documents.render import render_document
from common.documents.results import LICENSING, decision_document, issues_licence, licence_document
from protocol.catalogue import Catalogue
from protocol.errors import INVALID_TRANSITION, NOT_FOUND, OneWindowError
from protocol.events import (
    APPROVED,
    CASE_LICENCE_ISSUED,
    CASE_RESULT_DISPATCHED,
    CASE_RESULT_DOCUMENTS,
    RESULT_READY,
    CaseState,
)
from protocol.identifiers import licence_identifier, parse_licence_identifier

#: The `BlobRecord.node_id` of the blobs central makes itself (result documents), not received from a node.
CENTRAL_BLOBS = "central"


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


async def keep_document(
    session: AsyncSession,
    blobs: CentralBlobStore,
    pdf: bytes,
    *,
    kind: str,
    title: str,
    number: str,
    now: str,
) -> dict[str, Any]:
    """Keep a result document's PDF as a blob (content-addressed, like every attachment) and describe it as
    the event that sends it down names it."""
    digest = hashlib.sha256(pdf).hexdigest()
    await asyncio.to_thread(blobs.put, digest, pdf)
    if await session.get(BlobRecord, digest) is None:
        session.add(
            BlobRecord(
                sha256=digest,
                node_id=CENTRAL_BLOBS,
                size=len(pdf),
                media_type="application/pdf",
                filename=f"{title}-{number or digest[:12]}.pdf",
                received_at=now,
            )
        )
    return {
        "kind": kind,
        "title": title,
        "number": number,
        "blob": digest,
        "media_type": "application/pdf",
        "size": len(pdf),
    }


async def make_result(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    catalogue: Catalogue | None,
    blobs: CentralBlobStore,
    now: datetime,
    actor: str,
) -> tuple[ResultDocumentRecord, LicenceRecord | None]:
    """The result document of a decided case worded by its item's type, and for an approval of an item that
    issues one the e-licence (event and page). Both PDFs are kept as blobs and a ``case.result_documents``
    event names them, so they travel down to the window with the case. Made once: asked again, it returns
    what was made."""
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
    item_type = item.item_type if item is not None else ""
    lead_code = (state.routing or {}).get("lead") or (item.lead_department.code if item else "")
    lead_name = state.decision.department
    licence_row: LicenceRecord | None = None
    if state.status == APPROVED and lead_code and issues_licence(item_type):
        serial = f"{year}{await next_serial(session, lead_code, year):08d}"
        identifier = licence_identifier(lead_code + "001", lead_code, serial)
        parse_licence_identifier(identifier)  # its check character verifies before anyone sees it
        holder_code = str(state.applicant.get("cert_number", ""))
        licence_row = LicenceRecord(
            identifier=identifier,
            case_id=case_id,
            licence_name=f"{state.item_name}准予{'许可' if item_type == LICENSING else '确认'}证明",
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
        events, state = [*events, recorded.event], recorded.state
    assert state.decision is not None  # checked above; the licence event keeps it
    kind = "approval" if state.decision.outcome == "approve" else "denial"
    word = "准许" if kind == "approval" else "不许"
    if item_type != LICENSING:
        word = "办结" if kind == "approval" else "不予"
    number = f"{county.name}{word}字〔{year}〕第{await next_serial(session, f'doc:{kind}', year):04d}号"
    document = decision_document(
        state,
        item_type=item_type,
        county_name=county.name,
        number=number,
        licence=licence_row.identifier if licence_row else "",
    )
    pdf = await render_document(document)
    record = ResultDocumentRecord(case_id=case_id, kind=kind, number=number, created_at=iso(now), pdf=pdf)
    session.add(record)
    documents = [
        await keep_document(
            session, blobs, pdf, kind="decision", title=document.title, number=number, now=iso(now)
        )
    ]
    if licence_row is not None:
        page = licence_document(
            state,
            identifier=licence_row.identifier,
            licence_name=licence_row.licence_name,
            issuer=lead_name,
            issued_on=now.astimezone(CST).date(),
        )
        documents.append(
            await keep_document(
                session,
                blobs,
                await render_document(page),
                kind="licence",
                title="电子证照",
                number=licence_row.identifier,
                now=iso(now),
            )
        )
    await record_central_event(
        session,
        county,
        case_id=case_id,
        events=events,
        state=state,
        type=CASE_RESULT_DOCUMENTS,
        authority=f"central:{lead_code or 'county'}",
        actor=actor,
        payload={"documents": documents, "made_at": iso(now)},
    )
    return record, licence_row


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
    applicant's request (就近办). The chosen centre receives the whole case with it (its history and the
    result documents' event), so it can show, print and hand over the result like its own."""
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
    if target != state.origin_node:
        await relay_case(session, county, case_id=case_id, node_id=target)
    return recorded.state


async def relay_case(session: AsyncSession, county: CountyKeys, *, case_id: str, node_id: str) -> None:
    """Send a centre that is not the case's origin the case's whole history (就近办: the result is issued
    there). The node takes it only for a case whose result is dispatched to it (`node.sync.log`)."""
    node = await lock_node(session, node_id)
    if node is None:
        raise OneWindowError(NOT_FOUND, f"出件中心 {node_id} 不存在", field="to_node")
    events = await case_events(session, case_id)
    await append_down(
        session, county, node, {"relay": {"case_id": case_id, "events": [e.to_dict() for e in events]}}
    )


async def result_document(session: AsyncSession, case_id: str) -> ResultDocumentRecord | None:
    """The result document made at a case's decision, if any."""
    return await session.get(ResultDocumentRecord, case_id)


async def licence_of(session: AsyncSession, case_id: str) -> LicenceRecord | None:
    """The e-licence issued for a case, if any."""
    return (await session.exec(select(LicenceRecord).where(LicenceRecord.case_id == case_id))).first()


def document_file(state: CaseState, blobs: CentralBlobStore, blob: str) -> tuple[str, int]:
    """(file name, size) of one of the case's result documents held in the blob store; OW NOT_FOUND else."""
    found = next((d for d in state.documents if d["blob"] == blob), None)
    if found is None or not blobs.exists(blob):
        raise OneWindowError(NOT_FOUND, "该办件没有这份结果文书", field="blob")
    return f"{found['title']}-{state.case_number}.pdf", blobs.size(blob)
