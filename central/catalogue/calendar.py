"""The county's working-day calendar (工作日历: holidays and make-up days): published to every enrolled node
through its down log, and `onewindow central publish-calendar`, which validates a calendar file, keeps it as the
county's (new enrolment bundles carry it), publishes it and has every stored deadline counted again on it.
Also the calendar as central's pages and jobs read it (`county_calendar`), and the warning the county's pages
show while an arrangement it should hold is missing (`missing_calendar`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.db import open_database
from central.downlog import append_down
from central.keys import CountyKeys, load_county
from central.models import NodeRecord
from central.registry import import_registry
from central.settings import CentralSettings
from protocol.calendar import CalendarError, WorkingCalendar, calendar_from_dict, missing_calendar_warning
from protocol.keys import write_file_atomic

_calendars: dict[Path, tuple[float, WorkingCalendar]] = {}

#: Counts the stored deadlines again on a newly published calendar, in the publishing transaction; returns how
#: many it counted (the back office's `central.backoffice.jobs.recount_after_publish`, passed in by the command
#: line: the back office sits above this folder). Arguments: the session, the new calendar, the county directory.
Recount = Callable[[AsyncSession, WorkingCalendar, Path], Awaitable[int]]


def county_calendar(county_dir: Path) -> WorkingCalendar:
    """The county's calendar (``calendar.json`` in the county directory), read again when `publish-calendar`
    replaced the file."""
    path = county_dir / "calendar.json"
    mtime = path.stat().st_mtime
    cached = _calendars.get(path)
    if cached is None or cached[0] != mtime:
        cached = (mtime, calendar_from_dict(json.loads(path.read_text("utf-8"))))
        _calendars[path] = cached
    return cached[1]


def missing_calendar(county_dir: Path, today: date) -> str:
    """The warning for the fleet page and the county admin's home while the calendar lacks this year's
    arrangement, or from 1 November next year's (`WorkingCalendar.missing_years`); "" when it has them."""
    try:
        calendar = county_calendar(county_dir)
    except FileNotFoundError:  # a county directory from before calendars were distributed
        return "县目录中没有工作日历（calendar.json）：所有期限只能暂按周一至周五计算。请用 onewindow central publish-calendar 发布。"
    return missing_calendar_warning(calendar.missing_years(today))


async def publish_calendar(session: AsyncSession, county: CountyKeys, calendar: dict[str, Any]) -> int:
    """Send the county's working-day calendar down to every enrolled node; returns how many got it.

    Nodes apply a calendar only when its version is newer than theirs, so publishing twice is harmless."""
    calendar_from_dict(calendar)  # refuse a broken calendar before any node sees it
    nodes = (
        await session.exec(
            select(NodeRecord).where(col(NodeRecord.age_recipient).is_not(None)).with_for_update()
        )
    ).all()
    for node in nodes:
        await append_down(session, county, node, {"calendar": calendar}, kind="calendar")
    return len(nodes)


async def publish_command(args: argparse.Namespace, recount: Recount | None = None) -> int:
    """`onewindow central publish-calendar --file …`: check the file, publish it, count the stored deadlines
    again on it (`recount`, in the same transaction), keep it as the county's."""
    try:
        data = json.loads(args.file.read_text("utf-8"))
        calendar = calendar_from_dict(data)
    except (OSError, json.JSONDecodeError, CalendarError) as exc:
        print(f"日历文件有误：{exc}", file=sys.stderr)
        return 1
    settings = CentralSettings.from_env(
        os.environ, data_dir=args.data, county_dir=args.county_dir, database_url=args.database_url
    )
    db = open_database(settings)
    try:
        async with db.transaction() as session:
            await import_registry(session, settings.county_dir)
            sent = await publish_calendar(session, load_county(settings.county_dir), data)
            recounted = await recount(session, calendar, settings.county_dir) if recount else 0
    finally:
        await db.close()
    # New enrolment bundles carry the same calendar.
    write_file_atomic(
        settings.county_dir / "calendar.json",
        json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"),
    )
    years = "、".join(str(y.year) for y in calendar.years)
    print(
        f"工作日历第 {calendar.version} 版（{years}）已下发给 {sent} 个节点，已按新日历重算 {recounted} 件办件的期限"
    )
    return 0
