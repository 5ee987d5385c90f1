"""The county admin's node staff pages and API (节点账号, R-PROV-3): a node's accounts, and creating one,
disabling or enabling it, resetting its password (the new one is shown once) and choosing a lead's 即办件
authorities; each change goes down to the node. Thin handlers over `central.county.staff`."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Template

from central.catalogue.service import newest_catalogue
from central.clock import utc_now
from central.county.schemas import NodeStaffAnswer, NodeStaffView
from central.county.staff import (
    authorities_of,
    create_account,
    node_staff,
    on_spot_items,
    reset_password,
    set_authorities,
    set_disabled,
    staff_counts,
)
from central.models import NodeRecord
from central.registry import get_node, list_nodes
from central.web import central_of, current_user
from protocol.errors import NOT_FOUND, VALIDATION, OneWindowError
from protocol.staff import NODE_ROLES


def _admin(request: Request[Any, Any, State]) -> dict[str, str]:
    return current_user(request, "admin", refusal="只有县管理员可以管理节点账号")


async def _node(request: Request[Any, Any, State], node_id: str) -> NodeRecord:
    async with central_of(request).db.transaction() as session:
        node = await get_node(session, node_id)
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
    central = central_of(request)
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
    async with central_of(request).db.transaction() as session:
        nodes = await list_nodes(session)
        counts = await staff_counts(session)
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
    central = central_of(request)
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
                now=utc_now(),
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
    central = central_of(request)
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
                    now=utc_now(),
                )
            elif action == "reset":
                record, password = await reset_password(
                    session,
                    central.county,
                    node_id=node_id,
                    username=username,
                    actor=user["username"],
                    now=utc_now(),
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
                    now=utc_now(),
                )
    except OneWindowError as exc:
        return await _page(request, node_id, user=user, error=exc, status_code=exc.problem.status)
    return await _page(request, node_id, user=user, shown=shown)


@get("/api/v1/nodes/{node_id:str}/staff", media_type=MediaType.JSON)
async def api_staff(request: Request[Any, Any, State], node_id: FromPath[str]) -> NodeStaffAnswer:
    """A node's accounts as central holds them (never the hashes)."""
    _admin(request)
    await _node(request, node_id)
    async with central_of(request).db.transaction() as session:
        accounts = await node_staff(session, node_id)
    return NodeStaffAnswer(
        staff=[
            NodeStaffView(
                username=a.username,
                display_name=a.display_name,
                role=a.role,
                disabled=a.disabled,
                authorities=authorities_of(a),
                version=a.version,
                updated_at=a.updated_at,
                updated_by=a.updated_by,
            )
            for a in accounts
        ]
    )


ROUTES = [staff_index, staff_page, staff_create, staff_action, api_staff]
