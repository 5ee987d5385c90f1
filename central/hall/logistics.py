"""The county hall's logistics desk (县级物料流转窗口, R-MAIL-3): parcels the centres handed to couriers.

Nothing here has a table of its own: a centre's courier manifest reaches central as the parcels' custody events
(`case.parcel_handed_to_courier`, each naming its manifest and due date) inside the cases' up log entries. This
module reads those events back into the expected parcels, flags the ones not confirmed by their due date, and
records the desk's confirmation (`case.parcel_received`) as a central-authored case event that goes down to the
centre like a decision, so both ends see the same chain of custody.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.cases.queries import case_events
from central.cases.record import record_central_event
from central.clock import utc_iso
from central.keys import CountyKeys
from central.models import EventRecord
from protocol.errors import INVALID_TRANSITION, NOT_FOUND, OneWindowError
from protocol.events import CUSTODY_STEPS, PARCEL_HANDED_TO_COURIER, PARCEL_RECEIVED, CaseState, fold

AUTHORITY = "central:logistics"
CLOSING_STEPS = ("received", "delivered", "returned")


@dataclass
class ExpectedParcel:
    """A parcel a centre handed to a courier, as central learnt it from the custody events."""

    case_id: str
    parcel_id: str
    node_id: str
    tracking_number: str
    kind: str
    destination: str  # county: this desk signs for it | applicant: the centre records the delivery
    recipient: str
    manifest_number: str
    courier: str
    handed_at: str
    due_by: str
    closed_by: str = ""  # received | delivered | returned
    closed_at: str = ""
    overdue: bool = False
    steps: list[dict[str, Any]] = field(default_factory=list)


async def expected_parcels(
    session: AsyncSession, *, today: date, open_only: bool = False, limit: int = 500
) -> list[ExpectedParcel]:
    """Every parcel handed to a courier, newest first, with how it closed or whether it is overdue.

    A parcel is overdue when nothing closed it (the county's receipt, the delivery, or a return) and `today`
    (CST) is past the due date the centre set at the handover.
    """
    rows = (
        await session.exec(
            select(EventRecord)
            .where(col(EventRecord.type).in_(list(CUSTODY_STEPS)))
            .order_by(col(EventRecord.hlc), col(EventRecord.id))
        )
    ).all()
    parcels: dict[str, ExpectedParcel] = {}
    for row in rows:
        payload = json.loads(row.payload)
        parcel_id = str(payload.get("parcel_id", ""))
        step = {**payload, "step": CUSTODY_STEPS[row.type], "actor": row.actor, "authority": row.authority}
        if row.type == PARCEL_HANDED_TO_COURIER:
            parcels[parcel_id] = ExpectedParcel(
                case_id=row.case_id,
                parcel_id=parcel_id,
                node_id=row.node_id or row.authority,
                tracking_number=str(payload.get("tracking_number", "")),
                kind=str(payload.get("kind", "")),
                destination=str(payload.get("destination", "")),
                recipient=str(payload.get("recipient", "")),
                manifest_number=str(payload.get("manifest_number", "")),
                courier=" ".join(
                    s
                    for s in (str(payload.get("courier_company", "")), str(payload.get("courier_name", "")))
                    if s
                ),
                handed_at=str(payload.get("at", "")),
                due_by=str(payload.get("due_by", "")),
                steps=[step],
            )
        elif parcel_id in parcels:
            parcel = parcels[parcel_id]
            parcel.steps.append(step)
            if step["step"] in CLOSING_STEPS and not parcel.closed_by:
                parcel.closed_by, parcel.closed_at = step["step"], str(payload.get("at", ""))
    found = []
    for parcel in parcels.values():
        parcel.overdue = (
            not parcel.closed_by and bool(parcel.due_by) and today > date.fromisoformat(parcel.due_by)
        )
        if not open_only or not parcel.closed_by:
            found.append(parcel)
    found.sort(key=lambda p: (not p.overdue, p.handed_at))  # overdue first, then the longest on the road
    return found[:limit]


async def confirm_parcels(
    session: AsyncSession,
    county: CountyKeys,
    *,
    parcels: Sequence[tuple[str, str]],
    receiver: str,
    note: str = "",
) -> list[CaseState]:
    """签收: the county hall's logistics desk confirms parcels (case_id, parcel_id) arrived; each confirmation
    is a central case event, stored and sent down to the centre that handed the parcel over."""
    states = []
    for case_id, parcel_id in parcels:
        events = await case_events(session, case_id)
        state = fold(case_id, events)
        if state.status is None:
            raise OneWindowError(NOT_FOUND, f"办件 {case_id} 不存在", field="case_id")
        steps = [s for s in state.custody if s.get("parcel_id") == parcel_id]
        handed = next((s for s in steps if s["step"] == "handed_to_courier"), None)
        if handed is None:
            raise OneWindowError(NOT_FOUND, "没有该邮件的交寄记录", field="parcel_id")
        if handed.get("destination") != "county":
            raise OneWindowError(
                INVALID_TRANSITION, "该邮件寄给申请人，由受理中心登记投递结果", field="parcel_id"
            )
        closed = next((s for s in steps if s["step"] in CLOSING_STEPS), None)
        if closed is not None:
            states.append(state)  # confirmed (or returned) before: nothing more to record
            continue
        recorded = await record_central_event(
            session,
            county,
            case_id=case_id,
            events=events,
            state=state,
            type=PARCEL_RECEIVED,
            authority=AUTHORITY,
            actor=receiver,
            payload={
                "parcel_id": parcel_id,
                "at": utc_iso(),
                "tracking_number": str(handed.get("tracking_number", "")),
                "manifest_number": str(handed.get("manifest_number", "")),
                "kind": str(handed.get("kind", "")),
                "note": note.strip()[:300],
            },
        )
        states.append(recorded.state)
    return states
