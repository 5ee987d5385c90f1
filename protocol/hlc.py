"""Hybrid logical clock (HLC): event stamps that order causally even when a node's wall clock is wrong.

A stamp is one 64-bit integer, ``physical_ms << 16 | logical``, so it sorts and stores as a plain number.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1


def pack(physical_ms: int, logical: int) -> int:
    """Stamp from its parts."""
    if logical > LOGICAL_MASK:
        raise OverflowError("HLC logical counter overflow")
    return physical_ms << LOGICAL_BITS | logical


def physical_ms(stamp: int) -> int:
    """Milliseconds since the epoch carried by a stamp."""
    return stamp >> LOGICAL_BITS


def to_datetime(stamp: int) -> datetime:
    """The wall time a stamp carries (UTC)."""
    return datetime.fromtimestamp(physical_ms(stamp) / 1000, tz=UTC)


def wall_ms() -> int:
    """The machine's wall clock in milliseconds."""
    return time.time_ns() // 1_000_000


class HybridClock:
    """Issues strictly increasing stamps; `observe` merges a stamp received from elsewhere."""

    def __init__(self, *, now_ms: Callable[[], int] = wall_ms, last: int = 0) -> None:
        self._now_ms = now_ms
        self._last = last
        self._lock = threading.Lock()

    @property
    def last(self) -> int:
        return self._last

    def now(self) -> int:
        """A new stamp, greater than every stamp issued or observed before."""
        with self._lock:
            wall = self._now_ms()
            last_ms, last_logical = physical_ms(self._last), self._last & LOGICAL_MASK
            stamp = pack(wall, 0) if wall > last_ms else pack(last_ms, last_logical + 1)
            self._last = stamp
            return stamp

    def observe(self, remote: int, *, max_ahead_ms: int | None = None) -> int:
        """Merge a remote stamp so that later local stamps sort after it.

        With `max_ahead_ms`, a stamp further than that ahead of this machine's wall clock is refused (not
        merged): one peer with a clock days fast must not drag every later stamp into the future."""
        with self._lock:
            if max_ahead_ms is not None and physical_ms(remote) > self._now_ms() + max_ahead_ms:
                return self._last
            self._last = max(self._last, remote)
            return self._last


def local_display(iso_utc: str, *, offset_hours: int = 8, seconds: bool = False) -> str:
    """An ISO-8601 UTC time as a clerk reads it: China Standard Time, ``YYYY-MM-DD HH:MM``."""
    from datetime import timedelta, timezone

    if not iso_utc:
        return "—"
    try:
        moment = datetime.fromisoformat(iso_utc)
    except ValueError:
        return iso_utc
    local = moment.astimezone(timezone(timedelta(hours=offset_hours)))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
