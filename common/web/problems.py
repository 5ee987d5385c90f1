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


#: What a person can do about an error, by its HTTP status (the page says it under the reason).
ADVICE = {
    400: "提交的内容不完整或格式不对。请返回上一页，刷新后重新填写提交。",
    403: "您的岗位不能打开此页或进行此操作。请回到首页，或请有此权限的同事（如业务负责人、管理员）办理。",
    404: "找不到这个页面或记录：地址可能有误，或记录尚未同步到本机。请回到首页重新查找。",
    409: "这项操作与办件当前的状态不符（可能已由他人办理）。请返回并刷新页面，看清当前状态后再办。",
    413: "提交的文件或内容太大。请压缩或分开后重新提交。",
    422: "填写的内容有误。请返回上一页，按提示改正后重新提交。",
    423: "账号已暂时锁定。请稍后再试，或请管理员解锁。",
    500: "系统出了故障，已自动记录。请稍后重试；仍不行请联系节点管理员或县中心。",
}
#: The framework's own client errors (an unknown address, a method the address does not take), in Chinese.
HTTP_TITLES = {
    400: "请求格式错误",
    401: "请先登录",
    403: "无权进行此操作",
    404: "找不到该页面",
    405: "此页面不能这样打开",
    413: "提交的内容超过上限，未处理",
    429: "操作太频繁",
}


def advice_for(status: int) -> str:
    """What to do about an error of this status."""
    if status >= 500:
        return ADVICE[500]
    return ADVICE.get(status, ADVICE[400])


def _error_page(title: str, detail: str, status: int, back: str = "/") -> str:
    """The error page without the app's layout (when the layout itself cannot be drawn)."""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title>"
        '<link rel="stylesheet" href="/static/style.css"></head><body><main>'
        f'<h1>{html.escape(title)}</h1><p class="error" role="alert">{html.escape(detail)}</p>'
        f"<p>{html.escape(advice_for(status))}</p>"
        f'<p class="actions"><a class="btn secondary" href="{html.escape(back)}">返回上一页</a>'
        f'<a class="btn" href="/">回到首页</a></p></main></body></html>'
    )


def _back(request: Request[Any, Any, State]) -> str:
    """The page the person came from when it is this app's, else the home page."""
    referer = request.headers.get("referer", "")
    base = str(request.base_url).rstrip("/")
    if referer.startswith(base + "/") and referer != str(request.url):
        return referer[len(base) :]
    return "/"


def error_html(request: Request[Any, Any, State], title: str, detail: str, status: int) -> Response[Any]:
    """An error as a person sees it: inside the app's layout (``common/error.html``, with the menu of whoever is
    logged in) for a page, or as an inline alert for an HTMX request (ui.js shows it at the top of the page)."""
    if request.headers.get("hx-request"):
        body = (
            f'<div class="error" role="alert"><strong>{html.escape(title)}</strong>：{html.escape(detail)}'
            f"<div>{html.escape(advice_for(status))}</div></div>"
        )
        return Response(content=body, status_code=status, media_type="text/html")
    back = _back(request)
    try:
        user = request.session.get("user") if request.scope.get("session") is not None else None
        template = request.app.template_engine.get_template("common/error.html")  # type: ignore[union-attr]
        page = template.render(
            user=user, title=title, detail=detail, advice=advice_for(status), status=status, back=back
        )
    except Exception:
        page = _error_page(title, detail, status, back)
    return Response(content=page, status_code=status, media_type="text/html")


@dataclass(frozen=True)
class ProblemResponses:
    """The exception handlers of one app. `api_prefixes`: paths whose clients are programs, never sent to the
    login page (the node's `/api/`; central's `/api/` and `/sync/`)."""

    api_prefixes: tuple[str, ...] = ("/api/",)

    def wants_html(self, request: Request[Any, Any, State]) -> bool:
        """A browser asking for a page or a part of one (HTMX), not an API client: JSON only for API clients."""
        if request.url.path.startswith(self.api_prefixes):
            return False
        return "text/html" in request.headers.get("accept", "") or bool(request.headers.get("hx-request"))

    def problem(self, request: Request[Any, Any, State], exc: OneWindowError) -> Response[Any]:
        """A catalogued error: problem+json, or the login page for a page that needs a (new) login."""
        if (
            exc.problem in (AUTH_REQUIRED, SESSION_EXPIRED)
            and self.wants_html(request)
            and not request.headers.get("hx-request")
        ):
            why = f"&why={exc.extra['why']}" if exc.extra.get("why") else ""  # the login page says why
            return Redirect(path=f"/login?next={quote(request.url.path)}{why}")
        if self.wants_html(request):
            # A browser's page or form: the reason in Chinese and what to do, not JSON (the field's name is for
            # programs; the reason names the field in words).
            return error_html(request, exc.problem.title, exc.reason, exc.problem.status)
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
        if self.wants_html(request):  # a person's form: the framework's English stays in the log
            _LOG.info("refused %s %s: %s", request.method, request.scope.get("path_template") or "?", field)
            detail = "有一项内容缺少或格式不对，请检查后重新提交"
        elif "JSON" in str(exc.detail) or "decode" in str(exc.detail).lower():
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
        if self.wants_html(request):
            title = HTTP_TITLES.get(exc.status_code, "请求未能处理")
            return error_html(request, title, "页面地址或提交方式不对。", exc.status_code)
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
            return error_html(request, INTERNAL_ERROR.title, error.reason, 500)
        return Response(
            content=error.to_problem_json(), status_code=500, media_type="application/problem+json"
        )

    def handlers(self) -> ExceptionHandlersMap:
        """For `Litestar(exception_handlers=…)`: catalogued errors, framework errors, and everything else."""
        return {OneWindowError: self.problem, HTTPException: self.http_error, Exception: self.server_error}
