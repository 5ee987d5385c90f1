"""Central's audit table on SQLite and on PostgreSQL: rows chain, the database refuses UPDATE, DELETE (and on
PostgreSQL TRUNCATE), tampering behind the triggers' back is found, and appends from many requests at once keep
one linear chain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from central.audit.service import record, search, verify
from central.db import CentralDatabase, migrate, urls
from protocol.audit import GENESIS, AuditEvent, AuditQuery
from tests.support import postgres_database

AT = "2026-12-02T02:00:00.000+00:00"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'central.db'}"
    else:
        yield from postgres_database()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[CentralDatabase]:
    migrate(database_url)
    database = CentralDatabase(database_url)
    yield database
    await database.close()


def event(n: int) -> AuditEvent:
    return AuditEvent(
        actor="reviewer",
        role="reviewer",
        action="view",
        method="GET",
        path=f"/cases/c{n}",
        route="/cases/{case_id}",
        object_type="case",
        object_id=f"c{n}",
    )


def raw(database_url: str, *statements: str) -> None:
    """Statements on a connection of its own, outside the app (as someone with the database password would)."""
    engine = create_engine(urls(database_url)[1])
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


async def test_rows_chain_and_the_database_refuses_to_change_them(
    db: CentralDatabase, database_url: str
) -> None:
    first = await record(db, event(1), at=AT)
    second = await record(db, event(2), at=AT)
    assert (first.prev_hash, second.prev_hash) == (GENESIS, first.entry_hash)
    refused = ["UPDATE audit_entry SET actor = 'x' WHERE id = 1", "DELETE FROM audit_entry WHERE id = 2"]
    if not db.is_sqlite:
        refused.append("TRUNCATE audit_entry")
    for statement in refused:
        with pytest.raises(DBAPIError, match="append-only"):
            raw(database_url, statement)
    assert (await verify(db)).intact
    assert [r.id for r in (await search(db, AuditQuery(object="c1")))[0]] == [1]


async def test_tampering_behind_the_triggers_back_is_found(db: CentralDatabase, database_url: str) -> None:
    for n in range(1, 6):
        await record(db, event(n), at=AT)
    drop = (
        ["DROP TRIGGER audit_entry_no_update", "DROP TRIGGER audit_entry_no_delete"]
        if db.is_sqlite
        else ["DROP TRIGGER audit_entry_no_change ON audit_entry"]
    )
    raw(database_url, *drop, "UPDATE audit_entry SET status = 403 WHERE id = 2")
    report = await verify(db)
    assert (report.intact, report.broken_at) == (False, 2)
    raw(
        database_url,
        "UPDATE audit_entry SET status = 200 WHERE id = 2",
        "DELETE FROM audit_entry WHERE id = 5",
    )
    report = await verify(db)  # the last row gone: the chain ends early but what is left holds
    assert report.intact and report.rows == 4
    raw(database_url, "DELETE FROM audit_entry WHERE id = 3")
    report = await verify(db)
    assert (report.intact, report.broken_at) == (False, 3)


async def test_many_requests_at_once_keep_one_chain(db: CentralDatabase) -> None:
    await asyncio.gather(*(record(db, event(n), at=AT) for n in range(40)))
    report = await verify(db)
    assert report.intact and report.rows == 40
