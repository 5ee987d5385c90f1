"""Pages of the logistics window (物料流转窗口): incoming parcels and their pre-acceptance, parcels to send,
courier manifests signed on the tablet, parcels on the road with their flags, the applicant message queue, and
the courier's sync file (export for the courier / import the county's reply, R-MAIL-4).

Form posts redirect to the page that shows the result, or show the page again with the error by the form. The
services live beside this module in `node.intake.mail`; the courier file and its figures are the sync package's
(`node.sync.courier`, `node.sync.status`), called here, never rebuilt.
"""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template

from node.intake.cases.applicants import Applicant
from node.intake.cases.materials import attach_material, missing_materials
from node.intake.cases.outcomes import Correction
from node.intake.cases.receive import find_case_by_number, item_of
from node.intake.mail.manifests import (
    create_manifest,
    hand_over,
    manifest_of,
    manifest_with_parcels,
    open_manifests,
)
from node.intake.mail.messages import mark_message_sent, queued_messages
from node.intake.mail.outbound import (
    confirm_days,
    outbound_parcels,
    pack_parcel,
    record_delivery,
    set_confirm_days,
    settle_county_receipts,
    to_pack,
)
from node.intake.mail.papers import label_pdf, letter_pdf, manifest_pdf
from node.intake.mail.parcels import (
    OPENERS,
    OUT_KINDS,
    PARCEL_STATUS,
    inbound_parcels,
    mailed_cases_awaiting_corrections,
    open_parcel,
    parcel_view,
    register_parcel,
)
from node.intake.mail.pre_review import PRE_RESULTS, may_pre_review, pre_review
from node.runtime import CST
from node.staff import FRONT_DESK, LOGISTICS, staff_names
from node.sync.courier import export_courier_file, import_courier_reply
from node.sync.status import courier_summary
from node.web import actor_of, current_user, decode_png, runtime_of
from protocol.errors import NOT_FOUND, REQUIRED_FIELD, VALIDATION, OneWindowError
from protocol.events import CUSTODY_LABELS
from protocol.identifiers import CERTIFICATE_TYPES
from protocol.limits import MAX_UPLOAD_BODY

DESTINATIONS = {"applicant": "申请人", "county": "县级部门"}


def _pdf(data: bytes, name: str) -> Response[bytes]:
    return Response(
        content=data,
        media_type="application/pdf",
        headers={"Content-Disposition": f"inline; filename*=UTF-8''{name}"},
    )


async def _page(
    request: Request[Any, Any, State], error: OneWindowError | None = None, **extra: Any
) -> Template:
    user = current_user(request, *LOGISTICS)
    runtime = runtime_of(request)
    await settle_county_receipts(runtime)
    outbound = await outbound_parcels(runtime)
    form = extra.pop("form", {})
    context = {
        "user": user,
        "inbound": await inbound_parcels(runtime, limit=30),
        "to_pack": await to_pack(runtime),
        "packed": [p for p in outbound if p.parcel.status == "packed" and not p.parcel.manifest_id],
        "on_road": [p for p in outbound if p.parcel.status == "handed"],
        "signed": await outbound_parcels(runtime, statuses=("received",), limit=10),
        "overdue": [p for p in outbound if p.overdue],
        "manifests": await open_manifests(runtime),
        "messages": await queued_messages(runtime),
        "courier": await courier_summary(runtime),
        "confirm_days": await confirm_days(runtime),
        "names": await staff_names(runtime),
        "cert_types": CERTIFICATE_TYPES,
        "parcel_status": PARCEL_STATUS,
        "out_kinds": OUT_KINDS,
        "destinations": DESTINATIONS,
        "custody_labels": CUSTODY_LABELS,
        "today": runtime.today().isoformat(),
        "done": request.query_params.get("done", ""),
        "error": error,
        "form": form,
        "active": "logistics",
        **extra,
    }
    status = error.problem.status if error else 200
    return Template(template_name="logistics.html", context=context, status_code=status)


def _typed(form: Any) -> dict[str, str]:
    return {k: str(v) for k, v in form.items() if isinstance(v, str) and "signature" not in k}


@get("/logistics", media_type=MediaType.HTML)
async def logistics_page(request: Request[Any, Any, State]) -> Template:
    return await _page(request)


@post("/logistics/parcels", media_type=MediaType.HTML, status_code=200, request_max_body_size=MAX_UPLOAD_BODY)
async def register_form(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request, *LOGISTICS)
    form = await request.form()
    photo = form.get("envelope_photo")
    try:
        parcel = await register_parcel(
            runtime_of(request),
            actor=actor_of(user),
            tracking_number=str(form.get("tracking_number", "")),
            sender=str(form.get("sender", "")),
            phone=str(form.get("phone", "")),
            address=str(form.get("address", "")),
            contents=str(form.get("contents", "")),
            envelope_photo=await photo.read() if isinstance(photo, UploadFile) and photo.filename else None,
        )
    except OneWindowError as exc:
        return await _page(request, exc, form=_typed(form))
    return Redirect(path=f"/logistics/parcels/{parcel.id}?done=registered")


async def _parcel_context(
    request: Request[Any, Any, State], parcel_id: str, error: OneWindowError | None = None
) -> dict[str, Any]:
    user = current_user(request, *OPENERS)
    runtime = runtime_of(request)
    parcel, state = await parcel_view(runtime, parcel_id)
    item = item_of(runtime, state) if state is not None else None
    present: dict[str, list[Any]] = {}
    for material in state.materials if state else ():
        present.setdefault(str(material["material_id"]), []).append(material)
    manifest = await manifest_of(runtime, parcel)
    return {
        "user": user,
        "parcel": parcel,
        "case": state,
        "item": item,
        "present": present,
        "missing": [m.name for m in missing_materials(item, state)] if item and state else [],
        "steps": [s for s in (state.custody if state else ()) if s.get("parcel_id") == parcel.id],
        "manifest": manifest,
        "items": runtime.catalogue.items,
        "cert_types": CERTIFICATE_TYPES,
        "parcel_status": PARCEL_STATUS,
        "out_kinds": OUT_KINDS,
        "pre_results": PRE_RESULTS,
        "custody_labels": CUSTODY_LABELS,
        "names": await staff_names(runtime),
        "may_pre_review": user["role"] in FRONT_DESK,
        "awaits_review": state is not None and may_pre_review(state),
        "may_scan": state is not None and may_pre_review(state),
        "awaiting_corrections": await mailed_cases_awaiting_corrections(runtime)
        if parcel.status == "registered"
        else [],
        "done": request.query_params.get("done", ""),
        "error": error,
        "form": {},
        "active": "logistics",
    }


@get("/logistics/parcels/{parcel_id:str}", media_type=MediaType.HTML)
async def parcel_page(request: Request[Any, Any, State], parcel_id: FromPath[str]) -> Template:
    return Template(template_name="logistics_parcel.html", context=await _parcel_context(request, parcel_id))


async def _parcel_action(
    request: Request[Any, Any, State], parcel_id: str, action: Any, done: str
) -> Response[Any]:
    try:
        await action
    except OneWindowError as exc:
        context = await _parcel_context(request, parcel_id, exc)
        context["form"] = _typed(await request.form())
        return Template(
            template_name="logistics_parcel.html", context=context, status_code=exc.problem.status
        )
    return Redirect(path=f"/logistics/parcels/{parcel_id}?done={done}")


@get("/logistics/parcels/{parcel_id:str}/envelope", media_type="image/jpeg")
async def envelope_photo(request: Request[Any, Any, State], parcel_id: FromPath[str]) -> Response[bytes]:
    current_user(request, *OPENERS)
    runtime = runtime_of(request)
    parcel, _ = await parcel_view(runtime, parcel_id)
    if not parcel.photo_blob or not runtime.blobs.exists(parcel.photo_blob):
        raise OneWindowError(NOT_FOUND, "没有封皮照片", field="parcel_id")
    data = runtime.blobs.get(parcel.photo_blob)
    return Response(content=data, media_type="image/png" if data.startswith(b"\x89PNG") else "image/jpeg")


@post("/logistics/parcels/{parcel_id:str}/open", media_type=MediaType.HTML, status_code=200)
async def open_form(request: Request[Any, Any, State], parcel_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *OPENERS)
    form = await request.form()
    case_id = str(form.get("case_id", ""))
    action = open_parcel(
        runtime_of(request),
        actor=actor_of(user),
        parcel_id=parcel_id,
        item_code=str(form.get("item_code", "")),
        applicant=None
        if case_id
        else Applicant(
            name=str(form.get("name", "")),
            cert_type=str(form.get("cert_type", "111")),
            cert_number=str(form.get("cert_number", "")),
            phone=str(form.get("phone", "")),
        ),
        case_id=case_id,
    )
    return await _parcel_action(request, parcel_id, action, "opened")


@post(
    "/logistics/parcels/{parcel_id:str}/materials",
    media_type=MediaType.HTML,
    status_code=200,
    request_max_body_size=MAX_UPLOAD_BODY,
)
async def scan_form(request: Request[Any, Any, State], parcel_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *OPENERS)
    form = await request.form()
    upload = form.get("file")

    async def action() -> None:
        _, state = await parcel_view(runtime_of(request), parcel_id)
        if state is None:
            raise OneWindowError(VALIDATION, "请先拆封登记申请", field="parcel_id")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise OneWindowError(REQUIRED_FIELD, "请选择扫描件", field="file")
        await attach_material(
            runtime_of(request),
            actor=actor_of(user),
            case_id=state.case_id,
            material_id=str(form.get("material_id", "")),
            filename=upload.filename,
            data=await upload.read(),
        )

    return await _parcel_action(request, parcel_id, action(), "scanned")


@post("/logistics/parcels/{parcel_id:str}/pre-review", media_type=MediaType.HTML, status_code=200)
async def pre_review_form(request: Request[Any, Any, State], parcel_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *FRONT_DESK)
    form = await request.form()
    corrections = [
        Correction(str(m), str(p), str(r))
        for m, p, r in zip(
            form.getall("material_id", []),
            form.getall("problem", []),
            form.getall("requirement", []),
            strict=False,
        )
        if str(p).strip()
    ]

    async def action() -> None:
        _, state = await parcel_view(runtime_of(request), parcel_id)
        if state is None:
            raise OneWindowError(VALIDATION, "请先拆封登记申请", field="parcel_id")
        await pre_review(
            runtime_of(request),
            actor=actor_of(user),
            case_id=state.case_id,
            result=str(form.get("result", "")),
            corrections=corrections,
            reasons=str(form.get("reasons", "")),
            legal_basis=str(form.get("legal_basis", "")),
            note=str(form.get("note", "")),
        )

    return await _parcel_action(request, parcel_id, action(), "pre_reviewed")


@post("/logistics/parcels/{parcel_id:str}/delivery", media_type=MediaType.HTML, status_code=200)
async def delivery_form(request: Request[Any, Any, State], parcel_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *LOGISTICS)
    form = await request.form()
    try:
        await record_delivery(
            runtime_of(request),
            actor=actor_of(user),
            parcel_id=parcel_id,
            delivered=form.get("outcome") == "delivered",
            note=str(form.get("note", "")),
        )
    except OneWindowError as exc:
        return await _page(request, exc)
    return Redirect(path="/logistics?done=delivery#on-road")


@get("/logistics/parcels/{parcel_id:str}/label.pdf", media_type="application/pdf")
async def label(request: Request[Any, Any, State], parcel_id: FromPath[str]) -> Response[bytes]:
    current_user(request, *LOGISTICS)
    return _pdf(await label_pdf(runtime_of(request), parcel_id), "label.pdf")


@post("/logistics/pack", media_type=MediaType.HTML, status_code=200)
async def pack_form(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request, *LOGISTICS)
    form = await request.form()
    try:
        case_id = str(form.get("case_id", "")) or await find_case_by_number(
            runtime_of(request), str(form.get("case_number", ""))
        )
        parcel = await pack_parcel(
            runtime_of(request),
            actor=actor_of(user),
            case_id=case_id,
            kind=str(form.get("kind", "")),
            tracking_number=str(form.get("tracking_number", "")),
        )
    except OneWindowError as exc:
        return await _page(request, exc, form=_typed(form))
    return Redirect(path=f"/logistics?done=packed&parcel={parcel.id}#packed")


@post("/logistics/manifests", media_type=MediaType.HTML, status_code=200)
async def manifest_form(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request, *LOGISTICS)
    form = await request.form()
    try:
        manifest = await create_manifest(
            runtime_of(request),
            actor=actor_of(user),
            parcel_ids=[str(v) for v in form.getall("parcel_id", [])],
        )
    except OneWindowError as exc:
        return await _page(request, exc)
    return Redirect(path=f"/logistics/manifests/{manifest.id}")


async def _manifest_context(
    request: Request[Any, Any, State], manifest_id: str, error: OneWindowError | None = None
) -> dict[str, Any]:
    user = current_user(request, *LOGISTICS)
    runtime = runtime_of(request)
    manifest, parcels = await manifest_with_parcels(runtime, manifest_id)
    return {
        "user": user,
        "manifest": manifest,
        "parcels": parcels,
        "out_kinds": OUT_KINDS,
        "confirm_days": await confirm_days(runtime),
        "error": error,
        "form": {},
        "active": "logistics",
    }


@get("/logistics/manifests/{manifest_id:str}", media_type=MediaType.HTML)
async def manifest_page(request: Request[Any, Any, State], manifest_id: FromPath[str]) -> Template:
    return Template(
        template_name="logistics_manifest.html", context=await _manifest_context(request, manifest_id)
    )


@post("/logistics/manifests/{manifest_id:str}/handover", media_type=MediaType.HTML, status_code=200)
async def handover_form(request: Request[Any, Any, State], manifest_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *LOGISTICS)
    form = await request.form()
    try:
        await hand_over(
            runtime_of(request),
            actor=actor_of(user),
            manifest_id=manifest_id,
            courier_name=str(form.get("courier_name", "")),
            courier_phone=str(form.get("courier_phone", "")),
            courier_company=str(form.get("courier_company", "")),
            signature=decode_png(form.get("signature", ""), "signature"),
        )
    except OneWindowError as exc:
        context = await _manifest_context(request, manifest_id, exc)
        context["form"] = _typed(form)
        return Template(
            template_name="logistics_manifest.html", context=context, status_code=exc.problem.status
        )
    return Redirect(path=f"/logistics/manifests/{manifest_id}?done=handed")


@get("/logistics/manifests/{manifest_id:str}/manifest.pdf", media_type="application/pdf")
async def manifest_document(request: Request[Any, Any, State], manifest_id: FromPath[str]) -> Response[bytes]:
    current_user(request, *LOGISTICS)
    return _pdf(await manifest_pdf(runtime_of(request), manifest_id), "manifest.pdf")


@get("/logistics/messages/{message_id:str}/letter.pdf", media_type="application/pdf")
async def letter(request: Request[Any, Any, State], message_id: FromPath[str]) -> Response[bytes]:
    current_user(request, *OPENERS)
    return _pdf(await letter_pdf(runtime_of(request), message_id), "letter.pdf")


@post("/logistics/messages/{message_id:str}/sent", media_type=MediaType.HTML, status_code=200)
async def message_sent(request: Request[Any, Any, State], message_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *LOGISTICS)
    await mark_message_sent(runtime_of(request), actor=actor_of(user), message_id=message_id)
    return Redirect(path="/logistics#messages")


@post("/logistics/settings", media_type=MediaType.HTML, status_code=200)
async def settings_form(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request, *LOGISTICS)
    form = await request.form()
    try:
        text = str(form.get("confirm_days", "")).strip()
        if not text.isdigit():
            raise OneWindowError(VALIDATION, "签收期限应为天数（整数）", field="confirm_days")
        await set_confirm_days(runtime_of(request), actor=actor_of(user), days=int(text))
    except OneWindowError as exc:
        return await _page(request, exc)
    return Redirect(path="/logistics?done=settings#settings")


# ---- the courier's sync file (R-MAIL-4): the sync package's functions, offered where the courier is met ----


@post("/logistics/courier/export", media_type=MediaType.HTML, status_code=200)
async def courier_export(request: Request[Any, Any, State]) -> Template:
    """Write the pending queue to a courier file (downloaded from the sync page's file route)."""
    current_user(request, *LOGISTICS)
    runtime = runtime_of(request)
    before = await courier_summary(runtime)
    stamp = runtime.now().astimezone(CST).strftime("%Y%m%d-%H%M%S")
    exported = await export_courier_file(runtime, runtime.data_dir / "courier" / f"up-{stamp}.owc")
    return await _page(
        request,
        courier_done=exported.summary(),
        courier_file=exported.path.name,
        courier_held=before,
    )


@post(
    "/logistics/courier/import",
    media_type=MediaType.HTML,
    status_code=200,
    request_max_body_size=MAX_UPLOAD_BODY,
)
async def courier_import(request: Request[Any, Any, State]) -> Template:
    """Apply the reply file the courier brought back from the county."""
    current_user(request, *LOGISTICS)
    upload = (await request.form()).get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise OneWindowError(REQUIRED_FIELD, "请选择信使带回的回执文件", field="file")
        report = await import_courier_reply(runtime_of(request), await upload.read())
    except OneWindowError as exc:
        return await _page(request, exc, courier_error=f"导入失败，文件整份拒收，未作任何更改：{exc.reason}")
    return await _page(
        request,
        courier_done=(
            f"已导入回执：县中心确认条目 {report.receipted} 条，附件 {report.attachments} 个，"
            f"下发条目 {report.pulled} 条（新事件 {report.applied_events} 个，含县级签收的邮件）"
        ),
    )


@get("/api/v1/logistics/parcels", media_type=MediaType.JSON)
async def api_parcels(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Incoming parcels and outgoing ones not yet confirmed, each with its custody and whether it is overdue."""
    current_user(request, *OPENERS)
    runtime = runtime_of(request)
    fields = (
        "id",
        "direction",
        "kind",
        "tracking_number",
        "is_s10",
        "party",
        "destination",
        "status",
        "case_id",
    )
    return {
        "inbound": [{f: getattr(p, f) for f in fields} for p in await inbound_parcels(runtime)],
        "outbound": [
            {f: getattr(p.parcel, f) for f in fields}
            | {
                "manifest_id": p.parcel.manifest_id,
                "due_by": p.due_by,
                "overdue": p.overdue,
                "confirmed": p.confirmed,
                "steps": [s["step"] for s in p.steps],
            }
            for p in await outbound_parcels(runtime)
        ],
    }


ROUTES = [
    api_parcels,
    logistics_page,
    register_form,
    parcel_page,
    envelope_photo,
    open_form,
    scan_form,
    pre_review_form,
    delivery_form,
    label,
    pack_form,
    manifest_form,
    manifest_page,
    handover_form,
    manifest_document,
    letter,
    message_sent,
    settings_form,
    courier_export,
    courier_import,
]
