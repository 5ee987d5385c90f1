"""The node's case events: the one module that stores them, projects them and records them.

- `new_event` gives a node-authored event its id (UUIDv7) and hybrid-clock time.
- `insert_event` stores an event once: the same id and content again is a no-op, the same id with other content
  a conflict (OW-1213), never an overwrite.
- `project_case` rebuilds one case's projection row (`node.models.Case`) from its events.
- `record` is how a service writes a local event: insert, project and hand to the sealer, all in the caller's
  write transaction, so the event, its projection and (for a decision) its up entry are durable together before
  the window moves on.

The sealer (`NodeRuntime.sealer`, the up log's `node.sync.log.seal_pending`, given by `node.boot.open_runtime`)
puts the node's unsealed events into up entries. It is handed every recorded event here, and nowhere else, and
seals unless all of them are draft steps (`DRAFT_STEPS`): a received case and what is scanned into it stay on
this node (“未受理（仅本机）” on the case list) until the window decides, and the decision seals them with it in
one entry. Down events (central's) are inserted and projected by the down log; they are never sealed.

This module sits below the sync package: the logs read events back through it, and it reaches the sealer only
through the runtime.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.db import after_commit
from node.models import Case, CaseEvent
from node.runtime import NodeRuntime
from node.staff import Actor
from node.trust.atrest import id_number_hash
from protocol.errors import EVENT_CONFLICT, NOT_FOUND, OneWindowError
from protocol.events import (
    CASE_RECEIVED,
    MATERIAL_ATTACHED,
    MATERIAL_REMOVED,
    PARCEL_OPENED,
    PARCEL_REGISTERED,
    CaseState,
    Event,
    event_columns,
    fold,
    projection_columns,
)
from protocol.ids import uuid7

#: Steps that wait on the node for the case's next decision: receiving, scanning materials in (or taking a page
#: off again), and a mailed application's registration and opening. Recording only these does not seal; any
#: other event seals them too.
DRAFT_STEPS = frozenset(
    {CASE_RECEIVED, MATERIAL_ATTACHED, MATERIAL_REMOVED, PARCEL_REGISTERED, PARCEL_OPENED}
)


def new_event(
    runtime: NodeRuntime, actor: Actor, aggregate_id: str, type_: str, payload: Mapping[str, Any]
) -> Event:
    """A node-authored event about `aggregate_id` (a case, a rating or a complaint), timed by the node's HLC."""
    return Event(
        id=uuid7(),
        case_id=aggregate_id,
        type=type_,
        authority=runtime.node_id,
        actor=actor.username,
        hlc=runtime.clock.now(),
        payload=dict(payload),
    )


def row_to_event(row: CaseEvent) -> Event:
    """A stored event as the protocol's `Event`."""
    return Event(
        row.id,
        row.case_id,
        row.type,
        row.authority,
        row.actor,
        row.hlc,
        json.loads(row.payload),
        row.schema_version,
    )


async def insert_event(session: AsyncSession, event: Event, *, origin: str) -> bool:
    """Store an event once: same id and content is a no-op, same id with other content a conflict."""
    existing = await session.get(CaseEvent, event.id)
    if existing is not None:
        if existing.content_hash != event.content_hash:
            raise OneWindowError(EVENT_CONFLICT, f"event {event.id}", field="event.id")
        return False
    session.add(CaseEvent(**event_columns(event), origin=origin))
    return True


async def case_events(session: AsyncSession, case_id: str) -> list[Event]:
    """Every event of one aggregate (a case, a rating, a complaint), in storage order (the fold sorts)."""
    rows = (await session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id))).all()
    return [row_to_event(r) for r in rows]


async def case_state(session: AsyncSession, case_id: str) -> CaseState:
    """The fold of a case's events (status None when there is no such case)."""
    return fold(case_id, await case_events(session, case_id))


async def load_case(session: AsyncSession, case_id: str) -> CaseState:
    """The case's state; OW-1003 when the node has no such case."""
    state = await case_state(session, case_id)
    if state.status is None:
        raise OneWindowError(NOT_FOUND, f"办件 {case_id} 不存在", field="case_id")
    return state


async def get_case(runtime: NodeRuntime, case_id: str) -> CaseState:
    """The case's state, read in its own snapshot; OW-1003 when the node has no such case."""
    async with runtime.db.read() as session:
        return await load_case(session, case_id)


async def project_case(
    session: AsyncSession, case_id: str, *, id_key: bytes | None = None
) -> CaseState | None:
    """Rebuild one case's projection row from its events (nothing for an aggregate that is not a case).

    With `id_key` (the node's data key) the row also keeps the applicant's certificate number as its keyed hash,
    for the clerk's search; without it, the hash already there stays."""
    await session.flush()
    state = await case_state(session, case_id)
    if state.status is None:
        return None
    row = await session.get(Case, case_id)
    values: dict[str, Any] = {**projection_columns(state), "last_hlc": state.last_hlc}
    number = str(state.applicant.get("cert_number", ""))
    if id_key is not None and number:
        values["applicant_id_hash"] = id_number_hash(number, id_key)
    if row is None:
        session.add(Case(case_id=case_id, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
    return state


async def record(session: AsyncSession, runtime: NodeRuntime, *events: Event) -> None:
    """Record local events in the caller's write transaction: store each, project the cases they touch, and
    hand them to the sealer (see the module docstring)."""
    for event in events:
        await insert_event(session, event, origin="local")
    # A decision's notice is final when it is issued: its PDF is made once the events are durable, off this
    # transaction. A receipt (issued at a draft step) lists what is scanned in after it, so it is made at its
    # first print or at the case's decision, whichever comes first.
    deciding = {e.id for e in events if e.type not in DRAFT_STEPS}
    for case_id in dict.fromkeys(e.case_id for e in events):
        state = await project_case(session, case_id, id_key=runtime.identity.data_key)
        if (
            runtime.issuer is not None
            and state is not None
            and any(n.event_id in deciding for n in state.notices)
        ):
            after_commit(session, functools.partial(runtime.issuer, runtime, case_id))
    await _hand_to_sealer(session, runtime, events)


async def _hand_to_sealer(session: AsyncSession, runtime: NodeRuntime, events: Iterable[Event]) -> None:
    if any(e.type not in DRAFT_STEPS for e in events):
        await runtime.sealer(session, runtime)
