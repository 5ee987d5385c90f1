"""Pages and JSON API for ratings (the applicant-facing rating screen, the evaluator interface, follow-ups) and
complaints at the centre."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from node.events import get_case
from node.intake.hall.bodies import (
    Callback,
    Complaint,
    ComplaintAssignment,
    ComplaintResolution,
    EvaluatorPress,
    EvaluatorRequest,
    FollowupClose,
    Rating,
)
from node.intake.hall.ratings import (
    DEFAULT_COMPLAINT_WORKING_DAYS,
    assign_complaint,
    close_followup,
    evaluator_pressed,
    list_complaints,
    list_ratings,
    rating_of_visit,
    record_callback,
    record_rating,
    register_complaint,
    request_rating,
    resolve_complaint,
)
from node.staff import LEADS, staff_names
from node.web import actor_of, current_user, runtime_of
from protocol.errors import MALFORMED_REQUEST, REQUIRED_FIELD, OneWindowError
from protocol.hall import (
    COMPLAINT_CHANNELS,
    GBT39046_TO_PROVINCIAL,
    RATING_CHANNELS,
    RATING_REASONS,
    SATISFACTION_LABELS,
    ComplaintState,
    RatingState,
)


def _rectify_days(request: Request[Any, Any, State]) -> int:
    return int(getattr(request.app.state, "rectify_days", 15))


def rating_json(state: RatingState) -> dict[str, Any]:
    return {
        "rating_id": state.rating_id,
        "level": state.level,
        "label": state.label,
        "provincial_satisfaction": GBT39046_TO_PROVINCIAL[state.level],
        "channel": state.channel,
        "rated_at": state.rated_at,
        "case_id": state.case_id,
        "case_number": state.case_number,
        "item_name": state.item_name,
        "staff": state.staff,
        "window": state.window,
        "visit": state.visit,
        "comment": state.comment,
        "reason": state.reason,
        "reason_label": state.reason_label,
        "followup_due": state.followup_due,
        "followup_open": state.followup_open,
        "called_back_at": state.called_back_at,
        "closed_at": state.closed_at,
        "rectification": state.rectification,
    }


def complaint_json(state: ComplaintState) -> dict[str, Any]:
    return {
        "complaint_id": state.complaint_id,
        "status": state.status,
        "channel": state.channel,
        "complainant": state.complainant,
        "content": state.content,
        "case_number": state.case_number,
        "registered_at": state.registered_at,
        "assignee": state.assignee,
        "due": state.due,
        "resolution": state.resolution,
        "resolved_at": state.resolved_at,
    }


def _level(level: int | None) -> int:
    if level is None:
        raise OneWindowError(MALFORMED_REQUEST, "应为整数1至5", field="level")
    return level


def _int(value: object, field: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise OneWindowError(MALFORMED_REQUEST, "应为整数", field=field) from None


# ---- the rating screen, turned toward the applicant --------------------------------------------------------


def _rate_context(case: Any, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "case": case,
        "labels": SATISFACTION_LABELS,
        "reasons": RATING_REASONS,
        "done": None,
        "already": None,
        "error": None,
        "form": {"level": "", "reason": "", "comment": ""},
    }
    return {**context, **extra}


@get("/cases/{case_id:str}/rate", media_type=MediaType.HTML)
async def rate_page(request: Request[Any, Any, State], case_id: FromPath[str]) -> Template:
    """The screen turned toward the applicant; a visit already rated says so at once, with no buttons."""
    current_user(request)
    runtime = runtime_of(request)
    state = await get_case(runtime, case_id)
    return Template(
        template_name="rate.html",
        context=_rate_context(state, already=await rating_of_visit(runtime, state.case_id)),
    )


@post("/cases/{case_id:str}/rate", media_type=MediaType.HTML, status_code=200)
async def rate_submit(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    runtime = runtime_of(request)
    form = await request.form()
    state = await get_case(runtime, case_id)
    typed = {key: str(form.get(key, "")) for key in ("level", "reason", "comment")}
    try:
        if not typed["level"]:
            raise OneWindowError(REQUIRED_FIELD, "请先选择满意程度（满意程度为必选项）", field="level")
        rating = await record_rating(
            runtime,
            actor=actor_of(user),
            level=_int(typed["level"], "level"),
            channel="tablet",
            case_id=case_id,
            window=str(request.session.get("window", "")),
            comment=typed["comment"],
            reason=typed["reason"],
            rectify_days=_rectify_days(request),
        )
    except OneWindowError as exc:
        return Template(
            template_name="rate.html",
            context=_rate_context(state, error=exc, form=typed),
            status_code=exc.problem.status,
        )
    return Template(template_name="rate.html", context=_rate_context(state, done=rating))


async def _rating_parts(request: Request[Any, Any, State], case_id: str) -> dict[str, Any]:
    current_user(request)
    runtime = runtime_of(request)
    state = await get_case(runtime, case_id)
    return {
        "case_id": state.case_id,
        "rating": await rating_of_visit(runtime, state.case_id),
        "channels": {"tablet": "平板评价", "evaluator": "评价器评价", "sms": "短信评价", "phone": "电话评价"},
        "window": str(request.session.get("window", "")),
    }


@get("/cases/{case_id:str}/rating-card", media_type=MediaType.HTML)
async def rating_card(
    request: Request[Any, Any, State], case_id: FromPath[str], waiting: FromQuery[int] = 0
) -> Template:
    """The case page's 好差评 card: the rating once given, else the ways to ask for one."""
    context = await _rating_parts(request, case_id)
    return Template(template_name="rating_card.html", context={**context, "waiting": bool(waiting)})


@get("/cases/{case_id:str}/rating-status", media_type=MediaType.HTML)
async def rating_status(request: Request[Any, Any, State], case_id: FromPath[str]) -> Template:
    """Polled while the evaluator waits: the clerk sees the applicant's press confirmed at the window."""
    return Template(template_name="rating_status.html", context=await _rating_parts(request, case_id))


@post("/cases/{case_id:str}/rating-request", media_type=MediaType.HTML, status_code=200)
async def rating_request_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Redirect:
    user = current_user(request)
    form = await request.form()
    window = str(form.get("window", "") or request.session.get("window", ""))
    await request_rating(runtime_of(request), actor=actor_of(user), window=window, case_id=case_id)
    return Redirect(path=f"/cases/{case_id}?done=rating_request")


# ---- follow-ups and complaints for the centre lead -------------------------------------------------------


async def _ratings_context(
    request: Request[Any, Any, State], error: OneWindowError | None = None
) -> dict[str, Any]:
    user = current_user(request)
    runtime = runtime_of(request)
    return {
        "user": user,
        "ratings": await list_ratings(runtime),
        "names": await staff_names(runtime),
        "labels": SATISFACTION_LABELS,
        "channels": RATING_CHANNELS,
        "today": runtime.today().isoformat(),
        "is_lead": user["role"] in LEADS,
        "error": error,
        "active": "ratings",
    }


@get("/ratings", media_type=MediaType.HTML)
async def ratings_page(request: Request[Any, Any, State]) -> Template:
    return Template(template_name="ratings.html", context=await _ratings_context(request))


async def _ratings_action(request: Request[Any, Any, State], action: Any) -> Response[Any]:
    try:
        await action
    except OneWindowError as exc:
        return Template(
            template_name="ratings.html",
            context=await _ratings_context(request, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path="/ratings")


@post("/ratings/{rating_id:str}/callback", media_type=MediaType.HTML, status_code=200)
async def callback_form(request: Request[Any, Any, State], rating_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    action = record_callback(
        runtime_of(request), actor=actor_of(user), rating_id=rating_id, note=str(form.get("note", ""))
    )
    return await _ratings_action(request, action)


@post("/ratings/{rating_id:str}/close", media_type=MediaType.HTML, status_code=200)
async def close_form(request: Request[Any, Any, State], rating_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    action = close_followup(
        runtime_of(request),
        actor=actor_of(user),
        rating_id=rating_id,
        rectification=str(form.get("rectification", "")),
    )
    return await _ratings_action(request, action)


async def _complaints_context(
    request: Request[Any, Any, State], error: OneWindowError | None = None
) -> dict[str, Any]:
    user = current_user(request)
    return {
        "user": user,
        "complaints": await list_complaints(runtime_of(request)),
        "channels": COMPLAINT_CHANNELS,
        "is_lead": user["role"] in LEADS,
        "default_days": DEFAULT_COMPLAINT_WORKING_DAYS,
        "error": error,
        "active": "complaints",
    }


@get("/complaints", media_type=MediaType.HTML)
async def complaints_page(request: Request[Any, Any, State]) -> Template:
    return Template(template_name="complaints.html", context=await _complaints_context(request))


async def _complaints_action(request: Request[Any, Any, State], action: Any) -> Response[Any]:
    try:
        await action
    except OneWindowError as exc:
        return Template(
            template_name="complaints.html",
            context=await _complaints_context(request, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path="/complaints")


@post("/complaints", media_type=MediaType.HTML, status_code=200)
async def complaint_form(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    action = register_complaint(
        runtime_of(request),
        actor=actor_of(user),
        channel=str(form.get("channel", "")),
        complainant=str(form.get("complainant", "")),
        content=str(form.get("content", "")),
        phone=str(form.get("phone", "")),
        case_number=str(form.get("case_number", "")),
    )
    return await _complaints_action(request, action)


@post("/complaints/{complaint_id:str}/assign", media_type=MediaType.HTML, status_code=200)
async def assign_form(request: Request[Any, Any, State], complaint_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    action = assign_complaint(
        runtime_of(request),
        actor=actor_of(user),
        complaint_id=complaint_id,
        assignee=str(form.get("assignee", "")),
        working_days=_int(form.get("working_days", DEFAULT_COMPLAINT_WORKING_DAYS), "working_days"),
    )
    return await _complaints_action(request, action)


@post("/complaints/{complaint_id:str}/resolve", media_type=MediaType.HTML, status_code=200)
async def resolve_form(request: Request[Any, Any, State], complaint_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    form = await request.form()
    action = resolve_complaint(
        runtime_of(request),
        actor=actor_of(user),
        complaint_id=complaint_id,
        resolution=str(form.get("resolution", "")),
    )
    return await _complaints_action(request, action)


# ---- JSON API ----------------------------------------------------------------------------------------------


@post("/api/v1/ratings", media_type=MediaType.JSON, status_code=201)
async def api_rate(request: Request[Any, Any, State], data: JSONBody[Rating]) -> dict[str, Any]:
    user = current_user(request)
    state = await record_rating(
        runtime_of(request),
        actor=actor_of(user),
        level=_level(data.level),
        channel=data.channel,
        case_id=data.case_id or "",
        visit=data.visit or "",
        window=data.window or "",
        comment=data.comment or "",
        reason=data.reason or "",
        rectify_days=_rectify_days(request),
    )
    return rating_json(state)


@get("/api/v1/ratings", media_type=MediaType.JSON)
async def api_ratings(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    return {"ratings": [rating_json(r) for r in await list_ratings(runtime_of(request))]}


@post("/api/v1/ratings/{rating_id:str}/callback", media_type=MediaType.JSON, status_code=200)
async def api_callback(
    request: Request[Any, Any, State], rating_id: FromPath[str], data: JSONBody[Callback]
) -> dict[str, Any]:
    user = current_user(request)
    state = await record_callback(
        runtime_of(request), actor=actor_of(user), rating_id=rating_id, note=data.note
    )
    return rating_json(state)


@post("/api/v1/ratings/{rating_id:str}/close", media_type=MediaType.JSON, status_code=200)
async def api_close(
    request: Request[Any, Any, State], rating_id: FromPath[str], data: JSONBody[FollowupClose]
) -> dict[str, Any]:
    user = current_user(request)
    state = await close_followup(
        runtime_of(request), actor=actor_of(user), rating_id=rating_id, rectification=data.rectification
    )
    return rating_json(state)


@post("/api/v1/evaluator/request", media_type=MediaType.JSON, status_code=200)
async def api_evaluator_request(
    request: Request[Any, Any, State], data: JSONBody[EvaluatorRequest]
) -> dict[str, Any]:
    user = current_user(request)
    await request_rating(
        runtime_of(request),
        actor=actor_of(user),
        window=data.window or "",
        case_id=data.case_id or "",
        visit=data.visit or "",
    )
    return {"window": data.window, "waiting": True}


@post("/api/v1/evaluator/press", media_type=MediaType.JSON, status_code=201)
async def api_evaluator_press(
    request: Request[Any, Any, State], data: JSONBody[EvaluatorPress]
) -> dict[str, Any]:
    """The evaluator device's button (the device driver, issue 7, calls the same service in-process)."""
    current_user(request)
    state = await evaluator_pressed(runtime_of(request), window=data.window, level=_level(data.level))
    return rating_json(state)


@post("/api/v1/complaints", media_type=MediaType.JSON, status_code=201)
async def api_register_complaint(
    request: Request[Any, Any, State], data: JSONBody[Complaint]
) -> dict[str, Any]:
    user = current_user(request)
    state = await register_complaint(
        runtime_of(request),
        actor=actor_of(user),
        channel=data.channel,
        complainant=data.complainant,
        content=data.content,
        phone=data.phone,
        case_number=data.case_number,
    )
    return complaint_json(state)


@get("/api/v1/complaints", media_type=MediaType.JSON)
async def api_complaints(request: Request[Any, Any, State], status: FromQuery[str] = "") -> dict[str, Any]:
    current_user(request)
    states = await list_complaints(runtime_of(request))
    return {"complaints": [complaint_json(c) for c in states if not status or c.status == status]}


@post("/api/v1/complaints/{complaint_id:str}/assign", media_type=MediaType.JSON, status_code=200)
async def api_assign(
    request: Request[Any, Any, State], complaint_id: FromPath[str], data: JSONBody[ComplaintAssignment]
) -> dict[str, Any]:
    user = current_user(request)
    state = await assign_complaint(
        runtime_of(request),
        actor=actor_of(user),
        complaint_id=complaint_id,
        assignee=data.assignee,
        working_days=data.working_days,
    )
    return complaint_json(state)


@post("/api/v1/complaints/{complaint_id:str}/resolve", media_type=MediaType.JSON, status_code=200)
async def api_resolve(
    request: Request[Any, Any, State], complaint_id: FromPath[str], data: JSONBody[ComplaintResolution]
) -> dict[str, Any]:
    user = current_user(request)
    state = await resolve_complaint(
        runtime_of(request), actor=actor_of(user), complaint_id=complaint_id, resolution=data.resolution
    )
    return complaint_json(state)


ROUTES = [
    rate_page,
    rate_submit,
    rating_card,
    rating_status,
    rating_request_form,
    ratings_page,
    callback_form,
    close_form,
    complaints_page,
    complaint_form,
    assign_form,
    resolve_form,
    api_rate,
    api_ratings,
    api_callback,
    api_close,
    api_evaluator_request,
    api_evaluator_press,
    api_register_complaint,
    api_complaints,
    api_assign,
    api_resolve,
]
