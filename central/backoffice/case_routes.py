"""The county's case pages and API (办件): every case received from the centres with its events, and the county's
direct decision (准予 / 不予) on an accepted case, sent down to its centre. Thin handlers over `central.cases` and
`central.backoffice.workflow.decide_case`."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from central.backoffice.deadlines import promised_deadline
from central.backoffice.jobs import calendar_of
from central.backoffice.schemas import DecisionAnswer, DecisionRequest
from central.backoffice.workflow import decide_case
from central.cases.queries import case_events, case_state, list_cases
from central.catalogue.calendar import missing_calendar
from central.clock import cst_date, utc_now
from central.registry import node_names
from central.web import central_of, current_user
from protocol.errors import OneWindowError
from protocol.events import STATUS_LABELS

#: Who may decide a case at the county.
DECIDERS = ("reviewer", "admin")


@get("/api/v1/cases", media_type=MediaType.JSON)
async def api_cases(
    request: Request[Any, Any, State], status: FromQuery[str | None] = None
) -> dict[str, Any]:
    current_user(request)
    async with central_of(request).db.transaction() as session:
        rows = await list_cases(session, status=status)
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
        "events": [e.to_dict() for e in events],
        "anomalies": list(state.anomalies),
    }


@post("/api/v1/cases/{case_id:str}/decision", media_type=MediaType.JSON, status_code=200)
async def api_decide(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[DecisionRequest]
) -> DecisionAnswer:
    user = current_user(request, *DECIDERS)
    central = central_of(request)
    async with central.db.transaction() as session:
        state = await decide_case(
            session,
            central.county,
            case_id=case_id,
            outcome=data.outcome,
            reason=data.reason,
            reviewer=user["username"],
            catalogue=central.catalogue,
        )
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
    central = central_of(request)
    async with central.db.transaction() as session:
        state = await case_state(session, case_id)
        events = await case_events(session, case_id)
    promise = promised_deadline(state, calendar_of(central.settings.county_dir))
    return Template(
        template_name="case.html",
        context={"user": user, "case": state, "events": events, "error": None, "promise": promise},
    )


@post("/cases/{case_id:str}/decision", media_type=MediaType.HTML, status_code=200)
async def case_decide(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *DECIDERS)
    form = await request.form()
    central = central_of(request)
    try:
        async with central.db.transaction() as session:
            await decide_case(
                session,
                central.county,
                case_id=case_id,
                outcome=str(form.get("outcome", "")),
                reason=str(form.get("reason", "")),
                reviewer=user["username"],
                catalogue=central.catalogue,
            )
    except OneWindowError as exc:
        async with central.db.transaction() as session:
            state = await case_state(session, case_id)
            events = await case_events(session, case_id)
        return Template(
            template_name="case.html",
            context={"user": user, "case": state, "events": events, "error": exc},
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/cases/{case_id}")


ROUTES = [api_cases, api_case, api_decide, cases_page, case_page, case_decide]
