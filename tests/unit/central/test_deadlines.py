"""Back-office deadlines on the county calendar: pauses, extension, warnings and overdue, from a case's fold."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from central.backoffice.deadlines import WARNING_DAYS, case_clock, load_calendar
from central.clock import local_date
from protocol.calendar import WorkingCalendar
from protocol.events import ACCEPTED, APPROVED, CaseState, Decision

COUNTY_DATA = Path(__file__).resolve().parents[3] / "provisioning" / "data"


@pytest.fixture
def calendar(tmp_path: Path) -> WorkingCalendar:
    (tmp_path / "calendar.json").write_bytes((COUNTY_DATA / "holiday_calendar.json").read_bytes())
    return load_calendar(tmp_path)


def accepted(on: str = "2026-09-22T01:30:00Z", days: int = 15) -> CaseState:
    return CaseState(case_id="c", status=ACCEPTED, accepted_at=on, promised_days=days)


def test_acceptance_late_in_the_evening_counts_from_the_china_date() -> None:
    assert local_date("2026-09-22T16:30:00Z") == date(2026, 9, 23)  # 00:30 in Beijing
    assert local_date("2026-09-22") == date(2026, 9, 22)


def test_the_holiday_week_and_the_make_up_saturday(calendar: WorkingCalendar) -> None:
    clock = case_clock(accepted(), calendar, today=date(2026, 9, 22))
    assert clock is not None
    assert (clock.due_on, clock.level, clock.remaining_days) == (date(2026, 10, 20), "ok", 15)


def test_an_open_pause_keeps_moving_the_due_date(calendar: WorkingCalendar) -> None:
    pause = {
        "pause_id": "p",
        "kind": "survey",
        "reason": "踏勘",
        "started_at": "2026-10-12T02:00:00Z",
        "ended_at": "",
    }
    state = replace(accepted(), pauses=(pause,))
    on_14th = case_clock(state, calendar, today=date(2026, 10, 14))
    on_16th = case_clock(state, calendar, today=date(2026, 10, 16))
    assert on_14th is not None and on_16th is not None
    assert (on_14th.paused_days, on_14th.level) == (2, "paused")
    assert on_16th.due_on == calendar.add_working_days(on_14th.due_on, 2)


def test_warnings_then_due_then_overdue_even_on_a_day_off(calendar: WorkingCalendar) -> None:
    levels = {
        day: case_clock(accepted(), calendar, today=date.fromisoformat(day)).level  # type: ignore[union-attr]
        for day in ("2026-10-14", "2026-10-15", "2026-10-20", "2026-10-21", "2026-10-24")
    }
    assert WARNING_DAYS == 3
    assert levels == {
        "2026-10-14": "ok",  # 4 working days left
        "2026-10-15": "warning",
        "2026-10-20": "due",
        "2026-10-21": "overdue",
        "2026-10-24": "overdue",  # a Saturday
    }


def test_a_late_decision_stays_late_and_an_extension_moves_the_date(calendar: WorkingCalendar) -> None:
    decided = Decision("approve", "", "民政局", "r", "2026-10-22T02:00:00Z")
    late = case_clock(
        replace(accepted(), status=APPROVED, decision=decided), calendar, today=date(2026, 12, 1)
    )
    assert late is not None and (late.level, late.remaining_days) == ("overdue", -2)
    extension = {"days": 10, "reason": "r", "approved_by": "h", "approved_at": "2026-10-19T00:00:00Z"}
    extended = case_clock(
        replace(accepted(), status=APPROVED, decision=decided, extension=extension),
        calendar,
        today=date(2026, 12, 1),
    )
    assert extended is not None and extended.level == "done"
    assert extended.due_on == calendar.add_working_days(date(2026, 9, 22), 25)


def test_no_clock_before_acceptance(calendar: WorkingCalendar) -> None:
    assert case_clock(CaseState(case_id="c", status="received"), calendar, today=date(2026, 9, 22)) is None
