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
import shutil
import ssl
import time
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx
from sqlmodel import col, select

from common.logs import log_event
from node.meta import get_meta, set_meta
from node.models import DownEntry, UpEntry
from node.runtime import NodeRuntime
from node.sync.attachments import Uploader, pending_blob_totals, requeue
from node.sync.down_blobs import fetch_wanted
from node.sync.keys import central_knows, settle_rotation
from node.sync.log import (
    CERTIFICATE_KEY,
    REVOKED_KEY,
    UP_BASE,
    apply_down_entry,
    down_head,
    entry_of,
    lose_receipts_after,
    pending_entries,
    queue_depth,
    raise_counters,
    receipted_head,
    rechain_after,
    seal_pending,
    store_receipts,
    up_head,
)
from protocol.canonical import canonical_json
from protocol.errors import (
    ENROLMENT_INVALID,
    ENTRY_FORK,
    NODE_PROTOCOL_REFUSED,
    REQUEST_SIGNATURE_INVALID,
    STATEMENT_INVALID,
    OneWindowError,
)
from protocol.keys import SigningKey
from protocol.limits import MAX_PUSH_BODY
from protocol.log import GENESIS_HASH, LogEntry, Receipt
from protocol.requests import sign_request
from protocol.sync import CERTIFICATE_TYPE, Head, verify_statement
from protocol.version import (
    HEADER_PROTOCOL,
    HEADER_SOFTWARE,
    PROTOCOL_VERSION,
    central_too_old,
    stated_version,
)

log = logging.getLogger("onewindow.node.sync")
PUSH_BATCH = 200
#: The one-time challenge of central's last reconcile answer, sent back with the next reconcile.
CHALLENGE_KEY = "contact_challenge"
try:
    PACKAGE_VERSION = version("onewindow-edge")
except PackageNotFoundError:  # running from a source tree that was never installed
    PACKAGE_VERSION = "dev"


@dataclass
class SyncReport:
    """What one round did."""

    sent: int = 0
    receipted: int = 0
    rejected: int = 0
    quarantined: int = 0
    pulled: int = 0
    applied_events: int = 0
    attachments: int = 0
    attachment_bytes: int = 0
    resent: int = 0
    rechained: int = 0
    requeued: int = 0
    down_restored: int = 0
    documents: int = 0
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors": list(self.errors)}


class CentralUnavailable(Exception):
    """Central could not be reached or answered with a server error; try again later."""


class LinkRefused(CentralUnavailable):
    """Central was reached but the two cannot talk until a person acts: a protocol version one side does not
    accept (`protocol.version`), or a server certificate this node does not trust. The message (Chinese) says
    what to do; the sync page shows it as a banner until a round succeeds."""


CERTIFICATE_REFUSED = (
    "县中心的证书未通过校验（不是本县 CA 签发、已过期，或与地址不符）：可能连到了冒充县中心的服务器，"
    "也可能县里更换了证书。本机没有发送任何数据，办件照常受理；请联系县管理员核对证书。"
)


def certificate_refused(exc: BaseException) -> bool:
    """Whether a failed request failed because central's TLS certificate did not verify."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def tls_context(central_ca: str | None) -> ssl.SSLContext | bool:
    """What the node checks central's certificate against: the county CA from the enrolment bundle only (not
    the system's CAs), or the system's store when the bundle carried none."""
    if central_ca is None:
        return True
    return ssl.create_default_context(cadata=central_ca)


#: `meta` key of the reason the last round was refused (a `LinkRefused`), cleared by the next good round.
LINK_PROBLEM_KEY = "link_problem"


def _headers(
    runtime: NodeRuntime, method: str, path: str, body: bytes, key: SigningKey | None = None
) -> dict[str, str]:
    signer = key or runtime.identity.request_key
    return {
        "content-type": "application/json",
        **sign_request(signer, runtime.node_id, method, path, runtime.now_iso(), body),
    }


def _other_key(runtime: NodeRuntime) -> SigningKey | None:
    """After a node key rotation, the key central may know this node by if not the one just used: the old one
    (central restored from a backup taken before it got the rotation) or the new one."""
    identity = runtime.identity
    if identity.request_signing_key is not None:
        return identity.signing_key
    return identity.previous_signing_keys[0] if identity.previous_signing_keys else None


async def _call(
    client: httpx.AsyncClient, runtime: NodeRuntime, method: str, path: str, body: bytes = b""
) -> Any:
    try:
        response = await client.request(
            method, path, content=body, headers=_headers(runtime, method, path, body)
        )
        other = _other_key(runtime)
        if (
            response.status_code == 401
            and other is not None
            and REQUEST_SIGNATURE_INVALID.code in response.text
        ):
            response = await client.request(
                method, path, content=body, headers=_headers(runtime, method, path, body, other)
            )
    except httpx.HTTPError as exc:
        if certificate_refused(exc):
            raise LinkRefused(CERTIFICATE_REFUSED) from exc
        raise CentralUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code == 426 and NODE_PROTOCOL_REFUSED.code in response.text:
        try:
            reason = str(response.json().get("detail") or NODE_PROTOCOL_REFUSED.title)
        except ValueError:
            reason = NODE_PROTOCOL_REFUSED.title
        raise LinkRefused(reason)
    refused = central_too_old(stated_version(response.headers.get(HEADER_PROTOCOL)))
    if refused is not None:
        raise LinkRefused(refused)
    if response.status_code >= 500:
        raise CentralUnavailable(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise CentralUnavailable(f"HTTP {response.status_code}: {response.text[:300]}")
    return response.json()


async def _push_batch(client: httpx.AsyncClient, runtime: NodeRuntime, report: SyncReport) -> str:
    """Send one batch of unreceipted entries; returns "empty", "progress", "fork" or "stuck"."""
    async with runtime.db.read() as session:
        rows = await pending_entries(session, PUSH_BATCH)
        head = (await down_head(session))[0]
    if not rows:
        return "empty"
    wires = [entry_of(r, runtime.node_id).to_wire() for r in rows]
    size, count = 0, 0
    for wire in wires:  # a push stays within what central reads: the first entry always goes
        size += len(wire["ciphertext"]) + 1024
        if count and size > MAX_PUSH_BODY:
            break
        count += 1
    rows, wires = rows[:count], wires[:count]
    body = canonical_json({"node_id": runtime.node_id, "entries": wires, "down_head": head})
    answer = await _call(client, runtime, "POST", "/sync/v1/up", body)
    report.sent += len(rows)
    progressed, forked = await apply_push_results(runtime, list(answer.get("results", [])), report)
    async with runtime.db.write() as session:
        await set_meta(session, "last_push_answer", json.dumps({"head": answer.get("head")}))
    if forked:
        return "fork"
    return "progress" if progressed else "stuck"


async def apply_push_results(
    runtime: NodeRuntime, results: list[dict[str, Any]], report: SyncReport
) -> tuple[bool, bool]:
    """Keep the receipts central gave (checked), with its verdict per entry; returns (progressed, forked)."""
    verdicts: list[tuple[Receipt, str, str | None]] = []
    forked = False
    for result in results:
        if result.get("receipt"):
            quarantined = result.get("central_status") == "quarantined"
            reason = f"{result.get('code')} {result.get('detail')}" if quarantined else None
            verdicts.append(
                (Receipt.from_wire(result["receipt"]), "quarantined" if quarantined else "accepted", reason)
            )
            report.quarantined += int(result.get("status") == "quarantined")
        if result.get("status") == "rejected":
            report.rejected += 1
            forked = forked or result.get("code") == ENTRY_FORK.code
            report.errors += (f"seq {result.get('seq')}: {result.get('code')} {result.get('detail')}",)
    kept = 0
    if verdicts:
        async with runtime.db.write() as session:
            kept = await store_receipts(session, runtime, verdicts)
    report.receipted += kept
    return kept > 0, forked


async def push(client: httpx.AsyncClient, runtime: NodeRuntime, report: SyncReport) -> None:
    """Send unreceipted up entries in batches until central has receipted them all or refuses one.

    A fork (central holds other entries at our seqs: this node was restored from an older backup) is resolved
    by reconciling, which re-chains the unsent events after central's head; a refusal keeps the entry queued
    and reported, never dropped."""
    async with runtime.db.write() as session:
        await seal_pending(session, runtime)
    reconciled = False
    while True:
        outcome = await _push_batch(client, runtime, report)
        if outcome in ("empty", "stuck"):
            await settle_rotation(runtime)  # central took our new keys: sign requests with them from now on
            return
        if outcome == "fork":
            if reconciled:
                return
            await reconcile(client, runtime, report)
            reconciled = True


async def push_if_pending(client: httpx.AsyncClient, runtime: NodeRuntime, report: SyncReport) -> None:
    """Between attachment chunks: let newly accepted cases' metadata overtake the scans."""
    async with runtime.db.read() as session:
        depth = await queue_depth(session)
    if depth["entries"] or depth["unsealed_events"]:
        await push(client, runtime, report)


async def _self_report(runtime: NodeRuntime) -> dict[str, Any]:
    """What the node tells central about itself (the fleet page shows it)."""
    async with runtime.db.read() as session:
        depth = await queue_depth(session)
    count, size = await pending_blob_totals(runtime)
    devices = runtime.sync_state.get("devices")
    return {
        "queue_entries": depth["entries"],
        "queue_bytes": depth["bytes"] + size,
        "oldest_unsent_at": depth["oldest_unsent_at"],
        "pending_attachments": count,
        "pending_attachment_bytes": size,
        "last_receipt_at": depth["last_receipt_at"],
        "version": PACKAGE_VERSION,
        "devices": devices() if callable(devices) else devices,
        "disk_free_bytes": shutil.disk_usage(runtime.data_dir).free,
    }


async def hello_document(runtime: NodeRuntime) -> dict[str, Any]:
    async with runtime.db.read() as session:
        up = await up_head(session)
        receipted = await receipted_head(session)
        down = await down_head(session)
        challenge = await get_meta(session, CHALLENGE_KEY)
    return {
        "node_id": runtime.node_id,
        "challenge": challenge or "",  # carried back: central's replay rule
        "up": {"seq": up[0], "hash": up[1]},
        "receipted": {"seq": receipted[0], "hash": receipted[1]},
        "down": {"seq": down[0], "hash": down[1]},
        "report": await _self_report(runtime),
        "county_keys": runtime.identity.county_ring.fingerprints,
    }


async def reconcile(client: httpx.AsyncClient, runtime: NodeRuntime, report: SyncReport) -> dict[str, Any]:
    """One round trip comparing heads both ways (R-SYNC-6); acts on central's signed answer."""
    body = canonical_json(await hello_document(runtime))
    answer = await _call(client, runtime, "POST", "/sync/v1/hello", body)
    return await apply_hello_answer(runtime, answer, report)


async def apply_hello_answer(runtime: NodeRuntime, answer: Any, report: SyncReport) -> dict[str, Any]:
    """Act on central's signed reconcile answer (from the network or a courier's reply file)."""
    body = verify_statement(answer, runtime.identity.county_ring)
    if body.get("node_id") != runtime.node_id:
        raise OneWindowError(STATEMENT_INVALID, "answer for another node", field="node_id")
    central_up = Head.from_wire(body.get("up"), "up")
    async with runtime.db.write() as session:
        await raise_counters(session, body.get("counters"))
        local = await up_head(session)
        receipted = await receipted_head(session)
        if central_up.seq < receipted[0]:
            report.resent += await lose_receipts_after(session, central_up.seq)
        elif body.get("holds_node_up_head"):
            if central_up.seq > local[0]:
                await set_meta(session, UP_BASE, f"{central_up.seq}:{central_up.hash}")
        else:
            ours = await _hash_at(session, central_up.seq)
            if not (central_up.seq < local[0] and ours == central_up.hash):
                report.rechained += await rechain_after(session, runtime, central_up.seq, central_up.hash)
        if isinstance(body.get("skew_ms"), int):
            await set_meta(session, "skew_ms", str(body["skew_ms"]))
        want = body.get("want_down_from")
        await set_meta(session, "want_down_from", str(want) if isinstance(want, int) and want > 0 else "")
        await set_meta(session, "central_time", str(body.get("server_time", "")))
        if isinstance(body.get("challenge"), str):
            await set_meta(session, CHALLENGE_KEY, body["challenge"])
        # Revoked by the county (R-PROV-4): the node keeps everything and keeps working locally; central
        # quarantines what it sends from now on. The sync page says so.
        revoked = body.get("status") == "revoked"
        await set_meta(
            session,
            REVOKED_KEY,
            canonical_json({"at": body.get("revoked_at"), "reason": body.get("revoked_reason")}).decode()
            if revoked
            else "",
        )
    runtime.sync_state["revoked"] = revoked
    await _keep_certificate(runtime, body.get("certificate"))
    missing = [d for d in body.get("missing_blobs") or [] if isinstance(d, str)]
    if missing:
        report.requeued += await requeue(runtime, missing)
    return body


async def _keep_certificate(runtime: NodeRuntime, certificate: Any) -> None:
    """Keep central's certificate of this node once it names this node's own keys (enrolment complete)."""
    if not isinstance(certificate, dict):
        return
    body = verify_statement(certificate, runtime.identity.county_ring)
    if body.get("type") != CERTIFICATE_TYPE or body.get("node_id") != runtime.node_id:
        return
    if body.get("sign_key") != runtime.identity.sign_key.to_text():
        return  # a certificate of other keys (before a node key rotation reached central) is not kept
    await central_knows(runtime, str(body["sign_key"]))
    text = canonical_json(certificate).decode("utf-8")
    async with runtime.db.write() as session:
        if await get_meta(session, CERTIFICATE_KEY) != text:
            await set_meta(session, CERTIFICATE_KEY, text)


async def _hash_at(session: Any, seq: int) -> str | None:
    if seq == 0:
        return GENESIS_HASH
    row = await session.get(UpEntry, seq)
    if row is not None:
        return str(row.entry_hash)
    base = await get_meta(session, UP_BASE)
    if base and int(base.split(":", 1)[0]) == seq:
        return base.split(":", 1)[1]
    return None


async def restore_central_down(
    client: httpx.AsyncClient, runtime: NodeRuntime, after: int, report: SyncReport
) -> None:
    """Central lost down entries in a restore from backup: hand back this node's copies after `after`."""
    while True:
        async with runtime.db.read() as session:
            rows = (
                await session.exec(
                    select(DownEntry)
                    .where(col(DownEntry.seq) > after)
                    .order_by(col(DownEntry.seq))
                    .limit(200)
                )
            ).all()
        if not rows:
            return
        entries = [
            LogEntry(runtime.node_id, "down", r.seq, r.prev_hash, r.kind, r.ciphertext, r.signature).to_wire()
            for r in rows
        ]
        body = canonical_json({"node_id": runtime.node_id, "entries": entries})
        await _call(client, runtime, "POST", "/sync/v1/down/restore", body)
        report.down_restored += len(rows)
        after = rows[-1].seq


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


async def fetch_documents(client: httpx.AsyncClient, runtime: NodeRuntime, report: SyncReport) -> None:
    """Fetch the result documents the down log named (`node.sync.down_blobs`); one that fails waits for the
    next round without holding back the rest."""
    fetched, errors = await fetch_wanted(client, runtime)
    report.documents += fetched
    report.errors += tuple(errors)
    if fetched:
        await push(client, runtime, report)  # 结果到窗 reaches central in the same round


async def sync_once(client: httpx.AsyncClient, runtime: NodeRuntime) -> SyncReport:
    """One full round: reconcile heads, push entries, upload attachments (letting new entries overtake them),
    hand back down entries central lost, pull. The link state and any error are recorded for the sync page."""
    report = SyncReport()
    started = time.perf_counter()
    try:
        async with runtime.db.read() as session:
            enrolled = (await receipted_head(session))[0] > 0
        if not enrolled:
            await push(client, runtime, report)  # the enrolment entry goes first: central knows us after it
            async with runtime.db.read() as session:
                if (await receipted_head(session))[0] == 0:
                    raise OneWindowError(
                        ENROLMENT_INVALID,
                        "县中心没有接受本节点的注册：" + "；".join(report.errors or ("原因不明",)),
                        field="enrol",
                    )
        answer = await reconcile(client, runtime, report)
        await push(client, runtime, report)
        want = answer.get("want_down_from")
        if isinstance(want, int) and want > 0:
            await restore_central_down(client, runtime, want - 1, report)
            async with runtime.db.write() as session:
                await set_meta(session, "want_down_from", "")
        # Decisions come down before the scans go up: a flaky link or one upload that keeps failing must not
        # hold back what the window is waiting for — nor the result documents the applicant collects.
        await pull(client, runtime, report)
        await fetch_documents(client, runtime, report)
        # A revoked node's scans stay with it: central refuses them.
        if not runtime.sync_state.get("revoked"):
            uploader = Uploader(
                client, runtime, before_chunk=lambda: push_if_pending(client, runtime, report)
            )
            try:
                report.attachments += await uploader.upload_all()
            finally:
                report.attachment_bytes += uploader.bytes_sent
            await pull(client, runtime, report)  # anything decided while the scans went up
            await fetch_documents(client, runtime, report)
    except Exception as exc:
        async with runtime.db.write() as session:
            await set_meta(session, "last_attempt_at", runtime.now_iso())
            await set_meta(session, "link", "down")
            await set_meta(session, "last_error", f"{runtime.now_iso()} {exc}")
            await set_meta(session, LINK_PROBLEM_KEY, str(exc) if isinstance(exc, LinkRefused) else "")
        _log_round(report, started, error=exc)
        raise
    async with runtime.db.write() as session:
        now = runtime.now_iso()
        await set_meta(session, "last_attempt_at", now)
        await set_meta(session, "last_success_at", now)
        await set_meta(session, "link", "up")
        await set_meta(session, LINK_PROBLEM_KEY, "")
        await set_meta(session, "last_report", json.dumps(report.to_dict()))
    _log_round(report, started)
    return report


def _log_round(report: SyncReport, started: float, *, error: BaseException | None = None) -> None:
    """One line per sync round: what it moved, how long it took, and why it failed (the error's kind and
    message; the log's filter masks any ID number or phone a message might quote)."""
    fields: dict[str, Any] = {
        k: v for k, v in report.to_dict().items() if k != "errors" and (v or k in ("sent", "pulled"))
    }
    fields["refusals"] = len(report.errors)
    fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    if error is None:
        # A round that moved nothing (the node idles between rounds every few seconds) at debug level only.
        moved = any(v for k, v in report.to_dict().items() if k != "errors") or report.errors
        log_event(log, "sync_round", level=logging.INFO if moved else logging.DEBUG, ok=True, **fields)
    else:
        log_event(
            log,
            "sync_round",
            level=logging.WARNING,
            ok=False,
            error=type(error).__name__,
            detail=str(error)[:300],
            **fields,
        )


def central_client(runtime: NodeRuntime, base_url: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    url = base_url or runtime.identity.central_urls[0]
    headers = {HEADER_PROTOCOL: str(PROTOCOL_VERSION), HEADER_SOFTWARE: PACKAGE_VERSION}
    kwargs.setdefault("verify", tls_context(runtime.identity.central_ca))
    return httpx.AsyncClient(
        base_url=url, timeout=httpx.Timeout(30.0, connect=5.0), headers=headers, **kwargs
    )


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
            except (
                Exception
            ):  # any failure is recorded and logged by sync_once; back off, never crash the node
                delay = min(max(delay * 2, interval_s), 300.0)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay * random.uniform(0.8, 1.2))
            except TimeoutError:
                pass
