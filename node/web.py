"""Web plumbing shared by the node's route modules: who is logged in (and as which actor, at which window), the
form inputs every page parses the same way (a drawn signature, a date), problem responses."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Any
from urllib.parse import quote, unquote

from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect

from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.errors import (
    AUTH_REQUIRED,
    FILE_REJECTED,
    FORBIDDEN,
    MALFORMED_REQUEST,
    SESSION_EXPIRED,
    VALIDATION,
    OneWindowError,
)


def runtime_of(request: Request[Any, Any, State]) -> NodeRuntime:
    runtime: NodeRuntime = request.app.state.runtime
    return runtime


def wants_html(request: Request[Any, Any, State]) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def actor_of(user: dict[str, str]) -> Actor:
    """The logged-in staff member as the actor services record."""
    return Actor(username=user["username"], role=user["role"])


#: Cookies of a window tablet: its window's name and the ticket categories it serves (they survive logging out).
WINDOW_COOKIE = "ow_window"
CATEGORIES_COOKIE = "ow_window_categories"


def window_name(request: Request[Any, Any, State]) -> str:
    """The name of the window this tablet sits at (set on the window page), or ""."""
    return unquote(request.cookies.get(WINDOW_COOKIE, "")).strip()


def current_user(request: Request[Any, Any, State], *roles: str) -> dict[str, str]:
    """The logged-in staff member; OW-1101 when nobody is, OW-1102 when the role may not do this."""
    user = request.session.get("user") if request.scope.get("session") is not None else None
    if not user:
        raise OneWindowError(AUTH_REQUIRED, "请先登录")
    if roles and user["role"] not in roles:
        raise OneWindowError(FORBIDDEN, "您的岗位不能进行此操作", field="role")
    return dict(user)


def decode_png(value: object, field: str) -> bytes | None:
    """A PNG from a canvas data URL (``data:image/png;base64,…``) or plain base64; None when empty."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise OneWindowError(MALFORMED_REQUEST, "应为 base64 编码的 PNG", field=field)
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise OneWindowError(FILE_REJECTED, "签名图片无法解码", field=field) from None


def parse_day(value: object, field: str) -> date:
    """A date typed as 年-月-日, or OW-1001 naming the field."""
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise OneWindowError(VALIDATION, "日期格式应为 年-月-日，如 2026-12-01", field=field) from None


def problem_handler(request: Request[Any, Any, State], exc: OneWindowError) -> Response[Any]:
    if exc.problem in (AUTH_REQUIRED, SESSION_EXPIRED) and wants_html(request):
        why = f"&why={exc.extra['why']}" if exc.extra.get("why") else ""  # the login page says why
        return Redirect(path=f"/login?next={quote(request.url.path)}{why}")
    return Response(
        content=exc.to_problem_json(), status_code=exc.problem.status, media_type="application/problem+json"
    )


def validation_handler(request: Request[Any, Any, State], exc: ValidationException) -> Response[Any]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    field = extra[0].get("key") if extra and isinstance(extra[0], dict) else None
    detail = (
        "请求内容不是有效的 JSON"
        if "JSON" in str(exc.detail) or "decode" in str(exc.detail).lower()
        else str(exc.detail)
    )
    return problem_handler(request, OneWindowError(MALFORMED_REQUEST, detail, field=field or "body"))


def http_error_handler(request: Request[Any, Any, State], exc: HTTPException) -> Response[Any]:
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
