"""Central's deadlines go through the calendar's one coverage check (issue 17): a due date counted through an
unpublished year is provisional on the clock, the case page's promise and the queue's stored date alike."""

from __future__ import annotations

from datetime import date

from central.backoffice.deadlines import case_clock, promised_deadline, stored_due_warning
from protocol.calendar import Deadline
from protocol.events import ACCEPTED, CaseState
from tests.unit.protocol.test_calendar_coverage import CALENDAR, WITH_2027


def test_central_counts_through_the_same_check() -> None:
    state = CaseState(
        case_id="c",
        status=ACCEPTED,
        accepted_at="2026-12-10T02:00:00Z",
        promised_days=20,
        promised_date="2027-01-07",
    )
    clock = case_clock(state, CALENDAR, today=date(2026, 12, 10))
    assert clock is not None
    assert (clock.due_on, clock.provisional, clock.uncovered) == (date(2027, 1, 7), True, (2027,))
    assert clock.to_dict()["warning"] == "2027 年节假日安排未发布，期限为暂定"
    clock = case_clock(state, WITH_2027, today=date(2026, 12, 10))
    assert clock is not None and (clock.due_on, clock.provisional) == (date(2027, 1, 8), False)
    assert promised_deadline(state, CALENDAR) == Deadline(date(2027, 1, 7), (2027,))
    assert promised_deadline(state, WITH_2027) == Deadline(date(2027, 1, 8), ())
    assert (
        stored_due_warning(CALENDAR, state.accepted_at, "2027-01-07") == "2027 年节假日安排未发布，期限为暂定"
    )
    assert stored_due_warning(WITH_2027, state.accepted_at, "2027-01-08") == ""
    assert stored_due_warning(CALENDAR, "", "") == ""
