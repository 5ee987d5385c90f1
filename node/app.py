"""The node's Litestar app: tablet pages and JSON API on the centre's LAN, with the sync loop in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, get
from litestar.datastructures import State
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

import common.web as common_web
from common.clock import clock_from_setting
from common.documents.render import stop_worker
from common.metrics import Metrics
from common.web.handlers import parse_handlers_once
from common.web.hardening import GuardedRequest, same_origin_only, security_headers
from common.web.names import FILTERS as NAME_FILTERS
from common.web.openapi import publish_problem_documents
from common.web.requestlog import request_log, unrouted_request_log
from node import auth_routes, metrics_routes
from node.archive import routes as archive_routes
from node.archive.service import archive_loop
from node.audit import routes as audit_routes
from node.boot import open_runtime
from node.devices import routes as device_routes
from node.devices.manager import DEFAULT_DEVICE_TABLE
from node.devices.runner import create_devices, run_devices
from node.intake.cases import outcome_routes
from node.intake.cases import routes as intake_routes
from node.intake.cases.clocks import clock_loop
from node.intake.documents.issued import issue_in_background, stop_issuing
from node.intake.hall import dashboard_routes, rating_routes, ticket_routes
from node.intake.mail import routes as mail_routes
from node.runtime import utc_now
from node.settings import NodeSettings
from node.sync import routes as sync_routes
from node.sync.client import sync_loop
from node.trust.identity import NodeIdentity, load_identity
from node.web import PROBLEMS
from protocol.hlc import local_display
from protocol.limits import MAX_BODY


@get("/healthz", media_type=MediaType.JSON)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(
    settings: NodeSettings, *, now: Callable[[], datetime] = utc_now, identity: NodeIdentity | None = None
) -> Litestar:
    """The node's ASGI app for an enrolled data directory."""
    # The CLI passes the identity when it had to unseal the keys with a passphrase.
    identity = identity or load_identity(settings.data_dir, settings.key_dir)
    if settings.clock and now is utc_now:  # a test's fake clock wins over the setting
        now = clock_from_setting(settings.clock)
    central_url = settings.central_url or identity.central_urls[0]

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await open_runtime(settings.data_dir, identity=identity, now=now)
        runtime.issuer = issue_in_background  # notices are rendered when issued, reprinted from the store
        app.state.runtime = runtime
        app.state.central_url = central_url
        app.state.rectify_days = settings.rectify_working_days
        stop = asyncio.Event()
        devices = create_devices(
            simulate=settings.simulate_devices,
            device_table=settings.device_table or DEFAULT_DEVICE_TABLE,
            scan_folder=settings.scan_folder,
            keep_processed_scans=settings.keep_processed_scans,
            camera=settings.camera,
            photo_decoder=settings.photo_decoder,
            evaluator_window=settings.evaluator_window,
        )
        app.state.devices = devices  # status() goes into the heartbeat
        runtime.sync_state["devices"] = devices.status  # reported to central at each reconcile
        device_work = asyncio.create_task(
            run_devices(
                devices,
                runtime,
                stop,
                poll_s=settings.device_poll_s,
                ticket_url=f"http://{settings.host}:{settings.port}",
            )
        )
        task = (
            asyncio.create_task(
                sync_loop(runtime, base_url=central_url, interval_s=settings.sync_interval_s, stop=stop)
            )
            if settings.sync_enabled
            else None
        )
        clocks = (
            asyncio.create_task(clock_loop(runtime, interval_s=settings.clock_interval_s, stop=stop))
            if settings.clock_interval_s > 0
            else None
        )
        archiving = (
            asyncio.create_task(archive_loop(runtime, interval_s=settings.clock_interval_s, stop=stop))
            if settings.clock_interval_s > 0
            else None
        )
        try:
            yield
        finally:
            stop.set()
            if archiving is not None:
                archiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await archiving
            for background in (task, clocks, device_work):
                if background is not None:
                    background.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await background
            await stop_issuing()
            await runtime.close()
            stop_worker()  # the notices' PDF worker: its document in hand finished, its queues released

    secret = (
        settings.session_secret or hashlib.sha256(b"onewindow/node-session\x00" + identity.data_key).digest()
    )
    templates = Path(__file__).parent / "templates"
    static = Path(__file__).parent / "static"

    def template_globals(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals.update(
            centre_name=identity.name, county_name=identity.county_name, node_id=identity.node_id
        )
        engine.engine.filters["local"] = local_display
        engine.engine.filters.update(NAME_FILTERS)  # who / source: display names (issue 19)

    route_handlers: list[Any] = [
        *auth_routes.ROUTES,
        *intake_routes.ROUTES,
        *outcome_routes.ROUTES,
        *rating_routes.ROUTES,
        *dashboard_routes.ROUTES,
        *ticket_routes.ROUTES,
        *archive_routes.ROUTES,
        *device_routes.ROUTES,
        *mail_routes.ROUTES,
        *sync_routes.ROUTES,
        *audit_routes.ROUTES,
        *metrics_routes.ROUTES,
        healthz,
        create_static_files_router(path="/static", directories=[static, common_web.STATIC]),
    ]
    metrics = Metrics("onewindow_node")
    return Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        state=State({"metrics": metrics, "metrics_token": settings.metrics_token}),
        middleware=[
            request_log(
                metrics, app_name="node", quiet_routes={*audit_routes.TRAIL.skip_routes, "/metrics"}
            ),  # outermost: every request timed, counted and logged once
            same_origin_only(()),  # before the session: a forged request never acts
            CookieBackendConfig(secret=secret, key="ow_node", max_age=10 * 3600).middleware,
            audit_routes.audit_middleware(),  # inside the session: it sees who is logged in
        ],
        template_config=TemplateConfig(
            directory=[templates, common_web.TEMPLATES],
            engine=JinjaTemplateEngine,
            engine_callback=template_globals,
        ),
        guards=[auth_routes.login_guard(settings.session_policy)],  # every route: a live login or public
        exception_handlers=PROBLEMS.handlers(),
        request_max_body_size=MAX_BODY,  # upload routes declare their own (protocol.limits)
        request_class=GuardedRequest,
        before_send=[
            security_headers,
            unrouted_request_log(metrics, app_name="node"),
        ],  # every answer, refusals and unknown paths included
        on_startup=[publish_problem_documents],
        logging_config=None,  # common.logs configures logging (one line per event), not litestar's default
        on_app_init=[parse_handlers_once],  # tests build hundreds of apps from the same handlers
    )
