"""The hall pages and API at central: ratings (好差评) with their follow-ups and complaints (投诉) for supervision,
and the logistics desk (县级物料流转窗口) — parcels the centres handed to couriers, the overdue ones first, with a
button per parcel for the desk to sign for what arrived; and the same lists as JSON. Thin handlers over
`central.hall.ratings` and `central.hall.logistics`."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from central.clock import cst_today
from central.hall.logistics import confirm_parcels, expected_parcels
from central.hall.ratings import list_complaints, list_ratings
from central.registry import node_names, people_names
from central.web import central_of, current_user
from protocol.errors import REQUIRED_FIELD, OneWindowError
from protocol.events import CUSTODY_LABELS
from protocol.hall import (
    COMPLAINT_CHANNELS,
    GBT39046_TO_PROVINCIAL,
    RATING_CHANNELS,
    RATING_REASONS,
    SATISFACTION_LABELS,
)

CONFIRMERS = ("reviewer", "admin")  # the desk's staff sign in with back-office accounts; 督查 only reads
KINDS = {"notice": "文书寄回申请人", "result": "办理结果寄送申请人", "original": "纸质原件移交县级部门"}


def _confirmer(request: Request[Any, Any, State]) -> dict[str, str]:
    return current_user(request, *CONFIRMERS, refusal="您的岗位不能签收邮件")


async def _context(request: Request[Any, Any, State], error: OneWindowError | None = None) -> dict[str, Any]:
    user = current_user(request)
    central = central_of(request)
    show_all = request.query_params.get("all") == "1"
    async with central.db.transaction() as session:
        parcels = await expected_parcels(session, today=cst_today(), open_only=not show_all)
        nodes = await node_names(session)
    return {
        "user": user,
        "parcels": parcels,
        "overdue": [p for p in parcels if p.overdue],
        "awaiting": [p for p in parcels if not p.closed_by and p.destination == "county"],
        "nodes": nodes,
        "kinds": KINDS,
        "labels": CUSTODY_LABELS,
        "show_all": show_all,
        "may_confirm": user["role"] in CONFIRMERS,
        "today": cst_today().isoformat(),
        "done": request.query_params.get("done", ""),
        "error": error,
        "active": "logistics",
    }


@get("/logistics", media_type=MediaType.HTML)
async def logistics_page(request: Request[Any, Any, State]) -> Template:
    return Template(template_name="logistics.html", context=await _context(request))


@post("/logistics/confirm", media_type=MediaType.HTML, status_code=200)
async def confirm_form(request: Request[Any, Any, State]) -> Response[Any]:
    """签收: one parcel (a row's button) or every ticked one."""
    user = _confirmer(request)
    form = await request.form()
    chosen = [str(v).split("/", 1) for v in form.getall("parcel", []) if "/" in str(v)]
    central = central_of(request)
    try:
        if not chosen:
            raise OneWindowError(REQUIRED_FIELD, "请选择已到达的邮件", field="parcel")
        async with central.db.transaction() as session:
            await confirm_parcels(
                session,
                central.county,
                parcels=[(case_id, parcel_id) for case_id, parcel_id in chosen],
                receiver=user["username"],
                note=str(form.get("note", "")),
            )
    except OneWindowError as exc:
        return Template(
            template_name="logistics.html",
            context=await _context(request, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/logistics?done={len(chosen)}")


@get("/api/v1/logistics/parcels", media_type=MediaType.JSON)
async def api_parcels(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    central = central_of(request)
    async with central.db.transaction() as session:
        parcels = await expected_parcels(session, today=cst_today())
    return {
        "parcels": [
            {k: v for k, v in vars(p).items() if k != "steps"} | {"steps": [s["step"] for s in p.steps]}
            for p in parcels
        ]
    }


# ---- hall supervision: ratings (好差评) with their follow-ups, complaints -----------------------------------


@get("/api/v1/ratings", media_type=MediaType.JSON)
async def api_ratings(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    async with central_of(request).db.transaction() as session:
        rows = await list_ratings(session)
    return {
        "ratings": [
            {
                **r.model_dump(),
                "label": SATISFACTION_LABELS[r.level],
                "provincial": GBT39046_TO_PROVINCIAL[r.level],
                "reason_label": RATING_REASONS.get(r.reason, ""),
            }
            for r in rows
        ]
    }


@get("/api/v1/complaints", media_type=MediaType.JSON)
async def api_complaints(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    async with central_of(request).db.transaction() as session:
        rows = await list_complaints(session)
    return {"complaints": [r.model_dump() for r in rows]}


@get("/ratings", media_type=MediaType.HTML)
async def ratings_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    async with central_of(request).db.transaction() as session:
        rows = await list_ratings(session)
        nodes = await node_names(session)
        people = await people_names(session)
    counts = {level: sum(1 for r in rows if r.level == level) for level in SATISFACTION_LABELS}
    return Template(
        template_name="ratings.html",
        context={
            "user": user,
            "ratings": rows,
            "people": people,
            "nodes": nodes,
            "labels": SATISFACTION_LABELS,
            "channels": RATING_CHANNELS,
            "reasons": RATING_REASONS,
            "counts": counts,
            "today": cst_today().isoformat(),
            "active": "ratings",
        },
    )


@get("/complaints", media_type=MediaType.HTML)
async def complaints_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    async with central_of(request).db.transaction() as session:
        rows = await list_complaints(session)
        nodes = await node_names(session)
    return Template(
        template_name="complaints.html",
        context={
            "user": user,
            "complaints": rows,
            "nodes": nodes,
            "channels": COMPLAINT_CHANNELS,
            "active": "complaints",
        },
    )


ROUTES = [
    logistics_page,
    confirm_form,
    api_parcels,
    api_ratings,
    api_complaints,
    ratings_page,
    complaints_page,
]
