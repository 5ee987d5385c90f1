"""The calendar's one coverage check (issue 17): which deadlines are certain, which are provisional and why, and
which arrangements a county should already hold. Node and central both count through `WorkingCalendar.deadline`
(central's side: tests/unit/central/test_deadline_coverage.py).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import provisioning
from protocol.calendar import (
    Deadline,
    calendar_from_dict,
    missing_calendar_warning,
    provisional_warning,
)

SHIPPED = json.loads(
    (Path(provisioning.__file__).parent / "data" / "holiday_calendar.json").read_text("utf-8")
)
CALENDAR = calendar_from_dict(SHIPPED)  # 2025 and 2026
WITH_2027 = calendar_from_dict(
    {
        **SHIPPED,
        "version": SHIPPED["version"] + 1,
        "years": [
            *SHIPPED["years"],
            {
                "year": 2027,
                "source": "测试",
                "holidays": [{"name": "元旦", "days_off": ["2027-01-01"], "workdays": []}],
            },
        ],
    }
)


def test_a_count_into_an_unpublished_year_is_provisional_and_says_which() -> None:
    due = CALENDAR.deadline(date(2026, 12, 10), 20)
    assert due == Deadline(date(2027, 1, 7), (2027,))  # 元旦 counted as a working day: a guess
    assert due.provisional and due.warning == "2027 年节假日安排未发布，期限为暂定"
    recounted = WITH_2027.deadline(date(2026, 12, 10), 20)
    assert (
        recounted == Deadline(date(2027, 1, 8), ()) and not recounted.provisional and recounted.warning == ""
    )


def test_a_count_within_published_years_is_certain() -> None:
    assert CALENDAR.deadline(date(2026, 11, 16), 20) == Deadline(date(2026, 12, 14), ())
    assert CALENDAR.deadline(date(2026, 2, 10), 10) == Deadline(date(2026, 3, 2), ())
    assert CALENDAR.deadline(date(2026, 12, 10), 0) == Deadline(date(2026, 12, 10), ())  # 即办件


def test_the_last_days_of_december_wait_for_the_next_years_notice() -> None:
    """The next year's notice may move 25-31 December (the 2019 notice made Saturday 2018-12-29 a working day),
    so a count ending there is provisional until that notice is in; the 24th is not."""
    assert CALENDAR.unsettled_years(date(2026, 12, 10), date(2026, 12, 24)) == ()
    assert CALENDAR.unsettled_years(date(2026, 12, 10), date(2026, 12, 25)) == (2027,)
    assert CALENDAR.deadline(date(2026, 12, 14), 10) == Deadline(date(2026, 12, 28), (2027,))
    assert WITH_2027.deadline(date(2026, 12, 14), 10).uncovered == ()
    # The start day itself is never counted: a count from 31 December needs only the next year.
    assert CALENDAR.unsettled_years(date(2024, 12, 31), date(2025, 1, 10)) == ()
    assert CALENDAR.unsettled_years(date(2024, 12, 30), date(2025, 1, 10)) == (2024,)
    assert CALENDAR.unsettled_years(date(2026, 12, 10), date(2026, 12, 10)) == ()
    assert CALENDAR.unsettled_years(date(2027, 1, 10), date(2026, 12, 10)) == ()


@given(
    st.dates(min_value=date(2024, 6, 1), max_value=date(2027, 6, 1)),
    st.integers(min_value=0, max_value=60),
)
def test_a_deadline_is_certain_exactly_when_every_year_it_depends_on_is_published(
    start: date, n: int
) -> None:
    due = CALENDAR.deadline(start, n)
    assert due.due_on == CALENDAR.add_working_days(start, n)
    days = [start + timedelta(days=i) for i in range(1, (due.due_on - start).days + 1)]
    needed = {d.year for d in days} | {d.year + 1 for d in days if d.month == 12 and d.day >= 25}
    assert set(due.uncovered) == needed - {2025, 2026}


def test_the_county_should_hold_next_years_arrangement_from_november() -> None:
    assert CALENDAR.missing_years(date(2026, 10, 31)) == ()
    assert CALENDAR.missing_years(date(2026, 11, 1)) == (2027,)
    assert CALENDAR.missing_years(date(2026, 12, 31)) == (2027,)
    assert CALENDAR.missing_years(date(2027, 3, 1)) == (2027,)  # this year's, missing all year long
    assert WITH_2027.missing_years(date(2026, 12, 6)) == ()
    assert WITH_2027.missing_years(date(2027, 11, 1)) == (2028,)
    assert "缺少 2027 年的节假日安排" in missing_calendar_warning((2027,))
    assert "publish-calendar" in missing_calendar_warning((2027,))
    assert missing_calendar_warning(()) == "" and provisional_warning([]) == ""
    assert provisional_warning([2028, 2027, 2027]) == "2027、2028 年节假日安排未发布，期限为暂定"
