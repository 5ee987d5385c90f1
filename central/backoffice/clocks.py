"""Back-office clocks as stored (办理时限): each routed case's due date and level recomputed after every step and
by the deadline job, and the warnings (临期预警) and alerts (超期告警) raised once per case, level and due date.
The rules themselves are the pure functions of `central.backoffice.deadlines`.

The deadline job (`refresh_clocks`) claims its rows with ``FOR UPDATE SKIP LOCKED``, so several central processes
on one PostgreSQL database never do the same work twice."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.deadlines import CaseClock, case_clock
from central.backoffice.departments import item_of
from central.cases.queries import load_case
from central.clock import cst_date, iso
from central.models import BackofficeCaseRecord, DeadlineAlertRecord
from protocol.calendar import WorkingCalendar
from protocol.catalogue import Catalogue
from protocol.events import CaseState

#: A routed case's clock is recomputed by the deadline job at most this often (levels change by the day;
#: every step on a case recomputes its clock at once).
CLOCK_REFRESH_S = 600


async def refresh_case_clock(
    session: AsyncSession,
    case_id: str,
    *,
    calendar: WorkingCalendar,
    catalogue: Catalogue | None,
    now: datetime,
) -> CaseClock | None:
    """Recompute one routed case's clock now (after a step changed it), raising its warning or alert once."""
    _, state = await load_case(session, case_id)
    return await store_clock(session, state, calendar, catalogue, today=cst_date(now), now=now)


async def store_clock(
    session: AsyncSession,
    state: CaseState,
    calendar: WorkingCalendar,
    catalogue: Catalogue | None,
    *,
    today: date,
    now: datetime,
    instance: str = "",
) -> CaseClock | None:
    """Store a routed case's clock on `today` and raise its warning or alert once (`instance`: the central
    process whose job raised it). A case not routed yet has no stored clock: only computed."""
    row = await session.get(BackofficeCaseRecord, state.case_id)
    clock = case_clock(state, calendar, today=today, item=item_of(catalogue, state.item_code))
    if row is None or clock is None:
        return clock
    row.due_on, row.statutory_due_on = clock.due_on.isoformat(), clock.statutory_due_on.isoformat()
    row.level, row.remaining_days, row.updated_at = clock.level, clock.remaining_days, iso(now)
    session.add(row)
    if clock.level in ("warning", "due", "overdue") and state.decision is None:
        level = "overdue" if clock.level == "overdue" else "warning"
        exists = (
            await session.exec(
                select(DeadlineAlertRecord.id).where(
                    DeadlineAlertRecord.case_id == state.case_id,
                    DeadlineAlertRecord.level == level,
                    DeadlineAlertRecord.due_on == row.due_on,
                )
            )
        ).first()
        if exists is None:
            try:
                async with session.begin_nested():
                    session.add(
                        DeadlineAlertRecord(
                            case_id=state.case_id,
                            level=level,
                            due_on=row.due_on,
                            raised_on=today.isoformat(),
                            raised_at=iso(now),
                            raised_by=instance,
                        )
                    )
            except IntegrityError:
                pass  # raised by the other central process a moment ago: once is enough
    return clock


async def refresh_clocks(
    session: AsyncSession,
    *,
    calendar: WorkingCalendar,
    catalogue: Catalogue | None,
    now: datetime,
    instance: str = "",
    limit: int = 500,
) -> int:
    """The deadline job: recompute the clock of every open routed case and raise each warning and alert once.
    Rows are claimed with ``FOR UPDATE SKIP LOCKED``; returns how many clocks were refreshed."""
    query = (
        select(BackofficeCaseRecord)
        .where(
            BackofficeCaseRecord.level != "done",
            col(BackofficeCaseRecord.updated_at) < iso(now - timedelta(seconds=CLOCK_REFRESH_S)),
        )
        .order_by(col(BackofficeCaseRecord.updated_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list((await session.exec(query)).all())
    today = cst_date(now)
    for row in rows:
        _, state = await load_case(session, row.case_id)
        await store_clock(session, state, calendar, catalogue, today=today, now=now, instance=instance)
    return len(rows)


async def recount_clocks(
    session: AsyncSession, calendar: WorkingCalendar, *, catalogue: Catalogue | None, now: datetime
) -> int:
    """Count every open routed case's clock again on a newly published calendar, at once (not when the deadline
    job next comes round): a due date that was provisional for a year the calendar lacked becomes the certain
    one. Runs in the publishing transaction; returns how many clocks were counted."""
    query = select(BackofficeCaseRecord).where(BackofficeCaseRecord.level != "done").with_for_update()
    rows = list((await session.exec(query)).all())
    today = cst_date(now)
    for row in rows:
        _, state = await load_case(session, row.case_id)
        await store_clock(
            session, state, calendar, catalogue, today=today, now=now, instance="publish-calendar"
        )
    return len(rows)


async def alerts_of(session: AsyncSession, case_id: str) -> list[DeadlineAlertRecord]:
    query = select(DeadlineAlertRecord).where(DeadlineAlertRecord.case_id == case_id)
    return list((await session.exec(query.order_by(col(DeadlineAlertRecord.id)))).all())
