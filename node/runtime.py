"""Everything a node's services share while it runs: identity, database, blob store, clocks, catalogue, and the
sealer of the up log. Built by `node.boot.open_runtime`; local time helpers (CST) live here too."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.blobs import BlobStore
from node.db import Database
from node.models import CatalogueVersion, Meta
from node.trust.identity import NodeIdentity
from protocol.calendar import WorkingCalendar, calendar_from_dict
from protocol.catalogue import Catalogue, catalogue_from_dict
from protocol.hlc import HybridClock

CALENDAR_KEY = "calendar"
#: Used only by a node enrolled from a bundle without a calendar: weekends only, every year uncovered.
NO_CALENDAR = {"version": 1, "issued_at": "2026-01-01T00:00:00Z", "years": []}

#: China Standard Time: case numbers, notice dates and working days are in local time (no DST in China).
CST = timezone(timedelta(hours=8), "CST")


def utc_now() -> datetime:
    return datetime.now(UTC)


def local_date(iso: str) -> date:
    """The China Standard Time date of a stored UTC timestamp."""
    return datetime.fromisoformat(iso).astimezone(CST).date()


_ADMIN_SUFFIX = re.compile(r"(便民服务中心|便民服务站|服务中心|服务站)$")
_PLACE_SUFFIX = re.compile(r"(街道|镇|乡|村|社区)$")


def notice_prefix(centre_name: str, county_name: str = "") -> str:
    """The centre's short name for document numbers: 梅河口市红梅镇便民服务中心 → 红梅."""
    name = centre_name.strip()
    if county_name and name.startswith(county_name):
        name = name[len(county_name) :]
    name = _ADMIN_SUFFIX.sub("", name)
    name = _PLACE_SUFFIX.sub("", name)
    return name or centre_name[:2]


#: Seals the node's unsealed local events into up entries inside the caller's write transaction and returns how
#: many it sealed: the up log's `node.sync.log.seal_pending`. The event store (`node.events`) hands recorded
#: events to it through the runtime, because the logs sit above the event store and read events back from it.
Sealer = Callable[[AsyncSession, "NodeRuntime"], Awaitable[int]]


@dataclass
class NodeRuntime:
    """A running node's shared parts. Built by `node.boot.open_runtime`; tests pass a fake `now`."""

    data_dir: Path
    identity: NodeIdentity
    db: Database
    blobs: BlobStore
    clock: HybridClock
    sealer: Sealer
    now: Callable[[], datetime] = utc_now
    catalogues: dict[int, Catalogue] = field(default_factory=dict)
    calendar: WorkingCalendar = field(default_factory=lambda: calendar_from_dict(NO_CALENDAR))
    #: The sync loop's live state for the sync page (the attachment being uploaded, its progress, …).
    sync_state: dict[str, Any] = field(default_factory=dict)
    #: Called (after commit) with a case whose recorded events issued a notice: the serving node renders the
    #: notice's PDF then, once, and keeps it as the original (`node.intake.documents.issued`). None: on demand.
    issuer: Callable[[NodeRuntime, str], None] | None = None

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    def now_iso(self) -> str:
        return self.now().astimezone(UTC).isoformat(timespec="milliseconds")

    @property
    def notice_prefix(self) -> str:
        """The centre's short name at the head of its document numbers (红梅便民受字〔2026〕…)."""
        return notice_prefix(self.identity.name, self.identity.county_name)

    def today(self) -> date:
        """The local (China Standard Time) date: notices, deadlines and case numbers use it."""
        return self.now().astimezone(CST).date()

    @property
    def catalogue(self) -> Catalogue:
        """The newest catalogue version the node holds."""
        return self.catalogues[max(self.catalogues)]

    async def reload_catalogues(self) -> None:
        async with self.db.read() as session:
            rows = (await session.exec(select(CatalogueVersion))).all()
            calendar = await session.get(Meta, CALENDAR_KEY)
        self.catalogues = {row.version: catalogue_from_dict(json.loads(row.data)) for row in rows}
        self.calendar = calendar_from_dict(json.loads(calendar.value) if calendar else NO_CALENDAR)

    async def close(self) -> None:
        await self.db.close()
