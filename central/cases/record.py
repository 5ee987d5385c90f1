"""Recording a central event (县级办理事件): the one way central authors a case event and sends it to the window.

Every author at central — the county's direct decision, each back-office workflow step (routing, opinion, clock
pause and resume, extension, decision, e-licence, result dispatch, consult answer), the logistics desk's parcel
receipt and the archive's package confirmation — calls `record_central_event`, which in the caller's
transaction:

1. locks the row of the node the event goes to (its down log is written below);
2. stamps the event with central's one clock, after the case's newest event, within the clock-drift bound;
3. stores the event and rebuilds the case's projection;
4. appends it to that node's down log (or, with an `outbox`, leaves it for the caller to send many in one entry);
5. folds the case again and refuses the step if the event does not fit the case (a new anomaly): the services
   check their rules first, this is the last line of defence.

Nothing is therefore decided at central without being on its way back to the centre, and a step that the fold
would not accept is never stored or sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from central.cases.store import refresh_case, store_event
from central.clock import stamp_after
from central.downlog import append_down, lock_node
from central.keys import CountyKeys
from central.models import NodeRecord
from protocol.errors import INVALID_TRANSITION, NOT_FOUND, OneWindowError
from protocol.events import CaseState, Event, fold
from protocol.ids import uuid7


@dataclass(frozen=True)
class RecordedEvent:
    """The event central recorded, and the case's state after it."""

    event: Event
    state: CaseState


async def record_central_event(
    session: AsyncSession,
    county: CountyKeys,
    *,
    case_id: str,
    events: Sequence[Event],
    type: str,
    authority: str,
    actor: str,
    payload: Mapping[str, Any],
    state: CaseState | None = None,
    node: NodeRecord | None = None,
    outbox: dict[str, list[dict[str, Any]]] | None = None,
) -> RecordedEvent:
    """Store a central event on a case, rebuild its projection and send it down (see the module docstring).

    `events` are the case's events as the caller read them, `state` their fold when the caller has it. The event
    goes to the case's origin node, unless the caller names (and has locked) another `node`."""
    before = state if state is not None else fold(case_id, events)
    if node is None:
        node = await lock_node(session, before.origin_node)
        if node is None:
            raise OneWindowError(NOT_FOUND, f"受理节点 {before.origin_node} 不存在", field="origin_node")
    newest = max((e.hlc for e in events), default=0)
    event = Event(
        id=uuid7(),
        case_id=case_id,
        type=type,
        authority=authority,
        actor=actor,
        hlc=stamp_after(newest),
        payload=dict(payload),
    )
    await store_event(session, event, node_id=None, up_seq=None)
    await refresh_case(session, case_id)
    if outbox is None:
        await append_down(session, county, node, {"events": [event.to_dict()]})
    else:
        outbox.setdefault(node.node_id, []).append(event.to_dict())
    after = fold(case_id, [*events, event])
    # A case central has not received yet (an archive package that overtook its case's events) has no state to
    # check against: every event would be "before the case was received" until the case arrives.
    if before.status is not None and after.anomalies != before.anomalies:
        raise OneWindowError(
            INVALID_TRANSITION, f"办件状态不允许此操作：{after.anomalies[-1]}", field="case_id"
        )
    return RecordedEvent(event, after)
