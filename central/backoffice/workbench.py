"""A routed case's workbench (部门工作台): which service each step of the page or the API runs (opinion, clock
pause and resume, extension, decision with its result document and e-licence, result dispatch), the case's
clock recomputed after every step, and what the page shows of a case (its clock, alerts, result, the member's
part in it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.clocks import alerts_of, refresh_case_clock
from central.backoffice.deadlines import CaseClock, case_clock
from central.backoffice.departments import item_of, membership
from central.backoffice.results import dispatch_result, licence_of, make_result, result_document
from central.backoffice.schemas import WorkStep
from central.backoffice.workflow import (
    decide_routed_case,
    extend_case,
    give_opinion,
    pause_clock,
    resume_clock,
)
from central.blobs import CentralBlobStore
from central.cases.queries import case_events, load_case
from central.keys import CountyKeys
from central.models import (
    DeadlineAlertRecord,
    DepartmentMemberRecord,
    LicenceRecord,
    NodeRecord,
    ResultDocumentRecord,
)
from central.registry import list_nodes
from protocol.calendar import WorkingCalendar
from protocol.catalogue import Catalogue
from protocol.errors import NOT_FOUND, OneWindowError
from protocol.events import CaseState, Event

#: The steps a workbench offers, by the name in the URL.
ACTIONS = ("opinion", "pause", "resume", "extend", "decide", "dispatch")


async def take_step(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    action: str,
    step: WorkStep,
    username: str,
    catalogue: Catalogue,
    calendar: WorkingCalendar,
    blobs: CentralBlobStore,
    now: datetime,
) -> None:
    """Run one workbench step by `username` on a routed case, then recompute the case's clock. Deciding is the
    one decision path: the lead department of a routed case, the clock running, every joint opinion in; the
    result documents are made with it and go down to the window."""
    if action == "opinion":
        await give_opinion(
            session,
            county,
            case_id=case_id,
            username=username,
            agree=step.agrees,
            comment=step.comment,
            now=now,
        )
    elif action == "pause":
        await pause_clock(
            session, county, case_id=case_id, username=username, kind=step.kind, reason=step.reason, now=now
        )
    elif action == "resume":
        await resume_clock(session, county, case_id=case_id, username=username, now=now)
    elif action == "extend":
        await extend_case(
            session,
            county,
            case_id=case_id,
            requested_by=username,
            approved_by=username,  # the form is the head's: asking and approving in one step
            reason=step.reason,
            now=now,
        )
    elif action == "decide":
        await decide_routed_case(
            session,
            county,
            case_id=case_id,
            username=username,
            outcome=step.outcome,
            reason=step.reason,
            now=now,
        )
        await make_result(
            session, county, case_id=case_id, catalogue=catalogue, blobs=blobs, now=now, actor=username
        )
    elif action == "dispatch":
        await dispatch_result(
            session, county, case_id=case_id, actor=username, now=now, to_node=step.to_node or None
        )
    else:
        raise OneWindowError(NOT_FOUND, f"未知操作 {action}", field="action")
    await refresh_case_clock(session, case_id, calendar=calendar, catalogue=catalogue, now=now)


async def routed_case(
    session: AsyncSession,
    case_id: str,
    *,
    catalogue: Catalogue | None,
    calendar: WorkingCalendar,
    today: date,
) -> tuple[CaseState, CaseClock | None]:
    """A case as the workbench API answers it: its state and its clock on `today`."""
    _, state = await load_case(session, case_id)
    return state, case_clock(state, calendar, today=today, item=item_of(catalogue, state.item_code))


@dataclass(frozen=True)
class Workbench:
    """What the workbench page shows of a case, and what the member looking at it may do."""

    state: CaseState
    events: list[Event]
    clock: CaseClock | None
    alerts: list[DeadlineAlertRecord]
    document: ResultDocumentRecord | None
    licence: LicenceRecord | None
    #: Active centres, where a result may be issued instead of the origin centre (就近办).
    nodes: list[NodeRecord]
    member: DepartmentMemberRecord | None

    @property
    def departments(self) -> list[str]:
        return [d["code"] for d in (self.state.routing or {}).get("departments", [])]

    @property
    def own_department(self) -> str:
        return self.member.department_code if self.member else ""

    @property
    def in_case(self) -> bool:
        return self.own_department in self.departments

    @property
    def is_lead(self) -> bool:
        return bool(self.departments) and self.own_department == self.departments[0]

    @property
    def is_head(self) -> bool:
        return self.member is not None and self.member.position == "head" and self.is_lead

    @property
    def opinion_given(self) -> bool:
        return any(o["department"] == self.own_department for o in self.state.opinions)


async def workbench(
    session: AsyncSession,
    case_id: str,
    *,
    username: str,
    catalogue: Catalogue | None,
    calendar: WorkingCalendar,
    today: date,
) -> Workbench:
    """Everything the workbench page of a routed case shows to `username`."""
    _, state = await load_case(session, case_id)
    return Workbench(
        state=state,
        events=await case_events(session, case_id),
        clock=case_clock(state, calendar, today=today, item=item_of(catalogue, state.item_code)),
        alerts=await alerts_of(session, case_id),
        document=await result_document(session, case_id),
        licence=await licence_of(session, case_id),
        nodes=[n for n in await list_nodes(session) if n.status == "active"],
        member=await membership(session, username),
    )
