"""How both apps answer an error: `application/problem+json` naming the field and the reason (the error catalogue
of `protocol.errors`), or, for a page that needs a login, a redirect to the login page saying why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect

from protocol.errors import AUTH_REQUIRED, MALFORMED_REQUEST, SESSION_EXPIRED, OneWindowError

Handler = Callable[[Request[Any, Any, State], Any], Response[Any]]
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
        """The framework refused a parameter or body: the same problem format, naming the field."""
        extra = exc.extra if isinstance(exc.extra, list) else []
        field = extra[0].get("key") if extra and isinstance(extra[0], dict) else None
        detail = (
            _NOT_JSON if "JSON" in str(exc.detail) or "decode" in str(exc.detail).lower() else str(exc.detail)
        )
        return self.problem(request, OneWindowError(MALFORMED_REQUEST, detail, field=field or "body"))

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

    def handlers(self) -> dict[type[Exception], Handler]:
        """For `Litestar(exception_handlers=…)`."""
        return {OneWindowError: self.problem, HTTPException: self.http_error}
