"""Login and logout on the tablet (staff accounts verified offline), and the guard every route passes.

The guard (`login_guard`) runs before any handler, so a route that forgets its check is still closed:
- a session is refused once idle too long or past its lifetime (`SessionPolicy`, on the wall clock: the
  runtime's clock is the legal clock, which tests move by days while a clerk stays logged in), or when central
  has since disabled the account, reset its password or changed its role (the account row is read on each
  request: one primary-key lookup);
- only `PUBLIC_PATHS` (login, health, the hall board, static files) are open without a login, and a tablet
  turned into a kiosk reaches only `KIOSK_PATHS`;
- each handler then checks the role it needs with `node.web.current_user(request, *roles)`.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from litestar import MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromQuery, JSONBody
from litestar.response import Redirect, Template
from msgspec import Meta, Struct

from node.models import Staff
from node.staff import authenticate, credential_tag, end_session, session_standing, start_session
from node.web import runtime_of
from protocol.errors import AUTH_REQUIRED, SESSION_EXPIRED, OneWindowError
from protocol.limits import MAX_CODE, MAX_NAME
from protocol.staff import NODE_ROLES, SESSION_REFUSALS, SessionPolicy

#: Routes open without a login (path templates, parameters without their types): the login itself, health, the hall board, static files.
PUBLIC_PATHS = frozenset(
    {"/login", "/api/v1/login", "/healthz", "/board", "/board/state", "/api/v1/tickets/board", "/metrics"}
)
#: Routes a tablet in kiosk mode (取号机, no staff logged in) may reach; their handlers decide the rest.
KIOSK_PATHS = frozenset(
    {
        "/kiosk",
        "/kiosk/tickets",
        "/kiosk/tickets/{ticket_id}",
        "/api/v1/tickets",
        "/api/v1/tickets/categories",
    }
)


class Login(Struct, kw_only=True):
    """登录 with a node account (the JSON API's body; the page posts the same fields as a form)."""

    username: Annotated[str, Meta(description="工号（用户名）", max_length=MAX_CODE)] = ""
    password: Annotated[str, Meta(description="密码", max_length=MAX_NAME)] = ""


def _session_user(staff: Staff) -> dict[str, str]:
    return {
        "username": staff.username,
        "display_name": staff.display_name,
        "role": staff.role,
        "role_label": NODE_ROLES.get(staff.role, staff.role),
    }


async def _start_session(request: Request[Any, Any, State], staff: Staff) -> dict[str, str]:
    """A new session (a new id: whatever the cookie held before the login is replaced whole)."""
    user = _session_user(staff)
    stamp = time.time()
    sid = await start_session(runtime_of(request), staff.username)
    auth = {"issued_at": stamp, "last_seen": stamp, "cred": credential_tag(staff), "sid": sid}
    request.set_session({"user": user, "auth": auth})
    return user


def is_public(path_template: str) -> bool:
    """Whether a route (its path template without parameter types, as routing reports it) is open to all."""
    return path_template in PUBLIC_PATHS or path_template == "/static" or path_template.startswith("/static/")


def login_guard(policy: SessionPolicy) -> Any:
    """The app-wide guard: refuse stale sessions, require a login everywhere but the public paths."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        session = connection.scope.get("session")
        session = session if isinstance(session, dict) else {}
        template = str(connection.scope.get("path_template") or connection.scope["path"])
        refused: str | None = None
        if session.get("user"):
            refused = await _refusal(connection, session, policy)
            if refused is not None:
                connection.set_session({})
                session = {}
        if is_public(template) or (session.get("kiosk") and template in KIOSK_PATHS):
            return
        if not session.get("user"):
            if refused is not None:
                raise OneWindowError(SESSION_EXPIRED, SESSION_REFUSALS[refused], field="session", why=refused)
            raise OneWindowError(AUTH_REQUIRED, "请先登录")

    return guard


async def _refusal(
    connection: ASGIConnection[Any, Any, Any, Any], session: dict[str, Any], policy: SessionPolicy
) -> str | None:
    """Why this logged-in session may not go on (a key of `SESSION_REFUSALS`), or None; touches last_seen."""
    runtime = connection.app.state.runtime
    auth = session.get("auth")
    if not isinstance(auth, dict):
        return "lifetime"  # a session from before sessions expired: start again
    now = time.time()
    why = policy.refusal(
        issued_at=float(auth.get("issued_at", 0)), last_seen=float(auth.get("last_seen", 0)), now=now
    )
    if why is not None:
        return why
    standing = await session_standing(
        runtime,
        username=str(session["user"].get("username", "")),
        credential=auth.get("cred"),
        sid=auth.get("sid"),
    )
    if standing is not None:
        return standing
    auth["last_seen"] = now
    connection.scope["session"] = session  # the cookie is written again with the new last_seen
    return None


def _login_context(request: Request[Any, Any, State], next_path: Any, error: str | None) -> dict[str, Any]:
    identity = runtime_of(request).identity
    return {
        "heading": "工作人员登录",
        "subtitle": f"{identity.county_name} · {identity.name}",
        "note": "断网时也可登录：账号由县中心下发，在本机离线核验。",
        "next": next_path,
        "error": error,
    }


@get("/login", media_type=MediaType.HTML)
async def login_page(
    request: Request[Any, Any, State], next: FromQuery[str] = "/cases", why: FromQuery[str] = ""
) -> Template:
    return Template(
        template_name="common/login.html", context=_login_context(request, next, SESSION_REFUSALS.get(why))
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
        context = _login_context(request, form.get("next", "/cases"), exc.reason)
        context["username"] = str(form.get("username", ""))[
            :64
        ]  # stays typed: only the password is asked again
        return Template(template_name="common/login.html", context=context, status_code=exc.problem.status)
    await _start_session(request, staff)
    target = str(form.get("next") or "/cases")
    return Redirect(path=target if target.startswith("/") and not target.startswith("//") else "/cases")


@post("/logout", media_type=MediaType.HTML, status_code=200)
async def logout(request: Request[Any, Any, State]) -> Redirect:
    auth = request.session.get("auth") if request.scope.get("session") else None
    await end_session(runtime_of(request), auth.get("sid") if isinstance(auth, dict) else None)
    request.clear_session()
    return Redirect(path="/login")


@post("/api/v1/login", media_type=MediaType.JSON, status_code=200)
async def api_login(request: Request[Any, Any, State], data: JSONBody[Login]) -> dict[str, Any]:
    staff = await authenticate(runtime_of(request), username=data.username, password=data.password)
    return {"user": await _start_session(request, staff)}


ROUTES = [login_page, login_submit, logout, api_login]
