"""Central's time: its one hybrid logical clock, the clock-drift bound, China Standard Time and the timestamp
formats central writes.

Every event central authors takes its stamp from `CENTRAL_CLOCK` through `stamp_after`, so a decision, a routing
step, a parcel receipt and an archive confirmation all sort after the events they answer and never before each
other, and a node with a clock days fast cannot drag the county's clock into the future.

Two timestamp formats, kept apart on purpose because stored and compared strings depend on them:
- `iso(moment)`: seconds, ``Z`` — the times back-office steps state in their payloads (routed_at, decided_at of a
  department's decision, given_at …) and the rows of the back office;
- `utc_iso()`: milliseconds, ``+00:00`` — central's receipt and contact times (an up entry's ``received_at``, a
  node's last contact, a parcel receipt), compared with the times nodes state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

from common.clock import clock_from_setting
from protocol.hlc import HybridClock

#: China Standard Time: the calendar day a clerk or a department means.
CST = timezone(timedelta(hours=8), "CST")
#: Stamps further ahead of central's wall clock than this are not adopted by central's clock.
MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000
#: The one clock every central-authored event is stamped by.
CENTRAL_CLOCK = HybridClock()


def stamp_after(newest: int) -> int:
    """A stamp for a central event answering events whose newest stamp is `newest` (0: none known).

    The newest stamp is observed within the drift bound, and the stamp is after it all the same: a node with a
    fast clock cannot move the county's clock, yet the answer still sorts after what it answers."""
    if newest:
        CENTRAL_CLOCK.observe(newest, max_ahead_ms=MAX_CLOCK_AHEAD_MS)
    return max(CENTRAL_CLOCK.now(), newest + 1)


#: Where central's wall clock reads the time: the machine's clock unless ``ONEWINDOW_CLOCK`` says otherwise.
_WALL: list[Callable[[], datetime]] = [clock_from_setting("")]


def use_clock(setting: str) -> None:
    """Run central's wall clock on the ``ONEWINDOW_CLOCK`` setting (empty: the machine's clock). The clock is the
    process's, like `CENTRAL_CLOCK`: `create_app` sets it from the settings at start."""
    _WALL[0] = clock_from_setting(setting)


def utc_now() -> datetime:
    """Central's wall clock (UTC)."""
    return _WALL[0]()


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, to the second: the times back-office steps state."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_iso() -> str:
    """Now, UTC ISO 8601 to the millisecond: central's receipt and contact times."""
    return utc_now().isoformat(timespec="milliseconds")


def cst_date(moment: datetime) -> date:
    """The China-time calendar day of a moment."""
    return moment.astimezone(CST).date()


def cst_today() -> date:
    """Today in China time."""
    return cst_date(utc_now())


def local_date(stamp: str) -> date:
    """The China-time calendar day of an ISO 8601 timestamp (``…Z`` or with an offset), or of a bare date."""
    if len(stamp) == 10:
        return date.fromisoformat(stamp)
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)
    return moment.astimezone(CST).date()
