"""Central's web plumbing shared by every route module: the app's shared state (`central_of`), the logged-in
back-office user and the role each handler requires (`current_user`), the problem responses of the error
catalogue (``application/problem+json``, or the login page for a browser that lost its session), and the
template filters the pages use.

The login itself, and the guard that refuses stale sessions before any handler runs, are the county's
(`central.county.auth_routes`)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect

from central.runtime import Central
from protocol.errors import AUTH_REQUIRED, FORBIDDEN, MALFORMED_REQUEST, SESSION_EXPIRED, OneWindowError
from protocol.events import EVENT_LABELS
from protocol.hall import HALL_EVENT_LABELS
from protocol.hlc import local_display, to_datetime


def central_of(request: Request[Any, Any, State]) -> Central:
    """What the handlers share (set up by the app's lifespan)."""
    central: Central = request.app.state.central
    return central


def current_user(
    request: Request[Any, Any, State], *roles: str, refusal: str | None = None
) -> dict[str, str]:
    """The logged-in back-office user; with `roles`, one of them is required (`refusal` says why not, in the
    page's own words, else the roles are named)."""
    user = request.session.get("user") if request.scope.get("session") is not None else None
    if not user:
        raise OneWindowError(AUTH_REQUIRED, "请先登录")
    if roles and user["role"] not in roles:
        raise OneWindowError(FORBIDDEN, refusal or f"需要角色：{'、'.join(roles)}", field="role")
    return dict(user)


def _wants_html(request: Request[Any, Any, State]) -> bool:
    return not request.url.path.startswith(("/api/", "/sync/")) and "text/html" in request.headers.get(
        "accept", ""
    )


def problem_handler(request: Request[Any, Any, State], exc: OneWindowError) -> Response[Any]:
    if exc.problem in (AUTH_REQUIRED, SESSION_EXPIRED) and _wants_html(request):
        why = f"&why={exc.extra['why']}" if exc.extra.get("why") else ""  # the login page says why
        return Redirect(path=f"/login?next={quote(request.url.path)}{why}")
    return Response(
        content=exc.to_problem_json(), status_code=exc.problem.status, media_type="application/problem+json"
    )


def validation_handler(request: Request[Any, Any, State], exc: ValidationException) -> Response[Any]:
    """A body or parameter the framework refused (wrong type, missing field): the problem names the field as
    the request wrote it (``annotations[0].page``, ``up.hash``), or ``body`` when the body as a whole was wrong."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    first = extra[0] if extra and isinstance(extra[0], dict) else {}
    message = str(first.get("message") or "")
    key = "" if first.get("key") in (None, "data") else str(first["key"])
    missing = re.fullmatch(r"Object missing required field `(.+)`", message)
    if missing:  # the framework names the object; the field at fault is the one missing from it
        key = f"{key}.{missing.group(1)}" if key else missing.group(1)
    field = key or "body"
    detail = f"{field}: {message}" if message else str(exc.detail)
    return problem_handler(request, OneWindowError(MALFORMED_REQUEST, detail, field=field))


def http_exception_handler(request: Request[Any, Any, State], exc: HTTPException) -> Response[Any]:
    """Framework-level client errors (malformed JSON, body too large …) in the same problem format."""
    if isinstance(exc, ValidationException):
        return validation_handler(request, exc)
    if exc.status_code >= 500:
        raise exc
    detail = "请求内容不是有效的 JSON" if "JSON" in str(exc.detail) else str(exc.detail)
    error = OneWindowError(MALFORMED_REQUEST, detail, field="body")
    return Response(
        content={**error.to_problem_json(), "status": exc.status_code},
        status_code=exc.status_code,
        media_type="application/problem+json",
    )


def template_setup(engine: JinjaTemplateEngine) -> None:
    """The filters and labels every page uses: China time for UTC stamps and HLC stamps, event labels."""
    engine.engine.filters.update(
        local=local_display,
        hlc_local=lambda stamp: local_display(to_datetime(stamp).isoformat(), seconds=True),
    )
    engine.engine.globals.update(event_labels={**EVENT_LABELS, **HALL_EVENT_LABELS})
