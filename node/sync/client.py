"""The node's side of sync: push pending up entries, keep receipts, pull and apply down entries.

One round (`sync_once`) is safe to repeat at any point and to interrupt anywhere: entries are durable before
they are sent, receipts are checked before they are kept, down entries are applied in one transaction each.
The background loop backs off exponentially with jitter while central is unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import Any

import httpx

from node.runtime import NodeRuntime
from node.sync.log import (
    apply_down_entry,
    down_head,
    entry_of,
    pending_entries,
    seal_pending,
    set_meta,
    store_receipt,
)
from protocol.canonical import canonical_json
from protocol.log import LogEntry, Receipt
from protocol.requests import sign_request

log = logging.getLogger("onewindow.node.sync")
PUSH_BATCH = 200


@dataclass
class SyncReport:
    """What one round did."""

    sent: int = 0
    receipted: int = 0
    rejected: int = 0
    pulled: int = 0
    applied_events: int = 0
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "receipted": self.receipted,
            "rejected": self.rejected,
            "pulled": self.pulled,
            "applied_events": self.applied_events,
            "errors": list(self.errors),
        }


class CentralUnavailable(Exception):
    """Central could not be reached or answered with a server error; try again later."""


def _headers(runtime: NodeRuntime, method: str, path: str, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        **sign_request(runtime.identity.signing_key, runtime.node_id, method, path, runtime.now_iso(), body),
    }


async def _call(
    client: httpx.AsyncClient, runtime: NodeRuntime, method: str, path: str, body: bytes = b""
) -> Any:
    try:
        response = await client.request(
            method, path, content=body, headers=_headers(runtime, method, path, body)
        )
    except httpx.HTTPError as exc:
        raise CentralUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 500:
        raise CentralUnavailable(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise CentralUnavailable(f"HTTP {response.status_code}: {response.text[:300]}")
    return response.json()


async def push(client: httpx.AsyncClient, runtime: NodeRuntime, report: SyncReport) -> None:
    """Send unreceipted up entries in batches until central has receipted them all or refuses one."""
    async with runtime.db.write() as session:
        await seal_pending(session, runtime)
    while True:
        async with runtime.db.read() as session:
            rows = await pending_entries(session, PUSH_BATCH)
            head = (await down_head(session))[0]
        if not rows:
            return
        body = canonical_json(
            {
                "node_id": runtime.node_id,
                "entries": [entry_of(r, runtime.node_id).to_wire() for r in rows],
                "down_head": head,
            }
        )
        answer = await _call(client, runtime, "POST", "/sync/v1/up", body)
        report.sent += len(rows)
        progressed = False
        async with runtime.db.write() as session:
            for result in answer.get("results", []):
                if result.get("receipt"):
                    if await store_receipt(session, runtime, Receipt.from_wire(result["receipt"])):
                        report.receipted += 1
                        progressed = True
                if result.get("status") == "rejected":
                    report.rejected += 1
                    report.errors += (
                        f"seq {result.get('seq')}: {result.get('code')} {result.get('detail')}",
                    )
            await set_meta(session, "last_push_answer", json.dumps({"head": answer.get("head")}))
        if not progressed:
            return  # central refused the next entry: keep it queued and report, never drop it


async def pull(client: httpx.AsyncClient, runtime: NodeRuntime, report: SyncReport) -> None:
    """Fetch and apply down entries after the local down head."""
    while True:
        async with runtime.db.read() as session:
            head = (await down_head(session))[0]
        answer = await _call(client, runtime, "GET", f"/sync/v1/down?after={head}&limit=200")
        entries = [LogEntry.from_wire(e) for e in answer.get("entries", [])]
        if not entries:
            return
        for entry in entries:
            async with runtime.db.write() as session:
                report.applied_events += await apply_down_entry(session, runtime, entry)
            report.pulled += 1


async def sync_once(client: httpx.AsyncClient, runtime: NodeRuntime) -> SyncReport:
    """One full round: push then pull. The link state and any error are recorded for the sync page."""
    report = SyncReport()
    try:
        await push(client, runtime, report)
        await pull(client, runtime, report)
    except Exception as exc:
        async with runtime.db.write() as session:
            await set_meta(session, "last_attempt_at", runtime.now_iso())
            await set_meta(session, "link", "down")
            await set_meta(session, "last_error", f"{runtime.now_iso()} {exc}")
        raise
    async with runtime.db.write() as session:
        now = runtime.now_iso()
        await set_meta(session, "last_attempt_at", now)
        await set_meta(session, "last_success_at", now)
        await set_meta(session, "link", "up")
        await set_meta(session, "last_report", json.dumps(report.to_dict()))
    return report


def central_client(runtime: NodeRuntime, base_url: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    url = base_url or runtime.identity.central_urls[0]
    return httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30.0, connect=5.0), **kwargs)


async def sync_loop(
    runtime: NodeRuntime, *, base_url: str | None, interval_s: float, stop: asyncio.Event
) -> None:
    """Run sync rounds until `stop` is set; back off (with jitter) while central is unreachable."""
    delay = interval_s
    async with central_client(runtime, base_url) as client:
        while not stop.is_set():
            try:
                await sync_once(client, runtime)
                delay = interval_s
            except Exception as exc:  # any failure is recorded by sync_once; back off, never crash the node
                log.warning("sync round failed: %s", exc)
                delay = min(max(delay * 2, interval_s), 300.0)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay * random.uniform(0.8, 1.2))
            except TimeoutError:
                pass
