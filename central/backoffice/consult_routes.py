"""Remote support pages and API (远程帮办): the questions windows sent a department, waiting for their answer, and
the department's answer with notes on the scans, sent down to the window. Thin handlers over
`central.backoffice.consults`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template

from central.backoffice.consults import answer_consult, open_consults
from central.backoffice.departments import membership
from central.backoffice.schemas import ConsultAnswer, ConsultAnswerRequest
from central.clock import utc_now
from central.web import central_of, current_user
from protocol.errors import OneWindowError

#: Who may answer a window's question.
ANSWERERS = ("reviewer", "admin")


@post("/api/v1/consults/{case_id:str}/{consult_id:str}/answer", media_type=MediaType.JSON, status_code=200)
async def api_answer_consult(
    request: Request[Any, Any, State],
    case_id: FromPath[str],
    consult_id: FromPath[str],
    data: JSONBody[ConsultAnswerRequest],
) -> ConsultAnswer:
    user = current_user(request, *ANSWERERS)
    central = central_of(request)
    annotations = None if data.annotations is None else [msgspec.structs.asdict(a) for a in data.annotations]
    async with central.db.transaction() as session:
        state = await answer_consult(
            session,
            central.county,
            case_id=case_id,
            consult_id=consult_id,
            username=user["username"],
            answer=data.answer,
            annotations=annotations,
            now=utc_now(),
        )
    return ConsultAnswer(case_id=case_id, consults=[dict(c) for c in state.consults])


@get("/consults", media_type=MediaType.HTML)
async def consults_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    return Template(template_name="consults.html", context=await _consults_context(request, user, None))


async def _consults_context(
    request: Request[Any, Any, State], user: dict[str, str], error: OneWindowError | None
) -> dict[str, Any]:
    async with central_of(request).db.transaction() as session:
        member = await membership(session, user["username"])
        rows = await open_consults(session, department=member.department_code if member else None)
    return {"user": user, "member": member, "consults": rows, "error": error, "active": "consults"}


@post("/consults/{case_id:str}/{consult_id:str}", media_type=MediaType.HTML, status_code=200)
async def consult_answer_form(
    request: Request[Any, Any, State], case_id: FromPath[str], consult_id: FromPath[str]
) -> Response[Any]:
    user = current_user(request, *ANSWERERS)
    form = await request.form()
    central = central_of(request)
    note, blob = str(form.get("note", "")).strip(), str(form.get("blob", ""))
    try:
        async with central.db.transaction() as session:
            await answer_consult(
                session,
                central.county,
                case_id=case_id,
                consult_id=consult_id,
                username=user["username"],
                answer=str(form.get("answer", "")),
                annotations=[{"blob": blob, "page": 1, "note": note}] if note else [],
                now=utc_now(),
            )
    except OneWindowError as exc:
        context = await _consults_context(request, user, exc)
        return Template(template_name="consults.html", context=context, status_code=exc.problem.status)
    return Redirect(path="/consults")


ROUTES = [api_answer_consult, consults_page, consult_answer_form]
