"""The fleet view (R-PROV-5, R-SYNC): where every node stands with the county, and what needs attention.

Each row joins what central knows for itself (log positions, last contact, measured clock skew, attachments
expected and arrived, quarantined entries) with what the node said of itself at its last reconcile (queue,
oldest unsent item, version, disk, devices).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.clock import utc_now
from central.models import NodeRecord, QuarantineRecord
from central.registry import get_node, revoke_in_registry
from central.sync.attachments import blob_counts
from protocol.errors import NOT_FOUND, REQUIRED_FIELD, OneWindowError
from protocol.sync import SKEW_WARNING_MS, describe_skew

#: A node not heard from for this long is flagged.
SILENT_AFTER_S = 24 * 3600


@dataclass
class FleetRow:
    node: NodeRecord
    reported: dict[str, Any]
    expected_blobs: int
    arrived_blobs: int
    quarantined: int
    attention: list[str] = field(default_factory=list)

    @property
    def devices(self) -> list[dict[str, Any]]:
        """The devices the node reported at its last reconcile (label, state, …)."""
        reported = self.reported.get("devices")
        listed = reported.get("devices") if isinstance(reported, dict) else None
        return [d for d in listed if isinstance(d, dict)] if isinstance(listed, list) else []

    @property
    def skew(self) -> str:
        return describe_skew(self.node.skew_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.node.model_dump(exclude={"secret_digest", "reported", "counters"}),
            "reported": self.reported,
            "expected_blobs": self.expected_blobs,
            "arrived_blobs": self.arrived_blobs,
            "quarantined": self.quarantined,
            "skew": self.skew,
            "attention": self.attention,
        }


async def fleet(
    session: AsyncSession,
    *,
    now: datetime | None = None,
    county_key: str | None = None,
    refusals: Mapping[str, Any] | None = None,
) -> list[FleetRow]:
    """Every node with what needs attention; `county_key` (the current county key's fingerprint) flags nodes
    that have not yet taken a key rotation."""
    now = now or utc_now()
    nodes = (await session.exec(select(NodeRecord).order_by(col(NodeRecord.number)))).all()
    rows = []
    for node in nodes:
        expected, arrived = await blob_counts(session, node.node_id)
        quarantined = (
            await session.exec(
                select(func.count())
                .select_from(QuarantineRecord)
                .where(QuarantineRecord.node_id == node.node_id)
            )
        ).one()
        row = FleetRow(node, json.loads(node.reported or "{}"), expected, arrived, int(quarantined))
        if node.status == "revoked":
            row.attention.append("已吊销")
        refused = (refusals or {}).get(node.node_id)
        if refused is not None:  # `central.sync.versions.ProtocolRefusal`: its last request was refused
            row.attention.append(f"版本不兼容：{refused.short}")
        if node.status == "active" and node.last_contact_at:
            silent = (now - datetime.fromisoformat(node.last_contact_at)).total_seconds()
            if silent > SILENT_AFTER_S:
                row.attention.append(f"已 {silent / 86400:.0f} 天未联系")
        if county_key and node.status == "active" and node.county_key and node.county_key != county_key:
            row.attention.append("县密钥未更新")
        if node.skew_ms is not None and abs(node.skew_ms) >= SKEW_WARNING_MS:
            row.attention.append(f"时钟{row.skew}")
        if row.quarantined:
            row.attention.append(f"{row.quarantined} 条已隔离")
        devices = row.devices
        faulty = [d for d in devices if d.get("state") != "connected"]
        if faulty:
            row.attention.append("设备异常：" + "、".join(str(d.get("label", "")) for d in faulty))
        if expected > arrived:
            row.attention.append(f"缺 {expected - arrived} 个附件")
        rows.append(row)
    return rows


async def quarantine_list(session: AsyncSession, limit: int = 100) -> list[QuarantineRecord]:
    result = await session.exec(
        select(QuarantineRecord).order_by(col(QuarantineRecord.id).desc()).limit(limit)
    )
    return list(result.all())


async def revoke_node(
    session: AsyncSession, county_dir: Path, node_id: str, *, reason: str, now: str
) -> None:
    """吊销节点 (R-PROV-4) from the fleet page: marked in the county registry, as `provision revoke-node` does;
    central takes it in at its next registry check. From then on the node's new entries are quarantined."""
    reason = reason.strip()
    if not reason:
        raise OneWindowError(REQUIRED_FIELD, "吊销节点必须写明原因（如：设备被盗、中心撤并）", field="reason")
    if await get_node(session, node_id) is None:
        raise OneWindowError(NOT_FOUND, f"没有节点 {node_id}", field="node_id")
    revoke_in_registry(county_dir, node_id, reason=reason, now=now)
