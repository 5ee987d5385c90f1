"""What the sync page shows, read from the logs and the sync's notes: the queue, the link, the last rounds, the
node's keys and central's word about them, the attachments still to upload, and what a courier file written now
would carry (the logistics page shows that too)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from node.meta import get_meta
from node.models import CaseEvent, UpEntry
from node.runtime import NodeRuntime
from node.sync.attachments import pending_blob_totals
from node.sync.log import CERTIFICATE_KEY, REVOKED_KEY, queue_depth
from node.trust.identity import ROTATION_KEY, keys_dir
from node.trust.keyseal import is_sealed
from protocol.events import CUSTODY_STEPS, PARCEL_HANDED_TO_COURIER
from protocol.keys import read_secret_file
from protocol.sync import SKEW_WARNING_MS, describe_skew


async def sync_status(runtime: NodeRuntime, *, central_url: str) -> dict[str, Any]:
    """Everything the sync page and `/api/v1/sync/status` show: the queue, the link, the last rounds, the keys,
    quarantined entries, the clock reading against the county's."""
    async with runtime.db.read() as session:
        depth = await queue_depth(session)
        meta = {
            k: await get_meta(session, k)
            for k in (
                "link",
                "last_attempt_at",
                "last_success_at",
                "last_error",
                "link_problem",
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
        "central_url": central_url,
        "link": meta["link"] or "unknown",
        "queue": depth,
        "last_attempt_at": meta["last_attempt_at"],
        "last_success_at": meta["last_success_at"],
        "last_error": meta["last_error"],
        # Why central and this node cannot talk until a person acts (versions, certificate); "" when they can.
        "link_problem": meta["link_problem"] or "",
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


async def courier_summary(runtime: NodeRuntime) -> dict[str, Any]:
    """What a courier file written now would hold: unreceipted log entries, the events in them (and how many
    are parcel custody steps and handovers), and the attachments central has not confirmed."""
    async with runtime.db.read() as session:
        receipted = (
            await session.exec(select(func.max(UpEntry.seq)).where(col(UpEntry.receipt).is_not(None)))
        ).one() or 0
        entries = (
            await session.exec(select(func.count()).select_from(UpEntry).where(col(UpEntry.seq) > receipted))
        ).one()
        unsent = (col(CaseEvent.up_seq).is_(None)) | (col(CaseEvent.up_seq) > receipted)
        events = (
            await session.exec(
                select(CaseEvent.type, func.count())
                .where(CaseEvent.origin == "local", unsent)
                .group_by(col(CaseEvent.type))
            )
        ).all()
    by_type = {t: int(n) for t, n in events}
    attachments, attachment_bytes = await pending_blob_totals(runtime)
    return {
        "entries": int(entries),
        "events": sum(by_type.values()),
        "custody": sum(n for t, n in by_type.items() if t in CUSTODY_STEPS),
        "handovers": by_type.get(PARCEL_HANDED_TO_COURIER, 0),
        "attachments": attachments,
        "attachment_mb": attachment_bytes / 1048576,
    }
