"""Pages and JSON API for the outcomes of acceptance, issuing, the notices' PDFs and the service guide.

Form posts redirect back to the case page (which offers the new notice for printing) or re-render it with the
error next to the form; the JSON API answers with the case and problem+json errors.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template

from common.documents.render import render_document
from node.events import get_case
from node.intake.cases.bodies import (
    Acceptance,
    CorrectionRequest,
    Issue,
    Mailing,
    OnSpotDecision,
    Refusal,
    WaiverAcceptance,
)
from node.intake.cases.desk import case_desk, case_page_context
from node.intake.cases.issuing import hand_to_logistics, issue_at_window, result_document
from node.intake.cases.outcomes import (
    Correction,
    accept_and_decide_on_spot,
    accept_case,
    accept_with_waiver,
    decide_on_spot,
    record_correction,
    refuse_case,
    request_correction,
)
from node.intake.cases.receive import find_item, item_of, state_to_json
from node.intake.documents.issued import issued_pdf
from node.intake.documents.notices import guide_document, newest_notice
from node.staff import staff_names
from node.web import actor_of, current_user, decode_png, parse_day, runtime_of
from protocol.errors import VALIDATION, OneWindowError
from protocol.events import NOTICE_TITLES, CaseState


async def _form_action(
    request: Request[Any, Any, State], case_id: str, action: Any, done: str = ""
) -> Response[Any]:
    """Run a form's action; on a catalogued error show the case page again with the message by the form."""
    try:
        await action
    except OneWindowError as exc:
        desk = await case_desk(runtime_of(request), case_id, actor_of(current_user(request)))
        done = request.query_params.get("done", "")
        context = case_page_context(desk, user=current_user(request), error=exc, done=done)
        form = await request.form()
        # What the clerk typed comes back with the message (never the signature: it must be drawn again).
        typed = {k: str(v) for k, v in form.items() if isinstance(v, str) and "signature" not in k}
        return Template(
            template_name="case.html", context={**context, "form": typed}, status_code=exc.problem.status
        )
    return Redirect(path=f"/cases/{case_id}" + (f"?done={done}" if done else ""))


# ---- form posts from the case page ------------------------------------------------------------------------


@post("/cases/{case_id:str}/accept", media_type=MediaType.HTML, status_code=200)
async def accept_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    action = accept_case(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        collection=str(form.get("collection", "window")),
    )
    return await _form_action(request, case_id, action, "acceptance")


@post("/cases/{case_id:str}/accept-on-spot", media_type=MediaType.HTML, status_code=200)
async def accept_on_spot_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    """即办件 in one action: 受理 and 准予, by a lead with authority for the item."""
    user = current_user(request, "lead", refusal="即办件只能由有授权的业务负责人当场办结")
    form = await request.form()
    action = accept_and_decide_on_spot(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        collection=str(form.get("collection", "window")),
    )
    return await _form_action(request, case_id, action, "acceptance")


@post("/cases/{case_id:str}/waiver", media_type=MediaType.HTML, status_code=200)
async def waiver_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()

    async def action() -> CaseState:
        return await accept_with_waiver(
            runtime_of(request),
            actor=actor_of(user),
            case_id=case_id,
            waived=[str(v) for v in form.getall("waived", [])],
            supply_by=parse_day(form.get("supply_by", ""), "supply_by"),
            commitment_signature=decode_png(form.get("commitment_signature", ""), "commitment_signature"),
            collection=str(form.get("collection", "window")),
        )

    return await _form_action(request, case_id, action(), "waiver_notice")


@post("/cases/{case_id:str}/correction", media_type=MediaType.HTML, status_code=200)
async def correction_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    materials = form.getall("material_id", [])
    problems = form.getall("problem", [])
    requirements = form.getall("requirement", [])
    corrections = [
        Correction(str(m), str(p), str(r))
        for m, p, r in zip(materials, problems, requirements, strict=False)
        if str(p).strip()
    ]
    action = request_correction(
        runtime_of(request), actor=actor_of(user), case_id=case_id, corrections=corrections
    )
    return await _form_action(request, case_id, action, "correction")


@post("/cases/{case_id:str}/corrected", media_type=MediaType.HTML, status_code=200)
async def corrected_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    action = record_correction(runtime_of(request), actor=actor_of(user), case_id=case_id)
    return await _form_action(request, case_id, action)


@post("/cases/{case_id:str}/refuse", media_type=MediaType.HTML, status_code=200)
async def refuse_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    action = refuse_case(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        reasons=str(form.get("reasons", "")),
        legal_basis=str(form.get("legal_basis", "")),
        competent_organ=str(form.get("competent_organ", "")),
    )
    return await _form_action(request, case_id, action, "refusal")


@post("/cases/{case_id:str}/decide", media_type=MediaType.HTML, status_code=200)
async def decide_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    action = decide_on_spot(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        outcome=str(form.get("outcome", "")),
        reason=str(form.get("reason", "")),
    )
    return await _form_action(request, case_id, action)


@post("/cases/{case_id:str}/issue", media_type=MediaType.HTML, status_code=200)
async def issue_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()

    async def action() -> CaseState:
        return await issue_at_window(
            runtime_of(request),
            actor=actor_of(user),
            case_id=case_id,
            cert_type=str(form.get("cert_type", "111")),
            cert_number=str(form.get("cert_number", "")),
            signature=decode_png(form.get("signature", ""), "signature"),
            read_from_card=form.get("read_from_card") == "1",
        )

    return await _form_action(request, case_id, action(), "pickup")


@post("/cases/{case_id:str}/mail", media_type=MediaType.HTML, status_code=200)
async def mail_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    action = hand_to_logistics(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        recipient=str(form.get("recipient", "")),
        phone=str(form.get("phone", "")),
        address=str(form.get("address", "")),
    )
    return await _form_action(request, case_id, action)


# ---- documents --------------------------------------------------------------------------------------------


def _pdf(data: bytes, filename: str) -> Response[bytes]:
    # inline: the tablet opens it in the browser's viewer, from where it prints.
    return Response(
        content=data,
        media_type="application/pdf",
        headers={"content-disposition": f"inline; filename*=UTF-8''{filename}"},
    )


async def _notice_pdf(request: Request[Any, Any, State], case_id: str, name: str) -> Response[bytes]:
    current_user(request)
    kind = name.removesuffix(".pdf")
    runtime = runtime_of(request)
    if kind not in NOTICE_TITLES:
        raise OneWindowError(VALIDATION, f"未知文书类型 {kind!r}", field="kind")
    state = await get_case(runtime, case_id)
    names = await staff_names(runtime)
    notice = newest_notice(state, kind)
    # The original as first issued; rendered (in the worker process) only the first time.
    data = await issued_pdf(runtime, state, item_of(runtime, state), notice, staff_names=names)
    return _pdf(data, quote(f"{NOTICE_TITLES[kind]}-{state.case_number}.pdf"))


@get("/cases/{case_id:str}/results/{blob:str}")
async def result_pdf(
    request: Request[Any, Any, State], case_id: FromPath[str], blob: FromPath[str]
) -> Response[bytes]:
    """A result document (决定书, 电子证照) as it came from central or was made here: printed at 统一出件."""
    current_user(request)
    runtime = runtime_of(request)
    state = await get_case(runtime, case_id)
    title, data = result_document(runtime, state, blob.removesuffix(".pdf"))
    return _pdf(data, quote(f"{title}-{state.case_number}.pdf"))


# The last segment is "<kind>.pdf" (a path parameter cannot share its segment with a suffix).
@get("/cases/{case_id:str}/notices/{name:str}")
async def notice_pdf(
    request: Request[Any, Any, State], case_id: FromPath[str], name: FromPath[str]
) -> Response[bytes]:
    return await _notice_pdf(request, case_id, name)


@get("/api/v1/cases/{case_id:str}/notices/{name:str}")
async def api_notice_pdf(
    request: Request[Any, Any, State], case_id: FromPath[str], name: FromPath[str]
) -> Response[bytes]:
    return await _notice_pdf(request, case_id, name)


@get("/items/{code:str}/guide.pdf")
async def guide_pdf(request: Request[Any, Any, State], code: FromPath[str]) -> Response[bytes]:
    current_user(request)
    runtime = runtime_of(request)
    item = find_item(runtime, code)
    data = await render_document(guide_document(runtime, item))
    return _pdf(data, quote(f"服务指南-{item.name}.pdf"))


# ---- JSON API ----------------------------------------------------------------------------------------------


@post("/api/v1/cases/{case_id:str}/accept", media_type=MediaType.JSON, status_code=200)
async def api_accept(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[Acceptance | None] = None
) -> dict[str, Any]:
    user = current_user(request)
    body = data or Acceptance()
    state = await accept_case(
        runtime_of(request), actor=actor_of(user), case_id=case_id, collection=body.collection
    )
    return state_to_json(state)


@post("/api/v1/cases/{case_id:str}/accept-with-waiver", media_type=MediaType.JSON, status_code=200)
async def api_waiver(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[WaiverAcceptance]
) -> dict[str, Any]:
    user = current_user(request)
    state = await accept_with_waiver(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        waived=data.waived,
        supply_by=parse_day(data.supply_by, "supply_by"),
        commitment_signature=decode_png(data.commitment_signature, "commitment_signature"),
        collection=data.collection,
    )
    return state_to_json(state)


@post("/api/v1/cases/{case_id:str}/correction", media_type=MediaType.JSON, status_code=200)
async def api_correction(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[CorrectionRequest]
) -> dict[str, Any]:
    user = current_user(request)
    corrections = [Correction(c.material_id, c.problem, c.requirement) for c in data.corrections]
    state = await request_correction(
        runtime_of(request), actor=actor_of(user), case_id=case_id, corrections=corrections
    )
    return state_to_json(state)


@post("/api/v1/cases/{case_id:str}/corrected", media_type=MediaType.JSON, status_code=200)
async def api_corrected(request: Request[Any, Any, State], case_id: FromPath[str]) -> dict[str, Any]:
    user = current_user(request)
    return state_to_json(await record_correction(runtime_of(request), actor=actor_of(user), case_id=case_id))


@post("/api/v1/cases/{case_id:str}/refuse", media_type=MediaType.JSON, status_code=200)
async def api_refuse(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[Refusal]
) -> dict[str, Any]:
    user = current_user(request)
    state = await refuse_case(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        reasons=data.reasons,
        legal_basis=data.legal_basis,
        competent_organ=data.competent_organ,
    )
    return state_to_json(state)


@post("/api/v1/cases/{case_id:str}/decide-on-spot", media_type=MediaType.JSON, status_code=200)
async def api_decide(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[OnSpotDecision]
) -> dict[str, Any]:
    user = current_user(request)
    state = await decide_on_spot(
        runtime_of(request), actor=actor_of(user), case_id=case_id, outcome=data.outcome, reason=data.reason
    )
    return state_to_json(state)


@post("/api/v1/cases/{case_id:str}/issue", media_type=MediaType.JSON, status_code=200)
async def api_issue(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[Issue]
) -> dict[str, Any]:
    user = current_user(request)
    state = await issue_at_window(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        cert_type=data.cert_type,
        cert_number=data.cert_number,
        signature=decode_png(data.signature, "signature"),
        read_from_card=data.read_from_card,
    )
    return state_to_json(state)


@post("/api/v1/cases/{case_id:str}/mail", media_type=MediaType.JSON, status_code=200)
async def api_mail(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[Mailing]
) -> dict[str, Any]:
    user = current_user(request)
    state = await hand_to_logistics(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        recipient=data.recipient,
        phone=data.phone,
        address=data.address,
    )
    return state_to_json(state)


ROUTES = [
    accept_form,
    accept_on_spot_form,
    waiver_form,
    correction_form,
    corrected_form,
    refuse_form,
    decide_form,
    issue_form,
    mail_form,
    notice_pdf,
    result_pdf,
    api_notice_pdf,
    guide_pdf,
    api_accept,
    api_waiver,
    api_correction,
    api_corrected,
    api_refuse,
    api_decide,
    api_issue,
    api_mail,
]
