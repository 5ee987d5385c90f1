"""Back-office login at central (后台登录) and the access guard on every route.

The guard (`login_guard`) runs before every handler: a back-office session is refused once idle too long or past
its lifetime, or when its account was disabled or changed since the login; only `PUBLIC_PATHS` and the node sync
API (``/sync/v1/*``, where nodes prove themselves by signature) are open without a login. Handlers then check
their roles (`central.web.current_user`). Lockout after repeated failures is `central.county.accounts`'.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromQuery, JSONBody
from litestar.response import Redirect, Template

from central.clock import utc_now
from central.county.accounts import check_login, credential_tag, end_session, session_refusal, start_session
from central.county.schemas import LoggedInUser, LoginAnswer, LoginRequest
from central.web import central_of
from protocol.errors import AUTH_REQUIRED, SESSION_EXPIRED, OneWindowError
from protocol.staff import CENTRAL_ROLES, SESSION_REFUSALS, SessionPolicy

#: Open without a login: the login itself and health; static files; the node sync API (signed requests).
#: ``/metrics`` answers only with its bearer token (`central.county.metrics_routes`).
PUBLIC_PATHS = frozenset({"/login", "/api/v1/login", "/healthz", "/metrics"})


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
                            db,
                            username=str(user.get("username", "")),
                            cred=auth.get("cred"),
                            sid=auth.get("sid"),
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


async def _authenticate(request: Request[Any, Any, State], username: str, password: str) -> dict[str, Any]:
    """The session to start for these credentials (lockout in `central.county.accounts`)."""
    now = request.app.state.get("now", utc_now)()
    stamp = session_stamp()
    async with central_of(request).db.transaction() as session:
        result = await check_login(session, username=username, password=password, now=now)
        if not isinstance(result, OneWindowError):  # a new session id at every login
            sid = start_session(session, result.username, datetime.fromtimestamp(stamp, UTC).isoformat())
    if isinstance(result, OneWindowError):
        raise result  # after the commit: the failure is counted
    user = {
        "username": result.username,
        "display_name": result.display_name,
        "role": result.role,
        "role_label": CENTRAL_ROLES.get(result.role, result.role),
    }
    auth = {"issued_at": stamp, "last_seen": stamp, "cred": credential_tag(result), "sid": sid}
    return {"user": user, "auth": auth}


@post("/api/v1/login", media_type=MediaType.JSON, status_code=200)
async def api_login(request: Request[Any, Any, State], data: JSONBody[LoginRequest]) -> LoginAnswer:
    login = await _authenticate(request, data.username, data.password)
    request.set_session(login)
    return LoginAnswer(user=LoggedInUser(**login["user"]))


def _login_context(next_path: Any, error: str | None) -> dict[str, Any]:
    return {"heading": "后台登录", "next": next_path, "error": error}


@get("/login", media_type=MediaType.HTML)
async def login_page(next: FromQuery[str] = "/cases", why: FromQuery[str] = "") -> Template:
    return Template(
        template_name="common/login.html", context=_login_context(next, SESSION_REFUSALS.get(why))
    )


@post("/login", media_type=MediaType.HTML, status_code=200)
async def login_submit(request: Request[Any, Any, State]) -> Response[Any]:
    form = await request.form()
    try:
        login = await _authenticate(request, str(form.get("username", "")), str(form.get("password", "")))
    except OneWindowError as exc:
        return Template(
            template_name="common/login.html",
            # the user name stays typed (only the password is asked again)
            context={
                **_login_context(form.get("next", "/cases"), exc.reason),
                "username": form.get("username", ""),
            },
            status_code=exc.problem.status,
        )
    request.set_session(login)
    target = str(form.get("next") or "/cases")
    return Redirect(path=target if target.startswith("/") and not target.startswith("//") else "/cases")


@post("/logout", media_type=MediaType.HTML, status_code=200)
async def logout(request: Request[Any, Any, State]) -> Redirect:
    auth = request.session.get("auth") if request.scope.get("session") else None
    async with central_of(request).db.transaction() as session:
        await end_session(
            session,
            auth.get("sid") if isinstance(auth, dict) else None,
            datetime.fromtimestamp(session_stamp(), UTC).isoformat(),
        )
    request.clear_session()
    return Redirect(path="/login")


ROUTES = [api_login, login_page, login_submit, logout]
