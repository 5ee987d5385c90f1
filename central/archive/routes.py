"""Central's archive pages and API: the packages received from the centres and the four-property check report
central ran on each at receipt (移交接收检测), as a readable page and as JSON. Any back-office account may read
the register (the same session the other central pages use)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Template

from central.archive.service import list_packages, package_report, record_to_json
from central.registry import node_names
from central.web import central_of, current_user
from protocol.archive import RETENTION_LABELS, STAGES, kept_until


@get("/archive", media_type=MediaType.HTML)
async def archive_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    async with central_of(request).db.transaction() as session:
        packages = await list_packages(session)
        nodes = await node_names(session)
    return Template(
        template_name="archive.html",
        context={
            "user": user,
            "packages": packages,
            "nodes": nodes,
            "retention_labels": RETENTION_LABELS,
            "passed": sum(1 for p in packages if p.passed),
            "kept_until": kept_until,
            "active": "archive",
        },
    )


@get("/archive/{sha256:str}", media_type=MediaType.HTML)
async def report_page(request: Request[Any, Any, State], sha256: FromPath[str]) -> Template:
    user = current_user(request)
    async with central_of(request).db.transaction() as session:
        record, report = await package_report(session, sha256)
        nodes = await node_names(session)
    return Template(
        template_name="archive_report.html",
        context={
            "user": user,
            "record": record,
            "report": report,
            "groups": report.grouped(),
            "node_name": nodes.get(record.node_id, record.node_id),
            "stages": STAGES,
            "retention_labels": RETENTION_LABELS,
            "kept_until": kept_until,
            "active": "archive",
        },
    )


@get("/api/v1/archive", media_type=MediaType.JSON)
async def api_archive(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    async with central_of(request).db.transaction() as session:
        return {"packages": [record_to_json(r) for r in await list_packages(session)]}


@get("/api/v1/archive/{sha256:str}", media_type=MediaType.JSON)
async def api_report(request: Request[Any, Any, State], sha256: FromPath[str]) -> dict[str, Any]:
    current_user(request)
    async with central_of(request).db.transaction() as session:
        record, report = await package_report(session, sha256)
    return {**record_to_json(record), "report": report.to_dict()}


ROUTES = [archive_page, report_page, api_archive, api_report]
