"""Central's access guard and the county admin's node staff pages (节点账号, R-PROV-3).

The guard (`login_guard`) runs before every handler: a back-office session is refused once idle too long or past
its lifetime, or when its account was disabled or changed since the login; only `PUBLIC_PATHS` and the node sync
API (``/sync/v1/*``, where nodes prove themselves by signature) are open without a login. Handlers then check
their roles.

The staff pages list a node's accounts and let the county admin create one, disable or enable it, reset its
password (the new one is shown once) and choose a lead's 即办件 authorities; each change goes down to the node.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Template
from sqlmodel import col, func, select

from central.accounts import session_refusal
from central.catalogue_admin import newest_catalogue
from central.models import NodeRecord, NodeStaffRecord
from central.staff_admin import (
    authorities_of,
    create_account,
    node_staff,
    on_spot_items,
    reset_password,
    set_authorities,
    set_disabled,
)
from protocol.errors import AUTH_REQUIRED, FORBIDDEN, NOT_FOUND, SESSION_EXPIRED, VALIDATION, OneWindowError
from protocol.staff import NODE_ROLES, SESSION_REFUSALS, SessionPolicy

#: Open without a login: the login itself and health; static files; the node sync API (signed requests).
PUBLIC_PATHS = frozenset({"/login", "/api/v1/login", "/healthz"})


def is_public(path_template: str) -> bool:
    """Whether a route (its path template, as routing reports it) is open without a login."""
    return (
        path_template in PUBLIC_PATHS
        or path_template == "/static"
        or path_template.startswith(("/static/", "/sync/v1/"))
    )


def session_stamp() -> float:
    """Session times are on the wall clock (see `node.auth_routes`)."""
    return time.time()


def login_guard(policy: SessionPolicy) -> Any:
    """The app-wide guard: refuse stale sessions, require a login everywhere but the public paths."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        template = str(connection.scope.get("path_template") or connection.scope["path"])
        if template.startswith("/sync/v1/"):
            return  # nodes carry no session; they sign every request
        session = connection.scope.get("session")
        session = session if isinstance(session, dict) else {}
        refused: str | None = None
        user = session.get("user")
        if user:
            auth = session.get("auth")
            if not isinstance(auth, dict):
                refused = "lifetime"
            else:
                now = session_stamp()
                refused = policy.refusal(
                    issued_at=float(auth.get("issued_at", 0)),
                    last_seen=float(auth.get("last_seen", 0)),
                    now=now,
                )
                if refused is None:
                    async with connection.app.state.central.db.transaction() as db:
                        refused = await session_refusal(
                            db, username=str(user.get("username", "")), cred=auth.get("cred")
                        )
                if refused is None:
                    auth["last_seen"] = now
            if refused is not None:
                connection.set_session({})
                user = None
        if is_public(template) or user:
            return
        if refused is not None:
            raise OneWindowError(SESSION_EXPIRED, SESSION_REFUSALS[refused], field="session", why=refused)
        raise OneWindowError(AUTH_REQUIRED, "请先登录")

    return guard


def _admin(request: Request[Any, Any, State]) -> dict[str, str]:
    user = request.session.get("user") if request.scope.get("session") is not None else None
    if not user:
        raise OneWindowError(AUTH_REQUIRED, "请先登录")
    if user["role"] != "admin":
        raise OneWindowError(FORBIDDEN, "只有县管理员可以管理节点账号", field="role")
    return dict(user)


def _now(request: Request[Any, Any, State]) -> datetime:
    now = getattr(request.app.state.central, "now", None)
    return now() if callable(now) else datetime.now(UTC)


async def _node(request: Request[Any, Any, State], node_id: str) -> NodeRecord:
    async with request.app.state.central.db.transaction() as session:
        node = await session.get(NodeRecord, node_id)
    if node is None:
        raise OneWindowError(NOT_FOUND, f"没有节点 {node_id}", field="node_id")
    return node


async def _page(
    request: Request[Any, Any, State],
    node_id: str,
    *,
    user: dict[str, str],
    error: OneWindowError | None = None,
    shown: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    central = request.app.state.central
    node = await _node(request, node_id)
    async with central.db.transaction() as session:
        accounts = await node_staff(session, node_id)
        catalogue = await newest_catalogue(session, central.catalogue)
    items = on_spot_items(catalogue)
    return Template(
        template_name="node_staff.html",
        context={
            "user": user,
            "node": node,
            "accounts": [(a, authorities_of(a)) for a in accounts],
            "items": items,
            "item_names": {i.code: i.name for i in items},
            "roles": NODE_ROLES,
            "error": error,
            "shown": shown,
            "active": "staff",
        },
        status_code=status_code,
    )


@get("/staff", media_type=MediaType.HTML)
async def staff_index(request: Request[Any, Any, State]) -> Template:
    """Every node with its number of accounts: where the admin picks a node."""
    user = _admin(request)
    async with request.app.state.central.db.transaction() as session:
        nodes = (await session.exec(select(NodeRecord).order_by(col(NodeRecord.number)))).all()
        counts = dict(
            (
                await session.exec(
                    select(NodeStaffRecord.node_id, func.count()).group_by(col(NodeStaffRecord.node_id))
                )
            ).all()
        )
    return Template(
        template_name="node_staff_index.html",
        context={"user": user, "nodes": nodes, "counts": counts, "active": "staff"},
    )


@get("/nodes/{node_id:str}/staff", media_type=MediaType.HTML)
async def staff_page(request: Request[Any, Any, State], node_id: FromPath[str]) -> Template:
    return await _page(request, node_id, user=_admin(request))


@post("/nodes/{node_id:str}/staff", media_type=MediaType.HTML, status_code=200)
async def staff_create(request: Request[Any, Any, State], node_id: FromPath[str]) -> Response[Any]:
    user = _admin(request)
    form = await request.form()
    central = request.app.state.central
    try:
        async with central.db.transaction() as session:
            record, password = await create_account(
                session,
                central.county,
                node_id=node_id,
                username=str(form.get("username", "")),
                display_name=str(form.get("display_name", "")),
                role=str(form.get("role", "")),
                authorities=[str(code) for code in form.getall("authorities", [])],
                catalogue=await newest_catalogue(session, central.catalogue),
                actor=user["username"],
                now=_now(request),
            )
    except OneWindowError as exc:
        return await _page(request, node_id, user=user, error=exc, status_code=exc.problem.status)
    shown = {"username": record.username, "display_name": record.display_name, "password": password}
    return await _page(request, node_id, user=user, shown={**shown, "what": "已创建账号"})


@post("/nodes/{node_id:str}/staff/{username:str}/{action:str}", media_type=MediaType.HTML, status_code=200)
async def staff_action(
    request: Request[Any, Any, State], node_id: FromPath[str], username: FromPath[str], action: FromPath[str]
) -> Response[Any]:
    """停用 disable, 启用 enable, 重置密码 reset, 即办件授权 authorities."""
    user = _admin(request)
    central = request.app.state.central
    form = await request.form()
    shown: dict[str, str] | None = None
    try:
        if action not in ("disable", "enable", "reset", "authorities"):
            raise OneWindowError(VALIDATION, "未知的操作", field="action")
        async with central.db.transaction() as session:
            if action in ("disable", "enable"):
                await set_disabled(
                    session,
                    central.county,
                    node_id=node_id,
                    username=username,
                    disabled=action == "disable",
                    actor=user["username"],
                    now=_now(request),
                )
            elif action == "reset":
                record, password = await reset_password(
                    session,
                    central.county,
                    node_id=node_id,
                    username=username,
                    actor=user["username"],
                    now=_now(request),
                )
                shown = {
                    "username": record.username,
                    "display_name": record.display_name,
                    "password": password,
                    "what": "已重置密码",
                }
            else:
                await set_authorities(
                    session,
                    central.county,
                    node_id=node_id,
                    username=username,
                    authorities=[str(code) for code in form.getall("authorities", [])],
                    catalogue=await newest_catalogue(session, central.catalogue),
                    actor=user["username"],
                    now=_now(request),
                )
    except OneWindowError as exc:
        return await _page(request, node_id, user=user, error=exc, status_code=exc.problem.status)
    return await _page(request, node_id, user=user, shown=shown)


@get("/api/v1/nodes/{node_id:str}/staff", media_type=MediaType.JSON)
async def api_staff(request: Request[Any, Any, State], node_id: FromPath[str]) -> dict[str, Any]:
    """A node's accounts as central holds them (never the hashes)."""
    _admin(request)
    await _node(request, node_id)
    async with request.app.state.central.db.transaction() as session:
        accounts = await node_staff(session, node_id)
    return {
        "staff": [
            {
                "username": a.username,
                "display_name": a.display_name,
                "role": a.role,
                "disabled": a.disabled,
                "authorities": authorities_of(a),
                "version": a.version,
                "updated_at": a.updated_at,
                "updated_by": a.updated_by,
            }
            for a in accounts
        ]
    }


ROUTES = [staff_index, staff_page, staff_create, staff_action, api_staff]
