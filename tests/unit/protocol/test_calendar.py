"""The working-day calendar: the shipped 2025–2026 arrangements, deadline arithmetic across 调休, bad data says where."""

from __future__ import annotations

import json
import pickle
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import provisioning
from protocol.calendar import (
    CalendarError,
    CalendarYear,
    HolidayPeriod,
    WorkingCalendar,
    calendar_from_dict,
    calendar_to_dict,
)

CALENDAR_PATH = Path(provisioning.__file__).parent / "data" / "holiday_calendar.json"
CALENDAR_TEXT = CALENDAR_PATH.read_text("utf-8")
CALENDAR = calendar_from_dict(json.loads(CALENDAR_TEXT))

SPRING = 1  # index of 春节 in each shipped year


def shipped() -> dict[str, Any]:
    """A fresh, mutable copy of the shipped calendar's JSON form (years[0] is 2025, years[1] is 2026)."""
    data: dict[str, Any] = json.loads(CALENDAR_TEXT)
    return data


def rejects(data: dict[str, Any]) -> CalendarError:
    with pytest.raises(CalendarError) as caught:
        calendar_from_dict(data)
    return caught.value


def brute_between(calendar: WorkingCalendar, start: date, end: date) -> int:
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += calendar.is_working_day(day)
    return count


# --- the shipped file ------------------------------------------------------------------------------------------


def test_shipped_calendar_loads_and_round_trips_exactly() -> None:
    assert CALENDAR.version == 1 and CALENDAR.issued_at == "2026-11-01T00:00:00Z"
    assert [y.year for y in CALENDAR.years] == [2025, 2026]
    assert calendar_to_dict(CALENDAR) == shipped()
    assert calendar_from_dict(calendar_to_dict(CALENDAR)) == CALENDAR
    assert json.dumps(calendar_to_dict(CALENDAR), ensure_ascii=False, indent=2) + "\n" == CALENDAR_TEXT


def test_shipped_years_have_the_statutory_thirteen_days() -> None:
    # Since 2025 there are 13 statutory holiday days a year; both years have 261 Mondays to Fridays, so
    # 261 − 13 = 248 working days once days off and make-up workdays are applied.
    for year in (2025, 2026):
        assert CALENDAR.working_days_between(date(year - 1, 12, 31), date(year, 12, 31)) == 248
    names = {y.year: [h.name for h in y.holidays] for y in CALENDAR.years}
    assert names[2025] == ["元旦", "春节", "清明节", "劳动节", "端午节", "国庆节、中秋节"]
    assert names[2026] == ["元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"]


def test_every_shipped_make_up_day_is_a_weekend_working_day() -> None:
    for year in CALENDAR.years:
        for period in year.holidays:
            for day in period.workdays:
                assert day.weekday() >= 5 and CALENDAR.is_working_day(day)
                assert CALENDAR.makeup_for(day) == period.name and CALENDAR.holiday_name(day) is None
            for day in period.days_off:
                assert not CALENDAR.is_working_day(day) and CALENDAR.holiday_name(day) == period.name


# --- working days around the holidays --------------------------------------------------------------------------


def test_spring_festival_2026_five_days_after_friday() -> None:
    # Friday 02-13 is the event. 02-14 (Sat, make-up) is day 1; 02-15..23 are off; 02-24 day 2, 02-25 day 3,
    # 02-26 day 4, 02-27 day 5.
    assert CALENDAR.add_working_days(date(2026, 2, 13), 5) == date(2026, 2, 27)
    assert CALENDAR.working_days_between(date(2026, 2, 13), date(2026, 2, 27)) == 5


def test_spring_festival_2026_twenty_days_counts_both_make_up_saturdays() -> None:
    # From Tuesday 02-10: 02-11 1, 02-12 2, 02-13 3, 02-14 (Sat, make-up) 4, 02-15..23 off, 02-24 5, 02-25 6,
    # 02-26 7, 02-27 8, 02-28 (Sat, make-up) 9, 03-01 Sun, 03-02..06 10–14, 03-09..13 15–19, 03-16 (Mon) 20.
    # Without the two make-up Saturdays the 20th day would be 03-18.
    assert CALENDAR.add_working_days(date(2026, 2, 10), 20) == date(2026, 3, 16)
    assert CALENDAR.is_working_day(date(2026, 2, 14)) and CALENDAR.is_working_day(date(2026, 2, 28))
    assert not CALENDAR.is_working_day(date(2026, 3, 1))
    assert CALENDAR.holiday_name(date(2026, 2, 15)) == "春节"
    assert CALENDAR.holiday_name(date(2026, 2, 14)) is None
    assert CALENDAR.makeup_for(date(2026, 2, 28)) == "春节"


def test_national_day_2026_with_sunday_make_up() -> None:
    # From Friday 09-18: 09-19 Sat, 09-20 (Sun, make-up) 1, 09-21 2, 09-22 3.
    assert CALENDAR.add_working_days(date(2026, 9, 18), 3) == date(2026, 9, 22)
    assert CALENDAR.is_working_day(date(2026, 9, 20))
    # From Thursday 09-17: 09-18 1, 09-20 (Sun) 2, 09-21..24 3–6, 09-25 (中秋节, Fri) off, 09-28..30 7–9,
    # 10-01..07 国庆节 off, 10-08 10.
    assert CALENDAR.add_working_days(date(2026, 9, 17), 10) == date(2026, 10, 8)
    assert CALENDAR.holiday_name(date(2026, 9, 25)) == "中秋节"
    # From Monday 09-28: 09-29 1, 09-30 2, 10-08 3, 10-09 4, 10-10 (Sat, make-up) 5.
    assert CALENDAR.add_working_days(date(2026, 9, 28), 5) == date(2026, 10, 10)
    assert CALENDAR.holiday_name(date(2026, 10, 7)) == "国庆节"


def test_spring_festival_2025_sunday_make_up_and_the_turn_of_the_year() -> None:
    # From Friday 2025-01-24: 01-25 Sat, 01-26 (Sun, make-up) 1, 01-27 2, 01-28..02-04 off, 02-05 3.
    assert CALENDAR.add_working_days(date(2025, 1, 24), 3) == date(2025, 2, 5)
    # From Wednesday 2025-12-31: 2026-01-01..03 off, 01-04 (Sun, make-up) 1, 01-05 2.
    assert CALENDAR.add_working_days(date(2025, 12, 31), 2) == date(2026, 1, 5)
    assert CALENDAR.holiday_name(date(2025, 10, 6)) == "国庆节、中秋节"


def test_zero_days_is_the_start_and_negative_is_refused() -> None:
    holiday = date(2026, 2, 16)
    assert CALENDAR.add_working_days(holiday, 0) == holiday
    assert CALENDAR.working_days_between(holiday, holiday) == 0
    assert CALENDAR.working_days_between(date(2026, 3, 1), date(2026, 2, 1)) == 0
    with pytest.raises(ValueError, match="负数"):
        CALENDAR.add_working_days(holiday, -1)


def test_next_working_day() -> None:
    assert CALENDAR.next_working_day(date(2026, 2, 14)) == date(2026, 2, 14)
    assert CALENDAR.next_working_day(date(2026, 2, 15)) == date(2026, 2, 24)
    assert CALENDAR.next_working_day(date(2026, 3, 7)) == date(2026, 3, 9)
    assert CALENDAR.next_working_day(date(2026, 10, 1)) == date(2026, 10, 8)


def test_ten_years_of_working_days_is_quick_and_consistent() -> None:
    start = date(2025, 1, 1)
    end = CALENDAR.add_working_days(start, 3650)
    assert CALENDAR.working_days_between(start, end) == 3650
    assert CALENDAR.is_working_day(end)


def test_datetimes_are_refused() -> None:
    with pytest.raises(TypeError):
        CALENDAR.is_working_day(datetime(2026, 2, 14, 9, 0))


# --- uncovered years --------------------------------------------------------------------------------------------


def test_uncovered_year_falls_back_to_monday_to_friday() -> None:
    assert CALENDAR.covers(date(2026, 12, 31)) and not CALENDAR.covers(date(2027, 1, 1))
    # 2027-01-01 is a Friday: without the 2027 notice it counts as an ordinary working day.
    assert CALENDAR.is_working_day(date(2027, 1, 1)) and CALENDAR.holiday_name(date(2027, 1, 1)) is None
    assert not CALENDAR.is_working_day(date(2027, 1, 2))
    assert CALENDAR.add_working_days(date(2026, 12, 31), 2) == date(2027, 1, 4)
    assert CALENDAR.uncovered_years(date(2026, 12, 1), date(2027, 1, 10)) == (2027,)
    assert CALENDAR.uncovered_years(date(2024, 6, 1), date(2028, 1, 1)) == (2024, 2027, 2028)
    assert CALENDAR.uncovered_years(date(2025, 2, 1), date(2026, 3, 1)) == ()
    assert CALENDAR.uncovered_years(date(2027, 1, 1), date(2026, 1, 1)) == ()


def test_empty_calendar_is_monday_to_friday() -> None:
    empty = WorkingCalendar(version=1, issued_at="2026-11-01T00:00:00Z", years=())
    assert empty.working_days_between(date(2026, 2, 13), date(2026, 2, 27)) == 10
    assert empty.add_working_days(date(2026, 2, 13), 5) == date(2026, 2, 20)
    assert empty.uncovered_years(date(2026, 1, 1), date(2026, 12, 31)) == (2026,)


def test_new_year_straddling_the_turn_of_the_year() -> None:
    # 国务院办公厅关于2019年部分节假日安排的通知: 2018-12-30..2019-01-01 off, Saturday 2018-12-29 worked.
    year_2019 = CalendarYear(
        year=2019,
        source="国务院办公厅关于2019年部分节假日安排的通知",
        holidays=(
            HolidayPeriod(
                name="元旦",
                days_off=(date(2018, 12, 30), date(2018, 12, 31), date(2019, 1, 1)),
                workdays=(date(2018, 12, 29),),
            ),
        ),
    )
    calendar = WorkingCalendar(version=1, issued_at="2018-12-06T00:00:00Z", years=(year_2019,))
    assert calendar.is_working_day(date(2018, 12, 29)) and not calendar.is_working_day(date(2018, 12, 31))
    assert not calendar.covers(date(2018, 12, 29))
    # From Friday 2018-12-28: 12-29 (Sat, make-up) 1, 12-30..01-01 off, 01-02 2.
    assert calendar.add_working_days(date(2018, 12, 28), 2) == date(2019, 1, 2)


# --- properties --------------------------------------------------------------------------------------------------

STARTS = st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31))


@given(start=STARTS, n=st.integers(min_value=0, max_value=200))
def test_between_inverts_add(start: date, n: int) -> None:
    end = CALENDAR.add_working_days(start, n)
    assert CALENDAR.working_days_between(start, end) == n
    if n:
        assert CALENDAR.is_working_day(end)
        assert CALENDAR.working_days_between(start, end - timedelta(days=1)) == n - 1


@given(
    start=st.dates(min_value=date(2024, 10, 1), max_value=date(2027, 3, 31)),
    length=st.integers(min_value=-10, max_value=400),
)
def test_between_matches_counting_day_by_day(start: date, length: int) -> None:
    end = start + timedelta(days=length)
    assert CALENDAR.working_days_between(start, end) == brute_between(CALENDAR, start, end)


# --- validation ---------------------------------------------------------------------------------------------------


def test_make_up_day_on_a_weekday_is_rejected() -> None:
    data = shipped()
    data["years"][1]["holidays"][SPRING]["workdays"][0] = "2026-02-13"
    error = rejects(data)
    assert error.path == "years[1].holidays[1].workdays[0]"
    assert "星期五" in error.reason and "周六或周日" in error.reason


def test_duplicate_day_is_rejected() -> None:
    data = shipped()
    data["years"][1]["holidays"][SPRING]["days_off"].append("2026-02-15")
    error = rejects(data)
    assert error.path == "years[1].holidays[1].days_off[9]"
    assert "日期重复" in error.reason and "days_off[0]" in error.reason


def test_day_listed_under_two_holidays_is_rejected() -> None:
    data = shipped()
    data["years"][1]["holidays"][2]["days_off"].append("2026-02-16")
    error = rejects(data)
    assert error.path == "years[1].holidays[2].days_off[3]"
    assert "holidays[1].days_off[1]" in error.reason


def test_day_off_that_is_also_a_make_up_day_is_rejected() -> None:
    data = shipped()
    data["years"][1]["holidays"][SPRING]["workdays"].append("2026-02-15")
    error = rejects(data)
    assert error.path == "years[1].holidays[1].workdays[2]"
    assert "既是放假日又是调休上班日" in error.reason


def test_day_off_in_the_wrong_year_is_rejected() -> None:
    data = shipped()
    data["years"][0]["holidays"][SPRING]["days_off"].append("2026-02-15")
    error = rejects(data)
    assert error.path == "years[0].holidays[1].days_off[8]"
    assert "不属于2025年" in error.reason


def test_previous_december_is_allowed_only_at_the_turn_of_the_year() -> None:
    with pytest.raises(CalendarError) as caught:
        CalendarYear(2019, "通知", (HolidayPeriod("元旦", (date(2018, 12, 24),)),))
    assert caught.value.path == "holidays[0].days_off[0]"
    with pytest.raises(CalendarError) as caught:
        CalendarYear(2019, "通知", (HolidayPeriod("元旦", (date(2020, 1, 1),)),))
    assert "不属于2019年" in caught.value.reason


def test_same_day_in_two_years_is_rejected() -> None:
    def year(number: int, day: date) -> CalendarYear:
        return CalendarYear(number, "通知", (HolidayPeriod("元旦", (day,)),))

    with pytest.raises(CalendarError) as caught:
        WorkingCalendar(
            1, "2026-11-01T00:00:00Z", (year(2018, date(2018, 12, 31)), year(2019, date(2018, 12, 31)))
        )
    assert caught.value.path == "years[1].holidays[0].days_off[0]"
    assert "years[0].holidays[0].days_off[0]" in caught.value.reason


def test_bad_date_string_names_the_path() -> None:
    data = shipped()
    data["years"][0]["holidays"][1]["days_off"][3] = "2025-02-30"
    error = rejects(data)
    assert str(error) == 'years[0].holidays[1].days_off[3]: 不是有效日期 "2025-02-30"'
    data["years"][0]["holidays"][1]["days_off"][3] = "2025-2-1"
    assert rejects(data).path == "years[0].holidays[1].days_off[3]"
    data["years"][0]["holidays"][1]["days_off"][3] = 20250201
    assert rejects(data).path == "years[0].holidays[1].days_off[3]"


def test_unknown_and_missing_keys_name_the_path() -> None:
    data = shipped()
    data["years"][0]["holidays"][0]["note"] = "与周末连休"
    assert str(rejects(data)) == "years[0].holidays[0].note: 未知字段"
    data = shipped()
    del data["years"][1]["source"]
    assert str(rejects(data)) == "years[1].source: 缺少此字段"
    data = shipped()
    del data["years"][1]["holidays"][0]["workdays"]
    assert rejects(data).path == "years[1].holidays[0].workdays"
    data = shipped()
    data["extra"] = 1
    assert str(rejects(data)) == "extra: 未知字段"


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(version=0), "version"),
        (lambda d: d.update(version=True), "version"),
        (lambda d: d.update(issued_at="2026-11-01 00:00:00"), "issued_at"),
        (lambda d: d.update(years={}), "years"),
        (lambda d: d["years"].append(d["years"][0]), "years[2].year"),
        (lambda d: d["years"][0].update(year="2025"), "years[0].year"),
        (lambda d: d["years"][0].update(source=""), "years[0].source"),
        (lambda d: d["years"][0].update(holidays=[]), "years[0].holidays"),
        (
            lambda d: d["years"][0]["holidays"].append(d["years"][0]["holidays"][0]),
            "years[0].holidays[6].name",
        ),
        (lambda d: d["years"][0]["holidays"][0].update(days_off=[]), "years[0].holidays[0].days_off"),
        (lambda d: d["years"][0]["holidays"][0].update(name=" 元旦"), "years[0].holidays[0].name"),
        (lambda d: d["years"].__setitem__(0, []), "years[0]"),
    ],
)
def test_other_bad_calendars_name_the_path(mutate: Any, path: str) -> None:
    data = shipped()
    mutate(data)
    assert rejects(data).path == path


def test_direct_construction_validates() -> None:
    with pytest.raises(CalendarError) as caught:
        HolidayPeriod("春节", (datetime(2026, 2, 15),))  # a datetime is a date to mypy, not to the calendar
    assert caught.value.path == "days_off[0]"
    with pytest.raises(CalendarError) as caught:
        HolidayPeriod("春节", [date(2026, 2, 15)])  # type: ignore[arg-type]
    assert caught.value.path == "days_off"


def test_error_is_a_value_error_and_pickles() -> None:
    error = CalendarError("years[0].year", "应为整数")
    assert isinstance(error, ValueError) and str(error) == "years[0].year: 应为整数"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason, str(copy)) == (error.path, error.reason, str(error))
