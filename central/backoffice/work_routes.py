"""Back-office pages and API (issue 8): a department's work queue, a routed case's workbench (opinion, clock
pause and resume, extension, decision, result PDF, dispatch), department members, supervision, and the
background jobs (routing, deadline warnings). Thin handlers: each calls the services in `central.departments`,
`central.licences` and `central.supervision`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice import case_events, list_nodes
from central.catalogue_admin import ACTIONS, TRIGGERS, catalogue_versions, change_catalogue, newest_catalogue
from central.deadlines import CST, LEVEL_LABELS, PAUSE_KINDS, CaseClock, case_clock, load_calendar
from central.departments import (
    POSITIONS,
    alerts_of,
    assign_member,
    decide_routed_case,
    departments_of,
    extend_case,
    give_opinion,
    item_of,
    load_case,
    members,
    membership,
    pause_clock,
    refresh_case_clock,
    refresh_clocks,
    resume_clock,
    route_pending,
    unrouted_count,
    work_queue,
)
from central.licences import dispatch_result, make_result
from central.models import CentralUser, LicenceRecord, ResultDocumentRecord
from central.remote_support import answer_consult, open_consults
from central.supervision import KIND_LABELS, findings, statistics
from protocol.calendar import WorkingCalendar
from protocol.catalogue import catalogue_to_dict
from protocol.errors import AUTH_REQUIRED, FORBIDDEN, NOT_FOUND, VALIDATION, OneWindowError
from protocol.events import STATUS_LABELS

#: How often each central process runs the routing and deadline jobs (seconds).
JOBS_INTERVAL_S = 60.0
_calendars: dict[Path, tuple[float, WorkingCalendar]] = {}


def _user(request: Request[Any, Any, State], *roles: str) -> dict[str, str]:
    user = request.session.get("user") if request.scope.get("session") is not None else None
    if not user:
        raise OneWindowError(AUTH_REQUIRED, "请先登录")
    if roles and user["role"] not in roles:
        raise OneWindowError(FORBIDDEN, f"需要角色：{'、'.join(roles)}", field="role")
    return dict(user)


def _central(request: Request[Any, Any, State]) -> Any:
    return request.app.state.central


def calendar_of(central: Any) -> WorkingCalendar:
    """The county's calendar, re-read when `onewindow central publish-calendar` replaced the file."""
    path = central.settings.county_dir / "calendar.json"
    mtime = path.stat().st_mtime
    cached = _calendars.get(path)
    if cached is None or cached[0] != mtime:
        cached = (mtime, load_calendar(central.settings.county_dir))
        _calendars[path] = cached
    return cached[1]


def _now() -> datetime:
    return datetime.now(UTC)


async def run_jobs(central: Any, *, now: datetime, instance: str) -> dict[str, int]:
    """One round of the background jobs, each in its own transaction."""
    calendar = calendar_of(central)
    async with central.db.transaction() as session:  # a version the other process issued
        central.catalogue = await newest_catalogue(session, central.catalogue)
    async with central.db.transaction() as session:
        routed = await route_pending(
            session,
            central.county,
            catalogue=central.catalogue,
            calendar=calendar,
            now=now,
            instance=instance,
        )
    async with central.db.transaction() as session:
        refreshed = await refresh_clocks(
            session, calendar=calendar, catalogue=central.catalogue, now=now, instance=instance
        )
    async with central.db.transaction() as session:
        pending = await unrouted_count(session)
    return {"routed": routed, "refreshed": refreshed, "unrouted": pending}


def jobs_lifespan(interval_s: float | None = None) -> Callable[[Litestar], Any]:
    """A lifespan hook running the jobs every `interval_s` seconds in this process (0 disables it); by default
    ``ONEWINDOW_BACKOFFICE_JOBS_S`` from the environment at start-up, else `JOBS_INTERVAL_S`."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        every = interval_s
        if every is None:
            every = float(os.environ.get("ONEWINDOW_BACKOFFICE_JOBS_S", JOBS_INTERVAL_S))

        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    await run_jobs(app.state.central, now=_now(), instance=f"pid{os.getpid()}")
                except Exception:  # a failed round is retried next round; the error is in the log
                    logging.getLogger(__name__).exception("back-office jobs failed")

        task = asyncio.create_task(loop()) if every > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    return lifespan


# ---- JSON API ---------------------------------------------------------------------------------------------------


@post("/api/v1/backoffice/jobs", media_type=MediaType.JSON, status_code=200)
async def api_run_jobs(request: Request[Any, Any, State]) -> dict[str, int]:
    _user(request, "admin")
    return await run_jobs(_central(request), now=_now(), instance=f"pid{os.getpid()}")


@get("/api/v1/queue", media_type=MediaType.JSON)
async def api_queue(
    request: Request[Any, Any, State],
    department: FromQuery[str | None] = None,
    centre: FromQuery[str | None] = None,
    item: FromQuery[str | None] = None,
    due_before: FromQuery[str | None] = None,
    level: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
) -> dict[str, Any]:
    user = _user(request)
    async with _central(request).db.transaction() as session:
        department = department or await _own_department(session, user)
        rows = await work_queue(
            session,
            department=department,
            centre=centre,
            item=item,
            due_before=due_before,
            level=level,
            status=status,
        )
    return {
        "cases": [
            {
                "case_id": r.case.case_id,
                "case_number": r.case.case_number,
                "item_name": r.case.item_name,
                "status": r.case.status,
                "centre": r.case.centre_name,
                "due_on": r.backoffice.due_on,
                "level": r.backoffice.level,
                "departments": r.departments,
            }
            for r in rows
        ]
    }


async def _act(central: Any, user: dict[str, str], case_id: str, action: str, data: dict[str, Any]) -> None:
    now = _now()
    name = user["username"]
    calendar = calendar_of(central)
    async with central.db.transaction() as session:
        if action == "opinion":
            await give_opinion(
                session,
                central.county,
                case_id=case_id,
                username=name,
                agree=str(data.get("agree", "")) in ("true", "1", "agree", "True"),
                comment=str(data.get("comment", "")),
                now=now,
            )
        elif action == "pause":
            await pause_clock(
                session,
                central.county,
                case_id=case_id,
                username=name,
                kind=str(data.get("kind", "")),
                reason=str(data.get("reason", "")),
                now=now,
            )
        elif action == "resume":
            await resume_clock(session, central.county, case_id=case_id, username=name, now=now)
        elif action == "extend":
            await extend_case(
                session,
                central.county,
                case_id=case_id,
                requested_by=name,
                approved_by=name,  # the form is the head's: asking and approving in one step
                reason=str(data.get("reason", "")),
                now=now,
            )
        elif action == "decide":
            await decide_routed_case(
                session,
                central.county,
                case_id=case_id,
                username=name,
                outcome=str(data.get("outcome", "")),
                reason=str(data.get("reason", "")),
                now=now,
            )
            await make_result(
                session, central.county, case_id=case_id, catalogue=central.catalogue, now=now, actor=name
            )
        elif action == "dispatch":
            await dispatch_result(
                session,
                central.county,
                case_id=case_id,
                actor=name,
                now=now,
                to_node=str(data.get("to_node") or "") or None,
            )
        else:
            raise OneWindowError(NOT_FOUND, f"未知操作 {action}", field="action")
        await refresh_case_clock(session, case_id, calendar=calendar, catalogue=central.catalogue, now=now)


@post("/api/v1/work/{case_id:str}/{action:str}", media_type=MediaType.JSON, status_code=200)
async def api_act(
    request: Request[Any, Any, State],
    case_id: FromPath[str],
    action: FromPath[str],
    data: JSONBody[dict[str, Any]],
) -> dict[str, Any]:
    user = _user(request, "reviewer", "admin")
    central = _central(request)
    await _act(central, user, case_id, action, data)
    async with central.db.transaction() as session:
        _, state = await load_case(session, case_id)
        clock = case_clock(
            state, calendar_of(central), today=_today(), item=item_of(central.catalogue, state.item_code)
        )
    return {
        "case_id": case_id,
        "status": state.status,
        "opinions": [dict(o) for o in state.opinions],
        "pauses": [dict(p) for p in state.pauses],
        "extension": dict(state.extension) if state.extension else None,
        "licence": dict(state.licence) if state.licence else None,
        "clock": clock.to_dict() if clock else None,
    }


@get("/api/v1/supervision/findings", media_type=MediaType.JSON)
async def api_findings(request: Request[Any, Any, State]) -> dict[str, Any]:
    _user(request, "supervisor", "admin")
    central = _central(request)
    async with central.db.transaction() as session:
        found = await findings(
            session, calendar=calendar_of(central), catalogue=central.catalogue, today=_today()
        )
    return {"findings": [f.to_dict() for f in found]}


@get("/api/v1/supervision/statistics", media_type=MediaType.JSON)
async def api_statistics(request: Request[Any, Any, State]) -> dict[str, Any]:
    _user(request, "supervisor", "admin")
    central = _central(request)
    async with central.db.transaction() as session:
        stats = await statistics(
            session, calendar=calendar_of(central), catalogue=central.catalogue, today=_today()
        )
    return stats.to_dict()


def _today() -> date:
    return _now().astimezone(CST).date()


async def _own_department(session: AsyncSession, user: dict[str, str]) -> str | None:
    member = await membership(session, user["username"])
    return member.department_code if member else None


# ---- pages ------------------------------------------------------------------------------------------------------


@get("/queue", media_type=MediaType.HTML)
async def queue_page(
    request: Request[Any, Any, State],
    department: FromQuery[str | None] = None,
    centre: FromQuery[str | None] = None,
    item: FromQuery[str | None] = None,
    due_before: FromQuery[str | None] = None,
    level: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
) -> Template:
    user = _user(request)
    central = _central(request)
    async with central.db.transaction() as session:
        member = await membership(session, user["username"])
        chosen = department if department is not None else (member.department_code if member else "")
        rows = await work_queue(
            session,
            department=chosen or None,
            centre=centre or None,
            item=item or None,
            due_before=due_before or None,
            level=level or None,
            status=status or None,
        )
        nodes = {n.node_id: n.name for n in await list_nodes(session)}
    return Template(
        template_name="queue.html",
        context={
            "user": user,
            "member": member,
            "rows": rows,
            "nodes": nodes,
            "departments": departments_of(central.catalogue),
            "items": {i.code: i.name for i in central.catalogue.items if i.case_type != 1},
            "levels": LEVEL_LABELS,
            "labels": STATUS_LABELS,
            "filters": {
                "department": chosen,
                "centre": centre or "",
                "item": item or "",
                "due_before": due_before or "",
                "level": level or "",
                "status": status or "",
            },
            "active": "queue",
        },
    )


async def _work_context(central: Any, user: dict[str, str], case_id: str) -> dict[str, Any]:
    async with central.db.transaction() as session:
        _, state = await load_case(session, case_id)
        events = await case_events(session, case_id)
        member = await membership(session, user["username"])
        alerts = await alerts_of(session, case_id)
        document = await session.get(ResultDocumentRecord, case_id)
        licence = (await session.exec(select(LicenceRecord).where(LicenceRecord.case_id == case_id))).first()
        nodes = [n for n in await list_nodes(session) if n.status == "active"]
    clock: CaseClock | None = case_clock(
        state, calendar_of(central), today=_today(), item=item_of(central.catalogue, state.item_code)
    )
    routing = state.routing or {}
    codes = [d["code"] for d in routing.get("departments", [])]
    mine = member.department_code if member else ""
    return {
        "user": user,
        "case": state,
        "events": events,
        "clock": clock,
        "alerts": alerts,
        "document": document,
        "licence": licence,
        "nodes": nodes,
        "member": member,
        "in_case": mine in codes,
        "is_lead": bool(codes) and mine == codes[0],
        "is_head": member is not None and member.position == "head" and bool(codes) and mine == codes[0],
        "opinion_given": any(o["department"] == mine for o in state.opinions),
        "pause_kinds": PAUSE_KINDS,
        "error": None,
        "active": "queue",
    }


@get("/work/{case_id:str}", media_type=MediaType.HTML)
async def work_page(request: Request[Any, Any, State], case_id: FromPath[str]) -> Template:
    user = _user(request)
    return Template(template_name="work.html", context=await _work_context(_central(request), user, case_id))


@post("/work/{case_id:str}/{action:str}", media_type=MediaType.HTML, status_code=200)
async def work_act(
    request: Request[Any, Any, State], case_id: FromPath[str], action: FromPath[str]
) -> Response[Any]:
    user = _user(request, "reviewer", "admin")
    central = _central(request)
    form = dict(await request.form())
    try:
        await _act(central, user, case_id, action, form)
    except OneWindowError as exc:
        context = await _work_context(central, user, case_id)
        context["error"] = exc
        return Template(template_name="work.html", context=context, status_code=exc.problem.status)
    return Redirect(path=f"/work/{case_id}")


@get("/work/{case_id:str}/result.pdf", media_type="application/pdf")
async def result_pdf_download(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[bytes]:
    _user(request)
    async with _central(request).db.transaction() as session:
        document = await session.get(ResultDocumentRecord, case_id)
    if document is None:
        raise OneWindowError(NOT_FOUND, "该办件尚无结果文书", field="case_id")
    return Response(
        content=document.pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="result-{case_id}.pdf"'},
    )


@get("/departments", media_type=MediaType.HTML)
async def departments_page(request: Request[Any, Any, State]) -> Template:
    user = _user(request, "admin")
    return Template(template_name="departments.html", context=await _departments_context(request, user, None))


async def _departments_context(
    request: Request[Any, Any, State], user: dict[str, str], error: OneWindowError | None
) -> dict[str, Any]:
    central = _central(request)
    async with central.db.transaction() as session:
        rows = await members(session)
        accounts = (
            await session.exec(
                select(CentralUser).where(CentralUser.role == "reviewer").order_by(col(CentralUser.username))
            )
        ).all()
    return {
        "user": user,
        "members": rows,
        "accounts": accounts,
        "departments": departments_of(central.catalogue),
        "positions": POSITIONS,
        "error": error,
        "active": "departments",
    }


@post("/departments", media_type=MediaType.HTML, status_code=200)
async def departments_assign(request: Request[Any, Any, State]) -> Response[Any]:
    user = _user(request, "admin")
    form = await request.form()
    central = _central(request)
    try:
        async with central.db.transaction() as session:
            await assign_member(
                session,
                username=str(form.get("username", "")),
                department_code=str(form.get("department_code", "")),
                position=str(form.get("position", "")),
                catalogue=central.catalogue,
            )
    except OneWindowError as exc:
        return Template(
            template_name="departments.html",
            context=await _departments_context(request, user, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path="/departments")


@get("/supervision", media_type=MediaType.HTML)
async def supervision_page(request: Request[Any, Any, State]) -> Template:
    user = _user(request, "supervisor", "admin")
    central = _central(request)
    calendar, today = calendar_of(central), _today()
    async with central.db.transaction() as session:
        found = await findings(session, calendar=calendar, catalogue=central.catalogue, today=today)
        stats = await statistics(session, calendar=calendar, catalogue=central.catalogue, today=today)
    counts = {kind: sum(1 for f in found if f.kind == kind) for kind in KIND_LABELS}
    return Template(
        template_name="supervision.html",
        context={
            "user": user,
            "findings": found,
            "counts": counts,
            "kinds": KIND_LABELS,
            "stats": stats,
            "today": today.isoformat(),
            "active": "supervision",
        },
    )


# ---- catalogue management (事项调整) ---------------------------------------------------------------------------


@post("/api/v1/catalogue/changes", media_type=MediaType.JSON, status_code=201)
async def api_catalogue_change(
    request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]
) -> dict[str, Any]:
    user = _user(request, "admin")
    central = _central(request)
    item = data.get("item")
    async with central.db.transaction() as session:
        current = await newest_catalogue(session, central.catalogue)
        catalogue = await change_catalogue(
            session,
            central.county,
            current=current,
            action=str(data.get("action", "")),
            item_code=str(data.get("item_code", "")),
            trigger=str(data.get("trigger", "")),
            note=str(data.get("note", "")),
            item=item if isinstance(item, dict) else None,
            actor=user["username"],
            now=_now(),
        )
    central.catalogue = catalogue
    return {"version": catalogue.version, "issued_at": catalogue.issued_at, "items": len(catalogue.items)}


@post("/catalogue", media_type=MediaType.HTML, status_code=200)
async def catalogue_change_form(request: Request[Any, Any, State]) -> Response[Any]:
    """The page's form: cancel an item, or change its time limits (other changes go through the API)."""
    user = _user(request, "admin")
    central = _central(request)
    form = await request.form()
    action, code = str(form.get("action", "")), str(form.get("item_code", ""))
    try:
        async with central.db.transaction() as session:
            current = await newest_catalogue(session, central.catalogue)
            item: dict[str, Any] | None = None
            if action == "change":
                item = next((i for i in catalogue_to_dict(current)["items"] if i["code"] == code), None)
                if item is not None:
                    for name in ("promised_limit_days", "statutory_limit_days"):
                        value = str(form.get(name, "")).strip()
                        if not value.isdigit():
                            raise OneWindowError(VALIDATION, "时限应为工作日数（整数）", field=name)
                        item[name] = int(value)
            central.catalogue = await change_catalogue(
                session,
                central.county,
                current=current,
                action=action,
                item_code=code,
                trigger=str(form.get("trigger", "")),
                note=str(form.get("note", "")),
                item=item,
                actor=user["username"],
                now=_now(),
            )
    except OneWindowError as exc:
        context = await _catalogue_context(request, user)
        context["error"] = exc
        return Template(template_name="catalogue.html", context=context, status_code=exc.problem.status)
    return Redirect(path="/catalogue")


async def _catalogue_context(request: Request[Any, Any, State], user: dict[str, str]) -> dict[str, Any]:
    central = _central(request)
    async with central.db.transaction() as session:
        central.catalogue = await newest_catalogue(session, central.catalogue)
        versions = await catalogue_versions(session)
    return {
        "user": user,
        "catalogue": central.catalogue,
        "versions": [(v, json.loads(v.change)) for v in versions],
        "actions": ACTIONS,
        "triggers": TRIGGERS,
        "error": None,
        "active": "catalogue",
    }


@get("/catalogue", media_type=MediaType.HTML)
async def catalogue_page(request: Request[Any, Any, State]) -> Template:
    user = _user(request, "admin")
    return Template(template_name="catalogue.html", context=await _catalogue_context(request, user))


# ---- remote support (远程帮办) ----------------------------------------------------------------------------------


@post("/api/v1/consults/{case_id:str}/{consult_id:str}/answer", media_type=MediaType.JSON, status_code=200)
async def api_answer_consult(
    request: Request[Any, Any, State],
    case_id: FromPath[str],
    consult_id: FromPath[str],
    data: JSONBody[dict[str, Any]],
) -> dict[str, Any]:
    user = _user(request, "reviewer", "admin")
    central = _central(request)
    async with central.db.transaction() as session:
        state = await answer_consult(
            session,
            central.county,
            case_id=case_id,
            consult_id=consult_id,
            username=user["username"],
            answer=str(data.get("answer", "")),
            annotations=data.get("annotations"),
            now=_now(),
        )
    return {"case_id": case_id, "consults": [dict(c) for c in state.consults]}


@get("/consults", media_type=MediaType.HTML)
async def consults_page(request: Request[Any, Any, State]) -> Template:
    user = _user(request)
    return Template(template_name="consults.html", context=await _consults_context(request, user, None))


async def _consults_context(
    request: Request[Any, Any, State], user: dict[str, str], error: OneWindowError | None
) -> dict[str, Any]:
    async with _central(request).db.transaction() as session:
        member = await membership(session, user["username"])
        rows = await open_consults(session, department=member.department_code if member else None)
    return {"user": user, "member": member, "consults": rows, "error": error, "active": "consults"}


@post("/consults/{case_id:str}/{consult_id:str}", media_type=MediaType.HTML, status_code=200)
async def consult_answer_form(
    request: Request[Any, Any, State], case_id: FromPath[str], consult_id: FromPath[str]
) -> Response[Any]:
    user = _user(request, "reviewer", "admin")
    form = await request.form()
    central = _central(request)
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
                now=_now(),
            )
    except OneWindowError as exc:
        context = await _consults_context(request, user, exc)
        return Template(template_name="consults.html", context=context, status_code=exc.problem.status)
    return Redirect(path="/consults")


ROUTES: list[Callable[..., Awaitable[Any]] | Any] = [
    api_run_jobs,
    api_queue,
    api_act,
    api_findings,
    api_statistics,
    queue_page,
    work_page,
    work_act,
    result_pdf_download,
    departments_page,
    departments_assign,
    supervision_page,
    api_catalogue_change,
    catalogue_page,
    catalogue_change_form,
    api_answer_consult,
    consults_page,
    consult_answer_form,
]
