"""The county's case pages and API (办件): every case received from the centres with its events, its materials
under their checklist names and its round trip (受理 → 决定 → 结果到窗 → 领取), and the decision (准予 / 不予) on
it — through the one decision path of the workbench (`central.backoffice.workbench.take_step`): the lead
department of a routed case, the clock running, every joint opinion in. Thin handlers."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Redirect, Template

from central.backoffice.deadlines import promised_deadline
from central.backoffice.jobs import calendar_of
from central.backoffice.materials import case_materials, may_view_materials
from central.backoffice.schemas import DecisionAnswer, DecisionRequest, WorkStep
from central.backoffice.workbench import take_step
from central.blobs import blob_store
from central.cases.queries import case_events, case_state, list_cases
from central.catalogue.calendar import missing_calendar
from central.clock import cst_date, utc_now
from central.registry import node_names, people_names
from central.runtime import Central
from central.web import central_of, current_user
from protocol.errors import OneWindowError
from protocol.events import STATUS_LABELS, round_trip

#: Who may take a step at the county (deciding further needs the lead department of the routed case).
DECIDERS = ("reviewer", "admin")
#: The most cases `GET /api/v1/cases` lists at once.
MAX_CASE_LIST = 5000


async def _decide(central: Central, username: str, case_id: str, outcome: str, reason: str) -> None:
    """The one decision path (the workbench's), with its result documents."""
    async with central.db.transaction() as session:
        await take_step(
            session,
            central.county,
            case_id=case_id,
            action="decide",
            step=WorkStep(outcome=outcome, reason=reason),
            username=username,
            catalogue=central.catalogue,
            calendar=calendar_of(central.settings.county_dir),
            blobs=blob_store(central.settings.data_dir),
            now=utc_now(),
        )


@get("/api/v1/cases", media_type=MediaType.JSON)
async def api_cases(
    request: Request[Any, Any, State],
    status: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_CASE_LIST)] = 200,
) -> dict[str, Any]:
    """Received cases, newest first: `limit` of them (200 unless asked; a county's day fits in the largest)."""
    current_user(request)
    async with central_of(request).db.transaction() as session:
        rows = await list_cases(session, status=status, limit=limit)
    return {"cases": [r.model_dump() for r in rows]}


@get("/api/v1/cases/{case_id:str}", media_type=MediaType.JSON)
async def api_case(request: Request[Any, Any, State], case_id: FromPath[str]) -> dict[str, Any]:
    current_user(request)
    async with central_of(request).db.transaction() as session:
        state = await case_state(session, case_id)
        events = await case_events(session, case_id)
    return {
        "case_id": case_id,
        "status": state.status,
        "status_label": state.status_label,
        "case_number": state.case_number,
        "promised_date": state.promised_date,
        "deemed_accepted": state.deemed_accepted,
        "waiver_pending": state.waiver_pending,
        "decision": None if state.decision is None else state.decision.summary(),
        "routing": dict(state.routing) if state.routing else None,
        "documents": [dict(d) for d in state.documents],
        "round_trip": [
            {"step": s.key, "label": s.label, "at": s.at, "took": s.took} for s in round_trip(state)
        ],
        "events": [e.to_dict() for e in events],
        "anomalies": list(state.anomalies),
    }


@post("/api/v1/cases/{case_id:str}/decision", media_type=MediaType.JSON, status_code=200)
async def api_decide(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[DecisionRequest]
) -> DecisionAnswer:
    user = current_user(request, *DECIDERS)
    central = central_of(request)
    await _decide(central, user["username"], case_id, data.outcome, data.reason)
    async with central.db.transaction() as session:
        state = await case_state(session, case_id)
    return DecisionAnswer(case_id=case_id, status=state.status)


@get("/cases", media_type=MediaType.HTML)
async def cases_page(request: Request[Any, Any, State], status: FromQuery[str | None] = None) -> Template:
    user = current_user(request)
    central = central_of(request)
    async with central.db.transaction() as session:
        rows = await list_cases(session, status=status)
        nodes = await node_names(session)
    today = cst_date(request.app.state.get("now", utc_now)())
    return Template(
        template_name="cases.html",
        context={
            "user": user,
            # The county admin's home: the calendar the admin must publish before it is needed.
            "calendar_warning": missing_calendar(central.settings.county_dir, today)
            if user["role"] == "admin"
            else "",
            "cases": rows,
            "nodes": nodes,
            "labels": STATUS_LABELS,
            "status": status or "",
        },
    )


@get("/cases/{case_id:str}", media_type=MediaType.HTML)
async def case_page(request: Request[Any, Any, State], case_id: FromPath[str]) -> Template:
    user = current_user(request)
    return Template(
        template_name="case.html", context=await _case_context(central_of(request), user, case_id, None)
    )


async def _case_context(
    central: Central, user: dict[str, str], case_id: str, error: OneWindowError | None
) -> dict[str, Any]:
    async with central.db.transaction() as session:
        state = await case_state(session, case_id)
        events = await case_events(session, case_id)
        materials = await case_materials(session, state, central.catalogue)
        may_view = await may_view_materials(session, state, user)
        people = await people_names(session)
        nodes = await node_names(session)
    return {
        "user": user,
        "people": people,
        "node_names": nodes,
        "case": state,
        "events": events,
        "materials": materials,
        "may_view": may_view,
        "trip": round_trip(state),
        "error": error,
        "promise": promised_deadline(state, calendar_of(central.settings.county_dir)),
    }


@post("/cases/{case_id:str}/decision", media_type=MediaType.HTML, status_code=200)
async def case_decide(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *DECIDERS)
    form = await request.form()
    central = central_of(request)
    try:
        await _decide(
            central, user["username"], case_id, str(form.get("outcome", "")), str(form.get("reason", ""))
        )
    except OneWindowError as exc:
        return Template(
            template_name="case.html",
            context=await _case_context(central, user, case_id, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/cases/{case_id}")


ROUTES = [api_cases, api_case, api_decide, cases_page, case_page, case_decide]
