"""The case page's view of one case (办件详情): what is in its checklist, what is missing, what the front desk may
do next and by when — each worked out by the module that owns the rule (materials, 容缺 in `waiver`, the legal
clocks, the outcomes), so the route only renders it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from node.events import get_case
from node.intake.cases.clocks import current_promise, notification_deadline
from node.intake.cases.issuing import documents_here
from node.intake.cases.materials import may_add_materials, may_remove_pages, missing_materials
from node.intake.cases.outcomes import COLLECTION_METHODS, may_decide_on_spot, on_spot_refusal
from node.intake.cases.receive import item_of
from node.intake.cases.waiver import WaiverOffer, waiver_offer
from node.runtime import NodeRuntime
from node.staff import Actor, staff_names
from protocol.calendar import Deadline, provisional_warning
from protocol.catalogue import CatalogueItem
from protocol.errors import OneWindowError
from protocol.events import (
    ACCEPTED,
    CORRECTION_REQUESTED,
    RECEIVED,
    RESULT_READY,
    CaseState,
    Notice,
    TripStep,
    round_trip,
)
from protocol.identifiers import CERTIFICATE_TYPES


@dataclass(frozen=True)
class CaseDesk:
    """One case as the front desk sees it."""

    case: CaseState
    item: CatalogueItem
    #: Attached files by material id.
    present: dict[str, list[Mapping[str, Any]]]
    #: Names of the mandatory materials still missing.
    missing: list[str]
    #: What 容缺受理 offers now (`node.intake.cases.waiver`).
    waiver: WaiverOffer
    #: Ids of the materials owed under an accepted waiver.
    waived_ids: set[str]
    #: Whether files may still go into the checklist.
    uploads_open: bool
    today: date
    #: The last day to accept or ask for corrections before the case is deemed accepted (received cases only).
    notify_by: Deadline | None
    #: The promised completion date counted on the calendar the node holds now (accepted 承诺件 only): the
    #: notice's date, or its recount once the year it was provisional for has been published.
    promise: Deadline | None
    #: The newest notice of each kind.
    notices: list[Notice]
    result_ready: bool
    #: Whether a lead may decide it on the spot now (即办件; the lead's authority is checked when deciding).
    on_spot: bool
    #: A received 即办件 the logged-in lead may 受理 and 准予 in one action (`accept_and_decide_on_spot`).
    on_spot_now: bool
    #: Years a case accepted today would have its promised date counted through without their holidays.
    calendar_gap: tuple[int, ...]
    #: Staff usernames to display names.
    names: dict[str, str]
    #: Every result document of the case is at this centre (made here, or come down from central).
    documents_here: bool = True
    #: The centre the result was sent to instead of this one (就近办), "" when it is issued here.
    issued_elsewhere: str = ""
    #: 受理 → 办理决定 → 结果到窗 → 领取, with times.
    trip: tuple[TripStep, ...] = ()


async def case_desk(runtime: NodeRuntime, case_id: str, actor: Actor | None = None) -> CaseDesk:
    """The case page's view of `case_id` (OW-1003 when there is no such case), for `actor` when given."""
    state = await get_case(runtime, case_id)
    item = item_of(runtime, state)
    present: dict[str, list[Mapping[str, Any]]] = {}
    for material in state.materials:
        present.setdefault(str(material["material_id"]), []).append(material)
    offer = waiver_offer(runtime, item, state)
    today = runtime.today()
    notices = {n.kind: n for n in state.notices}  # the newest of each kind
    return CaseDesk(
        case=state,
        item=item,
        present=present,
        missing=[m.name for m in missing_materials(item, state)],
        waiver=offer,
        waived_ids={str(m["id"]) for m in (state.waiver or {}).get("materials", [])},
        uploads_open=may_add_materials(state),
        today=today,
        notify_by=notification_deadline(runtime, state)
        if state.status == RECEIVED and not state.deemed_accepted
        else None,
        promise=current_promise(runtime, state),
        notices=list(notices.values()),
        result_ready=state.status in RESULT_READY,
        on_spot=on_spot_refusal(item, state) is None,
        on_spot_now=state.status == RECEIVED
        and actor is not None
        and await may_decide_on_spot(runtime, actor=actor, item=item),
        calendar_gap=runtime.calendar.unsettled_years(today, offer.latest_supply),
        names=await staff_names(runtime),
        documents_here=documents_here(runtime, state),
        issued_elsewhere=str(state.dispatch.get("centre_name", ""))
        if state.dispatch is not None and state.dispatch.get("to_node") != runtime.node_id
        else "",
        trip=round_trip(state),
    )


#: 办件类型 of the catalogue, as the pages name them.
CASE_TYPES = {1: "即办件", 2: "承诺件", 9: "其他"}


def case_page_context(
    desk: CaseDesk, *, user: dict[str, str], error: OneWindowError | None, done: str
) -> dict[str, Any]:
    """The case page's template context (shared by the page and every form that shows it again with an error)."""
    return {
        "user": user,
        "case": desk.case,
        "item": desk.item,
        "present": desk.present,
        "missing": desk.missing,
        "missing_waivable": desk.waiver.waivable,
        "missing_fixed": desk.waiver.fixed,
        "can_waive": desk.waiver.possible,
        "waived_ids": desk.waived_ids,
        "uploads_open": desk.uploads_open,
        "pages_removable": may_remove_pages(desk.case),
        "latest_supply": desk.waiver.latest_supply,
        "default_supply": desk.waiver.latest_supply,
        "today": desk.today,
        "notify_by": desk.notify_by,
        "promise": desk.promise,
        "notices": desk.notices,
        "names": desk.names,
        "collection_methods": COLLECTION_METHODS,
        "cert_types": CERTIFICATE_TYPES,
        "result_ready": desk.result_ready,
        "documents_here": desk.documents_here,
        "issued_elsewhere": desk.issued_elsewhere,
        "trip": desk.trip,
        "on_spot": desk.on_spot,
        "on_spot_now": desk.on_spot_now,
        "is_lead": user.get("role") == "lead",
        "statuses": {"received": RECEIVED, "correction": CORRECTION_REQUESTED, "accepted": ACCEPTED},
        "calendar_gap": provisional_warning(desk.calendar_gap),
        "done": done,
        "form": {},
        "error": error,
        "case_types": CASE_TYPES,
        "active": "cases",
    }
