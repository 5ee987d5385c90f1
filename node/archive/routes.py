"""Tablet pages and JSON API of electronic archiving: closed cases awaiting a package, packages awaiting the
county's confirmation, archived cases, and the four-property check report of each (readable page and JSON)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Template

from node.archive.service import (
    ARCHIVE_ROLES,
    STATE_LABELS,
    archivable_cases,
    archive_case,
    closed_at,
    list_packages,
    package_bytes,
    package_report,
)
from node.events import get_case
from node.web import actor_of, current_user, runtime_of
from protocol.archive import RETENTION_LABELS, STAGES
from protocol.events import STATUS_LABELS


@get("/archive", media_type=MediaType.HTML)
async def archive_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    runtime = runtime_of(request)
    packages = await list_packages(runtime)
    return Template(
        template_name="archive.html",
        context={
            "user": user,
            "may_archive": user["role"] in ARCHIVE_ROLES,
            "closed": await archivable_cases(runtime),
            "awaiting": [p for p in packages if p.state != "confirmed"],
            "archived": [p for p in packages if p.state == "confirmed"],
            "status_labels": STATUS_LABELS,
            "state_labels": STATE_LABELS,
            "active": "archive",
        },
    )


@post("/archive/cases/{case_id:str}", media_type=MediaType.HTML, status_code=200)
async def archive_submit(request: Request[Any, Any, State], case_id: FromPath[str]) -> Template | Redirect:
    user = current_user(request, *ARCHIVE_ROLES)
    runtime = runtime_of(request)
    outcome = await archive_case(runtime, actor=actor_of(user), case_id=case_id)
    if outcome.archived:
        return Redirect(path=f"/archive/cases/{case_id}")
    state = await get_case(runtime, case_id)
    return Template(
        template_name="archive_report.html",
        context={
            "user": user,
            "report": outcome.report,
            "groups": outcome.report.grouped(),
            "case": state,
            "closed_at": closed_at(state),
            "row": None,
            "failed_attempt": True,
            "stages": STAGES,
            "retention_labels": RETENTION_LABELS,
            "state_labels": STATE_LABELS,
            "active": "archive",
        },
    )


@get("/archive/cases/{case_id:str}", media_type=MediaType.HTML)
async def report_page(request: Request[Any, Any, State], case_id: FromPath[str]) -> Template:
    user = current_user(request)
    runtime = runtime_of(request)
    report, row = await package_report(runtime, case_id)
    state = await get_case(runtime, case_id)
    return Template(
        template_name="archive_report.html",
        context={
            "user": user,
            "report": report,
            "groups": report.grouped() if report else [],
            "case": state,
            "closed_at": closed_at(state),
            "row": row,
            "failed_attempt": False,
            "stages": STAGES,
            "retention_labels": RETENTION_LABELS,
            "state_labels": STATE_LABELS,
            "active": "archive",
        },
    )


@get("/archive/cases/{case_id:str}/package.zip")
async def package_download(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[bytes]:
    current_user(request, *ARCHIVE_ROLES)
    name, data = await package_bytes(runtime_of(request), case_id)
    return Response(
        content=data,
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@get("/api/v1/archive", media_type=MediaType.JSON)
async def api_archive(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    runtime = runtime_of(request)
    return {
        "closed": [
            {"case_id": c.case_id, "case_number": c.case_number, "status": c.status}
            for c in await archivable_cases(runtime)
        ],
        "packages": [
            {
                "case_id": p.case.case_id,
                "case_number": p.case.case_number,
                "package": p.package,
                "archival_number": p.archival_number,
                "retention": p.retention,
                "size": p.size,
                "archived_at": p.archived_at,
                "state": p.state,
                "local_copy": p.local_copy,
                "central_checks": list(p.central_checks),
            }
            for p in await list_packages(runtime)
        ],
    }


@post("/api/v1/archive/cases/{case_id:str}", media_type=MediaType.JSON, status_code=200)
async def api_archive_case(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, *ARCHIVE_ROLES)
    outcome = await archive_case(runtime_of(request), actor=actor_of(user), case_id=case_id)
    body = {
        "archived": outcome.archived,
        "package": outcome.package_sha256,
        "report": outcome.report.to_dict(),
    }
    return Response(content=body, status_code=200 if outcome.archived else 422, media_type=MediaType.JSON)


@get("/api/v1/archive/cases/{case_id:str}/report", media_type=MediaType.JSON)
async def api_report(request: Request[Any, Any, State], case_id: FromPath[str]) -> dict[str, Any]:
    current_user(request)
    report, row = await package_report(runtime_of(request), case_id)
    return {
        "package": row.package,
        "archival_number": row.archival_number,
        "state": row.state,
        "local_copy": row.local_copy,
        "summary_at_archiving": row.event.payload.get("check"),
        "central_checks": list(row.central_checks),
        "report": report.to_dict() if report else None,
    }


ROUTES = [
    archive_page,
    archive_submit,
    report_page,
    package_download,
    api_archive,
    api_archive_case,
    api_report,
]
