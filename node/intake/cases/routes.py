"""Tablet pages and JSON API for front-desk intake: item picker, case form, checklist, acceptance, case list."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from node.devices.cards import attach_card_image
from node.events import get_case
from node.intake.cases.applicants import APPLICANT_KINDS, Agent, Applicant
from node.intake.cases.bodies import NewCase
from node.intake.cases.desk import CASE_TYPES, case_desk, case_page_context
from node.intake.cases.materials import attach_material, page_preview
from node.intake.cases.receive import find_item, list_cases, receive_case, state_to_json
from node.intake.cases.today import clerk_today, search_cases
from node.staff import FRONT_DESK
from node.web import actor_of, current_user, runtime_of
from protocol.errors import NOT_FOUND, REQUIRED_FIELD, OneWindowError
from protocol.events import (
    STATUS_LABELS,
)
from protocol.identifiers import CERTIFICATE_TYPES
from protocol.limits import MAX_UPLOAD_BODY

SYNC_LABELS = {"draft": "未受理（仅本机）", "queued": "待上传县中心", "delivered": "已送达县中心"}


APPLICANT_FIELDS = (
    "name",
    "cert_type",
    "cert_number",
    "phone",
    "kind",
    "legal_representative",
    "sex",
    "birth_date",
)
AGENT_FIELDS = ("agent_name", "agent_cert_type", "agent_cert_number", "agent_phone")


# ---- pages -----------------------------------------------------------------------------------------------


@get("/", media_type=MediaType.HTML)
async def home() -> Redirect:
    return Redirect(path="/cases")


@get("/items", media_type=MediaType.HTML)
async def items_page(
    request: Request[Any, Any, State], q: FromQuery[str] = "", ticket: FromQuery[str] = ""
) -> Template:
    user = current_user(request)
    runtime = runtime_of(request)
    items = runtime.catalogue.search(q, limit=50) if q.strip() else list(runtime.catalogue.items)
    template = "items_list.html" if request.headers.get("hx-request") else "items.html"
    return Template(
        template_name=template,
        context={
            "user": user,
            "items": items,
            "q": q,
            "ticket": ticket,
            "case_types": CASE_TYPES,
            "active": "new",
        },
    )


@get("/cases/new", media_type=MediaType.HTML)
async def new_case_page(
    request: Request[Any, Any, State], item: FromQuery[str], ticket: FromQuery[str] = ""
) -> Template:
    user = current_user(request, *FRONT_DESK)
    catalogue_item = find_item(runtime_of(request), item)
    values = {"ticket_id": ticket} if ticket else {}
    return Template(template_name="case_new.html", context=_form_context(user, catalogue_item, values, None))


def _form_context(
    user: dict[str, str], item: Any, values: dict[str, str], error: OneWindowError | None
) -> dict[str, Any]:
    return {
        "user": user,
        "item": item,
        "values": values,
        "error": error,
        "cert_types": CERTIFICATE_TYPES,
        "case_types": CASE_TYPES,
        "applicant_kinds": APPLICANT_KINDS,
        "active": "new",
    }


@post("/cases", media_type=MediaType.HTML, status_code=200)
async def create_case_form(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request, *FRONT_DESK)
    runtime = runtime_of(request)
    form = await request.form()
    values = {
        k: str(form.get(k, ""))
        for k in ("item_code", "ticket_id", "card_read", *APPLICANT_FIELDS, *AGENT_FIELDS)
    }
    item = find_item(runtime, values["item_code"])
    try:
        state = await receive_case(
            runtime,
            actor=actor_of(user),
            item_code=values["item_code"],
            applicant=_applicant(values),
            agent=_agent(values),
            ticket_id=values["ticket_id"],
        )
    except OneWindowError as exc:
        return Template(
            template_name="case_new.html",
            context=_form_context(user, item, values, exc),
            status_code=exc.problem.status,
        )
    if values["card_read"]:  # the card just read: its image is the ID material's page
        with contextlib.suppress(OneWindowError):  # the case is received either way; the slot stays open
            await attach_card_image(
                runtime, actor=actor_of(user), case_id=state.case_id, read_id=values["card_read"]
            )
    return Redirect(path=f"/cases/{state.case_id}")


def _applicant(values: dict[str, str]) -> Applicant:
    kind = values.get("kind") or "natural_person"
    return Applicant(
        name=values.get("name", ""),
        cert_type="001" if kind == "legal_person" else (values.get("cert_type") or "111"),
        cert_number=values.get("cert_number", ""),
        phone=values.get("phone", ""),
        kind=kind,
        legal_representative=values.get("legal_representative", ""),
        sex=values.get("sex", ""),
        birth_date=values.get("birth_date", ""),
    )


def _agent(values: dict[str, str]) -> Agent | None:
    if not any(values.get(k, "").strip() for k in ("agent_name", "agent_cert_number")):
        return None
    return Agent(
        name=values.get("agent_name", ""),
        cert_type=values.get("agent_cert_type") or "111",
        cert_number=values.get("agent_cert_number", ""),
        phone=values.get("agent_phone", ""),
    )


async def case_context(
    request: Request[Any, Any, State], case_id: str, error: OneWindowError | None = None
) -> dict[str, Any]:
    user = current_user(request)
    desk = await case_desk(runtime_of(request), case_id, actor_of(user))
    return case_page_context(desk, user=user, error=error, done=request.query_params.get("done", ""))


@get("/cases/{case_id:str}", media_type=MediaType.HTML)
async def case_page(request: Request[Any, Any, State], case_id: FromPath[str]) -> Template:
    return Template(template_name="case.html", context=await case_context(request, case_id))


@post(
    "/cases/{case_id:str}/materials",
    media_type=MediaType.HTML,
    status_code=200,
    request_max_body_size=MAX_UPLOAD_BODY,
)
async def upload_material_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *FRONT_DESK)
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise OneWindowError(REQUIRED_FIELD, "请选择要上传的文件", field="file")
        await attach_material(
            runtime_of(request),
            actor=actor_of(user),
            case_id=case_id,
            material_id=str(form.get("material_id", "")),
            filename=upload.filename,
            data=await upload.read(),
        )
    except OneWindowError as exc:
        return Template(
            template_name="case.html",
            context=await case_context(request, case_id, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/cases/{case_id}")


@get("/cases/{case_id:str}/pages/{material_id:str}/{blob:str}")
async def page_preview_image(
    request: Request[Any, Any, State], case_id: FromPath[str], material_id: FromPath[str], blob: FromPath[str]
) -> Response[bytes]:
    """A page's thumbnail on the case page (only a page that is on this case)."""
    current_user(request)
    runtime = runtime_of(request)
    state = await get_case(runtime, case_id)
    page = next((m for m in state.materials if m["material_id"] == material_id and m["blob"] == blob), None)
    if page is None:
        raise OneWindowError(NOT_FOUND, "该材料页不存在或已删除", field="blob")
    data = await asyncio.to_thread(runtime.blobs.get, blob)
    preview = await asyncio.to_thread(page_preview, data, str(page["media_type"]))
    return Response(
        content=preview, media_type="image/png", headers={"cache-control": "private, max-age=3600"}
    )


@get("/cases", media_type=MediaType.HTML)
async def cases_page(request: Request[Any, Any, State], q: FromQuery[str] = "") -> Template:
    """The clerk's home (今日): the four lists of what waits at the window, the search, and every case."""
    user = current_user(request)
    runtime = runtime_of(request)
    query = q.strip()[:64]
    return Template(
        template_name="cases.html",
        context={
            "user": user,
            "today": await clerk_today(runtime),
            "q": query,
            "found": await search_cases(runtime, query) if query else None,
            "rows": [] if query else await list_cases(runtime),
            "labels": STATUS_LABELS,
            "sync_labels": SYNC_LABELS,
            "active": "cases",
        },
    )


@get("/cases/alert", media_type=MediaType.HTML)
async def cases_alert(request: Request[Any, Any, State]) -> Template:
    """The home's alert, polled: how many results wait for issuing, how many arrived today."""
    user = current_user(request)
    return Template(
        template_name="cases_alert.html",
        context={"user": user, "today": await clerk_today(runtime_of(request))},
    )


# ---- JSON API ----------------------------------------------------------------------------------------------


@get("/api/v1/items", media_type=MediaType.JSON)
async def api_items(request: Request[Any, Any, State], q: FromQuery[str] = "") -> dict[str, Any]:
    current_user(request)
    runtime = runtime_of(request)
    items = runtime.catalogue.search(q, limit=50) if q.strip() else list(runtime.catalogue.items)
    return {
        "version": runtime.catalogue.version,
        "items": [
            {
                "code": i.code,
                "name": i.name,
                "case_type": i.case_type,
                "item_type": i.item_type,
                "promised_limit_days": i.promised_limit_days,
                "statutory_limit_days": i.statutory_limit_days,
                "tags": list(i.tags),
                "service_target": list(i.service_target),
                "materials": [
                    {
                        "id": m.id,
                        "name": m.name,
                        "mandatory": m.mandatory,
                        "waivable": m.waivable,
                        "originals": m.originals,
                        "copies": m.copies,
                        "formats": list(m.formats),
                    }
                    for m in i.materials
                ],
            }
            for i in items
        ],
    }


@post("/api/v1/cases", media_type=MediaType.JSON, status_code=201)
async def api_create_case(request: Request[Any, Any, State], data: JSONBody[NewCase]) -> dict[str, Any]:
    user = current_user(request, *FRONT_DESK)
    if data.applicant is None:
        raise OneWindowError(REQUIRED_FIELD, "缺少申请人信息", field="applicant")
    if not data.item_code:
        raise OneWindowError(REQUIRED_FIELD, "缺少事项编码", field="item_code")
    values = {k: getattr(data.applicant, k) for k in APPLICANT_FIELDS}
    if data.agent is not None:
        values.update(
            {f"agent_{k}": getattr(data.agent, k) for k in ("name", "cert_type", "cert_number", "phone")}
        )
    state = await receive_case(
        runtime_of(request),
        actor=actor_of(user),
        item_code=data.item_code,
        applicant=_applicant(values),
        agent=_agent(values),
        ticket_id=data.ticket_id or "",
    )
    return state_to_json(state)


@post(
    "/api/v1/cases/{case_id:str}/materials",
    media_type=MediaType.JSON,
    status_code=201,
    request_max_body_size=MAX_UPLOAD_BODY,
)
async def api_upload_material(request: Request[Any, Any, State], case_id: FromPath[str]) -> dict[str, Any]:
    user = current_user(request, *FRONT_DESK)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise OneWindowError(REQUIRED_FIELD, "缺少文件", field="file")
    state = await attach_material(
        runtime_of(request),
        actor=actor_of(user),
        case_id=case_id,
        material_id=str(form.get("material_id", "")),
        filename=upload.filename or "",
        data=await upload.read(),
    )
    return state_to_json(state)


@get("/api/v1/cases/{case_id:str}", media_type=MediaType.JSON)
async def api_case(request: Request[Any, Any, State], case_id: FromPath[str]) -> dict[str, Any]:
    current_user(request)
    return state_to_json(await get_case(runtime_of(request), case_id))


@get("/api/v1/cases", media_type=MediaType.JSON)
async def api_cases(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    rows = await list_cases(runtime_of(request))
    return {"cases": [{**r.case.model_dump(), "sync_state": r.sync_state} for r in rows]}


ROUTES = [
    home,
    items_page,
    new_case_page,
    create_case_form,
    case_page,
    upload_material_form,
    page_preview_image,
    cases_page,
    cases_alert,
    api_items,
    api_create_case,
    api_upload_material,
    api_case,
    api_cases,
]
