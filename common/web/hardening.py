"""What both apps do to every request before a handler sees it, and to every response: the defences a hostile
page or a fuzzer would otherwise find.

- `GuardedRequest`: a JSON body nested deeper than `protocol.limits.MAX_JSON_DEPTH` is refused before it is
  parsed; a form's text field longer than `MAX_TEXT` (a drawn signature: `MAX_SIGNATURE_FIELD`) is refused
  with its name. Typed JSON bodies declare tighter bounds on each field; services check the fields they store.
- `same_origin_only`: cross-site request forgery. A state-changing request (anything but GET, HEAD, OPTIONS)
  that a browser sends from another origin is refused before it reaches the session: the browser says where a
  request comes from (``Origin``, or ``Sec-Fetch-Site`` when it leaves the Origin out), and a page of this
  app always comes from the app's own host. The app's own pages, forms and HTMX requests carry that header by
  themselves; programs (tests, the CLI) send neither and are not a browser a foreign page can drive. Paths
  whose requests are signed (central's ``/sync/v1/``) are exempt.
- `security_headers`: the CSP (scripts only from the app's own static files, no framing by other sites),
  ``X-Frame-Options``, ``X-Content-Type-Options`` and ``Referrer-Policy`` on every response.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import FormMultiDict, State
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from protocol.errors import FORBIDDEN, MALFORMED_REQUEST, VALIDATION, OneWindowError
from protocol.limits import MAX_JSON_DEPTH, MAX_SIGNATURE_FIELD, MAX_TEXT, json_too_deep

#: Scripts and styles from the app only (HTMX and the pages' scripts are static files); inline styles are
#: allowed (style attributes); images may be data: and blob: URLs (signatures drawn on the tablet, previews).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_SITE_REFUSAL = "拒绝跨站请求：该操作只能在本系统自己的页面上提交"


class GuardedRequest(Request[Any, Any, State]):
    """The request class of both apps: bounds on the body checked before it is parsed."""

    async def json(self) -> Any:
        if json_too_deep(await self.body()):
            raise OneWindowError(
                MALFORMED_REQUEST, f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层或括号不成对，未处理", field="body"
            )
        return await super().json()

    async def form(self) -> FormMultiDict:
        form = await super().form()
        for name, value in form.multi_items():
            limit = MAX_SIGNATURE_FIELD if name.endswith("signature") else MAX_TEXT
            if isinstance(value, str) and len(value) > limit:
                raise OneWindowError(
                    VALIDATION, f"{name} 过长：最多 {limit} 个字，现有 {len(value)} 个", field=name
                )
        return form


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def cross_site(scope: Scope) -> bool:
    """Whether a browser sent this request from a page of another origin (or hid where it came from)."""
    origin = _header(scope, b"origin")
    if origin is not None:
        host = (_header(scope, b"host") or "").strip().lower()
        parts = urlsplit(origin.strip())
        return origin.strip() == "null" or not host or parts.netloc.lower() != host
    fetch_site = _header(scope, b"sec-fetch-site")
    return fetch_site is not None and fetch_site not in ("same-origin", "none")


async def _refuse(scope: Scope, send: Send) -> None:
    error = OneWindowError(FORBIDDEN, CROSS_SITE_REFUSAL, field="origin")
    body = json.dumps(error.to_problem_json(), ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def same_origin_only(exempt_prefixes: tuple[str, ...] = ()) -> Any:
    """Middleware refusing cross-site state-changing requests (403 OW-1102, field ``origin``)."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if (
                scope["type"] == "http"
                and scope.get("method", "GET") not in SAFE_METHODS
                and not str(scope.get("path", "")).startswith(exempt_prefixes or ("\x00",))
                and cross_site(scope)
            ):
                await _refuse(scope, send)
                return
            await app(scope, receive, send)

        return guarded

    return middleware


def security_headers(app: ASGIApp) -> ASGIApp:
    """Middleware adding `SECURITY_HEADERS` to every HTTP response that does not set them itself."""

    async def with_headers(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(key).lower() for key, _ in headers}
                headers.extend(item for item in SECURITY_HEADERS if item[0] not in present)
                message = {**message, "headers": headers}  # type: ignore[typeddict-item]
            await send(message)

        await app(scope, receive, send_with_headers)

    return with_headers
