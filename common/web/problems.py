"""How both apps answer an error: `application/problem+json` naming the field and the reason (the error catalogue
of `protocol.errors`), or, for a page that needs a login, a redirect to the login page saying why.

Anything else that goes wrong is a 5xx: logged with its traceback (the method and route, never the query or
body, which may hold an ID number), answered with OW-1901 in Chinese naming no internals, as a page for a
browser and as problem+json for a program. `document_problems` makes the OpenAPI say so: every 4xx answer is
documented as ``application/problem+json``."""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from protocol.errors import (
    AUTH_REQUIRED,
    INTERNAL_ERROR,
    MALFORMED_REQUEST,
    SESSION_EXPIRED,
    VALIDATION,
    OneWindowError,
)

_NOT_JSON = "请求内容不是有效的 JSON"
_LOG = logging.getLogger("onewindow.web")

#: msgspec's words for a bound a value broke, and how a person reads them.
_BOUNDS = (
    (re.compile(r"Expected `str` of length <= (\d+)"), "过长：最多 {} 个字"),
    (re.compile(r"Expected `str` of length >= (\d+)"), "过短：至少 {} 个字"),
    (re.compile(r"Expected `(?:array|object)` of length <= (\d+)"), "项数过多：最多 {} 项"),
    (re.compile(r"Expected `int` <= (-?\d+)"), "数值过大：不能大于 {}"),
    (re.compile(r"Expected `int` >= (-?\d+)"), "数值过小：不能小于 {}"),
    (re.compile(r"Expected `str` matching regex"), "格式不对"),
)


def bound_broken(message: str) -> str | None:
    """The Chinese reason for a value over (or under) its declared bound, None for any other refusal."""
    for pattern, words in _BOUNDS:
        found = pattern.search(message)
        if found:
            return words.format(*found.groups())
    return None


def _error_page(title: str, detail: str, status: int) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title>"
        '<link rel="stylesheet" href="/static/style.css"></head><body><main>'
        f'<h1>{html.escape(title)}</h1><p class="error">{html.escape(detail)}</p>'
        f'<p>（错误 {status}）<a class="btn" href="/">回到首页</a></p></main></body></html>'
    )


@dataclass(frozen=True)
class ProblemResponses:
    """The exception handlers of one app. `api_prefixes`: paths whose clients are programs, never sent to the
    login page (the node's `/api/`; central's `/api/` and `/sync/`)."""

    api_prefixes: tuple[str, ...] = ("/api/",)

    def wants_html(self, request: Request[Any, Any, State]) -> bool:
        """A browser asking for a page (not an API client)."""
        return not request.url.path.startswith(self.api_prefixes) and "text/html" in request.headers.get(
            "accept", ""
        )

    def problem(self, request: Request[Any, Any, State], exc: OneWindowError) -> Response[Any]:
        """A catalogued error: problem+json, or the login page for a page that needs a (new) login."""
        if exc.problem in (AUTH_REQUIRED, SESSION_EXPIRED) and self.wants_html(request):
            why = f"&why={exc.extra['why']}" if exc.extra.get("why") else ""  # the login page says why
            return Redirect(path=f"/login?next={quote(request.url.path)}{why}")
        if self.wants_html(request) and not request.headers.get("hx-request"):
            # A page posted by a browser (a form): the reason in Chinese on a page, not JSON.
            named = f"（{exc.field}）" if exc.field else ""
            return Response(
                content=_error_page(exc.problem.title, f"{exc.reason}{named}", exc.problem.status),
                status_code=exc.problem.status,
                media_type="text/html",
            )
        return Response(
            content=exc.to_problem_json(),
            status_code=exc.problem.status,
            media_type="application/problem+json",
        )

    def validation(self, request: Request[Any, Any, State], exc: ValidationException) -> Response[Any]:
        """A body or parameter the framework refused (wrong type, missing field): the problem names the field as
        the request wrote it (``annotations[0].page``, ``up.hash``), or ``body`` when the body as a whole was
        wrong (not JSON, not an object)."""
        extra = exc.extra if isinstance(exc.extra, list) else []
        first = extra[0] if extra and isinstance(extra[0], dict) else {}
        message = str(first.get("message") or "")
        key = "" if first.get("key") in (None, "data") else str(first["key"])
        missing = re.fullmatch(r"Object missing required field `(.+)`", message)
        if missing:  # the framework names the object; the field at fault is the one missing from it
            key = f"{key}.{missing.group(1)}" if key else missing.group(1)
        field = key or "body"
        bound = bound_broken(message)
        if bound is not None:
            return self.problem(request, OneWindowError(VALIDATION, f"{field} {bound}", field=field))
        if "JSON" in str(exc.detail) or "decode" in str(exc.detail).lower():
            detail = _NOT_JSON
        else:
            detail = f"{field}: {message}" if message else str(exc.detail)
        return self.problem(request, OneWindowError(MALFORMED_REQUEST, detail, field=field))

    def http_error(self, request: Request[Any, Any, State], exc: HTTPException) -> Response[Any]:
        """Framework-level client errors (malformed JSON, body too large …) in the same problem format."""
        if isinstance(exc, ValidationException):
            return self.validation(request, exc)
        if exc.status_code >= 500:
            return self.server_error(request, exc)
        detail = _NOT_JSON if "JSON" in str(exc.detail) else str(exc.detail)
        error = OneWindowError(MALFORMED_REQUEST, detail, field="body")
        return Response(
            content={**error.to_problem_json(), "status": exc.status_code},
            status_code=exc.status_code,
            media_type="application/problem+json",
        )

    def server_error(self, request: Request[Any, Any, State], exc: Exception) -> Response[Any]:
        """Anything unforeseen: logged with its traceback, answered OW-1901 without a word about internals."""
        route = request.scope.get("path_template") or "?"
        _LOG.error("5xx on %s %s: %s", request.method, route, type(exc).__name__, exc_info=exc)
        error = OneWindowError(INTERNAL_ERROR)
        if self.wants_html(request):
            return Response(
                content=_error_page(INTERNAL_ERROR.title, error.reason, 500),
                status_code=500,
                media_type="text/html",
            )
        return Response(
            content=error.to_problem_json(), status_code=500, media_type="application/problem+json"
        )

    def handlers(self) -> ExceptionHandlersMap:
        """For `Litestar(exception_handlers=…)`: catalogued errors, framework errors, and everything else."""
        return {OneWindowError: self.problem, HTTPException: self.http_error, Exception: self.server_error}
