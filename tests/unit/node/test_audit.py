"""The node's audit table on a real SQLite file: rows chain as they are appended, the database refuses UPDATE and
DELETE, tampering behind the triggers' back is found, and searches stay fast on 100k rows."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node.audit.service import record, search, verify
from node.db import Database, migrate
from protocol.audit import GENESIS, AuditEvent, AuditQuery, entry_hash

AT = "2026-12-02T02:00:00.000+00:00"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    migrate(tmp_path / "node.db")
    database = Database(tmp_path / "node.db")
    yield database
    await database.close()


def event(n: int, actor: str = "clerk") -> AuditEvent:
    return AuditEvent(
        actor=actor,
        role="window",
        action="view",
        method="GET",
        path=f"/cases/c{n}",
        route="/cases/{case_id}",
        object_type="case",
        object_id=f"c{n}",
    )


async def test_rows_chain_and_the_database_refuses_to_change_them(db: Database) -> None:
    first = await record(db, event(1), at=AT)
    second = await record(db, event(2), at=AT)
    assert (first.id, first.prev_hash, second.id, second.prev_hash) == (1, GENESIS, 2, first.entry_hash)
    assert (await verify(db)).intact

    raw = sqlite3.connect(db.path)
    for statement in (
        "UPDATE audit_entry SET actor = 'x' WHERE id = 1",
        "DELETE FROM audit_entry WHERE id = 2",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute(statement)
    raw.close()
    assert (await verify(db)).intact


async def test_tampering_behind_the_triggers_back_is_found(db: Database) -> None:
    for n in range(1, 6):
        await record(db, event(n), at=AT)
    raw = sqlite3.connect(db.path)
    raw.execute("DROP TRIGGER audit_entry_no_update")
    raw.execute("UPDATE audit_entry SET actor = 'lead' WHERE id = 3")
    raw.commit()
    report = await verify(db)
    assert (report.intact, report.broken_at) == (False, 3)

    raw.execute("UPDATE audit_entry SET actor = 'clerk' WHERE id = 3")  # put back, then remove one instead
    raw.execute("DROP TRIGGER audit_entry_no_delete")
    raw.execute("DELETE FROM audit_entry WHERE id = 4")
    raw.commit()
    raw.close()
    report = await verify(db)
    assert (report.intact, report.broken_at) == (False, 4)


@pytest.mark.slow  # a hundred thousand audit rows
async def test_searches_stay_fast_on_100k_rows(db: Database) -> None:
    rows, prev = [], GENESIS
    for n in range(1, 100_001):
        row = {
            "id": n,
            "at": f"2026-{1 + n // 10_000:02d}-15T02:00:00.000+00:00",
            "actor": f"clerk{n % 40}",
            "role": "window",
            "action": "view" if n % 3 else "update",
            "method": "GET" if n % 3 else "POST",
            "path": f"/cases/c{n % 5000}",
            "route": "/cases/{case_id}",
            "query": "",
            "object_type": "case",
            "object_id": f"c{n % 5000}",
            "status": 200,
            "client": "10.0.0.5",
            "prev_hash": prev,
        }
        row["entry_hash"] = prev = entry_hash(row)
        rows.append(row)
    raw = sqlite3.connect(db.path)
    columns = list(rows[0])
    raw.executemany(
        f"INSERT INTO audit_entry ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})",
        [tuple(r[c] for c in columns) for r in rows],
    )
    raw.commit()
    raw.close()

    queries = [
        AuditQuery(),
        AuditQuery(actor="clerk7"),
        AuditQuery(object="c1234"),
        AuditQuery(action="update", before=50_000),
        AuditQuery(date_from="2026-05-01", date_to="2026-05-31"),
        AuditQuery(actor="clerk7", date_from="2026-03-01", date_to="2026-03-31"),
        AuditQuery(text="/cases/c4321"),
    ]
    for query in queries:
        started = time.perf_counter()
        found, _ = await search(db, query)
        elapsed = time.perf_counter() - started
        assert found, query
        assert [r.id for r in found] == sorted((r.id for r in found), reverse=True)
        assert elapsed < 0.5, f"{query}: {elapsed:.3f} s"
    assert {r.actor for r in (await search(db, AuditQuery(actor="clerk7")))[0]} == {"clerk7"}
    assert {r.object_id for r in (await search(db, AuditQuery(object="c1234")))[0]} == {"c1234"}
    started = time.perf_counter()
    report = await verify(db)
    assert report.intact and report.rows == 100_000
    assert time.perf_counter() - started < 20
