"""Back-office deadlines (办理时限): the promised and statutory limits of an accepted case, in working days on
the county's holiday calendar, less the steps that stop the clock, plus an approved extension.

Pure functions over a case's fold: no database, no wall clock (the caller passes ``today``), so the same
answer comes out in a test with a fake clock, on the supervision page and in the deadline job.

Rules (行政许可法 art. 42, 45, 82; DB22/T 2871.2 §7.2):
- the limit runs from the day of acceptance, which itself is not counted (the node's promised date uses the
  same rule: ``add_working_days(accepted_on, promised_days)``);
- a pause (补正, hearing 听证, site survey 踏勘, expert review 专家评审) stops the clock: the working days d with
  start < d ≤ end are not counted (an open pause runs to today);
- one extension, +10 working days (+15 for a joint case), only with the department head's approval and a reason;
- a warning (临期) when the due date is at most `WARNING_DAYS` working days away, an alert (超期) after it;
- a due date counted through a year the calendar does not cover is provisional (`WorkingCalendar.deadline`, the
  same coverage check as the node's): the clock says so and the pages print its warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from central.clock import local_date
from protocol.calendar import Deadline, WorkingCalendar, calendar_from_dict, provisional_warning
from protocol.catalogue import CatalogueItem
from protocol.events import ACCEPTED, CaseState

#: A warning is raised this many working days (or fewer) before the due date.
WARNING_DAYS = 3
#: Extension (延期) of a plain and of a joint (联办) case, art. 42.
EXTENSION_DAYS = 10
JOINT_EXTENSION_DAYS = 15
#: The steps that stop the clock, with their labels.
PAUSE_KINDS = {
    "correction": "补正",
    "hearing": "听证",
    "survey": "现场踏勘",
    "expert_review": "专家评审",
    "testing": "检验检测",
}
LEVEL_LABELS = {
    "ok": "正常",
    "warning": "临期预警",
    "due": "今日到期",
    "overdue": "已超期",
    "paused": "计时暂停",
    "done": "已办结",
}


def load_calendar(county_dir: Path) -> WorkingCalendar:
    """The county's working-day calendar as published (``calendar.json`` in the county directory)."""
    return calendar_from_dict(json.loads((county_dir / "calendar.json").read_text("utf-8")))


@dataclass(frozen=True, slots=True)
class CaseClock:
    """Where an accepted case stands against its limits on ``today``."""

    accepted_on: date
    promised_days: int
    statutory_days: int
    paused_days: int
    extension_days: int
    due_on: date
    statutory_due_on: date
    remaining_days: int  # working days from today to the due date; negative once overdue
    level: str  # see LEVEL_LABELS
    paused: bool
    #: Years the due dates were counted through without their holiday arrangement: the dates are provisional.
    uncovered: tuple[int, ...] = ()

    @property
    def provisional(self) -> bool:
        return bool(self.uncovered)

    @property
    def warning(self) -> str:
        """「2027 年节假日安排未发布，期限为暂定」 while the due dates are provisional, else ""."""
        return provisional_warning(self.uncovered)

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS[self.level]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted_on": self.accepted_on.isoformat(),
            "promised_days": self.promised_days,
            "statutory_days": self.statutory_days,
            "paused_days": self.paused_days,
            "extension_days": self.extension_days,
            "due_on": self.due_on.isoformat(),
            "statutory_due_on": self.statutory_due_on.isoformat(),
            "remaining_days": self.remaining_days,
            "level": self.level,
            "level_label": self.level_label,
            "paused": self.paused,
            "provisional": self.provisional,
            "warning": self.warning,
        }


def promised_deadline(state: CaseState, calendar: WorkingCalendar) -> Deadline | None:
    """The promised completion date as the acceptance notice counts it (acceptance + promised days), on the
    calendar in hand: the notice's own date unless that was provisional and the year has since been published.
    None for a case not accepted or a 即办件."""
    if not state.accepted_at or not state.promised_days:
        return None
    return calendar.deadline(local_date(state.accepted_at), state.promised_days)


def stored_due_warning(calendar: WorkingCalendar, accepted_at: str, due_on: str) -> str:
    """The provisional warning of a stored due date (the queue's rows), by the same coverage check as
    `case_clock`; "" when the date is certain or there is none."""
    if not accepted_at or not due_on:
        return ""
    return provisional_warning(calendar.unsettled_years(local_date(accepted_at), date.fromisoformat(due_on)))


def paused_working_days(state: CaseState, calendar: WorkingCalendar, today: date) -> int:
    """Working days the pauses took out of the clock; an open pause counts up to today."""
    total = 0
    for pause in state.pauses:
        start = local_date(str(pause["started_at"]))
        end = local_date(str(pause["ended_at"])) if pause.get("ended_at") else today
        total += calendar.working_days_between(start, end)
    return total


def case_clock(
    state: CaseState,
    calendar: WorkingCalendar,
    *,
    today: date,
    item: CatalogueItem | None = None,
) -> CaseClock | None:
    """The case's clock on ``today``; None for a case never accepted (no back-office limit runs yet).

    The promised limit is the one the acceptance notice stated (the case keeps the catalogue version it was
    accepted under); the statutory one comes from the item when known, else equals the promised one.
    """
    if not state.accepted_at:
        return None
    accepted_on = local_date(state.accepted_at)
    promised = state.promised_days or (item.promised_limit_days if item else 0)
    statutory = item.statutory_limit_days if item else promised
    paused = paused_working_days(state, calendar, today)
    extension = int(state.extension["days"]) if state.extension else 0
    due = calendar.deadline(accepted_on, promised + paused + extension)
    statutory_due = calendar.deadline(accepted_on, statutory + paused + extension)
    due_on, statutory_due_on = due.due_on, statutory_due.due_on
    # The day the case was finished, when it is: a late decision stays late.
    finished_on = local_date(state.decision.decided_at) if state.decision else None
    on = finished_on or today
    if on > due_on:
        remaining = -calendar.working_days_between(due_on, on)
        if remaining == 0:  # past the due date on a day off: overdue all the same
            remaining = -1
    else:
        remaining = calendar.working_days_between(on, due_on)
    open_pause = state.open_pause is not None
    if finished_on is not None or state.status != ACCEPTED:
        level = "overdue" if remaining < 0 else "done"
    elif remaining < 0:
        level = "overdue"
    elif open_pause:
        level = "paused"
    elif on == due_on:
        level = "due"
    elif remaining <= WARNING_DAYS:
        level = "warning"
    else:
        level = "ok"
    return CaseClock(
        accepted_on=accepted_on,
        promised_days=promised,
        statutory_days=statutory,
        paused_days=paused,
        extension_days=extension,
        due_on=due_on,
        statutory_due_on=statutory_due_on,
        remaining_days=remaining,
        level=level,
        paused=open_pause,
        uncovered=tuple(sorted({*due.uncovered, *statutory_due.uncovered})),
    )
