"""Central's Litestar app: the wiring only — every folder's routes, the lifespan (migrate, load the county, start
the back-office jobs), the session, audit and login guard, the templates and the problem handlers. The only
module that imports route modules."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Request, get
from litestar.datastructures import State
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Message, Scope

import common.web as common_web
from central.archive import routes as archive_routes
from central.audit import routes as audit_routes
from central.backoffice import (
    case_routes,
    consult_routes,
    department_routes,
    material_routes,
    supervision_routes,
    work_routes,
)
from central.catalogue import routes as catalogue_routes
from central.clock import use_clock, utc_now
from central.county import auth_routes, fleet_routes, metrics_routes, staff_routes
from central.db import CentralDatabase, migrate
from central.hall import routes as hall_routes
from central.keys import load_county
from central.registry import import_registry, registry_stamp
from central.runtime import Central
from central.settings import CentralSettings
from central.sync import routes as sync_routes
from central.sync.versions import PROTOCOL_HEADER, check_node_protocol
from central.web import PROBLEMS, template_setup
from common.documents.render import stop_worker, warm_up
from common.metrics import Metrics
from common.web.handlers import parse_handlers_once
from common.web.hardening import GuardedRequest, same_origin_only, security_headers
from common.web.openapi import publish_problem_documents
from common.web.requestlog import request_log, unrouted_request_log
from protocol.catalogue import catalogue_from_dict
from protocol.limits import MAX_BODY


async def _refresh_registry(request: Request[Any, Any, State]) -> None:
    if not request.url.path.startswith("/static"):
        await request.app.state.central.refresh_registry()
    if request.url.path.startswith("/sync/v1/") and request.url.path != "/sync/v1/info":
        await check_node_protocol(request.app.state.central, request.headers, utc_now().isoformat())


async def _protocol_header(message: Message, scope: Scope) -> None:
    """Every answer of the sync API states central's protocol version (`protocol.version`)."""
    if message["type"] == "http.response.start" and str(scope.get("path", "")).startswith("/sync/v1/"):
        message["headers"] = [*message.get("headers", ()), PROTOCOL_HEADER]


@get("/", media_type=MediaType.HTML)
async def home() -> Redirect:
    return Redirect(path="/cases")


@get("/healthz", media_type=MediaType.JSON)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: CentralSettings, *, now: Callable[[], datetime] | None = None) -> Litestar:
    """Central's ASGI app. Opening the database, migrating and loading the county happen at start-up.

    `now` is central's clock for login lockouts (tests pass a fake one)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    use_clock(settings.clock)
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
        warm_up()  # the result documents' renderer, ready before the first decision
        try:
            yield
        finally:
            await db.close()
            stop_worker()

    secret = hashlib.sha256(b"onewindow/central-session\x00" + county.signing_key.raw).digest()
    templates = Path(__file__).parent / "templates"
    static = templates.parent / "static"
    metrics = Metrics("onewindow_central")
    return Litestar(
        route_handlers=[
            *sync_routes.ROUTES,
            *archive_routes.ROUTES,
            *hall_routes.ROUTES,
            *case_routes.ROUTES,
            *work_routes.ROUTES,
            *material_routes.ROUTES,
            *department_routes.ROUTES,
            *supervision_routes.ROUTES,
            *consult_routes.ROUTES,
            *catalogue_routes.ROUTES,
            *auth_routes.ROUTES,
            *fleet_routes.ROUTES,
            *staff_routes.ROUTES,
            *audit_routes.ROUTES,
            *metrics_routes.ROUTES,
            home,
            healthz,
            create_static_files_router(path="/static", directories=[static, common_web.STATIC]),
        ],
        lifespan=[lifespan, work_routes.jobs_lifespan()],
        before_request=_refresh_registry,
        middleware=[
            request_log(
                metrics, app_name="central"
            ),  # outermost: every request timed, counted and logged once
            same_origin_only(("/sync/v1/",)),  # before the session: a forged request never acts
            CookieBackendConfig(secret=secret, key="ow_central", max_age=8 * 3600).middleware,
            audit_routes.audit_middleware(),  # inside the session: it sees who is logged in
        ],
        template_config=TemplateConfig(
            directory=[templates, common_web.TEMPLATES],
            engine=JinjaTemplateEngine,
            engine_callback=template_setup,
        ),
        exception_handlers=PROBLEMS.handlers(),
        guards=[auth_routes.login_guard(settings.session_policy)],  # every route: a live login or public
        state=State({"now": now or utc_now, "metrics": metrics}),
        request_max_body_size=MAX_BODY,  # upload routes declare their own (protocol.limits)
        request_class=GuardedRequest,
        before_send=[
            security_headers,
            unrouted_request_log(metrics, app_name="central"),
            _protocol_header,
        ],  # every answer, refusals and unknown paths included
        on_startup=[publish_problem_documents],
        logging_config=None,  # common.logs configures logging (one line per event), not litestar's default
        on_app_init=[parse_handlers_once],  # tests build hundreds of apps from the same handlers
    )
