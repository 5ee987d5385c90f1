"""Supervision rules on hand-made event histories: each kind of finding, and none on the same history in order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from central.backoffice.deadlines import load_calendar
from central.backoffice.supervision import case_findings
from protocol.calendar import WorkingCalendar
from protocol.events import (
    CASE_ACCEPTED,
    CASE_CLOCK_PAUSED,
    CASE_CLOCK_RESUMED,
    CASE_DECIDED,
    CASE_ISSUED,
    CASE_LICENCE_ISSUED,
    CASE_OPINION_GIVEN,
    CASE_RECEIVED,
    CASE_ROUTED,
    Event,
    fold,
)
from protocol.hlc import pack

COUNTY_DATA = Path(__file__).resolve().parents[3] / "provisioning" / "data"
CASE = "01a23500-0000-7000-8000-000000000001"
LEAD, PARTNER = "11220581MB0155125F", "11220581MB1984136E"
MEMBERS = {"town_a": LEAD, "farm_a": PARTNER}


@pytest.fixture
def calendar(tmp_path: Path) -> WorkingCalendar:
    (tmp_path / "calendar.json").write_bytes((COUNTY_DATA / "holiday_calendar.json").read_bytes())
    return load_calendar(tmp_path)


def _at(day: str, hour: int = 2) -> int:
    moment = datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=UTC)
    return pack(int(moment.timestamp() * 1000), 0)


def history(*steps: tuple[str, str, str, dict[str, Any]]) -> list[Event]:
    """(type, day, actor, payload) → events, ids in order."""
    return [
        Event(f"01a23500-0000-7000-8000-{n:012d}", CASE, type, "node-1", actor, _at(day) + n, payload)
        for n, (type, day, actor, payload) in enumerate(steps, start=100)
    ]


RECEIVED = (
    CASE_RECEIVED,
    "2026-11-02",
    "clerk",
    {
        "case_number": "N1",
        "item_code": "X",
        "applicant": {"name": "李四"},
        "received_at": "2026-11-02T01:00:00Z",
    },
)
ACCEPTED = (
    CASE_ACCEPTED,
    "2026-11-02",
    "clerk",
    {"accepted_at": "2026-11-02T01:30:00Z", "promised_days": 15, "promised_date": "2026-11-23"},
)
ROUTED = (
    CASE_ROUTED,
    "2026-11-02",
    "system",
    {"departments": [{"code": LEAD, "name": "镇"}, {"code": PARTNER, "name": "局"}], "joint": True,
     "routed_at": "2026-11-02T02:00:00Z"},
)  # fmt: skip
OPINION = (
    CASE_OPINION_GIVEN,
    "2026-11-04",
    "farm_a",
    {"department": PARTNER, "agree": True, "given_at": "2026-11-04T02:00:00Z"},
)
PAUSED = (
    CASE_CLOCK_PAUSED,
    "2026-11-05",
    "farm_a",
    {"pause_id": "p1", "kind": "survey", "started_at": "2026-11-05T02:00:00Z"},
)
RESUMED = (CASE_CLOCK_RESUMED, "2026-11-06", "farm_a", {"pause_id": "p1", "ended_at": "2026-11-06T02:00:00Z"})
DECIDED = (
    CASE_DECIDED,
    "2026-11-09",
    "town_a",
    {"outcome": "approve", "reason": "", "department": "镇", "decided_at": "2026-11-09T02:00:00Z"},
)
LICENCE = (CASE_LICENCE_ISSUED, "2026-11-09", "town_a", {"identifier": "1.2.156.3005.2.X"})
ISSUED = (CASE_ISSUED, "2026-11-10", "clerk", {"issued_at": "2026-11-10T02:00:00Z", "receipt_no": "LQ1"})


def kinds(events: list[Event], calendar: WorkingCalendar, today: str = "2026-11-10") -> list[tuple[str, str]]:
    found = case_findings(
        fold(CASE, events),
        events,
        calendar=calendar,
        today=date.fromisoformat(today),
        members=MEMBERS,
        catalogue=None,
    )
    return [(f.kind, f.detail) for f in found]


def test_a_case_handled_in_order_has_no_finding(calendar: WorkingCalendar) -> None:
    events = history(RECEIVED, ACCEPTED, ROUTED, OPINION, PAUSED, RESUMED, DECIDED, LICENCE, ISSUED)
    assert kinds(events, calendar) == []


def test_decision_while_paused_and_before_the_partner_opinion(calendar: WorkingCalendar) -> None:
    events = history(RECEIVED, ACCEPTED, ROUTED, PAUSED, DECIDED)
    assert [k for k, _ in kinds(events, calendar)] == ["out_of_order", "out_of_order"]
    details = " ".join(d for _, d in kinds(events, calendar))
    assert "计时暂停" in details and "联办部门意见未齐" in details


def test_licence_and_issue_before_the_decision(calendar: WorkingCalendar) -> None:
    early = [(type, "2026-11-05", actor, payload) for type, _, actor, payload in (LICENCE, ISSUED)]
    events = history(RECEIVED, ACCEPTED, ROUTED, OPINION, *early, DECIDED)
    assert [d for _, d in kinds(events, calendar)] == ["电子证照早于办理决定", "窗口出件早于办理决定"]


def test_a_decision_by_a_partner_department_is_over_authority(calendar: WorkingCalendar) -> None:
    by_partner = (DECIDED[0], DECIDED[1], "farm_a", DECIDED[3])
    events = history(RECEIVED, ACCEPTED, ROUTED, OPINION, by_partner)
    assert kinds(events, calendar) == [("over_authority", "决定人 farm_a 不属于牵头部门")]


def test_stuck_after_ten_idle_working_days_and_overdue_after_the_due_date(calendar: WorkingCalendar) -> None:
    events = history(RECEIVED, ACCEPTED, ROUTED, OPINION)
    assert kinds(events, calendar, today="2026-11-17") == []  # 9 working days idle since 4 Nov
    assert [k for k, _ in kinds(events, calendar, today="2026-11-18")] == ["stuck"]
    assert sorted(k for k, _ in kinds(events, calendar, today="2026-11-24")) == ["overdue", "stuck"]
