"""`onewindow simulate`: provision, start, play the day, settle it, account for everyone, write the report.

The day's figures come back as a dict (the JSON report); `simulate_day` is what the test suite calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path as FsPath
from statistics import mean, median
from typing import Any

from common.clock import ClockSetting
from protocol.calendar import calendar_from_dict
from simulate.day import Day, Faults, day_origin, next_working_day
from simulate.plan import OPEN_MIN, OUTCOMES, plan_day, planned_counts, windows_open
from simulate.report import write_report
from simulate.stage import County, provision, running

#: Real seconds central and the nodes get to start before the hall opens on the business clock (per node more).
STARTUP_S, STARTUP_PER_NODE_S = 20.0, 6.0
#: Real seconds the county gets to settle after the day (decisions, downloads, the courier) before it is a failure.
SETTLE_S = 240.0


@dataclass(frozen=True)
class Options:
    root: FsPath
    centres: int = 5
    applicants: int = 200
    seed: int = 2026
    speed: float = 120.0
    #: Faults of the day (False: a clean day for comparison).
    faults: bool = True


def fault_plan(centres: int, enabled: bool) -> Faults:
    if not enabled:
        return Faults(None, (0, 0), None, None, 0, None)
    return Faults(
        outage_centre=0,
        outage=(9 * 60 + 30, 12 * 60 + 30),  # three hours mid-morning
        courier_centre=1 if centres > 1 else None,
        kill_centre=2 if centres > 2 else 0,
        kill_at=13 * 60 + 45,
        central_restart_at=14 * 60 + 30,
    )


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return round(ordered[k], 2)


async def _play(options: Options) -> dict[str, Any]:
    started = time.monotonic()
    visits = plan_day(seed=options.seed, centres=options.centres, applicants=options.applicants)
    faults = fault_plan(options.centres, options.faults)
    windows = windows_open(options.centres, options.applicants)
    county = provision(options.root, centres=options.centres, windows=windows, clock="")
    calendar = calendar_from_dict(json.loads((county.county_dir / "calendar.json").read_text("utf-8")))
    today = datetime.now(UTC).astimezone().date()
    try:
        the_day = next_working_day(today, calendar.is_working_day)
    except Exception:  # a calendar that does not cover the coming days: the next weekday
        the_day = next_working_day(today, lambda d: d.weekday() < 5)
    # The business clock: 08:30 of the day comes STARTUP_S from now, then runs `speed` times as fast.
    anchor = time.time() + STARTUP_S + STARTUP_PER_NODE_S * options.centres
    setting = ClockSetting(origin=day_origin(the_day), anchor=anchor, rate=options.speed)
    county.clock = setting.text()
    provisioned = time.monotonic()
    links = {c.index: True for c in county.centres}
    if faults.courier_centre is not None:
        links[faults.courier_centre] = False  # no WAN at all
    with running(county, links=links):
        started_processes = time.monotonic()
        # The hall opens at 08:30 on the business clock, not before: whatever startup time is left is waited out,
        # so the faults and the arrivals keep their places in the day however slow the machine was to start.
        await asyncio.sleep(max(0.0, anchor - time.time()))
        day = Day(county, visits, clock=setting, day=the_day, faults=faults)
        try:
            return await _day(
                options, county, day, visits, windows, faults, started, provisioned, started_processes
            )
        finally:
            await day.close()


async def _day(
    options: Options,
    county: County,
    day: Day,
    visits: list[Any],
    windows: list[int],
    faults: Faults,
    started: float,
    provisioned: float,
    started_processes: float,
) -> dict[str, Any]:
    await day.prepare()
    watcher = asyncio.create_task(day.watch_central())
    reviewers = asyncio.create_task(day.reviewers())
    schedule = asyncio.create_task(day.fault_schedule())
    opened = time.monotonic()
    await asyncio.gather(*(c.run() for c in day.centres))
    closed_at = day.clock.minute()
    day.timeline.note(closed_at, "最后一位群众办结")
    hall = {}
    for centre in day.centres:
        hall[centre.centre.index] = await day.leads[centre.centre.index].json(
            "GET", "/api/v1/hall", params={"day": day.date.isoformat()}
        )
    followed = sum([await c.follow_ups() for c in day.centres])
    await schedule  # every fault of the day has come and gone (a quiet afternoon may close before the last)
    hall_done = time.monotonic()

    linked = [c.index for c in county.centres if c.index != faults.courier_centre]
    if faults.courier_centre is not None:
        await day.courier_round("下班")
    day.reviewing = False
    await asyncio.wait_for(reviewers, SETTLE_S)
    settled = await day.wait_for(lambda: day.decisions_back(linked), SETTLE_S)
    if faults.courier_centre is not None:
        await day.courier_round("次日")
        await day.decisions_back([faults.courier_centre])
    await day.issue_results()
    if faults.courier_centre is not None:
        await day.courier_round("出件后")
    drained = await day.wait_for(lambda: day.queues_empty(linked), SETTLE_S)
    await asyncio.sleep(2)  # the watcher's last look
    day.watching = False
    await watcher
    finished = time.monotonic()
    report = await _account(day, visits, windows, faults, hall)
    report["run"] = {
        "seed": options.seed,
        "centres": options.centres,
        "applicants": options.applicants,
        "speed": options.speed,
        "day": day.date.isoformat(),
        "clock": county.clock,
        "seconds": {
            "total": round(finished - started, 1),
            "provision": round(provisioned - started, 1),
            "start_processes": round(started_processes - provisioned, 1),
            "hall_day": round(hall_done - opened, 1),
            "settle": round(finished - hall_done, 1),
        },
        "hall_closed_at": _hhmm(closed_at),
        "settled": settled,
        "queues_drained": drained,
        "follow_ups": followed,
        "retries": sum(s.retries for c in day.centres for s in c.sessions),
        "root": str(county.root),
    }
    report["timeline"] = [{"at": _hhmm(m), "event": text} for m, text in day.timeline.events]
    report["courier"] = day.courier_rounds
    return report


def _hhmm(minute: float) -> str:
    """The day's time; a day that overruns midnight says so (次日 08:05)."""
    m = int(minute)
    text = f"{m % 1440 // 60:02d}:{m % 60:02d}"
    return f"次日 {text}" if m >= 1440 else text


def _central_status(outcome: str, denied: bool) -> tuple[str, ...]:
    """Where a case of this outcome should stand at central once the day is settled."""
    return {
        "accept": ("issued",),
        "mail": ("mailing",),  # the result handed to the logistics window to post
        "waiver": ("issued",),
        "on_spot": ("issued",),
        "correction": ("correction_requested",),
        "refuse": ("refused",),
    }[outcome]


async def _account(
    day: Day, visits: list[Any], windows: list[int], faults: Faults, hall: dict[int, Any]
) -> dict[str, Any]:
    """Every applicant's path, checked at central."""
    rows = {r["case_id"]: r for r in await day.central_cases(day.admin)}
    nodes = (await day.admin.json("GET", "/api/v1/nodes"))["nodes"]
    known = [p.case_id for p in day.paths if p.case_id]
    doubled = len(known) - len(set(known)) + sum(1 for cid in rows if cid not in set(known))
    lost, wrong, errors, unserved = [], [], [], []
    status_counts: dict[str, int] = {}
    outcome_at_central: dict[str, dict[str, int]] = {}
    paths = []
    for p in sorted(day.paths, key=lambda p: p.visit.key):
        v = p.visit
        row = rows.get(p.case_id) if p.case_id else None
        at_central = row["status"] if row else ""
        if v.has_case and p.called_at is None and not p.case_id and not v.by_mail:
            # Never called: the business day ended (the node's queue is the day's) before a window was free.
            unserved.append(v.key)
        elif v.has_case:
            if row is None:
                lost.append(v.key)
            elif at_central not in _central_status(v.outcome, v.denied):
                wrong.append(f"{v.key}: {v.outcome} → {at_central}")
            status_counts[at_central or "(缺失)"] = status_counts.get(at_central or "(缺失)", 0) + 1
            bucket = outcome_at_central.setdefault(v.outcome, {})
            bucket[at_central or "(缺失)"] = bucket.get(at_central or "(缺失)", 0) + 1
        if p.errors:
            errors.append({"applicant": v.key, "errors": p.errors})
        paths.append(
            {
                "applicant": v.key,
                "centre": v.centre,
                "arrival": _hhmm(v.arrival),
                "ticket": v.ticket,
                "ticket_number": p.ticket_number,
                "window": p.window,
                "wait_min": None if p.wait_min is None else round(p.wait_min, 1),
                "outcome": v.outcome,
                "item": v.item,
                "case_number": p.case_number,
                "at_window": p.status_at_window,
                "decision_at_window": p.decision_at_window,
                "issued": p.issued,
                "at_central": at_central,
                "rating": v.rating,
                "followed_up": p.followed_up,
            }
        )
    # Acceptance → visible at central (real seconds and the day's minutes).
    groups: dict[str, list[float]] = {"link_up": [], "after_outage": [], "courier": []}
    for p in day.paths:
        if p.accepted_real is None or p.case_id not in day.seen_at_central:
            continue
        delay = max(0.0, day.seen_at_central[p.case_id] - p.accepted_real)
        if p.visit.centre == faults.courier_centre:
            groups["courier"].append(delay)
        elif p.accepted_offline:
            groups["after_outage"].append(delay)
        else:
            groups["link_up"].append(delay)
    rate = day.clock.setting.rate
    latency = {
        name: {
            "n": len(values),
            "p50_s": percentile(values, 0.5),
            "p95_s": percentile(values, 0.95),
            "p50_business_min": None if not values else round(percentile(values, 0.5) * rate / 60, 1),  # type: ignore[operator]
            "p95_business_min": None if not values else round(percentile(values, 0.95) * rate / 60, 1),  # type: ignore[operator]
        }
        for name, values in groups.items()
    }
    centres = []
    for centre in day.centres:
        index = centre.centre.index
        own = [p for p in day.paths if p.visit.centre == index]
        waits = [p.wait_min for p in own if p.wait_min is not None]
        services = [p.service_min for p in own if p.service_min is not None]
        halves = [0] * 17
        for p in own:
            halves[min(16, int((p.visit.arrival - OPEN_MIN) // 30))] += 1
        h = hall[index]
        staffing = h["staffing"]
        centres.append(
            {
                "index": index,
                "name": centre.centre.name,
                "windows_open": windows[index],
                "arrivals": len(own),
                "arrivals_per_half_hour": halves,
                "wait_min": {
                    "mean": round(mean(waits), 1) if waits else None,
                    "p50": round(median(waits), 1) if waits else None,
                    "p95": percentile(waits, 0.95),
                    "max": round(max(waits), 1) if waits else None,
                },
                "service_min_mean": round(mean(services), 1) if services else None,
                "hall": h,
                "table1_acceptance": staffing["acceptance"],
                "table1_total": sum(
                    staffing[k]
                    for k in (
                        "guides",
                        "consult_offline",
                        "consult_online",
                        "acceptance",
                        "self_service",
                        "online",
                        "issuing",
                    )
                ),
                "understaffed": staffing["acceptance"] > windows[index],
                "role": (
                    "断网3小时"
                    if index == faults.outage_centre
                    else "无网络，信使同步"
                    if index == faults.courier_centre
                    else "节点被强行终止后重启"
                    if index == faults.kill_centre
                    else "正常"
                ),
            }
        )
    decided = [p for p in day.paths if p.case_id in day.decided]
    return {
        "counts": {
            "planned": planned_counts(visits),
            "applicants": len(day.paths),
            "cases_expected": sum(v.has_case for v in visits),
            "cases_at_central": len(rows),
            "lost": len(lost),
            "unserved": len(unserved),
            "doubled": doubled,
            "wrong_state": len(wrong),
            "quarantined": sum(int(n.get("quarantined", 0)) for n in nodes),
            "decided_at_central": len(day.decided),
            "decisions_back_at_window": sum(1 for p in decided if p.decision_at_window),
            "issued": sum(1 for p in day.paths if p.issued),
            "on_spot_issued": sum(1 for p in day.paths if p.issued and p.visit.outcome == "on_spot"),
            "bad_ratings": sum(1 for p in day.paths if p.visit.rating >= 4 and p.rating_id),
            "ratings": sum(1 for p in day.paths if p.rating_id),
            "by_outcome_at_central": {k: outcome_at_central.get(k, {}) for k in OUTCOMES if k != "consult"},
            "status_at_central": status_counts,
            "errors": len(errors),
            # Tickets printed by a node whose answer was lost when it was killed: called, nobody came (过号).
            "orphan_tickets": sum(c.orphan_tickets for c in day.centres),
        },
        "lost": lost,
        "unserved": unserved,
        "wrong_state": wrong[:50],
        "errors": errors[:50],
        "latency": latency,
        "centres": centres,
        "nodes": [
            {k: n.get(k) for k in ("name", "status", "up_seq", "quarantined", "last_contact_at")}
            for n in nodes
        ],
        "paths": paths,
    }


def simulate_day(options: Options) -> dict[str, Any]:
    """Play the day; returns the report (also written as JSON and HTML into ``options.root``)."""
    report = asyncio.run(_play(options))
    write_report(report, options.root)
    return report


def deterministic_counts(report: dict[str, Any]) -> dict[str, Any]:
    """The part of a report that must be the same for the same seed, whatever the machine's speed."""
    counts = report["counts"]
    return {
        k: counts[k]
        for k in (
            "planned",
            "applicants",
            "cases_expected",
            "cases_at_central",
            "lost",
            "doubled",
            "wrong_state",
            "quarantined",
            "decided_at_central",
            "decisions_back_at_window",
            "issued",
            "ratings",
            "bad_ratings",
            "by_outcome_at_central",
        )
    }
