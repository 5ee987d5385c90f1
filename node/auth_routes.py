"""Login and logout on the tablet (staff accounts verified offline)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody
from litestar.response import Redirect, Template

from node.staff import authenticate
from node.web import runtime_of
from protocol.errors import OneWindowError
from protocol.staff import NODE_ROLES


def _session_user(username: str, display_name: str, role: str) -> dict[str, str]:
    return {
        "username": username,
        "display_name": display_name,
        "role": role,
        "role_label": NODE_ROLES.get(role, role),
    }


@get("/login", media_type=MediaType.HTML)
async def login_page(request: Request[Any, Any, State], next: FromQuery[str] = "/cases") -> Template:
    runtime = runtime_of(request)
    return Template(
        template_name="login.html", context={"next": next, "error": None, "centre": runtime.identity.name}
    )


@post("/login", media_type=MediaType.HTML, status_code=200)
async def login_submit(request: Request[Any, Any, State]) -> Response[Any]:
    runtime = runtime_of(request)
    form = await request.form()
    try:
        staff = await authenticate(
            runtime, username=str(form.get("username", "")), password=str(form.get("password", ""))
        )
    except OneWindowError as exc:
        context = {"next": form.get("next", "/cases"), "error": exc.reason, "centre": runtime.identity.name}
        return Template(template_name="login.html", context=context, status_code=401)
    request.set_session({"user": _session_user(staff.username, staff.display_name, staff.role)})
    target = str(form.get("next") or "/cases")
    return Redirect(path=target if target.startswith("/") and not target.startswith("//") else "/cases")


@post("/logout", media_type=MediaType.HTML, status_code=200)
async def logout(request: Request[Any, Any, State]) -> Redirect:
    request.clear_session()
    return Redirect(path="/login")


@post("/api/v1/login", media_type=MediaType.JSON, status_code=200)
async def api_login(request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    staff = await authenticate(
        runtime_of(request), username=str(data.get("username", "")), password=str(data.get("password", ""))
    )
    user = _session_user(staff.username, staff.display_name, staff.role)
    request.set_session({"user": user})
    return {"user": user}


ROUTES = [login_page, login_submit, logout, api_login]
