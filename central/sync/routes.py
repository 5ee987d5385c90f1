"""Central's sync API for nodes: push and pull log entries, reconcile heads, upload attachments over tus 1.0.

Every call is signed by the node's Ed25519 key (`protocol.requests`); these handlers only parse, authenticate
and delegate to the services in `central.sync` (`ingest`, `reconcile`, `attachments`, `nodes`).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Response, delete, get, head, post, route
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from central.clock import utc_iso
from central.sync.attachments import (
    MAX_CHUNK_BODY,
    AttachmentStore,
    append_chunk,
    create_upload,
    find_upload,
    finish_if_whole,
    terminate_upload,
)
from central.sync.down_blobs import down_spool, spool_chunks
from central.sync.ingest import ingest
from central.sync.nodes import SignedRequest, authenticated_node
from central.sync.reconcile import hello, pull_down, restore_down
from central.sync.schemas import (
    DownAnswer,
    HeadBody,
    HelloRequest,
    RestoreDownAnswer,
    RestoreDownRequest,
    SyncInfo,
    UpRequest,
)
from central.web import central_of
from protocol.errors import VALIDATION, OneWindowError
from protocol.limits import MAX_PUSH_REQUEST, MAX_ROW_ID, MAX_UPLOAD_BODY
from protocol.requests import HEADER_NODE, HEADER_SIGNATURE, HEADER_TIME
from protocol.sync import TUS_EXTENSIONS, TUS_VERSION, parse_tus_metadata
from protocol.version import PROTOCOL_VERSION

FILES = "/sync/v1/files"


def _store(request: Request[Any, Any, State]) -> AttachmentStore:
    return AttachmentStore(central_of(request).settings.data_dir)


def _signed(request: Request[Any, Any, State], body: bytes) -> SignedRequest:
    """The request as the node signed it: its ``X-OW-*`` headers, method, path with query, and body."""
    return SignedRequest(
        node_id=request.headers.get(HEADER_NODE, ""),
        method=request.method,
        path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        time=request.headers.get(HEADER_TIME, ""),
        body=body,
        signature=request.headers.get(HEADER_SIGNATURE, ""),
    )


@post("/sync/v1/up", media_type=MediaType.JSON, status_code=200, request_max_body_size=MAX_PUSH_REQUEST)
async def sync_up(request: Request[Any, Any, State], data: JSONBody[UpRequest]) -> dict[str, Any]:
    """Receive a batch of up entries; answer with a receipt or a numbered refusal per entry."""
    central = central_of(request)
    body = await request.body()
    async with central.db.transaction() as session:
        result = await ingest(
            session,
            central.county,
            push=data,
            body=body,
            node_header=request.headers.get(HEADER_NODE, ""),
            time_header=request.headers.get(HEADER_TIME, ""),
            signature_header=request.headers.get(HEADER_SIGNATURE, ""),
            path=request.url.path,
            max_entry=central.settings.max_entry_bytes,
        )
    return result.to_json()


@get("/sync/v1/down", media_type=MediaType.JSON)
async def sync_down(
    request: Request[Any, Any, State],
    after: Annotated[int, QueryParameter(ge=0, le=MAX_ROW_ID)] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
) -> DownAnswer:
    """The node's down entries after `after` (only to the node itself, proven by its request signature)."""
    async with central_of(request).db.transaction() as session:
        node = await authenticated_node(session, _signed(request, b""), allow_revoked=True)
        entries, head_seq = await pull_down(session, node, after=after, limit=limit)
    return DownAnswer(entries=[e.to_wire() for e in entries], head=head_seq)


@post("/sync/v1/hello", media_type=MediaType.JSON, status_code=200)
async def sync_hello(request: Request[Any, Any, State], data: JSONBody[HelloRequest]) -> dict[str, Any]:
    """Reconcile: compare heads both ways in one round trip (signed answer)."""
    central = central_of(request)
    body = await request.body()
    async with central.db.transaction() as session:
        node = await authenticated_node(session, _signed(request, body), lock=True, allow_revoked=True)
        return await hello(
            session,
            central.county,
            _store(request),
            node,
            data.to_document(),
            node_time=request.headers.get(HEADER_TIME, ""),
            now=utc_iso(),
        )


@post(
    "/sync/v1/down/restore",
    media_type=MediaType.JSON,
    status_code=200,
    request_max_body_size=MAX_PUSH_REQUEST,
)
async def sync_down_restore(
    request: Request[Any, Any, State], data: JSONBody[RestoreDownRequest]
) -> RestoreDownAnswer:
    """The node hands back down entries central lost in a restore from backup."""
    central = central_of(request)
    body = await request.body()
    async with central.db.transaction() as session:
        node = await authenticated_node(session, _signed(request, body), lock=True)
        restored = await restore_down(session, central.county, node, [e.to_wire() for e in data.entries])
        return RestoreDownAnswer(restored=restored, down=HeadBody(seq=node.down_seq, hash=node.down_hash))


@get("/sync/v1/info", media_type=MediaType.JSON)
async def sync_info(request: Request[Any, Any, State]) -> SyncInfo:
    central = central_of(request)
    return SyncInfo(
        protocol_version=PROTOCOL_VERSION,
        county=central.county.name,
        sign_key=central.county.verify_key.to_text(),
        time=utc_iso(),
    )


# ---- attachments: tus 1.0 -------------------------------------------------------------------------------

TUS_HEADERS = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}


def _int_header(request: Request[Any, Any, State], name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isdigit():
        raise OneWindowError(VALIDATION, "must be a non-negative integer", field=name)
    return int(value)


@route(FILES, http_method=["OPTIONS"], status_code=204)
async def tus_options() -> Response[None]:
    """tus discovery: version, extensions, checksum algorithm, largest chunk."""
    return Response(
        content=None,
        status_code=204,
        headers={
            **TUS_HEADERS,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Checksum-Algorithm": "sha256",
            "Tus-Max-Size": str(2 * 1024 * 1024 * 1024),
        },
    )


@post(FILES, status_code=201)
async def tus_create(request: Request[Any, Any, State]) -> Response[bytes]:
    """tus creation: the same node, blob and age file always map to the same upload (safe to repeat)."""
    central = central_of(request)
    body = await request.body()
    try:
        metadata = parse_tus_metadata(request.headers.get("Upload-Metadata", ""))
    except ValueError as exc:
        raise OneWindowError(VALIDATION, str(exc), field="Upload-Metadata") from exc
    length = _int_header(request, "Upload-Length")
    async with central.db.transaction() as session:
        node = await authenticated_node(session, _signed(request, body))
        record, offset, present = await create_upload(
            session, _store(request), node_id=node.node_id, length=length, metadata=metadata, now=utc_iso()
        )
        offset = await finish_if_whole(session, central.county, _store(request), record, now=utc_iso())
    return Response(
        content=b"",
        status_code=201,
        headers={
            **TUS_HEADERS,
            "Location": f"{FILES}/{record.upload_id}",
            "Upload-Offset": str(offset),
            "X-OW-Blob-Present": "1" if present else "0",
        },
    )


@head(f"{FILES}/{{upload_id:str}}", status_code=200)
async def tus_offset(request: Request[Any, Any, State], upload_id: FromPath[str]) -> Response[None]:
    central = central_of(request)
    async with central.db.transaction() as session:
        node = await authenticated_node(session, _signed(request, b""))
        record = await find_upload(session, upload_id, node.node_id)
        offset = await finish_if_whole(session, central.county, _store(request), record, now=utc_iso())
    return Response(
        content=None,
        status_code=200,
        headers={**TUS_HEADERS, "Upload-Offset": str(offset), "Upload-Length": str(record.length)},
    )


@route(
    f"{FILES}/{{upload_id:str}}",
    http_method=["PATCH"],
    status_code=204,
    request_max_body_size=MAX_UPLOAD_BODY,
)
async def tus_patch(request: Request[Any, Any, State], upload_id: FromPath[str]) -> Response[None]:
    """Append one chunk at Upload-Offset; the last one completes the attachment (decrypted and verified)."""
    central = central_of(request)
    if request.headers.get("Content-Type", "") != "application/offset+octet-stream":
        raise OneWindowError(VALIDATION, "must be application/offset+octet-stream", field="Content-Type")
    offset = _int_header(request, "Upload-Offset")
    body = await request.body()
    if len(body) > MAX_CHUNK_BODY:
        raise OneWindowError(VALIDATION, f"chunk larger than {MAX_CHUNK_BODY} bytes", field="body")
    async with central.db.transaction() as session:
        node = await authenticated_node(session, _signed(request, body))
        record = await find_upload(session, upload_id, node.node_id)
        new_offset = await append_chunk(
            session,
            central.county,
            _store(request),
            record,
            offset=offset,
            chunk=body,
            checksum=request.headers.get("Upload-Checksum", ""),
            now=utc_iso(),
        )
    return Response(content=None, status_code=204, headers={**TUS_HEADERS, "Upload-Offset": str(new_offset)})


@delete(f"{FILES}/{{upload_id:str}}", status_code=204)
async def tus_terminate(request: Request[Any, Any, State], upload_id: FromPath[str]) -> Response[None]:
    central = central_of(request)
    async with central.db.transaction() as session:
        node = await authenticated_node(session, _signed(request, b""))
        record = await find_upload(session, upload_id, node.node_id)
        await terminate_upload(session, _store(request), record)
    return Response(content=None, status_code=204, headers=TUS_HEADERS)


@get("/sync/v1/blobs/{sha256:str}")
async def sync_down_blob(request: Request[Any, Any, State], sha256: FromPath[str]) -> Stream:
    """A blob a down event names (a result document), as an age file encrypted to the node; ``Range: bytes=N-``
    resumes a broken download (with ``If-Range`` naming the ``ETag`` it started on)."""
    central = central_of(request)
    async with central.db.transaction() as session:
        node = await authenticated_node(session, _signed(request, b""))
        spool = await down_spool(session, _store(request).blobs, central.settings.data_dir, node, sha256)
    start = 0
    wanted = request.headers.get("Range", "")
    if_range = request.headers.get("If-Range", "")
    if wanted.startswith("bytes=") and wanted.endswith("-") and (not if_range or if_range == spool.etag):
        offset = wanted[len("bytes=") : -1]
        if not offset.isdigit() or int(offset) > spool.size:
            raise OneWindowError(VALIDATION, f"must be bytes=0-{spool.size}", field="Range")
        start = int(offset)
    headers = {"ETag": spool.etag, "Accept-Ranges": "bytes", "Content-Length": str(spool.size - start)}
    if start:
        headers["Content-Range"] = f"bytes {start}-{spool.size - 1}/{spool.size}"
    return Stream(
        spool_chunks(spool.path, start),
        media_type="application/octet-stream",
        status_code=206 if start else 200,
        headers=headers,
    )


ROUTES = [
    sync_down_blob,
    sync_up,
    sync_down,
    sync_hello,
    sync_down_restore,
    sync_info,
    tus_options,
    tus_create,
    tus_offset,
    tus_patch,
    tus_terminate,
]
