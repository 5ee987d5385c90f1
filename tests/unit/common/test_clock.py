"""The business clock setting (``ONEWINDOW_CLOCK``): where the day starts and how fast it runs, read the same way
by every process given it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from common.clock import ClockSetting, clock_from_setting, parse_clock

CST = timezone(timedelta(hours=8))


def test_a_setting_starts_the_day_at_its_origin_and_runs_at_its_rate() -> None:
    origin = datetime(2026, 12, 7, 8, 30, tzinfo=CST)
    anchor = time.time() - 10  # ten real seconds ago
    setting = parse_clock(ClockSetting(origin, anchor, 60).text())
    assert (setting.origin, setting.rate) == (origin, 60)
    elapsed = setting.now() - origin.astimezone(UTC)
    assert timedelta(minutes=9, seconds=59) < elapsed < timedelta(minutes=10, seconds=30)  # 10 s × 60
    assert setting.now().tzinfo == UTC


def test_an_empty_setting_is_the_machine_clock_and_a_bad_one_is_refused() -> None:
    assert abs((clock_from_setting("")() - datetime.now(UTC)).total_seconds()) < 1
    for bad in ("2026-12-07T08:30:00+08:00", "2026-12-07T08:30:00@1", "2026-12-07T08:30:00+08:00@1*0", "x@y"):
        with pytest.raises(ValueError):
            parse_clock(bad)
    assert parse_clock("2026-12-07T08:30:00+08:00@100").rate == 1.0
