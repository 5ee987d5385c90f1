"""How both apps answer an error: `application/problem+json` naming the field and the reason (the error catalogue
of `protocol.errors`), or, for a page that needs a login, a redirect to the login page saying why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from protocol.errors import AUTH_REQUIRED, MALFORMED_REQUEST, SESSION_EXPIRED, OneWindowError

_NOT_JSON = "请求内容不是有效的 JSON"


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
            raise exc
        detail = _NOT_JSON if "JSON" in str(exc.detail) else str(exc.detail)
        error = OneWindowError(MALFORMED_REQUEST, detail, field="body")
        return Response(
            content={**error.to_problem_json(), "status": exc.status_code},
            status_code=exc.status_code,
            media_type="application/problem+json",
        )

    def handlers(self) -> ExceptionHandlersMap:
        """For `Litestar(exception_handlers=…)`."""
        return {OneWindowError: self.problem, HTTPException: self.http_error}
