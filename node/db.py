"""The node's SQLite database: WAL mode, one writer with BEGIN IMMEDIATE, Alembic migrations.

Writes go through `Database.write()`, which serialises writers in-process and takes SQLite's write lock at
BEGIN, so a transaction never fails half-way on a lock upgrade. Reads use a separate engine with deferred
transactions and never wait for the writer (WAL). Both engines carry the node data key for the columns encrypted
at rest (`node.trust.atrest`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from common.backup import snapshot_before_migration
from common.migrations import upgrade_to_newest
from node.trust.atrest import attach_data_key

log = logging.getLogger(__name__)


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN itself (aiosqlite would otherwise BEGIN DEFERRED lazily).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def migrate(db_path: Path) -> None:
    """Bring the database file to the newest schema (creates it when missing; nothing when it is there). An
    upgrade (an existing database behind the newest schema) first copies it to ``backups/`` beside it
    (`common.backup.snapshot_before_migration`)."""
    location = Path(__file__).parent / "migrations"
    copy = snapshot_before_migration(db_path, location)
    if copy is not None:
        log.warning("node database schema is older than this version: copied it to %s before migrating", copy)
    upgrade_to_newest(location, f"sqlite:///{db_path}")


AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, hook: Callable[[], None]) -> None:
    """Call `hook` once the write transaction of `session` has committed (never if it rolls back)."""
    session.info.setdefault(AFTER_COMMIT, []).append(hook)


class Database:
    """The node's database file, with a writer and a reader engine; `data_key` (the node's) reads and writes
    the encrypted columns — without it, touching one raises `node.trust.atrest.DataAtRestError`."""

    def __init__(self, path: Path, *, data_key: bytes | None = None) -> None:
        self.path = path
        url = f"sqlite+aiosqlite:///{path}"
        self.writer: AsyncEngine = create_async_engine(url, pool_size=1, max_overflow=0)
        self.reader: AsyncEngine = create_async_engine(url)
        for engine, begin in ((self.writer, "BEGIN IMMEDIATE"), (self.reader, "BEGIN")):
            event.listen(engine.sync_engine, "connect", _pragmas)

            def _begin(conn: Any, statement: str = begin) -> None:
                conn.exec_driver_sql(statement)

            event.listen(engine.sync_engine, "begin", _begin)
            if data_key is not None:
                attach_data_key(engine, data_key)
        self._write_lock = asyncio.Lock()
        self._data_key = data_key
        self._aside: AsyncEngine | None = None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        async with self._write_lock, AsyncSession(self.writer, expire_on_commit=False) as session:
            async with session.begin():
                yield session
            hooks = session.info.pop(AFTER_COMMIT, ())
        for hook in hooks:  # committed: what was only to start once the data is durable (`after_commit`)
            hook()

    @asynccontextmanager
    async def write_aside(self) -> AsyncIterator[AsyncSession]:
        """A small write transaction for background work (a notice stored after its render): its own connection
        and no place in the in-process queue of `write`, so it never holds up a window's action; SQLite's own
        lock (BEGIN IMMEDIATE, busy timeout) keeps the two apart. After-commit hooks are not run here."""
        if self._aside is None:
            self._aside = create_async_engine(f"sqlite+aiosqlite:///{self.path}", pool_size=1, max_overflow=0)
            event.listen(self._aside.sync_engine, "connect", _pragmas)
            event.listen(
                self._aside.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE")
            )
            if self._data_key is not None:
                attach_data_key(self._aside, self._data_key)
        async with AsyncSession(self._aside, expire_on_commit=False) as session:
            async with session.begin():
                yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only snapshot."""
        async with AsyncSession(self.reader, expire_on_commit=False) as session:
            async with session.begin():
                yield session

    async def close(self) -> None:
        await self.writer.dispose()
        await self.reader.dispose()
        if self._aside is not None:
            await self._aside.dispose()
