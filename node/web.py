"""Web plumbing shared by the node's route modules: who is logged in (and as which actor, at which window), the
form inputs every page parses the same way (a drawn signature, a date), problem responses. `current_user` and
the problem responses are both apps' (`common.web`)."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Any
from urllib.parse import unquote

from litestar import Request
from litestar.datastructures import State

from common.web.problems import ProblemResponses
from common.web.session import current_user
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.errors import FILE_REJECTED, MALFORMED_REQUEST, VALIDATION, OneWindowError

#: The node's problem responses: `/api/` clients get problem+json, pages the login page (`common.web`).
PROBLEMS = ProblemResponses(api_prefixes=("/api/",))


def runtime_of(request: Request[Any, Any, State]) -> NodeRuntime:
    runtime: NodeRuntime = request.app.state.runtime
    return runtime


def actor_of(user: dict[str, str]) -> Actor:
    """The logged-in staff member as the actor services record."""
    return Actor(username=user["username"], role=user["role"])


#: Cookies of a window tablet: its window's name and the ticket categories it serves (they survive logging out).
WINDOW_COOKIE = "ow_window"
CATEGORIES_COOKIE = "ow_window_categories"


def window_name(request: Request[Any, Any, State]) -> str:
    """The name of the window this tablet sits at (set on the window page), or ""."""
    return unquote(request.cookies.get(WINDOW_COOKIE, "")).strip()


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


__all__ = [
    "CATEGORIES_COOKIE",
    "PROBLEMS",
    "WINDOW_COOKIE",
    "actor_of",
    "current_user",
    "decode_png",
    "parse_day",
    "runtime_of",
    "window_name",
]
