"""`onewindow central publish-calendar`: validate a calendar file, keep it as the county's, send it to nodes."""

from __future__ import annotations

import argparse
import json
import os
import sys

from central.backoffice import publish_calendar
from central.county import import_registry, load_county
from central.db import CentralDatabase, migrate
from central.settings import CentralSettings
from protocol.calendar import CalendarError, calendar_from_dict
from protocol.keys import write_file_atomic


async def publish(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.file.read_text("utf-8"))
        calendar = calendar_from_dict(data)
    except (OSError, json.JSONDecodeError, CalendarError) as exc:
        print(f"日历文件有误：{exc}", file=sys.stderr)
        return 1
    settings = CentralSettings.from_env(
        os.environ, data_dir=args.data, county_dir=args.county_dir, database_url=args.database_url
    )
    database_url = settings.resolved_database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(database_url)
    db = CentralDatabase(database_url)
    try:
        async with db.transaction() as session:
            await import_registry(session, settings.county_dir)
            sent = await publish_calendar(session, load_county(settings.county_dir), data)
    finally:
        await db.close()
    # New enrolment bundles carry the same calendar.
    write_file_atomic(
        settings.county_dir / "calendar.json",
        json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"),
    )
    years = "、".join(str(y.year) for y in calendar.years)
    print(f"工作日历第 {calendar.version} 版（{years}）已下发给 {sent} 个节点")
    return 0
