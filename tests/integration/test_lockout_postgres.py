"""Central's back-office lockout with two central processes on one PostgreSQL database (as a county runs
several behind a proxy): wrong guesses sent to both at the same moment are each counted, so the name locks
after five however they are timed."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support import free_port, postgres_database, provision, spawn, stop, wait_healthy

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from postgres_database()


def test_parallel_wrong_guesses_at_two_centrals_are_all_counted(tmp_path: Path, database_url: str) -> None:
    setup = provision(tmp_path, nodes=1)
    urls, processes = [], []
    try:
        for n in range(2):
            port = free_port()
            args = ["-m", "central", "serve", "--data", str(tmp_path / f"central{n}"), "--county-dir"]
            args += [str(setup.county_dir), "--port", str(port), "--database-url", database_url]
            process = spawn(args, tmp_path / f"central{n}.log")
            processes.append(process)
            urls.append(f"http://127.0.0.1:{port}")
            wait_healthy(urls[-1], process)

        def guess(n: int) -> int:
            response = httpx.post(
                urls[n % 2] + "/api/v1/login",
                json={"username": "admin", "password": f"wrong-guess-{n}"},
                timeout=30,
            )
            return response.status_code

        for _round in range(3):  # five guesses at once, three times over: each round must lock the name
            with psycopg.connect(database_url.replace("+asyncpg", ""), autocommit=True) as db:
                db.execute("DELETE FROM login_attempt")
            with ThreadPoolExecutor(max_workers=5) as pool:
                statuses = list(pool.map(guess, range(5)))
            assert sorted(statuses) == [401, 401, 401, 401, 423], statuses
            with psycopg.connect(database_url.replace("+asyncpg", ""), autocommit=True) as db:
                failures, locked = db.execute(
                    "SELECT failures, locked_until FROM login_attempt WHERE username = 'admin'"
                ).fetchone() or (0, None)
            assert failures == 5 and locked is not None
    finally:
        for process in processes:
            stop(process)
