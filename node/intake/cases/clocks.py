"""The legal clocks of a case: the promised completion date, 视为受理 and the 容缺 supply deadline.

`run_legal_clocks` records 视为受理 (no notice within 5 working days of receipt) and 终止办理 (容缺 materials not
supplied in time) as events, so they are durable, synced and counted like any other fact; `clock_loop` runs it in
the node's lifespan. The dates are worked out here once, for the sweep and for the case page alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.events import case_state, load_case, new_event, record
from node.models import Case
from node.runtime import NodeRuntime, local_date
from node.staff import Actor
from protocol.calendar import Deadline
from protocol.events import (
    ACCEPTED,
    CASE_DEEMED_ACCEPTED,
    CASE_TERMINATED,
    RECEIVED,
    CaseState,
)

log = logging.getLogger("onewindow.node.clocks")
DEEMED_ACCEPTANCE_WORKING_DAYS = 5  # 行政许可法 art. 32: "当场或者在五日内一次告知"


def promised_deadline(runtime: NodeRuntime, accepted_on: date, days: int) -> Deadline:
    """承诺办结日期: `days` working days after acceptance on the county's calendar (即办件: the same day), provisional
    when the count runs through a year whose holiday arrangement the node does not have yet."""
    return runtime.calendar.deadline(accepted_on, days)


def promised_date(runtime: NodeRuntime, accepted_on: date, days: int) -> date:
    """The date of `promised_deadline`."""
    return promised_deadline(runtime, accepted_on, days).due_on


def current_promise(runtime: NodeRuntime, state: CaseState) -> Deadline | None:
    """An accepted case's promised completion date counted again on the calendar the node holds now: the same as
    the notice's, unless the notice's was provisional and the county has since published the missing year
    (None for a case not accepted, or a 即办件)."""
    if not state.accepted_at or not state.promised_days:
        return None
    return promised_deadline(runtime, local_date(state.accepted_at), state.promised_days)


def notification_deadline(runtime: NodeRuntime, state: CaseState) -> Deadline:
    """The last working day to accept or ask for corrections before the case is deemed accepted (art. 32):
    the fifth working day after receipt (or after the corrections came in)."""
    return runtime.calendar.deadline(local_date(state.clock_from), DEEMED_ACCEPTANCE_WORKING_DAYS)


def deemed_acceptance_limit(runtime: NodeRuntime, state: CaseState) -> date:
    """The date of `notification_deadline`."""
    return notification_deadline(runtime, state).due_on


async def _record(
    session: AsyncSession, runtime: NodeRuntime, case_id: str, type_: str, payload: Mapping[str, Any]
) -> CaseState:
    await record(session, runtime, new_event(runtime, CLOCK_ACTOR, case_id, type_, payload))
    return await case_state(session, case_id)


CLOCK_ACTOR = Actor(username="system:clock", role="system")


async def run_legal_clocks(runtime: NodeRuntime) -> list[CaseState]:
    """Record what the clocks say today: 视为受理 and 终止办理. Safe to run at any time, as often as wanted.

    - A case received (or corrected) with neither an acceptance nor a correction notice by the end of the fifth
      working day is deemed accepted from its receipt (art. 32).
    - A 容缺 case whose supply deadline has passed with materials still owed is terminated.
    """
    today = runtime.today()
    changed: list[CaseState] = []
    async with runtime.db.write() as session:
        candidates = (
            await session.exec(
                select(Case.case_id).where(
                    or_(
                        and_(col(Case.status) == RECEIVED, col(Case.deemed_accepted).is_(False)),
                        and_(
                            col(Case.status) == ACCEPTED,
                            col(Case.supply_by) != "",
                            col(Case.supply_by) < today.isoformat(),
                        ),
                    )
                )
            )
        ).all()
        for case_id in candidates:
            state = await load_case(session, case_id)
            if state.status == RECEIVED and not state.deemed_accepted:
                limit = deemed_acceptance_limit(runtime, state)
                if today > limit:
                    payload = {
                        "deemed_at": runtime.now_iso(),
                        "received_at": state.received_at,
                        "clock_from": state.clock_from,
                        "limit_date": limit.isoformat(),
                    }
                    changed.append(await _record(session, runtime, case_id, CASE_DEEMED_ACCEPTED, payload))
            elif state.status == ACCEPTED and state.waiver_pending and state.waiver:
                supply_by = date.fromisoformat(str(state.waiver["supply_by"]))
                if today > supply_by:
                    owed = "、".join(str(m["name"]) for m in state.waiver["materials"])
                    payload = {
                        "reason": f"容缺材料（{owed}）未在承诺期限{supply_by:%Y年%m月%d日}前补齐",
                        "terminated_at": runtime.now_iso(),
                        "supply_by": supply_by.isoformat(),
                    }
                    changed.append(await _record(session, runtime, case_id, CASE_TERMINATED, payload))
    return changed


async def clock_loop(runtime: NodeRuntime, *, interval_s: float, stop: asyncio.Event) -> None:
    """Run the legal clocks now and then every `interval_s` until `stop` is set; never crash the node."""
    while not stop.is_set():
        try:
            changed = await run_legal_clocks(runtime)
            if changed:
                log.info("legal clocks recorded %d event(s)", len(changed))
        except Exception:
            log.exception("legal clocks failed; will retry")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            pass
