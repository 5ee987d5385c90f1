"""The back office's background jobs (后台任务): routing accepted cases to their departments and refreshing the
clocks of routed cases (warnings and alerts), one round at a time, each step in its own transaction. Every
central process runs them (``ONEWINDOW_BACKOFFICE_JOBS_S``); the jobs claim their rows with ``SKIP LOCKED`` so
two processes never do the same work. Also the county's working-day calendar as the jobs and pages read it."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from central.backoffice.clocks import recount_clocks, refresh_clocks
from central.backoffice.routing import route_pending, unrouted_count
from central.catalogue.calendar import county_calendar
from central.catalogue.service import newest_catalogue
from central.clock import utc_now
from central.runtime import Central
from common.logs import log_event
from protocol.calendar import WorkingCalendar
from protocol.catalogue import catalogue_from_dict

_LOG = logging.getLogger("onewindow.central.jobs")

#: How often each central process runs the routing and deadline jobs (seconds).
JOBS_INTERVAL_S = 60.0


def calendar_of(county_dir: Path) -> WorkingCalendar:
    """The county's calendar, re-read when `onewindow central publish-calendar` replaced the file."""
    return county_calendar(county_dir)


async def recount_after_publish(session: AsyncSession, calendar: WorkingCalendar, county_dir: Path) -> int:
    """`publish-calendar`'s recount (`central.catalogue.calendar.Recount`): every stored clock counted again on
    the new calendar, with the newest catalogue version central issued."""
    fallback = catalogue_from_dict(json.loads((county_dir / "catalogue.json").read_text("utf-8")))
    catalogue = await newest_catalogue(session, fallback)
    return await recount_clocks(session, calendar, catalogue=catalogue, now=utc_now())


async def run_jobs(central: Central, *, now: datetime, instance: str) -> dict[str, int]:
    """One round of the background jobs, each in its own transaction; one log line says what it did."""
    started = time.perf_counter()
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
    outcome = {"routed": routed, "refreshed": refreshed, "unrouted": pending}
    log_event(
        _LOG,
        "jobs_run",
        level=logging.INFO if routed or refreshed else logging.DEBUG,  # an idle round every minute: debug
        instance=instance,
        **outcome,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return outcome
