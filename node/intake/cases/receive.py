"""收件: receiving a case at the front desk, and reading cases back (the case list with each case's way to the
county, the case as the API returns it).

Receiving is an event written in one transaction with its projection; the four outcomes of acceptance live in
`node.intake.cases.outcomes`, materials in `node.intake.cases.materials`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case as case_when
from sqlalchemy import func
from sqlmodel import col, select

from node.events import case_state, new_event, record
from node.intake.cases.applicants import APPLICANT_KINDS, Agent, Applicant, validate_agent, validate_applicant
from node.intake.cases.numbers import next_case_number, next_notice_number
from node.intake.hall.tickets import link_case
from node.models import Case, CaseEvent, UpEntry
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.catalogue import CatalogueItem
from protocol.errors import NOT_FOUND, REQUIRED_FIELD, UNKNOWN_ITEM, VALIDATION, OneWindowError
from protocol.events import CASE_RECEIVED, RECEIVED, CaseState, round_trip
from protocol.ids import uuid7


def find_item(runtime: NodeRuntime, item_code: str) -> CatalogueItem:
    """The catalogue item with this code in the newest catalogue; OW-1004 naming item_code when there is none."""
    try:
        return runtime.catalogue.by_code(item_code)
    except KeyError:
        raise OneWindowError(
            UNKNOWN_ITEM, f"目录中没有编码为 {item_code!r} 的事项", field="item_code"
        ) from None


def item_of(runtime: NodeRuntime, state: CaseState) -> CatalogueItem:
    """The item as the catalogue version the case was received under describes it."""
    return runtime.catalogues.get(state.catalogue_version, runtime.catalogue).by_code(state.item_code)


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


async def find_case_by_number(runtime: NodeRuntime, number: str) -> str:
    """A case id by its 办件编号, typed whole or by its last digits (as lists and labels show it)."""
    number = number.strip().upper()
    if len(number) < 6:
        raise OneWindowError(REQUIRED_FIELD, "请输入办件编号（至少后6位）", field="case_number")
    async with runtime.db.read() as session:
        found = (
            await session.exec(select(Case.case_id).where(col(Case.case_number).endswith(number)).limit(2))
        ).all()
    if len(found) != 1:
        why = "没有找到该办件" if not found else "有多个办件以此结尾，请输入完整编号"
        raise OneWindowError(NOT_FOUND if not found else VALIDATION, why, field="case_number")
    return str(found[0])


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
        "decision": None if state.decision is None else state.decision.summary(),
        "issue": plain(dict(state.issue)) if state.issue else None,
        "documents": [plain(dict(d)) for d in state.documents],
        "dispatch": plain(dict(state.dispatch)) if state.dispatch else None,
        "round_trip": [
            {"step": s.key, "label": s.label, "at": s.at, "took": s.took} for s in round_trip(state)
        ],
        "notices": [
            {"kind": n.kind, "title": n.title, "number": n.number, "issued_at": n.issued_at}
            for n in state.notices
        ],
        "anomalies": list(state.anomalies),
    }
