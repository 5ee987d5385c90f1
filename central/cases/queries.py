"""Reading cases at central: the list of received cases (from the projection) and one case's events and state
(from the event store, folded)."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.cases.bulk import event_of
from central.models import CaseRecord, EventRecord
from protocol.errors import NOT_FOUND, OneWindowError
from protocol.events import CaseState, Event, fold


async def list_cases(
    session: AsyncSession, *, status: str | None = None, limit: int = 200
) -> list[CaseRecord]:
    """Received cases, newest first, optionally of one status."""
    query = select(CaseRecord).order_by(col(CaseRecord.received_at).desc()).limit(limit)
    if status:
        query = query.where(CaseRecord.status == status)
    return list((await session.exec(query)).all())


async def case_events(session: AsyncSession, case_id: str) -> list[Event]:
    """Every event of a case central holds, in fold order (hlc, id)."""
    rows = (await session.exec(select(EventRecord).where(EventRecord.case_id == case_id))).all()
    return sorted((event_of(r) for r in rows), key=lambda e: (e.hlc, e.id))


async def load_case(session: AsyncSession, case_id: str) -> tuple[list[Event], CaseState]:
    """A case's events and their fold; OW NOT_FOUND for a case central has not received."""
    events = await case_events(session, case_id)
    state = fold(case_id, events)
    if state.status is None:
        raise OneWindowError(NOT_FOUND, f"办件 {case_id} 不存在", field="case_id")
    return events, state


async def case_state(session: AsyncSession, case_id: str) -> CaseState:
    """A case's state (its events folded); OW NOT_FOUND for a case central has not received."""
    _, state = await load_case(session, case_id)
    return state
