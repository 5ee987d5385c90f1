"""Reading a case's materials and result documents at central (材料查阅): each file streamed from the blob store,
shown inline (image, PDF) or downloaded, after the access check of `central.backoffice.materials`. Thin handlers;
the audit middleware records each view (查看材料)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from central.backoffice.materials import material_file, require_material_access
from central.backoffice.results import document_file
from central.blobs import CentralBlobStore, blob_store
from central.cases.queries import case_state
from central.web import central_of, current_user


def _blobs(request: Request[Any, Any, State]) -> CentralBlobStore:
    return blob_store(central_of(request).settings.data_dir)


def _stream(
    blobs: CentralBlobStore, blob: str, *, filename: str, media_type: str, size: int, inline: bool
) -> Stream:
    disposition = "inline" if inline else "attachment"
    return Stream(
        blobs.chunks(blob),
        media_type=media_type if inline else "application/octet-stream",
        headers={
            "content-length": str(size),
            "content-disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
            "cache-control": "private, no-store",
            "x-content-type-options": "nosniff",
        },
    )


@get("/cases/{case_id:str}/materials/{blob:str}")
async def material(
    request: Request[Any, Any, State],
    case_id: FromPath[str],
    blob: FromPath[str],
    download: FromQuery[str] = "",
) -> Stream:
    """One captured material: inline (an image or a PDF) or, with ``?download=1``, as a download."""
    user = current_user(request, "reviewer", "admin", "supervisor")
    blobs = _blobs(request)
    async with central_of(request).db.transaction() as session:
        state = await case_state(session, case_id)
        await require_material_access(session, state, user)
        found = await material_file(session, blobs, state, blob)
    return _stream(
        blobs,
        blob,
        filename=found.filename,
        media_type=found.media_type,
        size=found.size,
        inline=found.inline and download != "1",
    )


@get("/cases/{case_id:str}/documents/{blob:str}")
async def document(request: Request[Any, Any, State], case_id: FromPath[str], blob: FromPath[str]) -> Stream:
    """A result document (决定书, 电子证照) of the case, as the window prints it."""
    user = current_user(request, "reviewer", "admin", "supervisor")
    blobs = _blobs(request)
    async with central_of(request).db.transaction() as session:
        state = await case_state(session, case_id)
        await require_material_access(session, state, user)
        found = document_file(state, blobs, blob)
    return _stream(blobs, blob, filename=found[0], media_type="application/pdf", size=found[1], inline=True)


ROUTES = [material, document]
