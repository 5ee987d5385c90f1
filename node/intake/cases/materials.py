"""材料: the files captured into a case's checklist — what a slot accepts, when slots are open, what is still
missing — and the blob rows that keep any file the node stores (scans, signatures, photos, packages)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import case_state, get_case, new_event, record
from node.intake.cases.receive import item_of
from node.models import Blob
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol.catalogue import CatalogueItem, Material
from protocol.errors import FILE_REJECTED, INVALID_TRANSITION, NOT_FOUND, VALIDATION, OneWindowError
from protocol.events import (
    ACCEPTED,
    CASE_WAIVER_SUPPLIED,
    CORRECTION_REQUESTED,
    MATERIAL_ATTACHED,
    MATERIAL_REMOVED,
    OPEN_FOR_MATERIALS,
    RECEIVED,
    CaseState,
)

MAX_MATERIAL_BYTES = 20 * 1024 * 1024
_MEDIA_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png", "tiff": "image/tiff"}
_MAGIC = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "tiff": (b"II*\x00", b"MM\x00*"),
}


def sniff_format(data: bytes) -> str | None:
    """The file's format by its first bytes (pdf, jpg, png, tiff), whatever its name says; None when unknown."""
    for fmt, magics in _MAGIC.items():
        if any(data.startswith(m) for m in magics):
            return fmt
    return None


async def store_blob(
    session: AsyncSession, runtime: NodeRuntime, data: bytes, *, media_type: str, filename: str
) -> str:
    """Keep a file (encrypted, content-addressed) and its row; returns its SHA-256 (inside a write txn)."""
    digest = runtime.blobs.put(data)
    if await session.get(Blob, digest) is None:
        session.add(
            Blob(
                sha256=digest,
                size=len(data),
                media_type=media_type,
                filename=filename,
                created_at=runtime.now_iso(),
            )
        )
    return digest


def may_add_materials(state: CaseState) -> bool:
    """Files may go into the checklist before acceptance and while corrections are awaited; after 容缺受理 only
    until the waived materials are all in."""
    return state.status in OPEN_FOR_MATERIALS and (state.status != ACCEPTED or state.waiver_pending)


async def attach_material(
    runtime: NodeRuntime, *, actor: Actor, case_id: str, material_id: str, filename: str, data: bytes
) -> CaseState:
    """Attach a captured file to a checklist slot; the file must be what the slot accepts.

    Before acceptance (and while corrections are awaited) any slot takes files; after 容缺受理 only the waived
    slots do, and the file that completes the last of them records that the commitment was kept.
    """
    state = await get_case(runtime, case_id)
    if not may_add_materials(state):
        raise OneWindowError(
            INVALID_TRANSITION, f"办件当前为「{state.status_label}」，不能再补充材料", field="case_id"
        )
    item = item_of(runtime, state)
    material = next((m for m in item.materials if m.id == material_id), None)
    if material is None:
        raise OneWindowError(VALIDATION, f"该事项没有材料项 {material_id!r}", field="material_id")
    waived = {str(m["id"]) for m in (state.waiver or {}).get("materials", [])}
    if state.status == ACCEPTED and material.id not in waived:
        raise OneWindowError(
            INVALID_TRANSITION,
            f"已受理的办件只能补交容缺材料，「{material.name}」不在其中",
            field="material_id",
        )
    if not data:
        raise OneWindowError(FILE_REJECTED, "文件是空的", field="file")
    if len(data) > MAX_MATERIAL_BYTES:
        raise OneWindowError(FILE_REJECTED, f"文件超过 {MAX_MATERIAL_BYTES // 1024 // 1024} MB", field="file")
    fmt = sniff_format(data)
    if fmt is None or fmt not in material.formats:
        allowed = "、".join(f.upper() for f in material.formats)
        found = fmt.upper() if fmt else "无法识别"
        raise OneWindowError(
            FILE_REJECTED, f"「{material.name}」只接受 {allowed}，此文件是 {found}", field="file"
        )
    safe_name = re.sub(r"[\\/\x00-\x1f]", "_", filename).strip(". ")[-120:] or f"{material.id}.{fmt}"
    async with runtime.db.write() as session:
        digest = await store_blob(session, runtime, data, media_type=_MEDIA_TYPES[fmt], filename=safe_name)
        payload = {
            "material_id": material.id,
            "blob": digest,
            "filename": safe_name,
            "size": len(data),
            "media_type": _MEDIA_TYPES[fmt],
        }
        await record(session, runtime, new_event(runtime, actor, case_id, MATERIAL_ATTACHED, payload))
        state = await case_state(session, case_id)
        if state.waiver_pending and waived <= {str(m["material_id"]) for m in state.materials}:
            # The file that completes the waived materials records that the commitment was kept.
            supplied = {"supplied_at": runtime.now_iso(), "materials": sorted(waived)}
            await record(session, runtime, new_event(runtime, actor, case_id, CASE_WAIVER_SUPPLIED, supplied))
            state = await case_state(session, case_id)
        return state


def missing_materials(item: CatalogueItem, state: CaseState) -> list[Material]:
    """Mandatory materials of the item with no file attached yet."""
    present = {m["material_id"] for m in state.materials}
    return [m for m in item.materials if m.mandatory and m.id not in present]


def may_remove_pages(state: CaseState) -> bool:
    """Pages may be taken off (删除, 重拍) until the window decides: an accepted case keeps its materials."""
    return state.status in (RECEIVED, CORRECTION_REQUESTED)


async def remove_material(
    runtime: NodeRuntime, *, actor: Actor, case_id: str, material_id: str, blob: str
) -> CaseState:
    """删除 one page from its slot (a blurred scan, the wrong sheet); the blob stays for the event history."""
    async with runtime.db.write() as session:
        state = await case_state(session, case_id)
        if state.status is None:
            raise OneWindowError(NOT_FOUND, "办件不存在", field="case_id")
        if not may_remove_pages(state):
            raise OneWindowError(
                INVALID_TRANSITION, f"办件当前为「{state.status_label}」，不能再删除材料页", field="case_id"
            )
        if not any(m["material_id"] == material_id and m["blob"] == blob for m in state.materials):
            raise OneWindowError(NOT_FOUND, "该材料页不存在或已删除", field="blob")
        payload = {"material_id": material_id, "blob": blob, "removed_at": runtime.now_iso()}
        await record(session, runtime, new_event(runtime, actor, case_id, MATERIAL_REMOVED, payload))
        return await case_state(session, case_id)


#: Width of a page's thumbnail on the case page, in pixels.
PREVIEW_WIDTH = 240


def page_preview(data: bytes, media_type: str) -> bytes:
    """A PNG thumbnail of a page: the image itself, scaled down; a PDF's first page through poppler's
    ``pdftoppm`` where it is installed; otherwise a card naming the format (nothing is lost: the page opens
    whole from the case page)."""
    from PIL import Image, ImageDraw

    picture: Image.Image | None = None
    if media_type.startswith("image/"):
        try:
            picture = Image.open(io.BytesIO(data))
            picture.load()
        except Exception:  # a page the library cannot open still gets its card
            picture = None
    elif media_type == "application/pdf" and shutil.which("pdftoppm"):
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / "page.pdf"
            source.write_bytes(data)
            done = subprocess.run(
                [
                    "pdftoppm",
                    "-f",
                    "1",
                    "-l",
                    "1",
                    "-png",
                    "-scale-to",
                    str(PREVIEW_WIDTH * 2),
                    source,
                    Path(folder) / "page",
                ],
                capture_output=True,
                timeout=20,
                check=False,
            )
            made = sorted(Path(folder).glob("page*.png"))
            if done.returncode == 0 and made:
                picture = Image.open(made[0])
                picture.load()
    if picture is None:
        picture = Image.new("RGB", (PREVIEW_WIDTH, int(PREVIEW_WIDTH * 1.41)), "white")
        draw = ImageDraw.Draw(picture)
        draw.rectangle((0, 0, picture.width - 1, picture.height - 1), outline="#9aa5b4", width=3)
        draw.text(
            (PREVIEW_WIDTH // 2 - 20, picture.height // 2 - 10),
            media_type.split("/")[-1].upper(),
            fill="#5b6675",
        )
    picture = picture.convert("RGB")
    picture.thumbnail((PREVIEW_WIDTH, PREVIEW_WIDTH * 2))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
