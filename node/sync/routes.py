"""The sync status page and a "sync now" action for the centre's staff."""

from __future__ import annotations

import json
from typing import Any

from litestar import MediaType, Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from node.sync.client import CentralUnavailable, central_client, sync_once
from node.sync.log import get_meta, queue_depth
from node.web import current_user, runtime_of


async def sync_status(request: Request[Any, Any, State]) -> dict[str, Any]:
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        depth = await queue_depth(session)
        meta = {
            k: await get_meta(session, k)
            for k in ("link", "last_attempt_at", "last_success_at", "last_error", "last_report")
        }
    return {
        "node_id": runtime.node_id,
        "central_url": request.app.state.central_url,
        "link": meta["link"] or "unknown",
        "queue": depth,
        "last_attempt_at": meta["last_attempt_at"],
        "last_success_at": meta["last_success_at"],
        "last_error": meta["last_error"],
        "last_report": json.loads(meta["last_report"]) if meta["last_report"] else None,
    }


@get("/sync", media_type=MediaType.HTML)
async def sync_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    return Template(
        template_name="sync.html", context={"user": user, "s": await sync_status(request), "active": "sync"}
    )


@get("/api/v1/sync/status", media_type=MediaType.JSON)
async def api_sync_status(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    return await sync_status(request)


@post("/sync/now", media_type=MediaType.HTML, status_code=200)
async def sync_now(request: Request[Any, Any, State]) -> Redirect:
    current_user(request)
    runtime = runtime_of(request)
    try:
        async with central_client(runtime, request.app.state.central_url) as client:
            await sync_once(client, runtime)
    except CentralUnavailable:
        pass  # recorded by sync_once; the page shows the state
    return Redirect(path="/sync")


ROUTES = [sync_page, api_sync_status, sync_now]
