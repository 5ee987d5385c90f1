"""Notices as issued (出具的文书): the PDF of a notice is made once, the first time it is printed (or put into
the case's archive package), kept in the blob store (encrypted with the node's data key like every blob) and
recorded in `issued_document`; every reprint and the archive hand out exactly those bytes. What a centre gave
the applicant never changes afterwards, whatever changes later (a staff member's display name, the wording of
this module, the PDF engine or its fonts).

The PDF is not an attachment of the case (no `blob` row): it stays on the node, and reaches the county inside
the case's archive package, which carries the same bytes.
"""

from __future__ import annotations

import asyncio

from common.documents.render import render_document
from node.intake.documents.models import IssuedDocument
from node.intake.documents.notices import compose_notice, notice_images
from node.runtime import NodeRuntime
from protocol.catalogue import CatalogueItem
from protocol.events import CaseState, Notice


async def _stored(runtime: NodeRuntime, key: tuple[str, str, str]) -> bytes | None:
    async with runtime.db.read() as session:
        row = await session.get(IssuedDocument, key)
    if row is None:
        return None
    return await asyncio.to_thread(runtime.blobs.get, row.sha256)


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
    images = await asyncio.to_thread(notice_images, runtime, state)
    document = compose_notice(runtime, state, item, notice, staff_names=staff_names, images=images)
    data = await render_document(document)
    digest = await asyncio.to_thread(runtime.blobs.put, data)
    async with runtime.db.write() as session:
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
