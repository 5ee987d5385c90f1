"""Two central processes serving one PostgreSQL database (issue 8, acceptance 4): several nodes push 10,000
events, each push going to either process, while both run the back-office jobs (routing, deadline clocks)
in the background and on demand. Nothing is lost, nothing is doubled: every event once, every case routed
exactly once, every node's down log gap-free.

Real processes, real HTTP on loopback, real signatures and encryption; the node side is the benchmark's
(`bench.harness`: cases cloned from one taken through the real intake services, sealed by the real log)."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bench.harness import BenchCounty, open_node, queue_cases, template_case
from node.sync.log import entry_of, pending_entries
from protocol.canonical import canonical_json
from protocol.requests import sign_request
from tests.support import free_port, postgres_database, spawn, stop, wait_healthy

pytestmark = pytest.mark.slow

NODES = 4
EVENTS = 10_000


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from postgres_database()


async def _signed_pushes(
    county: BenchCounty, index: int, template: list[Any], cases: int
) -> tuple[list[Any], int]:
    """The node's queued cases as signed ``/sync/v1/up`` requests, a few entries each, in log order."""
    data = county.root / f"node{index + 1}"
    runtime = await open_node(data if (data / "node.json").exists() else await county.enroll(index))
    try:
        await queue_cases(runtime, template, cases, seal_every=5)
        async with runtime.db.read() as session:
            rows = await pending_entries(session, 100_000)
        pushes = []
        for start in range(0, len(rows), 4):
            body = canonical_json(
                {
                    "node_id": runtime.node_id,
                    "entries": [entry_of(r, runtime.node_id).to_wire() for r in rows[start : start + 4]],
                    "down_head": 0,
                }
            )
            headers = {
                "content-type": "application/json",
                **sign_request(
                    runtime.identity.signing_key,
                    runtime.node_id,
                    "POST",
                    "/sync/v1/up",
                    runtime.now_iso(),
                    body,
                ),
            }
            pushes.append((body, headers))
        return pushes, len(rows)
    finally:
        await runtime.close()


async def test_two_centrals_ingest_10000_events_with_background_jobs_no_loss_no_duplicate(
    tmp_path: Path, database_url: str
) -> None:
    ports = (free_port(), free_port())
    county = BenchCounty(tmp_path, NODES, ports[0])
    first = await open_node(await county.enroll(0))
    try:
        template = await template_case(first)
    finally:
        await first.close()
    # The template case's own events are already in node 1's log; the clones make up the rest.
    per_node = math.ceil(EVENTS / NODES / len(template))
    started = time.monotonic()
    signed = [await _signed_pushes(county, i, template, per_node) for i in range(NODES)]
    pushes = [p for p, _ in signed]
    sent_entries = sum(n for _, n in signed)
    expected_events = NODES * per_node * len(template) + len(template)
    assert expected_events >= EVENTS

    print(f"nodes queued and signed in {time.monotonic() - started:.1f} s")
    env = {"ONEWINDOW_BACKOFFICE_JOBS_S": "0.3"}  # both processes run the jobs all through the ingest
    centrals = []
    for n, port in enumerate(ports):
        args = ["-m", "central", "serve", "--data", str(tmp_path / f"central{n}"), "--county-dir"]
        args += [str(county.county.path), "--port", str(port), "--database-url", database_url]
        process = spawn_with_env(args, tmp_path / f"central{n}.log", env)
        centrals.append(process)
        wait_healthy(f"http://127.0.0.1:{port}", process, timeout=60)  # one at a time: migrations run once
    try:
        clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) for port in ports]
        for client in clients:  # one admin session per process (for the on-demand job runs)
            login = await client.post(
                "/api/v1/login", json={"username": "admin", "password": "bench-admin-1"}
            )
            assert login.status_code == 200, login.text
        statuses: dict[str, int] = {}

        async def push_node(node_pushes: list[Any], offset: int) -> None:
            for k, (body, headers) in enumerate(node_pushes):
                client = clients[(k + offset) % 2]  # consecutive pushes of one node land on both processes
                answer = await client.post("/sync/v1/up", content=body, headers=headers)
                assert answer.status_code == 200, answer.text
                for result in answer.json()["results"]:
                    statuses[result["status"]] = statuses.get(result["status"], 0) + 1

        async def jobs_on_demand(stop_after: asyncio.Event) -> int:
            rounds = 0
            while not stop_after.is_set():
                answers = await asyncio.gather(*(c.post("/api/v1/backoffice/jobs") for c in clients))
                assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
                rounds += 1
            return rounds

        started = time.monotonic()
        done = asyncio.Event()
        job_task = asyncio.create_task(jobs_on_demand(done))
        await asyncio.gather(*(push_node(p, i) for i, p in enumerate(pushes)))
        done.set()
        assert await job_task > 0
        print(f"{expected_events} events pushed to two processes in {time.monotonic() - started:.1f} s")
        # Retries of the last pushes, to the other process: already there, nothing doubles.
        for i, node_pushes in enumerate(pushes):
            for k, (body, headers) in enumerate(node_pushes[-3:]):
                answer = await clients[(len(node_pushes) + k + i + 1) % 2].post(
                    "/sync/v1/up", content=body, headers=headers
                )
                assert answer.status_code == 200
                assert {r["status"] for r in answer.json()["results"]} <= {"duplicate"}, answer.text
        # Let both processes finish routing what arrived last.
        for _ in range(200):
            answers = await asyncio.gather(*(c.post("/api/v1/backoffice/jobs") for c in clients))
            if all(a.json()["unrouted"] == 0 for a in answers):
                break
        print(f"routing finished {time.monotonic() - started:.1f} s after the pushes began")
        for client in clients:
            await client.aclose()
    finally:
        for process in centrals:
            stop(process)

    assert statuses == {"accepted": sent_entries}, statuses
    for n in range(2):  # the background rounds never failed either (no deadlock, no lost lock)
        log = (tmp_path / f"central{n}.log").read_text("utf-8", errors="replace")
        assert "back-office jobs failed" not in log and "Traceback" not in log, log[-4000:]
    with psycopg.connect(database_url) as db:

        def one(sql: str) -> Any:
            row = db.execute(sql).fetchone()
            assert row is not None
            return row[0]

        node_events = one("SELECT count(*) FROM event WHERE node_id IS NOT NULL")
        cases = one('SELECT count(*) FROM "case"')
        accepted = one("SELECT count(*) FROM event WHERE type = 'case.accepted'")
        routed = one("SELECT count(*) FROM event WHERE type = 'case.routed'")
        routed_cases = one("SELECT count(DISTINCT case_id) FROM event WHERE type = 'case.routed'")
        routers = [r[0] for r in db.execute("SELECT DISTINCT actor FROM event WHERE type = 'case.routed'")]
        backoffice = one("SELECT count(*) FROM backoffice_case")
        up_entries = one("SELECT count(*) FROM up_entry")
        gaps = db.execute(
            "SELECT node_id, count(*), max(seq) FROM down_entry GROUP BY node_id HAVING count(*) <> max(seq)"
        ).fetchall()
        down_heads = db.execute(
            "SELECT n.node_id, n.down_seq, (SELECT max(seq) FROM down_entry d "
            "WHERE d.node_id = n.node_id) FROM node n"
        ).fetchall()
        alerts_doubled = one(
            "SELECT count(*) FROM (SELECT case_id, level, due_on FROM deadline_alert "
            "GROUP BY case_id, level, due_on HAVING count(*) > 1) AS d"
        )
    assert node_events == expected_events  # no loss, no duplicate
    assert cases == NODES * per_node + 1 == accepted
    assert routed == routed_cases == backoffice == cases  # each case routed exactly once, by one process
    assert len(routers) == 2, routers  # and both processes did some of the routing
    assert up_entries == sent_entries
    assert gaps == []
    assert all(seq == (head or 0) for _, seq, head in down_heads), down_heads
    assert alerts_doubled == 0


def spawn_with_env(args: list[str], log: Path, env: dict[str, str]) -> Any:
    """`tests.support.spawn` with extra environment variables for the child."""
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return spawn(args, log)
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
