"""Notices as issued (出具的文书): the PDF of a notice is made once, when it is issued (issue 20: the serving
node's `NodeRuntime.issuer` starts the render as soon as the decision that issued it is committed, and makes the
case's receipt then too if it was never printed; a notice never rendered so — a receipt printed while the case is
still being received, an older node's case, a render that failed — is made the first time it is printed or put
into the case's archive package), kept in the blob store (encrypted with the node's data key like every blob) and
recorded in `issued_document`; every reprint and the archive hand out exactly those bytes. What a centre gave
the applicant never changes afterwards, whatever changes later (a staff member's display name, the wording of
this module, the PDF engine or its fonts).

The PDF is not an attachment of the case (no `blob` row): it stays on the node, and reaches the county inside
the case's archive package, which carries the same bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from common.documents.render import render_document
from node.events import get_case
from node.intake.cases.receive import item_of
from node.intake.documents.models import IssuedDocument
from node.intake.documents.notices import compose_notice, notice_images
from node.runtime import NodeRuntime
from node.staff import staff_names as read_staff_names
from protocol.catalogue import CatalogueItem
from protocol.events import CaseState, Notice


async def _stored(runtime: NodeRuntime, key: tuple[str, str, str]) -> bytes | None:
    async with runtime.db.read() as session:
        row = await session.get(IssuedDocument, key)
    if row is None:
        return None
    return await asyncio.to_thread(runtime.blobs.get, row.sha256)


#: Renders under way, per (event loop, data dir, case, kind, number): a print arriving while the notice is being made at its
#: issue waits for that render instead of starting a second one.
_in_flight: dict[tuple[int, str, str, str, str], asyncio.Future[bytes]] = {}
#: The background tasks themselves (the loop keeps only weak references to tasks).
_tasks: set[asyncio.Task[None]] = set()
log = logging.getLogger("onewindow.node.documents")


def issue_in_background(runtime: NodeRuntime, case_id: str) -> None:
    """`NodeRuntime.issuer`: make the PDFs of the case's notices not yet made, in the background (called once
    the event issuing a notice is committed, on the event loop)."""
    task = asyncio.get_running_loop().create_task(_issue(runtime, case_id))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def stop_issuing(grace_s: float = 5.0) -> None:
    """The node is stopping: let the renders under way finish (a few seconds at most), then cancel the rest
    (each such notice is made at its first print)."""
    loop = asyncio.get_running_loop()
    ours = [t for t in _tasks if t.get_loop() is loop]  # another app's loop (tests run several) is not ours
    if ours:
        await asyncio.wait(ours, timeout=grace_s)
    for task in ours:
        task.cancel()
    for task in ours:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _issue(runtime: NodeRuntime, case_id: str) -> None:
    try:
        state = await get_case(runtime, case_id)
        item = item_of(runtime, state)
        names = await read_staff_names(runtime)
        for notice in state.notices:
            await issued_pdf(runtime, state, item, notice, staff_names=names)
    except Exception:  # the first print makes it then, and says why if it still cannot
        log.exception("rendering a notice at its issue failed; it is made when first printed")


async def issued_pdf(
    runtime: NodeRuntime,
    state: CaseState,
    item: CatalogueItem,
    notice: Notice,
    *,
    staff_names: dict[str, str] | None = None,
) -> bytes:
    """The PDF of one of the case's notices as first issued: the stored original, or rendered now (in the
    documents' worker process) and stored as the original when this is its first issue."""
    key = (state.case_id, notice.kind, notice.number)
    stored = await _stored(runtime, key)
    if stored is not None:
        return stored
    flight = (id(asyncio.get_running_loop()), str(runtime.data_dir), *key)  # a future is its loop's alone
    running = _in_flight.get(flight)
    if running is not None:
        return await asyncio.shield(running)
    future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    _in_flight[flight] = future
    try:
        data = await _make(runtime, state, item, notice, key, staff_names)
    except asyncio.CancelledError:
        future.cancel()
        raise
    except Exception as exc:
        future.set_exception(exc)
        future.exception()  # marked retrieved: there may be no waiter
        raise
    else:
        future.set_result(data)
        return data
    finally:
        _in_flight.pop(flight, None)


async def _make(
    runtime: NodeRuntime,
    state: CaseState,
    item: CatalogueItem,
    notice: Notice,
    key: tuple[str, str, str],
    staff_names: dict[str, str] | None,
) -> bytes:
    images = await asyncio.to_thread(notice_images, runtime, state)
    document = compose_notice(runtime, state, item, notice, staff_names=staff_names, images=images)
    data = await render_document(document)
    digest = await asyncio.to_thread(runtime.blobs.put, data)
    async with runtime.db.write_aside() as session:  # not queued behind (or holding up) the window's writes
        if await session.get(IssuedDocument, key) is None:
            session.add(
                IssuedDocument(
                    case_id=state.case_id,
                    kind=notice.kind,
                    number=notice.number,
                    sha256=digest,
                    size=len(data),
                    issued_at=runtime.now_iso(),
                )
            )
            return data
    # Printed twice at the same moment: the copy recorded first is the original.
    stored = await _stored(runtime, key)
    assert stored is not None
    return stored
