"""Central's Litestar app: sync API for nodes, back-office JSON API and pages (Jinja2 + HTMX, Chinese)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlmodel import col, select

from central import (
    archive_routes,
    audit_routes,
    backoffice_routes,
    logistics_routes,
    review,
    staff_routes,
    sync_routes,
)
from central.accounts import check_login, credential_tag
from central.backoffice import case_events, case_state, decide_case, list_cases, list_nodes
from central.county import (
    CountyKeys,
    import_registry,
    load_county,
    registry_stamp,
    revoke_in_registry,
)
from central.db import CentralDatabase, migrate
from central.fleet import fleet, quarantine_list
from central.models import ComplaintRecord, NodeRecord, RatingRecord
from central.settings import CentralSettings
from central.staff_routes import session_stamp
from protocol.catalogue import Catalogue, catalogue_from_dict
from protocol.errors import (
    AUTH_REQUIRED,
    FORBIDDEN,
    MALFORMED_REQUEST,
    NOT_FOUND,
    REQUIRED_FIELD,
    SESSION_EXPIRED,
    OneWindowError,
)
from protocol.events import EVENT_LABELS, STATUS_LABELS
from protocol.hall import (
    COMPLAINT_CHANNELS,
    GBT39046_TO_PROVINCIAL,
    HALL_EVENT_LABELS,
    RATING_CHANNELS,
    SATISFACTION_LABELS,
)
from protocol.hlc import local_display, to_datetime
from protocol.staff import CENTRAL_ROLES, SESSION_REFUSALS


@dataclass
class Central:
    """What central's handlers share."""

    settings: CentralSettings
    county: CountyKeys
    db: CentralDatabase
    catalogue: Catalogue
    registry_stamp: tuple[int, ...] = ()
    registry_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh_registry(self) -> bool:
        """Take in what provisioning wrote to the county directory since last looked (a key rotation, a node
        added or revoked), without a restart; True when something changed. Three stats when nothing did."""
        if registry_stamp(self.settings.county_dir) == self.registry_stamp:
            return False
        async with self.registry_lock:
            stamp = registry_stamp(self.settings.county_dir)
            if stamp == self.registry_stamp:
                return False
            self.county = load_county(self.settings.county_dir)
            async with self.db.transaction() as session:
                await import_registry(session, self.settings.county_dir)
            self.registry_stamp = stamp
        return True


async def _refresh_registry(request: Request[Any, Any, State]) -> None:
    if not request.url.path.startswith("/static"):
        await request.app.state.central.refresh_registry()


CST_ZONE = timezone(timedelta(hours=8), "CST")


def _central(request: Request[Any, Any, State]) -> Central:
    central: Central = request.app.state.central
    return central


def _wants_html(request: Request[Any, Any, State]) -> bool:
    return not request.url.path.startswith(("/api/", "/sync/")) and "text/html" in request.headers.get(
        "accept", ""
    )


def problem_handler(request: Request[Any, Any, State], exc: OneWindowError) -> Response[Any]:
    if exc.problem in (AUTH_REQUIRED, SESSION_EXPIRED) and _wants_html(request):
        why = f"&why={exc.extra['why']}" if exc.extra.get("why") else ""  # the login page says why
        return Redirect(path=f"/login?next={quote(request.url.path)}{why}")
    return Response(
        content=exc.to_problem_json(), status_code=exc.problem.status, media_type="application/problem+json"
    )


def validation_handler(request: Request[Any, Any, State], exc: ValidationException) -> Response[Any]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    field = extra[0].get("key") if extra and isinstance(extra[0], dict) else None
    return problem_handler(request, OneWindowError(MALFORMED_REQUEST, str(exc.detail), field=field))


def current_user(request: Request[Any, Any, State], *roles: str) -> dict[str, str]:
    user = request.session.get("user") if request.scope.get("session") is not None else None
    if not user:
        raise OneWindowError(AUTH_REQUIRED, "请先登录")
    if roles and user["role"] not in roles:
        raise OneWindowError(FORBIDDEN, f"需要角色：{'、'.join(roles)}", field="role")
    return dict(user)


# ---- JSON API (back office) ------------------------------------------------------------------------------


@post("/api/v1/login", media_type=MediaType.JSON, status_code=200)
async def api_login(request: Request[Any, Any, State], data: JSONBody[dict[str, str]]) -> dict[str, Any]:
    login = await _authenticate(request, data.get("username", ""), data.get("password", ""))
    request.set_session(login)
    return {"user": login["user"]}


async def _authenticate(request: Request[Any, Any, State], username: str, password: str) -> dict[str, Any]:
    """The session to start for these credentials (lockout in `central.accounts`)."""
    now = request.app.state.get("now", lambda: datetime.now(UTC))()
    async with _central(request).db.transaction() as session:
        result = await check_login(session, username=username, password=password, now=now)
    if isinstance(result, OneWindowError):
        raise result  # after the commit: the failure is counted
    stamp = session_stamp()
    user = {
        "username": result.username,
        "display_name": result.display_name,
        "role": result.role,
        "role_label": CENTRAL_ROLES.get(result.role, result.role),
    }
    return {"user": user, "auth": {"issued_at": stamp, "last_seen": stamp, "cred": credential_tag(result)}}


@get("/api/v1/cases", media_type=MediaType.JSON)
async def api_cases(
    request: Request[Any, Any, State], status: FromQuery[str | None] = None
) -> dict[str, Any]:
    current_user(request)
    async with _central(request).db.transaction() as session:
        rows = await list_cases(session, status=status)
    return {"cases": [r.model_dump() for r in rows]}


@get("/api/v1/cases/{case_id:str}", media_type=MediaType.JSON)
async def api_case(request: Request[Any, Any, State], case_id: FromPath[str]) -> dict[str, Any]:
    current_user(request)
    async with _central(request).db.transaction() as session:
        state = await case_state(session, case_id)
        events = await case_events(session, case_id)
    return {
        "case_id": case_id,
        "status": state.status,
        "status_label": state.status_label,
        "case_number": state.case_number,
        "promised_date": state.promised_date,
        "deemed_accepted": state.deemed_accepted,
        "waiver_pending": state.waiver_pending,
        "decision": None
        if state.decision is None
        else {
            "outcome": state.decision.outcome,
            "reason": state.decision.reason,
            "department": state.decision.department,
            "on_spot": state.decision.on_spot,
        },
        "events": [e.to_dict() for e in events],
        "anomalies": list(state.anomalies),
    }


@post("/api/v1/cases/{case_id:str}/decision", media_type=MediaType.JSON, status_code=200)
async def api_decide(
    request: Request[Any, Any, State], case_id: FromPath[str], data: JSONBody[dict[str, str]]
) -> dict[str, Any]:
    user = current_user(request, "reviewer", "admin")
    central = _central(request)
    async with central.db.transaction() as session:
        state = await decide_case(
            session,
            central.county,
            case_id=case_id,
            outcome=data.get("outcome", ""),
            reason=data.get("reason", ""),
            reviewer=user["username"],
            catalogue=central.catalogue,
        )
    return {"case_id": case_id, "status": state.status}


@get("/api/v1/nodes", media_type=MediaType.JSON)
async def api_nodes(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request, "admin", "supervisor", "reviewer")
    async with _central(request).db.transaction() as session:
        rows = await fleet(session)
    return {"nodes": [row.to_dict() for row in rows]}


# ---- pages -----------------------------------------------------------------------------------------------


@get("/", media_type=MediaType.HTML)
async def home() -> Redirect:
    return Redirect(path="/cases")


@get("/login", media_type=MediaType.HTML)
async def login_page(next: FromQuery[str] = "/cases", why: FromQuery[str] = "") -> Template:
    return Template(template_name="login.html", context={"next": next, "error": SESSION_REFUSALS.get(why)})


@post("/login", media_type=MediaType.HTML, status_code=200)
async def login_submit(request: Request[Any, Any, State]) -> Response[Any]:
    form = await request.form()
    try:
        login = await _authenticate(request, str(form.get("username", "")), str(form.get("password", "")))
    except OneWindowError as exc:
        return Template(
            template_name="login.html",
            context={"next": form.get("next", "/cases"), "error": exc.reason},
            status_code=exc.problem.status,
        )
    request.set_session(login)
    target = str(form.get("next") or "/cases")
    return Redirect(path=target if target.startswith("/") and not target.startswith("//") else "/cases")


@post("/logout", media_type=MediaType.HTML, status_code=200)
async def logout(request: Request[Any, Any, State]) -> Redirect:
    request.clear_session()
    return Redirect(path="/login")


@get("/cases", media_type=MediaType.HTML)
async def cases_page(request: Request[Any, Any, State], status: FromQuery[str | None] = None) -> Template:
    user = current_user(request)
    async with _central(request).db.transaction() as session:
        rows = await list_cases(session, status=status)
        nodes = {n.node_id: n.name for n in await list_nodes(session)}
    return Template(
        template_name="cases.html",
        context={
            "user": user,
            "cases": rows,
            "nodes": nodes,
            "labels": STATUS_LABELS,
            "status": status or "",
        },
    )


@get("/cases/{case_id:str}", media_type=MediaType.HTML)
async def case_page(request: Request[Any, Any, State], case_id: FromPath[str]) -> Template:
    user = current_user(request)
    async with _central(request).db.transaction() as session:
        state = await case_state(session, case_id)
        events = await case_events(session, case_id)
    return Template(
        template_name="case.html", context={"user": user, "case": state, "events": events, "error": None}
    )


@post("/cases/{case_id:str}/decision", media_type=MediaType.HTML, status_code=200)
async def case_decide(request: Request[Any, Any, State], case_id: FromPath[str]) -> Response[Any]:
    user = current_user(request, "reviewer", "admin")
    form = await request.form()
    central = _central(request)
    try:
        async with central.db.transaction() as session:
            await decide_case(
                session,
                central.county,
                case_id=case_id,
                outcome=str(form.get("outcome", "")),
                reason=str(form.get("reason", "")),
                reviewer=user["username"],
                catalogue=central.catalogue,
            )
    except OneWindowError as exc:
        async with central.db.transaction() as session:
            state = await case_state(session, case_id)
            events = await case_events(session, case_id)
        return Template(
            template_name="case.html",
            context={"user": user, "case": state, "events": events, "error": exc},
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/cases/{case_id}")


@get("/fleet", media_type=MediaType.HTML)
async def fleet_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    async with _central(request).db.transaction() as session:
        rows = await fleet(session, county_key=_central(request).county.fingerprint)
        quarantined = await quarantine_list(session)
    names = {row.node.node_id: row.node.name for row in rows}
    return Template(
        template_name="fleet.html",
        context={
            "user": user,
            "rows": rows,
            "quarantined": quarantined,
            "names": names,
            "active": "fleet",
            "county_fingerprint": _central(request).county.fingerprint,
        },
    )


@post("/fleet/{node_id:str}/revoke", media_type=MediaType.HTML, status_code=200)
async def fleet_revoke(request: Request[Any, Any, State], node_id: FromPath[str]) -> Response[Any]:
    """吊销节点 (R-PROV-4): its new entries are quarantined from its next contact; nothing is deleted."""
    current_user(request, "admin")
    central = _central(request)
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    if not reason:
        raise OneWindowError(REQUIRED_FIELD, "吊销节点必须写明原因（如：设备被盗、中心撤并）", field="reason")
    async with central.db.transaction() as session:
        if await session.get(NodeRecord, node_id) is None:
            raise OneWindowError(NOT_FOUND, f"没有节点 {node_id}", field="node_id")
    revoke_in_registry(central.settings.county_dir, node_id, reason=reason, now=datetime.now(UTC).isoformat())
    await central.refresh_registry()
    return Redirect(path="/fleet")


@post("/fleet/quarantine/{quarantine_id:int}/{verdict:str}", media_type=MediaType.HTML, status_code=200)
async def fleet_review(
    request: Request[Any, Any, State], quarantine_id: FromPath[int], verdict: FromPath[str]
) -> Response[Any]:
    """复核隔离条目: release (apply) or reject what a revoked node sent after its revocation."""
    user = current_user(request, "admin")
    central = _central(request)
    note = str((await request.form()).get("note", ""))
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    async with central.db.transaction() as session:
        if verdict == "release":
            await review.release(
                session, central.county, quarantine_id, actor=user["username"], note=note, now=now
            )
        elif verdict == "reject":
            await review.reject(session, quarantine_id, actor=user["username"], note=note, now=now)
        else:
            raise OneWindowError(NOT_FOUND, f"未知的复核结论 {verdict}", field="verdict")
    return Redirect(path="/fleet#quarantine")


# ---- hall supervision: ratings (好差评) with their follow-ups, complaints -----------------------------------


async def _ratings(request: Request[Any, Any, State]) -> tuple[list[RatingRecord], dict[str, str]]:
    async with _central(request).db.transaction() as session:
        rows = (
            await session.exec(select(RatingRecord).order_by(col(RatingRecord.rated_at).desc()).limit(500))
        ).all()
        nodes = {n.node_id: n.name for n in await list_nodes(session)}
    return list(rows), nodes


async def _complaints(request: Request[Any, Any, State]) -> tuple[list[ComplaintRecord], dict[str, str]]:
    async with _central(request).db.transaction() as session:
        rows = (
            await session.exec(
                select(ComplaintRecord).order_by(col(ComplaintRecord.registered_at).desc()).limit(500)
            )
        ).all()
        nodes = {n.node_id: n.name for n in await list_nodes(session)}
    return list(rows), nodes


@get("/api/v1/ratings", media_type=MediaType.JSON)
async def api_ratings(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    rows, _ = await _ratings(request)
    return {
        "ratings": [
            {
                **r.model_dump(),
                "label": SATISFACTION_LABELS[r.level],
                "provincial": GBT39046_TO_PROVINCIAL[r.level],
            }
            for r in rows
        ]
    }


@get("/api/v1/complaints", media_type=MediaType.JSON)
async def api_complaints(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    rows, _ = await _complaints(request)
    return {"complaints": [r.model_dump() for r in rows]}


@get("/ratings", media_type=MediaType.HTML)
async def ratings_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    rows, nodes = await _ratings(request)
    counts = {level: sum(1 for r in rows if r.level == level) for level in SATISFACTION_LABELS}
    return Template(
        template_name="ratings.html",
        context={
            "user": user,
            "ratings": rows,
            "nodes": nodes,
            "labels": SATISFACTION_LABELS,
            "channels": RATING_CHANNELS,
            "counts": counts,
            "today": datetime.now(UTC).astimezone(CST_ZONE).date().isoformat(),
            "active": "ratings",
        },
    )


@get("/complaints", media_type=MediaType.HTML)
async def complaints_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    rows, nodes = await _complaints(request)
    return Template(
        template_name="complaints.html",
        context={
            "user": user,
            "complaints": rows,
            "nodes": nodes,
            "channels": COMPLAINT_CHANNELS,
            "active": "complaints",
        },
    )


@get("/healthz", media_type=MediaType.JSON)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def http_exception_handler(request: Request[Any, Any, State], exc: HTTPException) -> Response[Any]:
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


def _template_setup(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters.update(
        local=local_display,
        hlc_local=lambda stamp: local_display(to_datetime(stamp).isoformat(), seconds=True),
    )
    engine.engine.globals.update(event_labels={**EVENT_LABELS, **HALL_EVENT_LABELS})


def create_app(settings: CentralSettings, *, now: Callable[[], datetime] | None = None) -> Litestar:
    """Central's ASGI app. Opening the database, migrating and loading the county happen at start-up.

    `now` is central's clock for login lockouts (tests pass a fake one)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database_url = settings.resolved_database_url
    county = load_county(settings.county_dir)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        migrate(database_url)
        db = CentralDatabase(database_url)
        async with db.transaction() as session:
            await import_registry(session, settings.county_dir)
        catalogue = catalogue_from_dict(
            json.loads((settings.county_dir / "catalogue.json").read_text("utf-8"))
        )
        app.state.central = Central(
            settings=settings,
            county=county,
            db=db,
            catalogue=catalogue,
            registry_stamp=registry_stamp(settings.county_dir),
        )
        try:
            yield
        finally:
            await db.close()

    secret = hashlib.sha256(b"onewindow/central-session\x00" + county.signing_key.raw).digest()
    templates = Path(__file__).parent / "templates"
    static = templates.parent / "static"
    return Litestar(
        route_handlers=[
            *sync_routes.ROUTES,
            *archive_routes.ROUTES,
            *logistics_routes.ROUTES,
            *backoffice_routes.ROUTES,
            *staff_routes.ROUTES,
            *audit_routes.ROUTES,
            api_login,
            api_cases,
            api_case,
            api_decide,
            api_nodes,
            home,
            login_page,
            login_submit,
            logout,
            cases_page,
            case_page,
            case_decide,
            fleet_page,
            fleet_revoke,
            fleet_review,
            api_ratings,
            api_complaints,
            ratings_page,
            complaints_page,
            healthz,
            create_static_files_router(path="/static", directories=[static]),
        ],
        lifespan=[lifespan, backoffice_routes.jobs_lifespan()],
        before_request=_refresh_registry,
        middleware=[
            CookieBackendConfig(secret=secret, key="ow_central", max_age=8 * 3600).middleware,
            audit_routes.audit_middleware(),  # inside the session: it sees who is logged in
        ],
        template_config=TemplateConfig(
            directory=templates,
            engine=JinjaTemplateEngine,
            engine_callback=_template_setup,
        ),
        exception_handlers={
            OneWindowError: problem_handler,
            HTTPException: http_exception_handler,
        },
        guards=[staff_routes.login_guard(settings.session_policy)],  # every route: a live login or public
        state=State({"now": now or (lambda: datetime.now(UTC))}),
        request_max_body_size=64 * 1024 * 1024,
    )
