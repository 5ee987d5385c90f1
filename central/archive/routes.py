"""Central's archive pages and API: the packages received from the centres and the four-property check report
central ran on each at receipt (移交接收检测), as a readable page and as JSON."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Template

from central.archive import list_packages, package_report, record_to_json
from central.backoffice import list_nodes
from protocol.archive import PROPERTIES, RETENTION_LABELS, STAGES, kept_until
from protocol.errors import AUTH_REQUIRED, OneWindowError


def _user(request: Request[Any, Any, State]) -> dict[str, str]:
    # Any back-office account may read the archive register (the same session the other central pages use).
    user = request.session.get("user") if request.scope.get("session") is not None else None
    if not user:
        raise OneWindowError(AUTH_REQUIRED, "请先登录")
    return dict(user)


def _db(request: Request[Any, Any, State]) -> Any:
    return request.app.state.central.db


@get("/archive", media_type=MediaType.HTML)
async def archive_page(request: Request[Any, Any, State]) -> Template:
    user = _user(request)
    async with _db(request).transaction() as session:
        packages = await list_packages(session)
        nodes = {n.node_id: n.name for n in await list_nodes(session)}
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
    user = _user(request)
    async with _db(request).transaction() as session:
        record, report = await package_report(session, sha256)
        nodes = {n.node_id: n.name for n in await list_nodes(session)}
    groups = [
        (f"{label}（{english}）", [i for i in report.items if i.property == code])
        for code, (label, english) in PROPERTIES.items()
    ]
    return Template(
        template_name="archive_report.html",
        context={
            "user": user,
            "record": record,
            "report": report,
            "groups": groups,
            "node_name": nodes.get(record.node_id, record.node_id),
            "stages": STAGES,
            "retention_labels": RETENTION_LABELS,
            "kept_until": kept_until,
            "active": "archive",
        },
    )


@get("/api/v1/archive", media_type=MediaType.JSON)
async def api_archive(request: Request[Any, Any, State]) -> dict[str, Any]:
    _user(request)
    async with _db(request).transaction() as session:
        return {"packages": [record_to_json(r) for r in await list_packages(session)]}


@get("/api/v1/archive/{sha256:str}", media_type=MediaType.JSON)
async def api_report(request: Request[Any, Any, State], sha256: FromPath[str]) -> dict[str, Any]:
    _user(request)
    async with _db(request).transaction() as session:
        record, report = await package_report(session, sha256)
    return {**record_to_json(record), "report": report.to_dict()}


ROUTES = [archive_page, report_page, api_archive, api_report]
