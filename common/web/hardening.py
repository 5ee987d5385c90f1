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
import math
import re
from typing import Any, cast
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import FormMultiDict, State
from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.types import ASGIApp, Empty, Message, Receive, Scope, Send

from protocol.errors import BODY_TOO_LARGE, FORBIDDEN, MALFORMED_REQUEST, VALIDATION, OneWindowError
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


_JSON_KEY = re.compile(rb'"([A-Za-z_][A-Za-z0-9_.]{0,63})"\s*:')
_FORM_KEY = re.compile(rb"(?:^|&)([A-Za-z_][A-Za-z0-9_.%]{0,63})=")


def _field_at_end(received: bytes) -> str:
    """The field a body was in when it outgrew its route's limit: the last key of the JSON or the form read so
    far (the overflowing value is the one being read), or ``body`` when none is seen."""
    found = [m.group(1) for m in _JSON_KEY.finditer(received)] or [
        m.group(1) for m in _FORM_KEY.finditer(received)
    ]
    return found[-1].decode("ascii", "replace") if found else "body"


class GuardedRequest(Request[Any, Any, State]):
    """The request class of both apps: bounds on the body checked before it is parsed."""

    async def body(self) -> bytes:
        """The body, read up to the route's limit (`request_max_body_size`) and no further: a larger one is
        refused (413 OW-1008) naming the field it was in, and nothing beyond the limit is ever held."""
        if self._body is Empty:
            if self._connection_state.body is not Empty:
                self._body = self._connection_state.body
            else:
                limit = self.route_handler.resolve_request_max_body_size() or math.inf
                chunks: list[bytes] = []
                total = 0
                while True:
                    message = await self.receive()
                    if message["type"] == "http.disconnect":
                        raise ClientException("client disconnected before the body was sent")
                    if message["type"] != "http.request":
                        continue
                    chunk = message.get("body", b"")
                    total += len(chunk)
                    if total > limit:
                        field = _field_at_end(
                            (b"".join(chunks) + chunk)[: int(limit)]
                        )  # where the limit fell
                        raise OneWindowError(
                            BODY_TOO_LARGE,
                            f"{field} 过长：本次提交超过 {int(limit) // 1024} KB 的上限，未保存任何内容",
                            field=field,
                        )
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
                self.is_connected = False
                self._body = self._connection_state.body = b"".join(chunks)
        return self._body

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
    start = {
        "type": "http.response.start",
        "status": 403,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            *SECURITY_HEADERS,
        ],
    }
    await send(cast("Message", start))
    await send(cast("Message", {"type": "http.response.body", "body": body}))


def same_origin_only(exempt_prefixes: tuple[str, ...] = ()) -> Any:
    """Middleware refusing cross-site state-changing requests (403 OW-1102, field ``origin``)."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if (
                scope["type"] == ScopeType.HTTP
                and scope.get("method", "GET") not in SAFE_METHODS
                and not str(scope.get("path", "")).startswith(exempt_prefixes or ("\x00",))
                and cross_site(scope)
            ):
                await _refuse(scope, send)
                return
            await app(scope, receive, send)

        return guarded

    return middleware


async def security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook (it sees every answer of the app, a 404 of no route included): adds
    `SECURITY_HEADERS` to each HTTP response that does not set them itself."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", ()))
    present = {bytes(key).lower() for key, _ in headers}
    headers.extend(item for item in SECURITY_HEADERS if item[0] not in present)
    message["headers"] = headers
