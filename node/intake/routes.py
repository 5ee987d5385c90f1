"""Tablet pages and JSON API for front-desk intake: item picker, case form, checklist, acceptance, case list."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from node.intake.service import (
    Actor,
    Applicant,
    accept_case,
    attach_material,
    find_item,
    get_case,
    list_cases,
    missing_mandatory,
    receive_case,
    state_to_json,
)
from node.web import current_user, runtime_of
from protocol.errors import MALFORMED_REQUEST, REQUIRED_FIELD, OneWindowError
from protocol.events import STATUS_LABELS
from protocol.identifiers import CERTIFICATE_TYPES

CASE_TYPES = {1: "即办件", 2: "承诺件", 9: "其他"}
SYNC_LABELS = {"draft": "未受理（仅本机）", "queued": "待上传县中心", "delivered": "已送达县中心"}
FRONT_DESK = ("window", "lead")


def _actor(user: dict[str, str]) -> Actor:
    return Actor(username=user["username"], role=user["role"])


# ---- pages -----------------------------------------------------------------------------------------------


@get("/", media_type=MediaType.HTML)
async def home() -> Redirect:
    return Redirect(path="/cases")


@get("/items", media_type=MediaType.HTML)
async def items_page(request: Request[Any, Any, State], q: FromQuery[str] = "") -> Template:
    user = current_user(request)
    runtime = runtime_of(request)
    items = runtime.catalogue.search(q, limit=50) if q.strip() else list(runtime.catalogue.items)
    template = "items_list.html" if request.headers.get("hx-request") else "items.html"
    return Template(
        template_name=template,
        context={"user": user, "items": items, "q": q, "case_types": CASE_TYPES, "active": "new"},
    )


@get("/cases/new", media_type=MediaType.HTML)
async def new_case_page(request: Request[Any, Any, State], item: FromQuery[str]) -> Template:
    user = current_user(request, *FRONT_DESK)
    catalogue_item = find_item(runtime_of(request), item)
    return Template(template_name="case_new.html", context=_form_context(user, catalogue_item, {}, None))


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
        "active": "new",
    }


@post("/cases", media_type=MediaType.HTML, status_code=200)
async def create_case_form(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request, *FRONT_DESK)
    runtime = runtime_of(request)
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in ("item_code", "name", "cert_type", "cert_number", "phone")}
    item = find_item(runtime, values["item_code"])
    try:
        state = await receive_case(
            runtime,
            actor=_actor(user),
            item_code=values["item_code"],
            applicant=Applicant(
                values["name"], values["cert_type"] or "111", values["cert_number"], values["phone"]
            ),
        )
    except OneWindowError as exc:
        return Template(
            template_name="case_new.html",
            context=_form_context(user, item, values, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/cases/{state.case_id}")


async def _case_context(
    request: Request[Any, Any, State], case_id: FromPath[str], error: OneWindowError | None = None
) -> dict[str, Any]:
    user = current_user(request)
    runtime = runtime_of(request)
    state = await get_case(runtime, case_id)
    item = runtime.catalogues.get(state.catalogue_version, runtime.catalogue).by_code(state.item_code)
    present: dict[str, list[Any]] = {}
    for material in state.materials:
        present.setdefault(str(material["material_id"]), []).append(material)
    return {
        "user": user,
        "case": state,
        "item": item,
        "present": present,
        "missing": missing_mandatory(item, state),
        "error": error,
        "case_types": CASE_TYPES,
        "active": "cases",
    }


@get("/cases/{case_id:str}", media_type=MediaType.HTML)
async def case_page(
    request: Request[Any, Any, State], case_id: FromPath[str], accepted: FromQuery[int] = 0
) -> Template:
    context = await _case_context(request, case_id)
    return Template(template_name="case.html", context={**context, "accepted_notice": bool(accepted)})


@post("/cases/{case_id:str}/materials", media_type=MediaType.HTML, status_code=200)
async def upload_material_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *FRONT_DESK)
    form = await request.form()
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise OneWindowError(REQUIRED_FIELD, "请选择要上传的文件", field="file")
        await attach_material(
            runtime_of(request),
            actor=_actor(user),
            case_id=case_id,
            material_id=str(form.get("material_id", "")),
            filename=upload.filename,
            data=await upload.read(),
        )
    except OneWindowError as exc:
        return Template(
            template_name="case.html",
            context=await _case_context(request, case_id, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/cases/{case_id}")


@post("/cases/{case_id:str}/accept", media_type=MediaType.HTML, status_code=200)
async def accept_case_form(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request)
    try:
        await accept_case(runtime_of(request), actor=_actor(user), case_id=case_id)
    except OneWindowError as exc:
        return Template(
            template_name="case.html",
            context=await _case_context(request, case_id, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/cases/{case_id}?accepted=1")


@get("/cases", media_type=MediaType.HTML)
async def cases_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    rows = await list_cases(runtime_of(request))
    return Template(
        template_name="cases.html",
        context={
            "user": user,
            "rows": rows,
            "labels": STATUS_LABELS,
            "sync_labels": SYNC_LABELS,
            "active": "cases",
        },
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
                "promised_limit_days": i.promised_limit_days,
                "materials": [
                    {"id": m.id, "name": m.name, "mandatory": m.mandatory, "formats": list(m.formats)}
                    for m in i.materials
                ],
            }
            for i in items
        ],
    }


@post("/api/v1/cases", media_type=MediaType.JSON, status_code=201)
async def api_create_case(
    request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]
) -> dict[str, Any]:
    user = current_user(request, *FRONT_DESK)
    applicant = data.get("applicant")
    if not isinstance(applicant, dict):
        raise OneWindowError(REQUIRED_FIELD, "缺少申请人信息", field="applicant")
    item_code = data.get("item_code")
    if not isinstance(item_code, str) or not item_code:
        raise OneWindowError(REQUIRED_FIELD, "缺少事项编码", field="item_code")
    for key in ("name", "cert_number"):
        if not isinstance(applicant.get(key, ""), str):
            raise OneWindowError(MALFORMED_REQUEST, "必须是文本", field=f"applicant.{key}")
    state = await receive_case(
        runtime_of(request),
        actor=_actor(user),
        item_code=item_code,
        applicant=Applicant(
            name=str(applicant.get("name", "")),
            cert_type=str(applicant.get("cert_type", "111")),
            cert_number=str(applicant.get("cert_number", "")),
            phone=str(applicant.get("phone", "")),
        ),
    )
    return state_to_json(state)


@post("/api/v1/cases/{case_id:str}/materials", media_type=MediaType.JSON, status_code=201)
async def api_upload_material(request: Request[Any, Any, State], case_id: FromPath[str]) -> dict[str, Any]:
    user = current_user(request, *FRONT_DESK)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise OneWindowError(REQUIRED_FIELD, "缺少文件", field="file")
    state = await attach_material(
        runtime_of(request),
        actor=_actor(user),
        case_id=case_id,
        material_id=str(form.get("material_id", "")),
        filename=upload.filename or "",
        data=await upload.read(),
    )
    return state_to_json(state)


@post("/api/v1/cases/{case_id:str}/accept", media_type=MediaType.JSON, status_code=200)
async def api_accept(request: Request[Any, Any, State], case_id: FromPath[str]) -> dict[str, Any]:
    user = current_user(request)
    return state_to_json(await accept_case(runtime_of(request), actor=_actor(user), case_id=case_id))


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
    accept_case_form,
    cases_page,
    api_items,
    api_create_case,
    api_upload_material,
    api_accept,
    api_case,
    api_cases,
]
