"""Central's logistics desk page (县级物料流转窗口): parcels the centres handed to couriers, the overdue ones
first, with a button per parcel for the desk to sign for what arrived; and the same list as JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from central.backoffice import list_nodes
from central.logistics import confirm_parcels, expected_parcels
from protocol.errors import AUTH_REQUIRED, FORBIDDEN, REQUIRED_FIELD, OneWindowError
from protocol.events import CUSTODY_LABELS

CST = timezone(timedelta(hours=8), "CST")
CONFIRMERS = ("reviewer", "admin")  # the desk's staff sign in with back-office accounts; 督查 only reads
KINDS = {"notice": "文书寄回申请人", "result": "办理结果寄送申请人", "original": "纸质原件移交县级部门"}


def _user(request: Request[Any, Any, State], *roles: str) -> dict[str, str]:
    user = request.session.get("user") if request.scope.get("session") is not None else None
    if not user:
        raise OneWindowError(AUTH_REQUIRED, "请先登录")
    if roles and user["role"] not in roles:
        raise OneWindowError(FORBIDDEN, "您的岗位不能签收邮件", field="role")
    return dict(user)


def _today() -> date:
    return datetime.now(UTC).astimezone(CST).date()


async def _context(request: Request[Any, Any, State], error: OneWindowError | None = None) -> dict[str, Any]:
    user = _user(request)
    central = request.app.state.central
    show_all = request.query_params.get("all") == "1"
    async with central.db.transaction() as session:
        parcels = await expected_parcels(session, today=_today(), open_only=not show_all)
        nodes = {n.node_id: n.name for n in await list_nodes(session)}
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
        "today": _today().isoformat(),
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
    user = _user(request, *CONFIRMERS)
    form = await request.form()
    chosen = [str(v).split("/", 1) for v in form.getall("parcel", []) if "/" in str(v)]
    central = request.app.state.central
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
    _user(request)
    central = request.app.state.central
    async with central.db.transaction() as session:
        parcels = await expected_parcels(session, today=_today())
    return {
        "parcels": [
            {k: v for k, v in vars(p).items() if k != "steps"} | {"steps": [s["step"] for s in p.steps]}
            for p in parcels
        ]
    }


ROUTES = [logistics_page, confirm_form, api_parcels]
