"""The product's wall clock setting (``ONEWINDOW_CLOCK``): where "now" starts and how fast it runs.

Unset (the default), "now" is the machine's clock. Set, it reads ``ORIGIN@ANCHOR*RATE``: at the Unix time
``ANCHOR`` (seconds) the product's clock shows ``ORIGIN`` (ISO 8601 with an offset), and from then on it runs
``RATE`` times as fast as the machine's. `onewindow simulate` uses it to play a working day from 08:30 at 60×
— every process of the day given the same setting agrees on the time, and a process restarted mid-day picks up
where the others are. What it moves is the business clock every service asks for "now" (tickets, acceptance,
deadlines, the back office's days); sessions, signatures' ids and hybrid logical clocks stay on the machine's
clock, so a fast day does not end a clerk's login or reorder events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class ClockSetting:
    """A shifted, possibly faster, wall clock."""

    origin: datetime
    anchor: float
    rate: float = 1.0

    def now(self) -> datetime:
        """The product's time now (UTC)."""
        return (self.origin + timedelta(seconds=(time.time() - self.anchor) * self.rate)).astimezone(UTC)

    def text(self) -> str:
        """The setting as ``ONEWINDOW_CLOCK`` takes it."""
        return f"{self.origin.isoformat()}@{self.anchor:.6f}*{self.rate:g}"


def parse_clock(text: str) -> ClockSetting:
    """``ORIGIN@ANCHOR*RATE`` (``*RATE`` optional) as a setting; ValueError naming what is wrong."""
    origin_text, sep, rest = text.strip().partition("@")
    if not sep:
        raise ValueError("ONEWINDOW_CLOCK 应为 起点时间@Unix秒[*倍速]")
    anchor_text, _, rate_text = rest.partition("*")
    origin = datetime.fromisoformat(origin_text)
    if origin.tzinfo is None:
        raise ValueError("ONEWINDOW_CLOCK 的起点时间须带时区")
    rate = float(rate_text) if rate_text else 1.0
    if not 0 < rate <= 10_000:
        raise ValueError("ONEWINDOW_CLOCK 的倍速应在 0 到 10000 之间")
    return ClockSetting(origin=origin, anchor=float(anchor_text), rate=rate)


def system_now() -> datetime:
    """The machine's clock (UTC)."""
    return datetime.now(UTC)


def clock_from_setting(text: str) -> Callable[[], datetime]:
    """The "now" a process runs on: the machine's clock for an empty setting."""
    return parse_clock(text).now if text.strip() else system_now
