"""Department remote support (远程帮办, Zhejiang §6.2.3.2; SPEC R-BO-5): a window sends a department a question
about a case with scans (``case.consult_requested``, node-authored, its scans travelling as attachments); a
reviewer of that department answers with annotations on the scans (``case.consult_answered``), which goes
down to the window through the origin node's log like every central event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.departments import membership
from central.cases.bulk import event_of
from central.cases.queries import load_case
from central.cases.record import record_central_event
from central.clock import iso
from central.keys import CountyKeys
from central.models import EventRecord
from protocol.errors import (
    FORBIDDEN,
    INVALID_TRANSITION,
    NOT_FOUND,
    REQUIRED_FIELD,
    VALIDATION,
    OneWindowError,
)
from protocol.events import CASE_CONSULT_ANSWERED, CASE_CONSULT_REQUESTED, CaseState, fold


@dataclass(frozen=True)
class OpenConsult:
    """A question from a window still waiting for its answer."""

    state: CaseState
    consult: dict[str, Any]


async def open_consults(session: AsyncSession, *, department: str | None) -> list[OpenConsult]:
    """Unanswered consults, oldest first; for one department (and those addressed to no department)."""
    asked = (
        await session.exec(
            select(EventRecord.case_id).where(EventRecord.type == CASE_CONSULT_REQUESTED).distinct()
        )
    ).all()
    found: list[OpenConsult] = []
    for case_id in asked:
        rows = (await session.exec(select(EventRecord).where(col(EventRecord.case_id) == case_id))).all()
        state = fold(case_id, [event_of(r) for r in rows])
        for consult in state.consults:
            if consult["answered_at"]:
                continue
            if department and consult["department"] not in ("", department):
                continue
            found.append(OpenConsult(state, dict(consult)))
    return sorted(found, key=lambda c: c.consult["asked_at"])


def _annotations(raw: Any, scans: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Each annotation names a scan of the question (by blob), a page and a note."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise OneWindowError(VALIDATION, "批注应为列表", field="annotations")
    blobs = {s["blob"] for s in scans}
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not str(item.get("note", "")).strip():
            raise OneWindowError(REQUIRED_FIELD, f"第 {i + 1} 条批注没有内容", field="annotations")
        if item.get("blob") not in blobs:
            raise OneWindowError(
                VALIDATION, f"第 {i + 1} 条批注指向的扫描件不在此次请求中", field="annotations"
            )
        page = item.get("page", 1)
        if not isinstance(page, int) or isinstance(page, bool) or page < 1:
            raise OneWindowError(VALIDATION, f"第 {i + 1} 条批注的页码应为正整数", field="annotations")
        out.append({"blob": item["blob"], "page": page, "note": str(item["note"]).strip()})
    return out


async def answer_consult(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    consult_id: str,
    username: str,
    answer: str,
    annotations: Any,
    now: datetime,
) -> CaseState:
    """帮办答复: a reviewer of the department asked (any department's when none was named) answers once."""
    answer = answer.strip()
    if not answer:
        raise OneWindowError(REQUIRED_FIELD, "请填写答复内容", field="answer")
    events, state = await load_case(session, case_id)
    consult = next((c for c in state.consults if c["consult_id"] == consult_id), None)
    if consult is None:
        raise OneWindowError(NOT_FOUND, f"没有帮办请求 {consult_id}", field="consult_id")
    if consult["answered_at"]:
        raise OneWindowError(INVALID_TRANSITION, "该帮办请求已答复", field="consult_id")
    member = await membership(session, username)
    if member is None or consult["department"] not in ("", member.department_code):
        raise OneWindowError(FORBIDDEN, "只有被请求部门的人员可以答复", field="username")
    notes = _annotations(annotations, list(consult["scans"]))
    recorded = await record_central_event(
        session,
        county,
        case_id=case_id,
        events=events,
        state=state,
        type=CASE_CONSULT_ANSWERED,
        authority=f"central:{member.department_code}",
        actor=username,
        payload={
            "consult_id": consult_id,
            "answer": answer,
            "annotations": notes,
            "department_name": member.department_name,
            "answered_at": iso(now),
        },
    )
    return recorded.state
