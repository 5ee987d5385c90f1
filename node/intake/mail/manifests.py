"""Courier manifests (交接清单): packed parcels are grouped for one pickup (`create_manifest`) and handed over with
the courier's signature on the tablet (`hand_over`); every parcel's handover is a custody event of its case, all
of them sealed in one up entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import new_event, record
from node.intake.cases.materials import store_blob
from node.intake.cases.outcomes import (
    signature_png,
)
from node.intake.mail.models import Manifest, Parcel
from node.intake.mail.outbound import confirm_days
from node.intake.mail.parcels import clean_text, get_row, require_role
from node.models import Counter
from node.runtime import NodeRuntime
from node.staff import LOGISTICS, Actor
from protocol.errors import (
    INVALID_TRANSITION,
    NOT_FOUND,
    REQUIRED_FIELD,
    OneWindowError,
)
from protocol.events import (
    PARCEL_HANDED_TO_COURIER,
)
from protocol.ids import uuid7


async def _next_manifest_number(session: AsyncSession, runtime: NodeRuntime) -> str:
    year = runtime.today().year
    name = f"mail:manifest:{year}"
    counter = await session.get(Counter, name) or Counter(name=name, value=0)
    counter.value += 1
    session.add(counter)
    await session.flush()
    return f"{runtime.notice_prefix}物流交接〔{year}〕第{counter.value:04d}号"


async def create_manifest(runtime: NodeRuntime, *, actor: Actor, parcel_ids: Sequence[str]) -> Manifest:
    """交接清单: group packed parcels for one courier pickup."""
    require_role(actor, LOGISTICS, "编制交接清单")
    chosen = list(dict.fromkeys(parcel_ids))
    if not chosen:
        raise OneWindowError(REQUIRED_FIELD, "请选择要交寄的邮件", field="parcel_ids")
    async with runtime.db.write() as session:
        parcels = [await get_row(session, Parcel, pid, "邮件") for pid in chosen]
        for parcel in parcels:
            if parcel.direction != "out" or parcel.status != "packed" or parcel.manifest_id:
                raise OneWindowError(
                    INVALID_TRANSITION,
                    f"邮件 {parcel.tracking_number} 不是待交寄的封装邮件",
                    field="parcel_ids",
                )
        manifest = Manifest(
            id=uuid7(),
            number=await _next_manifest_number(session, runtime),
            created_at=runtime.now_iso(),
            created_by=actor.username,
        )
        session.add(manifest)
        for parcel in parcels:
            parcel.manifest_id = manifest.id
            session.add(parcel)
        return manifest


async def manifest_parcels(session: AsyncSession, manifest_id: str) -> list[Parcel]:
    """The parcels on a manifest, in the order they were packed."""
    query = select(Parcel).where(Parcel.manifest_id == manifest_id).order_by(col(Parcel.registered_at))
    return list((await session.exec(query)).all())


async def hand_over(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    manifest_id: str,
    courier_name: str,
    signature: bytes | None,
    courier_phone: str = "",
    courier_company: str = "",
) -> Manifest:
    """交寄: the courier signs the manifest on the tablet; every parcel on it is now in the courier's hands.

    The due date (today + the configured days) goes into each parcel's handover event, so central flags the
    same parcels on the same day as the node.
    """
    require_role(actor, LOGISTICS, "办理交寄")
    courier_name = clean_text(courier_name, "courier_name", "快递员姓名", 50)
    signed = signature_png(signature, "signature", "快递员")
    days = await confirm_days(runtime)
    async with runtime.db.write() as session:
        manifest: Manifest = await get_row(session, Manifest, manifest_id, "交接清单")
        if manifest.handed_at:
            raise OneWindowError(INVALID_TRANSITION, "该交接清单已交寄", field="manifest_id")
        parcels = await manifest_parcels(session, manifest_id)
        if not parcels:
            raise OneWindowError(INVALID_TRANSITION, "交接清单中没有邮件", field="manifest_id")
        blob = await store_blob(
            session, runtime, signed, media_type="image/png", filename=f"courier-{manifest.number}.png"
        )
        now = runtime.now_iso()
        due_by = (runtime.today() + timedelta(days=days)).isoformat()
        manifest.courier_name, manifest.courier_phone = courier_name, courier_phone.strip()[:30]
        manifest.courier_company = courier_company.strip()[:50]
        manifest.handed_at, manifest.signature_blob = now, blob
        manifest.confirm_days, manifest.due_by = days, due_by
        session.add(manifest)
        handovers = []
        for parcel in parcels:
            payload = {
                "parcel_id": parcel.id,
                "at": now,
                "direction": "out",
                "kind": parcel.kind,
                "destination": parcel.destination,
                "tracking_number": parcel.tracking_number,
                "recipient": parcel.party,
                "manifest_id": manifest.id,
                "manifest_number": manifest.number,
                "manifest_parcels": len(parcels),
                "courier_name": courier_name,
                "courier_company": manifest.courier_company,
                "courier_signature": blob,
                "confirm_days": days,
                "due_by": due_by,
            }
            assert parcel.case_id is not None
            handovers.append(new_event(runtime, actor, parcel.case_id, PARCEL_HANDED_TO_COURIER, payload))
            parcel.status, parcel.updated_at = "handed", now
            session.add(parcel)
        await record(session, runtime, *handovers)  # one up entry for the whole pickup
        return manifest


async def open_manifests(runtime: NodeRuntime) -> list[tuple[Manifest, list[Parcel]]]:
    """The newest manifests, each with its parcels."""
    async with runtime.db.read() as session:
        manifests = (
            await session.exec(select(Manifest).order_by(col(Manifest.created_at).desc()).limit(20))
        ).all()
        return [(m, await manifest_parcels(session, m.id)) for m in manifests]


async def manifest_with_parcels(runtime: NodeRuntime, manifest_id: str) -> tuple[Manifest, list[Parcel]]:
    """A manifest and its parcels; OW-1003 naming manifest_id when there is no such manifest."""
    async with runtime.db.read() as session:
        manifest = await session.get(Manifest, manifest_id)
        if manifest is None:
            raise OneWindowError(NOT_FOUND, f"交接清单 {manifest_id} 不存在", field="manifest_id")
        return manifest, await manifest_parcels(session, manifest_id)


async def manifest_of(runtime: NodeRuntime, parcel: Parcel) -> Manifest | None:
    """The manifest a parcel is on, if any."""
    if not parcel.manifest_id:
        return None
    async with runtime.db.read() as session:
        return await session.get(Manifest, parcel.manifest_id)
