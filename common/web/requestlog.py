"""The request log and request metrics of both apps (issue 21): one ASGI middleware, outermost, that gives every
HTTP request an id (the client's ``X-Request-ID`` when it is a plain token, else a new one, echoed in the answer),
then logs one line when the answer has gone — id, method, path, route, status, duration, client — and counts it
in the app's `Metrics` by route template (never the raw path, so the series stay few).

The path is logged without its query string (a search may carry an ID number), and the log's redacting filter
masks any ID number or phone a path still holds. Requests no route takes (404, 405) never reach a middleware:
`unrouted_request_log`, a ``before_send`` hook, logs and counts those. A refused login (401 or 423 on a login route) is also its own
``login_failed`` event, without the account tried (the audit trail names it, behind a login). A 5xx is logged at
error level; its traceback is logged where it is caught (`common.web.problems`)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Collection
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from common.logs import log_event
from common.metrics import Metrics

_LOG = logging.getLogger("onewindow.request")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUEST_ID_HEADER = b"x-request-id"
_SEEN = "onewindow_request_logged"

#: Requests logged at debug level only (when they succeed): static files.
QUIET_PREFIXES = ("/static/",)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if _SAFE_ID.match(text):
                return text
    return uuid.uuid4().hex[:16]


def request_log(
    metrics: Metrics,
    *,
    app_name: str,
    login_paths: Collection[str] = ("/login", "/api/v1/login"),
    quiet_routes: Collection[str] = ("/healthz", "/metrics"),
) -> Any:
    """The middleware factory for ``Litestar(middleware=[request_log(…), …])`` (put it first: it then times
    and counts everything, refusals by the other middleware included). `quiet_routes` (route templates: the
    health probe, the scraper, counters tablets poll every few seconds) are logged at debug level unless they
    fail; they are counted all the same."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def log_request(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            scope.setdefault("state", {})[_SEEN] = True
            request_id = _request_id(scope)
            started = time.perf_counter()
            status = 500  # what the client gets if the app raises before answering

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    headers = list(message.get("headers", ()))
                    headers.append((REQUEST_ID_HEADER, request_id.encode()))
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                path = str(scope.get("path", ""))
                route = str(
                    scope.get("path_template") or ("/static" if path.startswith("/static/") else "unmatched")
                )
                method = str(scope.get("method", ""))
                metrics.observe_request(route=route, method=method, status=status, seconds=seconds)
                client = scope.get("client")
                level = logging.INFO
                if status >= 500:
                    level = logging.ERROR
                elif status < 400 and (path.startswith(QUIET_PREFIXES) or route in quiet_routes):
                    level = logging.DEBUG
                log_event(
                    _LOG,
                    "request",
                    level=level,
                    app=app_name,
                    id=request_id,
                    method=method,
                    path=path,
                    route=route,
                    status=status,
                    duration_ms=round(seconds * 1000, 1),
                    client=client[0] if client else "",
                )
                if route in login_paths and method == "POST" and status in (401, 423):
                    metrics.count("login_failures", "Refused logins (wrong password or locked account)")
                    log_event(
                        _LOG,
                        "login_failed",
                        level=logging.WARNING,
                        app=app_name,
                        id=request_id,
                        route=route,
                        status=status,
                        locked=status == 423,
                        client=client[0] if client else "",
                    )

        return log_request

    return middleware


def unrouted_request_log(metrics: Metrics, *, app_name: str) -> Any:
    """A ``before_send`` hook for the requests no route takes (404 unknown path, 405 wrong method): Litestar answers
    them before any middleware runs, so `request_log` never sees them. Logged and counted here (route
    ``unmatched``), with an id; their duration is not known here."""

    async def log_unrouted(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("state", {}).get(_SEEN):
            return
        request_id = _request_id(scope)
        headers = message.setdefault("headers", [])
        headers.append((REQUEST_ID_HEADER, request_id.encode()))  # type: ignore[attr-defined]
        status = int(message["status"])
        method = str(scope.get("method", ""))
        metrics.observe_request(route="unmatched", method=method, status=status, seconds=0.0)
        client = scope.get("client")
        log_event(
            _LOG,
            "request",
            app=app_name,
            id=request_id,
            method=method,
            path=str(scope.get("path", "")),
            route="unmatched",
            status=status,
            client=client[0] if client else "",
        )

    return log_unrouted
