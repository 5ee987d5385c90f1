"""The materials a window captured, as the back office reads them (材料查阅): grouped under their checklist names,
with what has arrived so far (「材料上传中 2/4」 while scans are still on their way), who may look, and which stored
blob a request may read.

Who may view (R-SEC-2): the staff of the departments the case is routed to, county admins and supervisors;
everyone else is refused (OW FORBIDDEN) before anything is read. Each view is a row of the audit trail (the
middleware records it; `protocol.audit` names the action 查看材料). The bytes are streamed from the blob store
(`central.blobs.CentralBlobStore.chunks`), never read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.departments import catalogue_version, item_of, membership
from central.blobs import CentralBlobStore
from central.models import BlobRecord
from protocol.catalogue import Catalogue
from protocol.errors import FORBIDDEN, NOT_FOUND, OneWindowError
from protocol.events import CaseState

#: Roles that see every case's materials: county admins and supervisors (督查).
COUNTY_WIDE = ("admin", "supervisor")

_INLINE = ("application/pdf", "image/jpeg", "image/png")


@dataclass(frozen=True)
class MaterialFile:
    """One captured file of a checklist slot, and whether central holds its bytes yet."""

    blob: str
    filename: str
    media_type: str
    size: int
    arrived: bool

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/") and self.media_type != "image/tiff"

    @property
    def is_pdf(self) -> bool:
        return self.media_type == "application/pdf"


@dataclass(frozen=True)
class MaterialGroup:
    """A checklist slot (by its name in the catalogue version the case was accepted under) and its files."""

    material_id: str
    name: str
    files: tuple[MaterialFile, ...]


@dataclass(frozen=True)
class CaseMaterials:
    groups: tuple[MaterialGroup, ...]
    arrived: int
    total: int

    @property
    def uploading(self) -> bool:
        """Some files are still on their way from the window (「材料上传中 2/4」)."""
        return self.arrived < self.total


async def case_materials(session: AsyncSession, state: CaseState, catalogue: Catalogue) -> CaseMaterials:
    """The case's files grouped under their checklist names, in checklist order."""
    item = item_of(await catalogue_version(session, state.catalogue_version, catalogue), state.item_code)
    item = item or item_of(catalogue, state.item_code)
    names = {m.id: m.name for m in item.materials} if item is not None else {}
    order = list(names)
    digests = [str(m["blob"]) for m in state.materials]
    held = set(
        (await session.exec(select(BlobRecord.sha256).where(col(BlobRecord.sha256).in_(digests)))).all()
        if digests
        else []
    )
    grouped: dict[str, list[MaterialFile]] = {}
    for material in state.materials:
        grouped.setdefault(str(material["material_id"]), []).append(
            MaterialFile(
                blob=str(material["blob"]),
                filename=str(material.get("filename", "")),
                media_type=str(material.get("media_type", "")),
                size=int(material.get("size", 0) or 0),
                arrived=str(material["blob"]) in held,
            )
        )
    ranked = sorted(grouped, key=lambda m: order.index(m) if m in order else len(order))
    groups = tuple(
        MaterialGroup(material_id=m, name=names.get(m, "其他材料"), files=tuple(grouped[m])) for m in ranked
    )
    total = sum(len(g.files) for g in groups)
    return CaseMaterials(groups=groups, arrived=sum(f.arrived for g in groups for f in g.files), total=total)


async def may_view_materials(session: AsyncSession, state: CaseState, user: dict[str, Any]) -> bool:
    """Whether `user` may read the case's materials: county-wide roles, or staff of a department the case
    is routed to."""
    if user.get("role") in COUNTY_WIDE:
        return True
    member = await membership(session, str(user.get("username", "")))
    departments = {d["code"] for d in (state.routing or {}).get("departments", [])}
    return member is not None and member.department_code in departments


async def require_material_access(session: AsyncSession, state: CaseState, user: dict[str, Any]) -> None:
    """OW FORBIDDEN unless `user` may read the case's materials."""
    if not await may_view_materials(session, state, user):
        raise OneWindowError(
            FORBIDDEN, "只有本件承办部门的人员、县管理员和督查人员可以查看申请材料", field="case_id"
        )


@dataclass(frozen=True)
class StoredFile:
    """A material's stored bytes as a response streams them."""

    blob: str
    filename: str
    media_type: str
    size: int
    inline: bool


async def material_file(
    session: AsyncSession, blobs: CentralBlobStore, state: CaseState, blob: str
) -> StoredFile:
    """The stored file of one of the case's materials (OW NOT_FOUND for a blob that is not one of them, or
    that has not arrived yet)."""
    material = next((m for m in state.materials if m["blob"] == blob), None)
    if material is None:
        raise OneWindowError(NOT_FOUND, "该办件没有这份材料", field="blob")
    row = await session.get(BlobRecord, blob)
    if row is None or not blobs.exists(blob):
        raise OneWindowError(NOT_FOUND, "这份材料还在从受理中心上传，请稍后再看", field="blob")
    media_type = str(material.get("media_type") or row.media_type)
    return StoredFile(
        blob=blob,
        filename=str(material.get("filename") or row.filename),
        media_type=media_type,
        size=blobs.size(blob),
        inline=media_type in _INLINE,
    )
