"""The working-day calendar (工作日历): statutory holidays and make-up working days (调休) by year.

This module owns the calendar's wire schema and the working-day arithmetic legal deadlines need (行政许可法
art. 82: periods counted in working days exclude statutory holidays). The county issues the calendar as
versioned data, one `CalendarYear` per State Council notice (国务院办公厅关于××年部分节假日安排的通知); the node
computes deadlines with it offline. It knows nothing of storage, signing or distribution.

A day is a working day when it is a listed make-up workday, or a Monday to Friday that is not a listed day off.
A year the calendar does not cover falls back to Monday to Friday, and a date counted through such a year is
only provisional: `WorkingCalendar.deadline` is the one way a legal deadline is counted, at the node and at
central alike, and its `Deadline` says which years' arrangements the count needed but lacked (its `warning` is
what every notice and page prints beside the date, 「2027 年节假日安排未发布，期限为暂定」).
`WorkingCalendar.missing_years` names the arrangements a county should already hold on a given day (this year's,
and from 1 November next year's). A period starts the day after the event, so counts never include the start
day: `add_working_days(start, n)` is the n-th working day after ``start`` and
``working_days_between(start, add_working_days(start, n)) == n``.

Every type validates itself on construction. `calendar_from_dict` also checks the JSON shape (types, missing
and unknown keys) and raises `CalendarError` whose message names the field path and a Chinese reason, e.g.
``years[0].holidays[1].days_off[3]: 不是有效日期 "2026-02-30"``.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, NoReturn, TypeVar

#: China Standard Time (UTC+8, no daylight saving): the zone every legal date and working day is counted in.
CST = timezone(timedelta(hours=8), "CST")

__all__ = [
    "CST",
    "CalendarError",
    "CalendarYear",
    "Deadline",
    "HolidayPeriod",
    "WorkingCalendar",
    "calendar_from_dict",
    "calendar_to_dict",
    "missing_calendar_warning",
    "provisional_warning",
]

_ISSUED_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NAME_MAX = 50
_SOURCE_MAX = 200
_WEEKDAYS = "一二三四五六日"
_ONE_DAY = timedelta(days=1)
_PREVIOUS_DECEMBER_FROM = 25
"""A year's notice may reach back into the last days of the previous December: a New Year (元旦) holiday that
straddles the turn of the year is announced with the new year, e.g. the 2019 notice made 2018-12-30..2019-01-01
days off and Saturday 2018-12-29 a working day; the 2012 notice made Saturday 2011-12-31 a working day."""
#: From this day of the year (month, day) next year's arrangement is expected: the State Council publishes it in
#: the autumn, and a deadline counted from December already runs into the next year.
NEXT_YEAR_EXPECTED_FROM = (11, 1)


class CalendarError(ValueError):
    """A working calendar that fails validation.

    ``path`` names the field at fault relative to the calendar (``years[0].holidays[1].days_off[3]``),
    ``reason`` says what is wrong in words a county admin can act on.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)

    def within(self, prefix: str) -> CalendarError:
        """The same error seen from the enclosing object, whose field ``prefix`` holds this one."""
        if not self.path:
            path = prefix
        elif self.path.startswith("["):
            path = prefix + self.path
        else:
            path = f"{prefix}.{self.path}"
        return CalendarError(path, self.reason)

    def __reduce__(self) -> tuple[type[CalendarError], tuple[str, str]]:
        return (type(self), (self.path, self.reason))


def _fail(path: str, reason: str) -> NoReturn:
    raise CalendarError(path, reason)


def _quote(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _check_text(value: object, path: str, *, max_len: int) -> None:
    if not isinstance(value, str):
        _fail(path, "应为文字")
    if value != value.strip():
        _fail(path, "首尾不能有空白")
    if not value:
        _fail(path, "不能为空")
    if len(value) > max_len:
        _fail(path, f"过长（最多{max_len}字）")


def _is_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _weekday_name(d: date) -> str:
    return f"星期{_WEEKDAYS[d.weekday()]}"


def _check_days(values: object, path: str, *, at_least_one: bool) -> None:
    if not isinstance(values, tuple):
        _fail(path, "应为列表")
    if at_least_one and not values:
        _fail(path, "至少要有一天")
    for i, value in enumerate(values):
        if not _is_date(value):
            _fail(f"{path}[{i}]", f"应为日期，收到 {value!r}")


_Listing = tuple[str, date, bool, str]
"""One listed day: its path, the day, whether it is a make-up workday (else a day off), its holiday's name."""


def _index(listings: Iterable[_Listing]) -> tuple[dict[date, str], dict[date, str]]:
    """Days off and make-up workdays, each mapped to its holiday's name; a day listed twice fails."""
    seen: dict[date, tuple[str, bool]] = {}
    days_off: dict[date, str] = {}
    workdays: dict[date, str] = {}
    for path, day, is_workday, name in listings:
        if day in seen:
            other_path, other_is_workday = seen[day]
            if other_is_workday == is_workday:
                _fail(path, f"日期重复：{day.isoformat()} 已列于 {other_path}")
            _fail(path, f"{day.isoformat()} 既是放假日又是调休上班日（见 {other_path}）")
        seen[day] = (path, is_workday)
        (workdays if is_workday else days_off)[day] = name
    return days_off, workdays


@dataclass(frozen=True, slots=True)
class HolidayPeriod:
    """One holiday of a year's notice (e.g. 春节): the days off and the weekend days worked in exchange.

    ``days_off`` lists every day of the holiday block, weekends included (2026 春节: 02-15 … 02-23);
    ``workdays`` are the Saturdays and Sundays that become working days (2026 春节: 02-14, 02-28).
    """

    name: str
    days_off: tuple[date, ...]
    workdays: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        _check_text(self.name, "name", max_len=_NAME_MAX)
        _check_days(self.days_off, "days_off", at_least_one=True)
        _check_days(self.workdays, "workdays", at_least_one=False)
        for i, day in enumerate(self.workdays):
            if day.weekday() < 5:
                _fail(
                    f"workdays[{i}]", f"调休上班日 {day.isoformat()} 是{_weekday_name(day)}，应为周六或周日"
                )
        _index(self._listings())

    def _listings(self, prefix: str = "") -> Iterable[_Listing]:
        for key, is_workday in (("days_off", False), ("workdays", True)):
            for i, day in enumerate(getattr(self, key)):
                yield f"{prefix}{key}[{i}]", day, is_workday, self.name


@dataclass(frozen=True, slots=True)
class CalendarYear:
    """One year's arrangement as published by the State Council; ``source`` names the notice."""

    year: int
    source: str
    holidays: tuple[HolidayPeriod, ...]

    def __post_init__(self) -> None:
        if isinstance(self.year, bool) or not isinstance(self.year, int) or not 2 <= self.year <= 9999:
            _fail("year", f"应为年份（2至9999的整数），收到 {self.year!r}")
        _check_text(self.source, "source", max_len=_SOURCE_MAX)
        if not isinstance(self.holidays, tuple):
            _fail("holidays", "应为列表")
        if not self.holidays:
            _fail("holidays", "至少要有一个节假日")
        names: dict[str, int] = {}
        for i, period in enumerate(self.holidays):
            if not isinstance(period, HolidayPeriod):
                _fail(f"holidays[{i}]", "应为节假日")
            if period.name in names:
                _fail(
                    f"holidays[{i}].name",
                    f"节假日重复 {_quote(period.name)}：与 holidays[{names[period.name]}] 相同",
                )
            names[period.name] = i
        listings = list(self._listings())
        earliest = date(self.year - 1, 12, _PREVIOUS_DECEMBER_FROM)
        for path, day, _, _ in listings:
            if day.year != self.year and not earliest <= day < date(self.year, 1, 1):
                _fail(
                    path,
                    f"{day.isoformat()} 不属于{self.year}年（只有跨年的元旦假期可含上一年12月{_PREVIOUS_DECEMBER_FROM}日至31日）",
                )
        _index(listings)

    def _listings(self, prefix: str = "") -> Iterable[_Listing]:
        for i, period in enumerate(self.holidays):
            yield from period._listings(f"{prefix}holidays[{i}].")


def _years(years: Iterable[int]) -> str:
    return "、".join(str(year) for year in sorted(set(years)))


def provisional_warning(years: Iterable[int]) -> str:
    """What a notice or a page prints beside a deadline counted through ``years`` the calendar lacks:
    「2027 年节假日安排未发布，期限为暂定」; "" when there are none (the date is certain)."""
    listed = _years(years)
    return f"{listed} 年节假日安排未发布，期限为暂定" if listed else ""


def missing_calendar_warning(years: Iterable[int]) -> str:
    """What the county's pages say while an arrangement it should hold is missing (`WorkingCalendar.missing_years`);
    "" when none is."""
    listed = _years(years)
    if not listed:
        return ""
    return (
        f"工作日历缺少 {listed} 年的节假日安排：期限计算到该年的办件只能暂按周一至周五计算，受理通知书和各页面均标为暂定。"
        "国务院办公厅的通知发布后，请用 onewindow central publish-calendar 下发，暂定期限将按新日历重新计算。"
    )


@dataclass(frozen=True, slots=True)
class Deadline:
    """A date counted in working days (`WorkingCalendar.deadline`), and the years whose holiday arrangement the
    count needed but the calendar lacks: when there are any the date is only provisional (counted as Monday to
    Friday in those years) and must never be presented as certain."""

    due_on: date
    uncovered: tuple[int, ...] = ()

    @property
    def provisional(self) -> bool:
        return bool(self.uncovered)

    @property
    def warning(self) -> str:
        """「2027 年节假日安排未发布，期限为暂定」 for a provisional date, else ""."""
        return provisional_warning(self.uncovered)


def _weekdays_through(ordinal: int) -> int:
    """How many Mondays to Fridays there are among the proleptic ordinals 1 … ``ordinal`` (ordinal 1 is a Monday)."""
    return ordinal // 7 * 5 + min(ordinal % 7, 5)


def _day(value: object, what: str = "d") -> date:
    if not _is_date(value):
        raise TypeError(f"{what} 应为 datetime.date（不含时间），收到 {value!r}")
    assert isinstance(value, date)
    return value


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """One issued version of the county's working-day calendar."""

    version: int
    issued_at: str
    """ISO 8601 UTC, ``YYYY-MM-DDTHH:MM:SSZ``."""
    years: tuple[CalendarYear, ...]
    _days_off: dict[date, str] = field(init=False, repr=False, compare=False, hash=False)
    _workdays: dict[date, str] = field(init=False, repr=False, compare=False, hash=False)
    _covered: frozenset[int] = field(init=False, repr=False, compare=False, hash=False)
    _marks: tuple[int, ...] = field(init=False, repr=False, compare=False, hash=False)
    """Ordinals of the days whose status differs from plain Monday-to-Friday, ascending."""
    _shift: tuple[int, ...] = field(init=False, repr=False, compare=False, hash=False)
    """``_shift[i]``: working days gained (make-up) less lost (weekday off) over ``_marks[:i]``."""

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            _fail("version", "应为正整数")
        _check_issued_at(self.issued_at)
        if not isinstance(self.years, tuple):
            _fail("years", "应为列表")
        seen: dict[int, int] = {}
        for i, year in enumerate(self.years):
            if not isinstance(year, CalendarYear):
                _fail(f"years[{i}]", "应为年度安排")
            if year.year in seen:
                _fail(f"years[{i}].year", f"年份重复 {year.year}：与 years[{seen[year.year]}] 相同")
            seen[year.year] = i
        days_off, workdays = _index(
            listing for i, year in enumerate(self.years) for listing in year._listings(f"years[{i}].")
        )
        changes = sorted(
            [(day.toordinal(), 1) for day in workdays]
            + [(day.toordinal(), -1) for day in days_off if day.weekday() < 5]
        )
        shift = [0]
        for _, delta in changes:
            shift.append(shift[-1] + delta)
        object.__setattr__(self, "_days_off", days_off)
        object.__setattr__(self, "_workdays", workdays)
        object.__setattr__(self, "_covered", frozenset(seen))
        object.__setattr__(self, "_marks", tuple(ordinal for ordinal, _ in changes))
        object.__setattr__(self, "_shift", tuple(shift))

    def covers(self, d: date) -> bool:
        """Whether the calendar has the arrangement of ``d``'s year."""
        return _day(d).year in self._covered

    def is_working_day(self, d: date) -> bool:
        """A make-up workday, or a Monday to Friday that is not a listed day off."""
        d = _day(d)
        if d in self._workdays:
            return True
        if d in self._days_off:
            return False
        return d.weekday() < 5

    def holiday_name(self, d: date) -> str | None:
        """The holiday ``d`` is a day off for (春节, 国庆节…); None on other days, make-up workdays included."""
        return self._days_off.get(_day(d))

    def makeup_for(self, d: date) -> str | None:
        """The holiday ``d`` is a make-up workday (调休上班) for; None on other days."""
        return self._workdays.get(_day(d))

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (``start`` itself is never counted); ``start`` when n is 0."""
        day = _day(start, "start")
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n 应为整数，收到 {n!r}")
        if n < 0:
            raise ValueError(f"工作日数不能为负数，收到 {n}")
        while n:
            day += _ONE_DAY
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days d there are with start < d ≤ end; 0 when end ≤ start."""
        first, last = _day(start, "start").toordinal(), _day(end, "end").toordinal()
        if last <= first:
            return 0
        weekdays = _weekdays_through(last) - _weekdays_through(first)
        return weekdays + self._shift_through(last) - self._shift_through(first)

    def _shift_through(self, ordinal: int) -> int:
        return self._shift[bisect_right(self._marks, ordinal)]

    def next_working_day(self, d: date) -> date:
        """``d`` itself when it is a working day, else the first working day after it."""
        d = _day(d)
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def deadline(self, start: date, n: int) -> Deadline:
        """The n-th working day after ``start`` (`add_working_days`), with the years the count needed but the
        calendar lacks (`unsettled_years`): the one way a legal deadline is counted, at the node and at central."""
        due_on = self.add_working_days(start, n)
        return Deadline(due_on, self.unsettled_years(start, due_on))

    def unsettled_years(self, start: date, end: date) -> tuple[int, ...]:
        """The coverage check of every count of working days over start < d ≤ end: the years whose arrangement
        the count needs and the calendar does not have, ascending; empty when the count is certain.

        A count needs the years of the days it runs through, and also the next year when it runs into the last
        days of December, because the next year's notice may move those days (a New Year holiday straddling
        the turn of the year, see `_PREVIOUS_DECEMBER_FROM`). Empty when ``end`` is not after ``start``.
        """
        first, last = _day(start, "start"), _day(end, "end")
        if last <= first:
            return ()
        years = range((first + _ONE_DAY).year, last.year + 1)
        needed = [*years, last.year + 1] if last >= date(last.year, 12, _PREVIOUS_DECEMBER_FROM) else years
        return tuple(year for year in needed if year not in self._covered)

    def missing_years(self, today: date) -> tuple[int, ...]:
        """The arrangements the county should hold on ``today`` and does not: this year's, and from 1 November
        (`NEXT_YEAR_EXPECTED_FROM`) next year's, when the calendar lacks them."""
        day = _day(today, "today")
        wanted = [day.year]
        if (day.month, day.day) >= NEXT_YEAR_EXPECTED_FROM:
            wanted.append(day.year + 1)
        return tuple(year for year in wanted if year not in self._covered)

    def uncovered_years(self, start: date, end: date) -> tuple[int, ...]:
        """The years from ``start``'s to ``end``'s (both included) the calendar has no arrangement for, ascending.

        Empty when ``end`` is before ``start``.
        """
        first, last = _day(start, "start").year, _day(end, "end").year
        return tuple(year for year in range(first, last + 1) if year not in self._covered)


def _check_issued_at(value: object) -> None:
    _check_text(value, "issued_at", max_len=40)
    assert isinstance(value, str)
    if not _ISSUED_AT.fullmatch(value):
        _fail("issued_at", "应为 UTC 时间，如 2026-11-01T00:00:00Z")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        _fail("issued_at", f"不是有效的日期时间：{value}")


# --- to and from JSON-compatible dicts ---------------------------------------------------------------------------

_T = TypeVar("_T")


class _Fields:
    """Typed reads from one JSON object; failures name the key (the caller adds the enclosing path)."""

    def __init__(self, raw: object, cls: type[Any]) -> None:
        if not isinstance(raw, Mapping):
            _fail("", "应为对象")
        known = tuple(f.name for f in dataclasses.fields(cls) if f.init)
        for key in raw:
            if key not in known:
                _fail(str(key), "未知字段")
        for key in known:
            if key not in raw:
                _fail(key, "缺少此字段")
        self._raw: Mapping[str, object] = raw

    def text(self, key: str) -> str:
        value = self._raw[key]
        if not isinstance(value, str):
            _fail(key, "应为文字")
        return value

    def integer(self, key: str) -> int:
        value = self._raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(key, "应为整数")
        return value

    def array(self, key: str) -> list[object]:
        value = self._raw[key]
        if not isinstance(value, list):
            _fail(key, "应为列表")
        return value

    def dates(self, key: str) -> tuple[date, ...]:
        days: list[date] = []
        for i, value in enumerate(self.array(key)):
            path = f"{key}[{i}]"
            if not isinstance(value, str):
                _fail(path, "应为日期文字，如 2026-02-15")
            if not _DATE.fullmatch(value):
                _fail(path, f"不是有效日期 {_quote(value)}（应写作 YYYY-MM-DD）")
            try:
                days.append(date.fromisoformat(value))
            except ValueError:
                _fail(path, f"不是有效日期 {_quote(value)}")
        return tuple(days)

    def objects(self, key: str, build: Callable[[object], _T]) -> tuple[_T, ...]:
        built: list[_T] = []
        for i, raw in enumerate(self.array(key)):
            try:
                built.append(build(raw))
            except CalendarError as exc:
                raise exc.within(f"{key}[{i}]") from None
        return tuple(built)


def _period_from_dict(raw: object) -> HolidayPeriod:
    f = _Fields(raw, HolidayPeriod)
    return HolidayPeriod(name=f.text("name"), days_off=f.dates("days_off"), workdays=f.dates("workdays"))


def _year_from_dict(raw: object) -> CalendarYear:
    f = _Fields(raw, CalendarYear)
    return CalendarYear(
        year=f.integer("year"), source=f.text("source"), holidays=f.objects("holidays", _period_from_dict)
    )


def calendar_from_dict(d: Mapping[str, object]) -> WorkingCalendar:
    """Build and validate a calendar from its JSON form; `CalendarError` (a `ValueError`) names the field."""
    f = _Fields(d, WorkingCalendar)
    return WorkingCalendar(
        version=f.integer("version"), issued_at=f.text("issued_at"), years=f.objects("years", _year_from_dict)
    )


def _period_to_dict(period: HolidayPeriod) -> dict[str, Any]:
    return {
        "name": period.name,
        "days_off": [day.isoformat() for day in period.days_off],
        "workdays": [day.isoformat() for day in period.workdays],
    }


def calendar_to_dict(c: WorkingCalendar) -> dict[str, Any]:
    """The calendar's JSON form (only dicts, lists, str, int); `calendar_from_dict` reverses it exactly."""
    return {
        "version": c.version,
        "issued_at": c.issued_at,
        "years": [
            {"year": y.year, "source": y.source, "holidays": [_period_to_dict(p) for p in y.holidays]}
            for y in c.years
        ],
    }
