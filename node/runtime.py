"""Everything a node's services share while it runs: identity, database, blob store, clocks, catalogue."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from node.blobs import BlobStore
from node.db import Database, migrate
from node.models import CaseEvent, CatalogueVersion, Meta, NodeTable
from node.trust.atrest import encrypt_plaintext_rows
from node.trust.identity import NodeIdentity, load_identity
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


@dataclass
class NodeRuntime:
    """A running node's shared parts. Built by `open_runtime`; tests pass a fake `now`."""

    data_dir: Path
    identity: NodeIdentity
    db: Database
    blobs: BlobStore
    clock: HybridClock
    now: Callable[[], datetime] = utc_now
    catalogues: dict[int, Catalogue] = field(default_factory=dict)
    calendar: WorkingCalendar = field(default_factory=lambda: calendar_from_dict(NO_CALENDAR))
    #: The sync loop's live state for the sync page (the attachment being uploaded, its progress, …).
    sync_state: dict[str, Any] = field(default_factory=dict)

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    def now_iso(self) -> str:
        return self.now().astimezone(UTC).isoformat(timespec="milliseconds")

    @property
    def notice_prefix(self) -> str:
        """The centre's short name at the head of its document numbers (红梅便民受字〔2026〕…)."""
        from node.intake.cases.numbers import notice_prefix

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


async def open_runtime(
    data_dir: Path,
    *,
    key_dir: Path | None = None,
    identity: NodeIdentity | None = None,
    now: Callable[[], datetime] = utc_now,
) -> NodeRuntime:
    """Open an enrolled node's data directory (migrating its database to the newest schema, and encrypting what
    an older version left in plaintext). The keys come from `identity` when given (already unsealed), else
    from `key_dir` (default: beside the data directory, `node.trust.identity.keys_dir`)."""
    from node.sync.keys import restore_rotation_state  # (node.sync builds on the runtime)

    identity = identity or load_identity(data_dir, key_dir)
    db_path = data_dir / "node.db"
    migrate(db_path)
    encrypt_plaintext_rows(db_path, identity.data_key, NodeTable.metadata)
    db = Database(db_path, data_key=identity.data_key)
    async with db.read() as session:
        last = (await session.exec(select(func.max(CaseEvent.hlc)))).one() or 0

    def now_ms() -> int:
        return int(now().timestamp() * 1000)

    runtime = NodeRuntime(
        data_dir=data_dir,
        identity=identity,
        db=db,
        blobs=BlobStore(data_dir / "blobs", identity.data_key),
        clock=HybridClock(now_ms=now_ms, last=int(last)),
        now=now,
    )
    await runtime.reload_catalogues()
    await restore_rotation_state(runtime)
    return runtime
