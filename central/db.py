"""Central's database: SQLite (WAL, BEGIN IMMEDIATE) by default, PostgreSQL through psycopg when
``DATABASE_URL`` says so. The same Alembic migrations serve both."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from central.settings import CentralSettings
from common.backup import snapshot_before_migration
from common.migrations import upgrade_to_newest

log = logging.getLogger(__name__)


def urls(database_url: str) -> tuple[str, str]:
    """(async URL, sync URL for migrations) for a configured URL."""
    if database_url.startswith(("postgres://", "postgresql://", "postgresql+psycopg://")):
        rest = database_url.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}", f"postgresql+psycopg://{rest}"
    if database_url.startswith(("sqlite:///", "sqlite+aiosqlite:///")):
        path = database_url.split(":///", 1)[1]
        return f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}"
    raise ValueError(
        f"DATABASE_URL: unsupported database {database_url.split(':', 1)[0]!r} (sqlite or postgresql)"
    )


def migrate(database_url: str) -> None:
    """Bring the database to the newest schema (nothing when it is there). An upgrade of a SQLite database
    first copies it to ``backups/`` beside it (`common.backup.snapshot_before_migration`); for PostgreSQL the
    README asks for a ``pg_dump`` before upgrading."""
    location = Path(__file__).parent / "migrations"
    sync_url = urls(database_url)[1]
    if sync_url.startswith("sqlite:///"):
        copy = snapshot_before_migration(Path(sync_url.split(":///", 1)[1]), location)
        if copy is not None:
            log.warning("central database schema is older than this version: copied it to %s first", copy)
    upgrade_to_newest(location, sync_url)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class CentralDatabase:
    """Engine and transactions for central."""

    def __init__(self, database_url: str) -> None:
        async_url, _ = urls(database_url)
        self.is_sqlite = async_url.startswith("sqlite")
        self.engine: AsyncEngine = create_async_engine(
            async_url, **({} if self.is_sqlite else {"pool_size": 10})
        )
        self._lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        # On PostgreSQL as many transactions run at once as the pool has connections (10 + 10 overflow); the
        # rest wait their turn here instead of on the pool, whose 30 s timeout a hundred nodes pushing at once
        # ran out (issue 20: HTTP 500 under the ingest benchmark).
        self._slots: asyncio.Semaphore | None = None if self.is_sqlite else asyncio.Semaphore(20)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(
                self.engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE")
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction committed when the block ends; on PostgreSQL writers lock the rows they change.

        On SQLite every transaction takes the one write lock at BEGIN, so they are queued here, in-process,
        before a connection is taken: a hundred nodes calling at once wait their turn instead of holding every
        pooled connection while SQLite's busy timeout runs out."""
        async with self._turn(), AsyncSession(self.engine, expire_on_commit=False) as session:
            async with session.begin():
                yield session

    def _turn(self) -> Any:
        if self._lock is not None:
            return self._lock
        return self._slots if self._slots is not None else nullcontext()

    async def close(self) -> None:
        await self.engine.dispose()


def open_database(settings: CentralSettings) -> CentralDatabase:
    """Central's database for a command run beside it (`publish-calendar`, `import`): the data directory made,
    the schema brought up to date, the engine opened (the caller closes it)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.resolved_database_url)
    return CentralDatabase(settings.resolved_database_url)
