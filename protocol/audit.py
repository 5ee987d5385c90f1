"""The audit trail's shared vocabulary (R-SEC-2, 审计日志): what a row says, how rows chain, how a request is
named (action and object), at the node and at central alike.

Storage lives with each side (`node/audit/`, `central/audit.py`); this module knows no SQL and no web framework,
only the rules both sides must apply the same way so that one `verify_chain` reads either trail:

- a row's ``entry_hash`` is SHA-256 over ``prev_hash`` and the canonical JSON of its fields, ``prev_hash`` is the
  previous row's ``entry_hash`` (``GENESIS`` for the first row), and ids are gap-free from 1;
- a request's action comes from its method and route template; its object from the route's path parameters;
- query strings are reduced to their parameter *names*: values may hold ID or phone numbers;
- `AuditMiddleware` (plain ASGI, no framework) turns every request by a logged-in user, and every login attempt,
  into one `AuditEvent` handed to the side's ``record`` after the response has gone out.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

from protocol.canonical import canonical_json
from protocol.errors import VALIDATION, OneWindowError
from protocol.limits import json_too_deep

GENESIS = "0" * 64

#: The fields covered by ``entry_hash``, in the order a row shows them.
CHAINED_FIELDS = (
    "id",
    "at",
    "actor",
    "role",
    "action",
    "method",
    "path",
    "route",
    "query",
    "object_type",
    "object_id",
    "status",
    "client",
    "prev_hash",
)

#: Actions and how the audit pages name them.
ACTION_LABELS = {
    "view": "查看",
    "view_material": "查看材料",
    "download": "下载",
    "export": "导出",
    "import": "导入",
    "create": "新建",
    "update": "办理/修改",
    "delete": "删除",
    "login": "登录",
    "login_failed": "登录失败",
    "logout": "退出",
}

#: Path parameters that name what a request concerns, most specific first (a consult is inside a case).
OBJECT_PARAMS = (
    ("consult_id", "consult"),
    ("case_id", "case"),
    ("parcel_id", "parcel"),
    ("manifest_id", "manifest"),
    ("message_id", "message"),
    ("ticket_id", "ticket"),
    ("appointment_id", "appointment"),
    ("complaint_id", "complaint"),
    ("rating_id", "rating"),
    ("node_id", "node"),
    ("sha256", "blob"),
    ("code", "item"),
    ("username", "account"),
    ("key", "device"),
)

OBJECT_LABELS = {
    "case": "办件",
    "consult": "帮办",
    "parcel": "物料包",
    "manifest": "交接单",
    "message": "信件",
    "ticket": "排队号",
    "appointment": "预约",
    "complaint": "投诉",
    "rating": "评价",
    "node": "节点",
    "blob": "文件",
    "item": "事项",
    "account": "账号",
    "device": "设备",
}

LOGIN_ROUTES = frozenset({"/login", "/api/v1/login"})
LOGOUT_ROUTES = frozenset({"/logout", "/api/v1/logout"})
_DOWNLOAD_SUFFIXES = (".pdf", ".zip", ".json", ".bundle")


def classify(method: str, route: str) -> str:
    """The action a request performs, from its method and route template (``/cases/{case_id}/accept``)."""
    method = method.upper()
    last = route.rstrip("/").rsplit("/", 1)[-1]
    if last == "export":
        return "export"
    if last == "import":
        return "import"
    if method in ("GET", "HEAD"):
        if "/materials/{" in route:
            return "view_material"  # a scan of the applicant's materials (R-SEC-2: who viewed what)
        if (
            route.endswith(_DOWNLOAD_SUFFIXES)
            or "{sha256}" in route
            or "/files/" in route
            or "/notices/" in route
        ):
            return "download"
        return "view"
    if method == "DELETE":
        return "delete"
    if method == "POST" and "{" not in route:
        return "create"  # a new thing in a collection (a case, a ticket, a parcel …)
    return "update"


def object_of(path_params: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, id) of what a request concerns, from its path parameters; ("", "") when it names nothing."""
    for param, kind in OBJECT_PARAMS:
        value = path_params.get(param)
        if value not in (None, ""):
            return kind, str(value)
    return "", ""


def query_names(query_string: bytes | str) -> str:
    """The query's parameter names, sorted and comma-joined: never their values (they may be ID numbers)."""
    text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    return ",".join(sorted({name for name, _ in parse_qsl(text, keep_blank_values=True)}))[:200]


def login_username(content_type: str, body: bytes) -> str:
    """The username a login request tried (form or JSON body); "" when it cannot be read."""
    try:
        if content_type.startswith("application/json"):
            if json_too_deep(body):
                return ""
            data = json.loads(body.decode("utf-8"))
            name = data.get("username", "") if isinstance(data, dict) else ""
        else:
            name = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)).get("username", "")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    return str(name).strip()[:64]


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 hex over the row's chained fields (which include ``prev_hash``)."""
    return hashlib.sha256(canonical_json({name: fields[name] for name in CHAINED_FIELDS})).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What `verify_chain` found: how many rows it read and the first one that breaks the chain."""

    rows: int
    head: str  # the last row's entry_hash (GENESIS for an empty trail)
    broken_at: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


class ChainVerifier:
    """Checks rows fed in id order, batch by batch (a trail of millions need not sit in memory): ids gap-free
    from 1, each ``prev_hash`` the previous ``entry_hash``, each ``entry_hash`` recomputed. An edited row, a
    removed row or a row slipped in breaks the chain there."""

    def __init__(self) -> None:
        self.prev, self.expected_id, self.count = GENESIS, 1, 0
        self.broken: ChainReport | None = None

    def feed(self, rows: Iterable[Mapping[str, Any]]) -> bool:
        """Check more rows; False once the chain is broken (the rest need not be read)."""
        for row in rows:
            if self.broken is not None:
                return False
            self.count += 1
            if row["id"] != self.expected_id:
                problem = f"缺少第 {self.expected_id} 条记录"
                self.broken = ChainReport(self.count, self.prev, self.expected_id, problem)
            elif row["prev_hash"] != self.prev:
                self.broken = ChainReport(self.count, self.prev, self.expected_id, "与上一条记录的链接不符")
            elif entry_hash(row) != row["entry_hash"]:
                problem = "记录内容与其哈希不符（被修改）"
                self.broken = ChainReport(self.count, self.prev, self.expected_id, problem)
            else:
                self.prev, self.expected_id = str(row["entry_hash"]), self.expected_id + 1
        return self.broken is None

    def report(self) -> ChainReport:
        return self.broken or ChainReport(self.count, self.prev)


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    """`ChainVerifier` over rows already at hand."""
    verifier = ChainVerifier()
    verifier.feed(rows)
    return verifier.report()


#: China Standard Time: the audit pages take dates as the centre's local days.
_CST = timezone(timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """An admin's search of the trail: every filter optional, newest first, ``before`` an id for the next page."""

    actor: str = ""
    action: str = ""
    object: str = ""  # an object id (case id, parcel id, node id …) or a case number
    date_from: str = ""  # local date YYYY-MM-DD, inclusive
    date_to: str = ""  # local date YYYY-MM-DD, inclusive
    text: str = ""  # a fragment of the path
    before: int | None = None
    limit: int = 50

    def utc_bounds(self) -> tuple[str | None, str | None]:
        """[start, end) of the date range as UTC ISO strings comparable with a row's ``at``; ValueError on a bad
        date."""

        def start_of(day: str) -> str:
            moment = datetime.combine(date.fromisoformat(day), time(), _CST)
            return moment.astimezone(UTC).isoformat(timespec="milliseconds")

        start = start_of(self.date_from) if self.date_from else None
        end = (
            start_of((date.fromisoformat(self.date_to) + timedelta(days=1)).isoformat())
            if self.date_to
            else None
        )
        return start, end

    @property
    def has_filters(self) -> bool:
        return any((self.actor, self.action, self.object, self.date_from, self.date_to, self.text))

    def checked(self) -> AuditQuery:
        """This query, or OW-1001 naming the filter that cannot be used (an unknown action, a bad date)."""
        if self.action and self.action not in ACTION_LABELS:
            raise OneWindowError(VALIDATION, "没有这种操作类型", field="action")
        try:
            self.utc_bounds()
        except ValueError:
            raise OneWindowError(VALIDATION, "日期格式应为 年-月-日", field="date_from") from None
        return self


def labelled(row: Mapping[str, Any]) -> dict[str, Any]:
    """An audit row with its action and object kind in Chinese, for pages and the JSON API."""
    return {
        **row,
        "action_label": ACTION_LABELS.get(row["action"], row["action"]),
        "object_label": OBJECT_LABELS.get(row["object_type"], row["object_type"]),
    }


# ---- recording requests ----------------------------------------------------------------------------------

_log = logging.getLogger("onewindow.audit")
_BODY_LIMIT = 64 * 1024
#: Where a create's redirect points, and which JSON field of its answer names the new thing.
_CREATED_PATHS = (
    ("/cases/", "case"),
    ("/logistics/parcels/", "parcel"),
    ("/logistics/manifests/", "manifest"),
)
_CREATED_FIELDS = (
    ("case_id", "case"),
    ("parcel_id", "parcel"),
    ("manifest_id", "manifest"),
    ("ticket_id", "ticket"),
)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What was seen of one request, before the side's ``record`` gives it a place in the chain."""

    actor: str
    role: str
    action: str
    method: str
    path: str
    route: str = ""
    query: str = ""
    object_type: str = ""
    object_id: str = ""
    status: int = 200
    client: str = ""


def created_object(location: str, content_type: str, body: bytes) -> tuple[str, str]:
    """(kind, id) of what a create made, from its redirect or its JSON answer; ("", "") when neither says."""
    path = location.split("?", 1)[0]
    for prefix, kind in _CREATED_PATHS:
        if path.startswith(prefix) and (rest := path[len(prefix) :].split("/", 1)[0]):
            return kind, rest
    if body and content_type.startswith("application/json"):
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return "", ""
        if isinstance(data, dict):
            for name, kind in _CREATED_FIELDS:
                if isinstance(data.get(name), str):
                    return kind, data[name]
    return "", ""


def _user_of(scope: Mapping[str, Any]) -> dict[str, Any] | None:
    session = scope.get("session")
    user = session.get("user") if isinstance(session, dict) else None
    return user if isinstance(user, dict) and user.get("username") else None


def _status_of(exc: BaseException) -> int:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "problem", None), "status", None)
    return int(status) if isinstance(status, int) else 500


Record = Callable[[Mapping[str, Any], AuditEvent], Awaitable[None]]


class AuditMiddleware:
    """ASGI middleware recording each request by a logged-in user (and each login and logout) once, after its
    response: the action's own transaction has committed or failed by then, so recording can neither undo nor
    repeat it. A failure to record is logged as an error, never turned into the user's failure.

    It sits inside the session middleware, so ``scope["session"]`` holds the user before the handler runs (the
    actor) and after it (a login's new user). GET requests to ``skip_routes`` (counters refreshed by polling) and
    paths under ``skip_prefixes`` (static files, node-to-central sync traffic) are not recorded."""

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        *,
        record: Record,
        skip_routes: frozenset[str] = frozenset(),
        skip_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app, self.record = app, record
        self.skip_routes, self.skip_prefixes = skip_routes, skip_prefixes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        method = str(scope.get("method", "")).upper()
        route = str(scope.get("path_template") or scope.get("path", ""))
        path = str(scope.get("path", ""))
        if (
            scope["type"] != "http"
            or method in ("HEAD", "OPTIONS")
            or path.startswith(self.skip_prefixes)
            or (method == "GET" and route in self.skip_routes)
        ):
            await self.app(scope, receive, send)
            return
        before = _user_of(scope)
        is_login = method == "POST" and route in LOGIN_ROUTES
        if before is None and not is_login:
            await self.app(scope, receive, send)  # nobody to name: refused by the route itself
            return
        request_body = bytearray()
        response: dict[str, Any] = {"status": 500, "location": "", "type": "", "body": bytearray()}
        wants_created = method == "POST" and "{" not in route and not is_login

        async def tee_receive() -> Any:
            message = await receive()
            if message.get("type") == "http.request" and len(request_body) < _BODY_LIMIT:
                request_body.extend(message.get("body", b"")[: _BODY_LIMIT - len(request_body)])
            return message

        async def watch_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response["status"] = int(message["status"])
                for name, value in message.get("headers", ()):
                    if name.lower() == b"location":
                        response["location"] = value.decode("latin-1")
                    elif name.lower() == b"content-type":
                        response["type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body" and wants_created:
                body = response["body"]
                if len(body) < _BODY_LIMIT:
                    body.extend(message.get("body", b"")[: _BODY_LIMIT - len(body)])
            await send(message)

        try:
            await self.app(scope, tee_receive if is_login else receive, watch_send)
        except BaseException as exc:
            response["status"] = _status_of(exc)
            raise
        finally:
            event = self._event(scope, method, route, path, before, is_login, bytes(request_body), response)
            if event is not None:
                try:
                    await self.record(scope, event)
                except Exception:  # the user's action stands; the missing row must be seen in the log
                    _log.exception("audit: could not record %s %s by %s", method, path, event.actor)

    def _event(
        self,
        scope: Mapping[str, Any],
        method: str,
        route: str,
        path: str,
        before: dict[str, Any] | None,
        is_login: bool,
        request_body: bytes,
        response: Mapping[str, Any],
    ) -> AuditEvent | None:
        status = int(response["status"])
        if is_login:
            after = _user_of(scope)
            if status < 400 and after is not None:
                actor, role, action = str(after["username"]), str(after.get("role", "")), "login"
            else:
                headers = dict(scope.get("headers", ()))
                content_type = headers.get(b"content-type", b"").decode("latin-1")
                actor, role, action = login_username(content_type, request_body), "", "login_failed"
        elif before is None:
            return None
        else:
            actor, role = str(before["username"]), str(before.get("role", ""))
            action = "logout" if route in LOGOUT_ROUTES else classify(method, route)
        kind, object_id = object_of(scope.get("path_params") or {})
        if not kind and method == "POST" and status < 400 and not is_login:
            kind, object_id = created_object(
                str(response["location"]), str(response["type"]), bytes(response["body"])
            )
        client = scope.get("client")
        return AuditEvent(
            actor=actor,
            role=role,
            action=action,
            method=method,
            path=path,
            route=route,
            query=query_names(scope.get("query_string", b"")),
            object_type=kind,
            object_id=object_id,
            status=status,
            client=str(client[0]) if client else "",
        )
