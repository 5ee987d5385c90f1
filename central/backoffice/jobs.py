"""The back office's background jobs (后台任务): routing accepted cases to their departments and refreshing the
clocks of routed cases (warnings and alerts), one round at a time, each step in its own transaction. Every
central process runs them (``ONEWINDOW_BACKOFFICE_JOBS_S``); the jobs claim their rows with ``SKIP LOCKED`` so
two processes never do the same work. Also the county's working-day calendar as the jobs and pages read it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from central.backoffice.clocks import refresh_clocks
from central.backoffice.deadlines import load_calendar
from central.backoffice.routing import route_pending, unrouted_count
from central.catalogue.service import newest_catalogue
from central.runtime import Central
from protocol.calendar import WorkingCalendar

#: How often each central process runs the routing and deadline jobs (seconds).
JOBS_INTERVAL_S = 60.0
_calendars: dict[Path, tuple[float, WorkingCalendar]] = {}


def calendar_of(county_dir: Path) -> WorkingCalendar:
    """The county's calendar, re-read when `onewindow central publish-calendar` replaced the file."""
    path = county_dir / "calendar.json"
    mtime = path.stat().st_mtime
    cached = _calendars.get(path)
    if cached is None or cached[0] != mtime:
        cached = (mtime, load_calendar(county_dir))
        _calendars[path] = cached
    return cached[1]


async def run_jobs(central: Central, *, now: datetime, instance: str) -> dict[str, int]:
    """One round of the background jobs, each in its own transaction."""
    calendar = calendar_of(central.settings.county_dir)
    async with central.db.transaction() as session:  # a version the other process issued
        central.catalogue = await newest_catalogue(session, central.catalogue)
    async with central.db.transaction() as session:
        routed = await route_pending(
            session,
            central.county,
            catalogue=central.catalogue,
            calendar=calendar,
            now=now,
            instance=instance,
        )
    async with central.db.transaction() as session:
        refreshed = await refresh_clocks(
            session, calendar=calendar, catalogue=central.catalogue, now=now, instance=instance
        )
    async with central.db.transaction() as session:
        pending = await unrouted_count(session)
    return {"routed": routed, "refreshed": refreshed, "unrouted": pending}
