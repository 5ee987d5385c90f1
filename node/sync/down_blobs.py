"""Result documents coming down (结果文书下行): the blobs central's down events name, fetched after each pull.

A ``case.result_documents`` event (signed by the county in its down entry) names each document by the SHA-256
of its plaintext; applying it notes the blobs as wanted (`note_wanted`, in the entry's transaction). The fetch
(`fetch_wanted`) asks central for each (``GET /sync/v1/blobs/<sha>``, signed like every request), receives an
age file encrypted to this node, and appends it to ``DATA/down/<sha>.age.part``: a broken download resumes with
``Range`` (and ``If-Range`` on the ETag it began with), so a thin link never starts over. Once whole, the file is
decrypted, checked against the hash the county signed, and kept in the blob store (encrypted at rest like every
blob). When every document of a case is here and this centre issues its result, the node records 结果到窗
(``case.result_arrived``): the window can print and hand the result over, and central sees when it got there.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import case_state, new_event, record
from node.meta import get_meta, set_meta
from node.models import Blob
from node.runtime import NodeRuntime
from node.staff import Actor
from protocol import age
from protocol.events import CASE_RESULT_ARRIVED, CASE_RESULT_DOCUMENTS, Event
from protocol.requests import sign_request

#: meta: the documents wanted from central, JSON {sha256: case_id}.
WANTED_KEY = "down_blobs_wanted"
SYNC_ACTOR = Actor(username="system:sync", role="system")


class DocumentUnavailable(Exception):
    """Central could not give a document this round (unreachable, or it refused): tried again next round."""


def _part(runtime: NodeRuntime, digest: str) -> Path:
    return runtime.data_dir / "down" / f"{digest}.age.part"


async def note_wanted(session: AsyncSession, events: Iterable[Event]) -> int:
    """Note the documents of newly applied ``case.result_documents`` events as wanted; returns how many."""
    found = {
        str(d["blob"]): e.case_id
        for e in events
        if e.type == CASE_RESULT_DOCUMENTS
        for d in e.payload.get("documents", [])
        if isinstance(d, dict) and isinstance(d.get("blob"), str)
    }
    if not found:
        return 0
    wanted: dict[str, str] = json.loads(await get_meta(session, WANTED_KEY) or "{}")
    wanted.update(found)
    await set_meta(session, WANTED_KEY, json.dumps(wanted, sort_keys=True))
    return len(found)


async def wanted_documents(runtime: NodeRuntime) -> dict[str, str]:
    """The documents still to fetch: sha256 → case id."""
    async with runtime.db.read() as session:
        wanted: dict[str, str] = json.loads(await get_meta(session, WANTED_KEY) or "{}")
    return wanted


async def download_document(
    client: httpx.AsyncClient, runtime: NodeRuntime, digest: str
) -> tuple[bytes, bool]:
    """The age file of one blob, resuming a partial download: (its bytes when whole, whether it resumed)."""
    part = _part(runtime, digest)
    part.parent.mkdir(parents=True, exist_ok=True)
    etag_file = part.with_suffix(".etag")
    offset = part.stat().st_size if part.exists() else 0
    path = f"/sync/v1/blobs/{digest}"
    headers = sign_request(runtime.identity.request_key, runtime.node_id, "GET", path, runtime.now_iso(), b"")
    if offset and etag_file.exists():
        headers.update({"Range": f"bytes={offset}-", "If-Range": etag_file.read_text().strip()})
    try:
        async with client.stream("GET", path, headers=headers) as response:
            if response.status_code not in (200, 206):
                await response.aread()
                raise DocumentUnavailable(f"{digest}: HTTP {response.status_code} {response.text[:200]}")
            etag_file.write_text(response.headers.get("ETag", ""))
            resumed = response.status_code == 206
            mode = "ab" if resumed else "wb"
            with part.open(mode) as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise DocumentUnavailable(f"{digest}: {type(exc).__name__}: {exc}") from exc
    return part.read_bytes(), resumed


def _open(runtime: NodeRuntime, digest: str, ciphertext: bytes) -> bytes | None:
    """The plaintext of a downloaded age file when it opens and matches its name; None (and the partial file
    gone, to start afresh) otherwise."""
    try:
        out = io.BytesIO()
        age.decrypt_stream(io.BytesIO(ciphertext), out, [i.raw for i in runtime.identity.age_identities])
        data = out.getvalue()
    except age.AgeError:
        data = b""
    if hashlib.sha256(data).hexdigest() != digest:
        _part(runtime, digest).unlink(missing_ok=True)
        return None
    return data


async def _keep(runtime: NodeRuntime, digest: str, data: bytes, case_id: str) -> None:
    """Store the document and forget it as wanted; record 结果到窗 when its case's documents are all here."""
    runtime.blobs.put(data)
    async with runtime.db.write() as session:
        state = await case_state(session, case_id)
        title = next((str(d["title"]) for d in state.documents if d["blob"] == digest), "结果文书")
        if await session.get(Blob, digest) is None:
            now = runtime.now_iso()
            session.add(
                Blob(
                    sha256=digest,
                    size=len(data),
                    media_type="application/pdf",
                    filename=f"{title}.pdf",
                    created_at=now,
                    uploaded_at=now,  # it came from central: nothing to send back
                )
            )
        wanted: dict[str, str] = json.loads(await get_meta(session, WANTED_KEY) or "{}")
        wanted.pop(digest, None)
        await set_meta(session, WANTED_KEY, json.dumps(wanted, sort_keys=True))
        await note_arrival(session, runtime, case_id)
    _part(runtime, digest).unlink(missing_ok=True)
    _part(runtime, digest).with_suffix(".etag").unlink(missing_ok=True)


def issues_here(runtime: NodeRuntime, state: Any) -> bool:
    """Whether this centre hands over the case's result: the origin, unless dispatched to another (就近办)."""
    if state.dispatch is not None:
        return bool(state.dispatch.get("to_node") == runtime.node_id)
    return bool(state.origin_node == runtime.node_id)


async def note_arrival(session: AsyncSession, runtime: NodeRuntime, case_id: str) -> bool:
    """Record 结果到窗 for a case whose documents are all in this centre's store, if it issues the result here
    and has not recorded it yet; True when recorded."""
    state = await case_state(session, case_id)
    if not state.documents or not issues_here(runtime, state):
        return False
    if state.result_arrived is not None and state.result_arrived.get("node") == runtime.node_id:
        return False
    if not all(runtime.blobs.exists(str(d["blob"])) for d in state.documents):
        return False
    payload = {"arrived_at": runtime.now_iso(), "documents": [str(d["blob"]) for d in state.documents]}
    await record(session, runtime, new_event(runtime, SYNC_ACTOR, case_id, CASE_RESULT_ARRIVED, payload))
    return True


async def keep_delivered(runtime: NodeRuntime, digest: str, ciphertext: bytes) -> bool:
    """A wanted document that came by courier (an age file encrypted to this node): kept when it opens and
    matches the hash the county signed; False otherwise (or when it was not wanted)."""
    case_id = (await wanted_documents(runtime)).get(digest)
    if case_id is None:
        return False
    data = _open(runtime, digest, ciphertext)
    if data is None:
        return False
    await _keep(runtime, digest, data, case_id)
    return True


async def fetch_wanted(client: httpx.AsyncClient, runtime: NodeRuntime) -> tuple[int, list[str]]:
    """Fetch every wanted document; returns (how many arrived, the errors of those that did not)."""
    fetched, errors = 0, []
    for digest, case_id in (await wanted_documents(runtime)).items():
        if runtime.blobs.exists(digest):
            await _keep(runtime, digest, runtime.blobs.get(digest), case_id)
            continue
        try:
            ciphertext, _ = await download_document(client, runtime, digest)
        except DocumentUnavailable as exc:
            errors.append(str(exc))
            continue
        data = _open(runtime, digest, ciphertext)
        if data is None:
            errors.append(f"{digest}: 下载的文书与县中心签发的不符，下一轮重新下载")
            continue
        await _keep(runtime, digest, data, case_id)
        fetched += 1
    return fetched, errors
