"""The sync status page and a "sync now" action for the centre's staff."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import segno
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.params import FromPath
from litestar.response import File, Redirect, Template
from markupsafe import Markup

from node.runtime import CST
from node.sync.client import CentralUnavailable, central_client, sync_once
from node.sync.courier import export_courier_file, import_courier_reply
from node.sync.keys import NodeKeyRotationError, rotate_node_keys
from node.sync.status import sync_status
from node.trust.keyseal import KeySealError
from node.web import current_user, runtime_of
from protocol.errors import NOT_FOUND, REQUIRED_FIELD, VALIDATION, OneWindowError
from protocol.limits import MAX_UPLOAD_BODY


async def _status(request: Request[Any, Any, State]) -> dict[str, Any]:
    return await sync_status(runtime_of(request), central_url=request.app.state.central_url)


@get("/sync", media_type=MediaType.HTML)
async def sync_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    return Template(
        template_name="sync.html", context={"user": user, "s": await _status(request), "active": "sync"}
    )


@get("/api/v1/sync/status", media_type=MediaType.JSON)
async def api_sync_status(request: Request[Any, Any, State]) -> dict[str, Any]:
    current_user(request)
    return await _status(request)


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


@post("/sync/rotate-keys", media_type=MediaType.HTML, status_code=200)
async def rotate_keys(request: Request[Any, Any, State]) -> Response[Any]:
    """节点密钥轮换 (R-PROV-4): new node keys, announced to central by the old ones at the next sync."""
    current_user(request, "node_admin")
    runtime = runtime_of(request)
    form = await request.form()
    try:
        seq = await rotate_node_keys(runtime, passphrase=str(form.get("passphrase", "")) or None)
    except (NodeKeyRotationError, KeySealError) as exc:
        return Template(
            template_name="sync.html",
            context={
                "user": current_user(request),
                "s": await _status(request),
                "active": "sync",
                "keys_error": str(exc),
            },
            status_code=409,
        )
    runtime.sync_state["keys_rotated"] = seq
    return Redirect(path="/sync#node-keys")


def pairing_text(base_url: str, runtime: Any) -> str:
    """What a centre's tablet needs to find this node on the LAN and trust it: its address, id and key."""
    return "onewindow:node?" + urlencode(
        {
            "url": base_url.rstrip("/") + "/login",
            "node": runtime.node_id,
            "name": runtime.identity.name,
            "key": runtime.identity.sign_key.fingerprint,
        }
    )


@get("/sync/pair", media_type=MediaType.HTML)
async def pair_page(request: Request[Any, Any, State]) -> Template:
    """平板连接: a QR code a new tablet scans to open this node's pages and check it is the right node."""
    user = current_user(request, "node_admin")
    runtime = runtime_of(request)
    base = str(request.base_url)
    text = pairing_text(base, runtime)
    svg = segno.make(text, error="m").svg_inline(scale=6, border=2)
    return Template(
        template_name="pair.html",
        context={
            "user": user,
            "active": "sync",
            "qr_svg": Markup(svg),
            "text": text,
            "url": base.rstrip("/") + "/login",
            "fingerprint": runtime.identity.sign_key.fingerprint,
        },
    )


@get("/sync/progress", media_type=MediaType.HTML)
async def sync_progress(request: Request[Any, Any, State]) -> Template:
    """The live part of the sync page (queue, transfer), polled by HTMX while the page is open; the queue's inner
    counters only for the node admin."""
    user = current_user(request)
    return Template(
        template_name="sync_progress.html",
        context={"s": await _status(request), "tech": user["role"] == "node_admin"},
    )


# ---- the courier's USB stick ------------------------------------------------------------------------------


def _courier_dir(request: Request[Any, Any, State]) -> Path:
    return runtime_of(request).data_dir / "courier"


async def _page(request: Request[Any, Any, State], **extra: Any) -> Template:
    user = current_user(request)
    context = {"user": user, "s": await _status(request), "active": "sync", **extra}
    status = extra.get("status_code", 200)
    return Template(template_name="sync.html", context=context, status_code=status)


@post("/sync/courier/export", media_type=MediaType.HTML, status_code=200)
async def courier_export(request: Request[Any, Any, State]) -> Template:
    """Write the pending queue to a file the clerk downloads onto the courier's USB stick."""
    current_user(request)
    runtime = runtime_of(request)
    stamp = runtime.now().astimezone(CST).strftime("%Y%m%d-%H%M%S")
    exported = await export_courier_file(runtime, _courier_dir(request) / f"up-{stamp}.owc")
    return await _page(request, courier_done=exported.summary(), courier_file=exported.path.name)


@get("/sync/courier/files/{name:str}", media_type="application/octet-stream")
async def courier_file(request: Request[Any, Any, State], name: FromPath[str]) -> File:
    current_user(request)
    if not re.fullmatch(r"up-\d{8}-\d{6}\.owc", name):
        raise OneWindowError(VALIDATION, "文件名不正确", field="name")
    path = _courier_dir(request) / name
    if not path.exists():
        raise OneWindowError(NOT_FOUND, "文件不存在", field="name")
    return File(path=path, filename=name, media_type="application/octet-stream")


@post(
    "/sync/courier/import", media_type=MediaType.HTML, status_code=200, request_max_body_size=MAX_UPLOAD_BODY
)
async def courier_import(request: Request[Any, Any, State]) -> Template:
    """Apply the reply file the courier brought back from the county."""
    current_user(request)
    upload = (await request.form()).get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise OneWindowError(REQUIRED_FIELD, "请选择信使带回的回执文件", field="file")
        report = await import_courier_reply(runtime_of(request), await upload.read())
    except OneWindowError as exc:
        return await _page(
            request,
            courier_error=f"导入失败，文件整份拒收，未作任何更改：{exc.reason}",
            status_code=exc.problem.status,
        )
    return await _page(
        request,
        courier_done=(
            f"已导入回执：确认条目 {report.receipted} 条，附件 {report.attachments} 个，"
            f"下发条目 {report.pulled} 条（新事件 {report.applied_events} 个）"
        ),
    )


ROUTES = [
    sync_page,
    api_sync_status,
    sync_now,
    rotate_keys,
    pair_page,
    sync_progress,
    courier_export,
    courier_file,
    courier_import,
]
