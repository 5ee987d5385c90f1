"""Everything a node's services share while it runs: identity, database, blob store, clocks, catalogue."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from node.blobs import BlobStore
from node.db import Database, migrate
from node.identity import NodeIdentity, load_identity
from node.models import CaseEvent, CatalogueVersion
from protocol.catalogue import Catalogue, catalogue_from_dict
from protocol.hlc import HybridClock

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

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    def now_iso(self) -> str:
        return self.now().astimezone(UTC).isoformat(timespec="milliseconds")

    @property
    def catalogue(self) -> Catalogue:
        """The newest catalogue version the node holds."""
        return self.catalogues[max(self.catalogues)]

    async def reload_catalogues(self) -> None:
        async with self.db.read() as session:
            rows = (await session.exec(select(CatalogueVersion))).all()
        self.catalogues = {row.version: catalogue_from_dict(json.loads(row.data)) for row in rows}

    async def close(self) -> None:
        await self.db.close()


async def open_runtime(data_dir: Path, *, now: Callable[[], datetime] = utc_now) -> NodeRuntime:
    """Open an enrolled node's data directory (migrating its database to the newest schema)."""
    identity = load_identity(data_dir)
    db_path = data_dir / "node.db"
    migrate(db_path)
    db = Database(db_path)
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
    return runtime
