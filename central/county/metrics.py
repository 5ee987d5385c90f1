"""What central's Prometheus endpoint reads from the database at each scrape (issue 21): per node its log
position, entries ingested and quarantined, queue as it reported it, last contact and attachments still owed;
the overdue routed cases; whether the working-day calendar covers the years it should. Rendered by
`common.metrics`; the route is `central.county.metrics_routes`."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.catalogue.calendar import county_calendar
from central.models import (
    BackofficeCaseRecord,
    BlobRecord,
    ExpectedBlobRecord,
    NodeRecord,
    QuarantineRecord,
    UpEntryRecord,
)
from central.runtime import Central
from common.metrics import Family

P = "onewindow_central"


async def _per_node(session: AsyncSession, statement: object) -> dict[str, int]:
    rows = (await session.exec(statement)).all()  # type: ignore[call-overload]
    return {str(node): int(n) for node, n in rows}


def _timestamp(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


async def central_families(central: Central, *, today: date) -> list[Family]:
    """Every series central reads from its database, as of now."""
    nodes_f = Family(f"{P}_nodes", "gauge", "Nodes by status (pending, active, revoked)")
    ingested = Family(
        f"{P}_entries_ingested", "gauge", "Up entries stored from the node (its log head at central)"
    )
    quarantined = Family(f"{P}_entries_quarantined", "gauge", "Up entries quarantined, ever")
    open_q = Family(f"{P}_quarantine_open", "gauge", "Quarantined entries not yet released or rejected")
    queue = Family(
        f"{P}_node_queue_entries", "gauge", "Entries the node had not yet had receipted (its last report)"
    )
    queue_bytes = Family(f"{P}_node_queue_bytes", "gauge", "Bytes queued at the node (its last report)")
    contact = Family(f"{P}_node_last_contact_timestamp_seconds", "gauge", "When the node last reconciled")
    pending = Family(
        f"{P}_blobs_pending", "gauge", "Attachments the node's cases refer to that have not arrived"
    )
    down = Family(f"{P}_down_unacked", "gauge", "Down entries the node has not yet acknowledged")
    async with central.db.transaction() as session:
        nodes = (await session.exec(select(NodeRecord).order_by(col(NodeRecord.number)))).all()
        entries = await _per_node(
            session, select(UpEntryRecord.node_id, func.count()).group_by(col(UpEntryRecord.node_id))
        )
        held = await _per_node(
            session, select(QuarantineRecord.node_id, func.count()).group_by(col(QuarantineRecord.node_id))
        )
        unresolved = await _per_node(
            session,
            select(QuarantineRecord.node_id, func.count())
            .where(QuarantineRecord.resolution == "")
            .group_by(col(QuarantineRecord.node_id)),
        )
        missing = await _per_node(
            session,
            select(ExpectedBlobRecord.node_id, func.count())
            .outerjoin(BlobRecord, col(BlobRecord.sha256) == col(ExpectedBlobRecord.sha256))
            .where(col(BlobRecord.sha256).is_(None))
            .group_by(col(ExpectedBlobRecord.node_id)),
        )
        overdue = (
            await session.exec(
                select(func.count())
                .select_from(BackofficeCaseRecord)
                .where(BackofficeCaseRecord.level == "overdue")
            )
        ).one()
    by_status: dict[str, int] = {"pending": 0, "active": 0, "revoked": 0}
    for node in nodes:
        by_status[node.status] = by_status.get(node.status, 0) + 1
        labels = {"node": node.node_id, "number": str(node.number)}
        ingested.add(entries.get(node.node_id, 0), **labels)
        quarantined.add(held.get(node.node_id, 0), **labels)
        open_q.add(unresolved.get(node.node_id, 0), **labels)
        pending.add(missing.get(node.node_id, 0), **labels)
        down.add(node.down_seq - node.down_acked, **labels)
        reported = json.loads(node.reported or "{}")
        for family, key in ((queue, "queue_entries"), (queue_bytes, "queue_bytes")):
            value = reported.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                family.add(value, **labels)
        seen = _timestamp(node.last_contact_at)
        if seen is not None:
            contact.add(seen, **labels)
    for status, n in sorted(by_status.items()):
        nodes_f.add(n, status=status)
    calendar = county_calendar(central.settings.county_dir)
    missing_years = calendar.missing_years(today)
    years = Family(
        f"{P}_calendar_missing_years",
        "gauge",
        "Working-day arrangements the county should hold today and lacks (this year; next year from 1 November)",
    ).add(len(missing_years))
    next_year = Family(
        f"{P}_calendar_next_year_missing",
        "gauge",
        "1 when next year's working-day arrangement is not published",
    ).add(0 if calendar.uncovered_years(date(today.year + 1, 1, 1), date(today.year + 1, 1, 1)) == () else 1)
    cases = Family(f"{P}_cases_overdue", "gauge", "Routed cases past their due date, undecided").add(
        int(overdue)
    )
    return [
        nodes_f,
        ingested,
        quarantined,
        open_q,
        queue,
        queue_bytes,
        contact,
        pending,
        down,
        cases,
        years,
        next_year,
    ]
