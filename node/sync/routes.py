"""The sync status page and a "sync now" action for the centre's staff."""

from __future__ import annotations

import json
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
from sqlmodel import col, select

from node.meta import get_meta
from node.models import UpEntry
from node.runtime import CST
from node.sync.attachments import pending_blob_totals
from node.sync.client import CentralUnavailable, central_client, sync_once
from node.sync.courier import export_courier_file, import_courier_reply
from node.sync.keys import NodeKeyRotationError, rotate_node_keys
from node.sync.log import CERTIFICATE_KEY, REVOKED_KEY, queue_depth
from node.trust.identity import ROTATION_KEY, keys_dir
from node.trust.keyseal import KeySealError, is_sealed
from node.web import current_user, runtime_of
from protocol.errors import NOT_FOUND, REQUIRED_FIELD, VALIDATION, OneWindowError
from protocol.keys import read_secret_file
from protocol.sync import SKEW_WARNING_MS, describe_skew


async def sync_status(request: Request[Any, Any, State]) -> dict[str, Any]:
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        depth = await queue_depth(session)
        meta = {
            k: await get_meta(session, k)
            for k in (
                "link",
                "last_attempt_at",
                "last_success_at",
                "last_error",
                "last_report",
                "skew_ms",
                "last_courier_import",
                REVOKED_KEY,
                CERTIFICATE_KEY,
                ROTATION_KEY,
                "node_key_rotated_at",
            )
        }
        quarantined = (
            await session.exec(
                select(UpEntry)
                .where(UpEntry.central_status == "quarantined")
                .order_by(col(UpEntry.seq))
                .limit(50)
            )
        ).all()
    attachments, attachment_bytes = await pending_blob_totals(runtime)
    skew_ms = int(meta["skew_ms"]) if meta["skew_ms"] else None
    transfer = runtime.sync_state.get("transfer")
    return {
        "attachments": {"count": attachments, "bytes": attachment_bytes},
        "transfer": transfer.to_dict() if transfer is not None else None,
        "skew_ms": skew_ms,
        "clock_warning": clock_warning(skew_ms),
        "last_courier_import": json.loads(meta["last_courier_import"])
        if meta["last_courier_import"]
        else None,
        "quarantined": [
            {"seq": q.seq, "reason": q.central_reason or "", "at": q.receipted_at} for q in quarantined
        ],
        "node_id": runtime.node_id,
        "revoked": json.loads(meta[REVOKED_KEY] or "null"),
        "certificate": json.loads(meta[CERTIFICATE_KEY] or "null"),
        "county_key": runtime.identity.county_ring.newest.fingerprint,
        "node_key": runtime.identity.sign_key.fingerprint,
        "node_key_pending": json.loads(meta[ROTATION_KEY] or "null"),
        "node_key_rotated_at": meta["node_key_rotated_at"],
        "keys_sealed": is_sealed(
            read_secret_file((runtime.identity.key_dir or keys_dir(runtime.data_dir)) / "node-sign.key")
        ),
        "central_url": request.app.state.central_url,
        "link": meta["link"] or "unknown",
        "queue": depth,
        "last_attempt_at": meta["last_attempt_at"],
        "last_success_at": meta["last_success_at"],
        "last_error": meta["last_error"],
        "last_report": json.loads(meta["last_report"]) if meta["last_report"] else None,
    }


def clock_warning(skew_ms: int | None) -> str:
    """A clerk-readable warning when this machine's clock is off from the county's, else ""."""
    if skew_ms is None or abs(skew_ms) < SKEW_WARNING_MS:
        return ""
    return (
        f"本机时钟比县中心{describe_skew(skew_ms)}。办件照常受理、照常同步，法定时间以县中心接收时间为准；"
        "请联系管理员校准本机时间。"
    )


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
                "s": await sync_status(request),
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
    user = current_user(request)
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
    """The live part of the sync page (queue, transfer), polled by HTMX while the page is open."""
    current_user(request)
    return Template(template_name="sync_progress.html", context={"s": await sync_status(request)})


# ---- the courier's USB stick ------------------------------------------------------------------------------


def _courier_dir(request: Request[Any, Any, State]) -> Path:
    return runtime_of(request).data_dir / "courier"


async def _page(request: Request[Any, Any, State], **extra: Any) -> Template:
    user = current_user(request)
    context = {"user": user, "s": await sync_status(request), "active": "sync", **extra}
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


@post("/sync/courier/import", media_type=MediaType.HTML, status_code=200)
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
