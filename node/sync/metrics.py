"""What the node's Prometheus endpoint reads at each scrape (issue 21): the up queue (entries, bytes, events not
yet sealed), attachments still to upload, the last successful sync and the link, and the devices by state.
Rendered by `common.metrics`; the route is `node.metrics_routes`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from common.metrics import Family
from node.meta import get_meta
from node.runtime import NodeRuntime
from node.sync.attachments import pending_blob_totals
from node.sync.log import queue_depth

P = "onewindow_node"


async def node_families(runtime: NodeRuntime, devices: dict[str, Any] | None) -> list[Family]:
    """Every series the node reads from its database and its device manager, as of now."""
    async with runtime.db.read() as session:
        depth = await queue_depth(session)
        last_success = await get_meta(session, "last_success_at")
        link = await get_meta(session, "link")
    count, size = await pending_blob_totals(runtime)
    families = [
        Family(f"{P}_queue_entries", "gauge", "Up entries not yet receipted by central").add(
            depth["entries"]
        ),
        Family(f"{P}_queue_bytes", "gauge", "Bytes of up entries not yet receipted").add(depth["bytes"]),
        Family(f"{P}_unsealed_events", "gauge", "Recorded events not yet sealed into an up entry").add(
            depth["unsealed_events"]
        ),
        Family(f"{P}_blobs_pending", "gauge", "Attachments (scans) not yet uploaded to central").add(count),
        Family(f"{P}_blobs_pending_bytes", "gauge", "Bytes of attachments not yet uploaded").add(size),
        Family(f"{P}_link_up", "gauge", "1 when the last sync round reached central").add(
            1 if link == "up" else 0
        ),
    ]
    if last_success:
        families.append(
            Family(
                f"{P}_last_sync_success_timestamp_seconds", "gauge", "When a sync round last succeeded"
            ).add(datetime.fromisoformat(last_success).timestamp())
        )
    states: dict[tuple[str, str], int] = {}
    listed = (devices or {}).get("devices")
    for device in listed if isinstance(listed, list) else []:
        key = (str(device.get("kind", "")), str(device.get("state", "")))
        states[key] = states.get(key, 0) + 1
    family = Family(f"{P}_devices", "gauge", "USB devices known to the node, by kind and state")
    for (kind, state), n in sorted(states.items()):
        family.add(n, kind=kind, state=state)
    families.append(family)
    return families
