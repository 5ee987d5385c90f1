"""Back-office work pages and API (issue 8): a department's work queue, a routed case's workbench (opinion, clock
pause and resume, extension, decision, result PDF, dispatch), and the background jobs (routing, deadline
warnings) with the lifespan hook that runs them in every central process. Thin handlers over
`central.backoffice.workbench`, `central.backoffice.departments` and `central.backoffice.jobs`."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from central.backoffice.deadlines import LEVEL_LABELS, PAUSE_KINDS, stored_due_warning
from central.backoffice.departments import departments_of, membership, own_department, work_queue
from central.backoffice.jobs import JOBS_INTERVAL_S, calendar_of, run_jobs
from central.backoffice.materials import case_materials, may_view_materials
from central.backoffice.results import result_document
from central.backoffice.schemas import WorkStep, WorkStepAnswer
from central.backoffice.workbench import routed_case, take_step, workbench
from central.blobs import blob_store
from central.clock import cst_today, utc_now
from central.registry import node_names, people_names
from central.runtime import Central
from central.web import central_of, current_user
from protocol.errors import NOT_FOUND, OneWindowError
from protocol.events import STATUS_LABELS, round_trip

#: Who may take a step on a routed case.
WORKERS = ("reviewer", "admin")


def _instance() -> str:
    return f"pid{os.getpid()}"


def _count_run(state: State, outcome: str) -> None:
    metrics = state.get("metrics")
    if metrics is not None:
        metrics.count(
            "job_runs", "Rounds of the back-office jobs (routing, deadlines) run here", outcome=outcome
        )


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
                    await run_jobs(app.state.central, now=utc_now(), instance=_instance())
                    _count_run(app.state, "ok")
                except Exception:  # a failed round is retried next round; the error is in the log
                    _count_run(app.state, "failed")
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
    current_user(request, "admin")
    done = await run_jobs(central_of(request), now=utc_now(), instance=_instance())
    _count_run(request.app.state, "ok")
    return done


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
    user = current_user(request)
    async with central_of(request).db.transaction() as session:
        department = department or await own_department(session, user["username"])
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


async def _take_step(
    central: Central, user: dict[str, str], case_id: str, action: str, step: WorkStep
) -> None:
    async with central.db.transaction() as session:
        await take_step(
            session,
            central.county,
            case_id=case_id,
            action=action,
            step=step,
            username=user["username"],
            catalogue=central.catalogue,
            calendar=calendar_of(central.settings.county_dir),
            blobs=blob_store(central.settings.data_dir),
            now=utc_now(),
        )


@post("/api/v1/work/{case_id:str}/{action:str}", media_type=MediaType.JSON, status_code=200)
async def api_act(
    request: Request[Any, Any, State], case_id: FromPath[str], action: FromPath[str], data: JSONBody[WorkStep]
) -> WorkStepAnswer:
    user = current_user(request, *WORKERS)
    central = central_of(request)
    await _take_step(central, user, case_id, action, data)
    async with central.db.transaction() as session:
        state, clock = await routed_case(
            session,
            case_id,
            catalogue=central.catalogue,
            calendar=calendar_of(central.settings.county_dir),
            today=cst_today(),
        )
    return WorkStepAnswer(
        case_id=case_id,
        status=state.status,
        opinions=[dict(o) for o in state.opinions],
        pauses=[dict(p) for p in state.pauses],
        extension=dict(state.extension) if state.extension else None,
        licence=dict(state.licence) if state.licence else None,
        clock=clock.to_dict() if clock else None,
    )


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
    user = current_user(request)
    central = central_of(request)
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
        nodes = await node_names(session)
    calendar = calendar_of(central.settings.county_dir)
    provisional = {
        r.case.case_id: warning
        for r in rows
        if (warning := stored_due_warning(calendar, r.case.accepted_at, r.backoffice.due_on))
    }
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
            "provisional": provisional,
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


async def _work_context(central: Central, user: dict[str, str], case_id: str) -> dict[str, Any]:
    async with central.db.transaction() as session:
        bench = await workbench(
            session,
            case_id,
            username=user["username"],
            catalogue=central.catalogue,
            calendar=calendar_of(central.settings.county_dir),
            today=cst_today(),
        )
        materials = await case_materials(session, bench.state, central.catalogue)
        may_view = await may_view_materials(session, bench.state, user)
        people = await people_names(session)
        names = await node_names(session)
    return {
        "user": user,
        "people": people,
        "node_names": names,
        "materials": materials,
        "may_view": may_view,
        "trip": round_trip(bench.state),
        "case": bench.state,
        "events": bench.events,
        "clock": bench.clock,
        "alerts": bench.alerts,
        "document": bench.document,
        "licence": bench.licence,
        "nodes": bench.nodes,
        "member": bench.member,
        "in_case": bench.in_case,
        "is_lead": bench.is_lead,
        "is_head": bench.is_head,
        "opinion_given": bench.opinion_given,
        "pause_kinds": PAUSE_KINDS,
        "error": None,
        "active": "queue",
    }


@get("/work/{case_id:str}", media_type=MediaType.HTML)
async def work_page(request: Request[Any, Any, State], case_id: FromPath[str]) -> Template:
    user = current_user(request)
    return Template(
        template_name="work.html", context=await _work_context(central_of(request), user, case_id)
    )


@post("/work/{case_id:str}/{action:str}", media_type=MediaType.HTML, status_code=200)
async def work_act(
    request: Request[Any, Any, State], case_id: FromPath[str], action: FromPath[str]
) -> Response[Any]:
    user = current_user(request, *WORKERS)
    central = central_of(request)
    form = await request.form()
    step = WorkStep(
        agree=str(form.get("agree", "")),
        comment=str(form.get("comment", "")),
        kind=str(form.get("kind", "")),
        reason=str(form.get("reason", "")),
        outcome=str(form.get("outcome", "")),
        to_node=str(form.get("to_node") or "") or None,
    )
    try:
        await _take_step(central, user, case_id, action, step)
    except OneWindowError as exc:
        context = await _work_context(central, user, case_id)
        context["error"] = exc
        return Template(template_name="work.html", context=context, status_code=exc.problem.status)
    return Redirect(path=f"/work/{case_id}")


@get("/work/{case_id:str}/result.pdf", media_type="application/pdf")
async def result_pdf_download(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[bytes]:
    current_user(request)
    async with central_of(request).db.transaction() as session:
        document = await result_document(session, case_id)
    if document is None:
        raise OneWindowError(NOT_FOUND, "该办件尚无结果文书", field="case_id")
    return Response(
        content=document.pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="result-{case_id}.pdf"'},
    )


ROUTES = [api_run_jobs, api_queue, api_act, queue_page, work_page, work_act, result_pdf_download]
