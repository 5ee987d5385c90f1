"""The clerk's home (今日): what waits at the window today — cases to accept (待受理), awaiting corrections
(待补正), owing waived materials (容缺待补齐), results arrived for issuing (待出件) — and the search a clerk
uses when someone walks in: by applicant name, by ID number, or by any part of the 办件编号.

An ID number is never stored in the case list: it is matched through its keyed hash (the node data key's HMAC,
`Case.applicant_id_hash`). Names are encrypted at rest, so a name search reads the newest cases' names (the
column decrypts them) and compares in Python; nothing typed in the search reaches a log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select

from node.models import Case
from node.runtime import CST, NodeRuntime
from node.trust.atrest import id_number_hash
from protocol.events import CORRECTION_REQUESTED, RECEIVED, RESULT_READY
from protocol.hlc import physical_ms

#: How many of the newest cases a name search reads (names are encrypted: no index can help).
NAME_SCAN = 5000
#: How many rows a list or a search shows.
LIMIT = 100
_ID_NUMBER = re.compile(r"^(\d{17}[\dX]|\d{15})$")
_NUMBER_PART = re.compile(r"^[0-9A-Z]{4,}$")


@dataclass(frozen=True)
class Today:
    """The four lists of the clerk's home, newest first."""

    received: list[Case]
    correction: list[Case]
    waiver: list[Case]
    results: list[Case]
    #: Results that arrived today (the alert at the top of the page).
    arrived_today: int


async def clerk_today(runtime: NodeRuntime) -> Today:
    """待受理, 待补正, 容缺待补齐 and 待出件 (results come back from the county)."""
    async with runtime.db.read() as session:
        open_cases = (
            await session.exec(
                select(Case)
                .where(
                    col(Case.status).in_([RECEIVED, CORRECTION_REQUESTED, *RESULT_READY])
                    | (col(Case.supply_by) != "")
                )
                .order_by(col(Case.received_at).desc())
            )
        ).all()
    today = runtime.today().isoformat()
    results = [c for c in open_cases if c.status in RESULT_READY]
    return Today(
        received=[c for c in open_cases if c.status == RECEIVED][:LIMIT],
        correction=[c for c in open_cases if c.status == CORRECTION_REQUESTED][:LIMIT],
        waiver=[c for c in open_cases if c.supply_by and c.status not in RESULT_READY][:LIMIT],
        results=results[:LIMIT],
        arrived_today=sum(1 for c in results if _day_of_hlc(c.last_hlc, runtime) == today),
    )


def _day_of_hlc(hlc: int, runtime: NodeRuntime) -> str:
    """The local day of a hybrid-clock time (its last step's wall time)."""
    return datetime.fromtimestamp(physical_ms(hlc) / 1000, UTC).astimezone(CST).date().isoformat()


async def search_cases(runtime: NodeRuntime, query: str) -> list[Case]:
    """Cases matching `query`: a whole ID number (through its keyed hash), any part of the 办件编号 (four or
    more letters and digits), or part of the applicant's name; newest first."""
    text = query.strip()
    if not text:
        return []
    upper = re.sub(r"\s+", "", text).upper()
    found: dict[str, Case] = {}
    async with runtime.db.read() as session:
        if _ID_NUMBER.fullmatch(upper):
            digest = id_number_hash(upper, runtime.identity.data_key)
            for case in (await session.exec(select(Case).where(Case.applicant_id_hash == digest))).all():
                found[case.case_id] = case
        if _NUMBER_PART.fullmatch(upper):
            escaped = upper.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = await session.exec(
                select(Case).where(col(Case.case_number).like(f"%{escaped}%", escape="\\")).limit(LIMIT)
            )
            for case in rows.all():
                found[case.case_id] = case
        if not any(ch.isdigit() for ch in text):
            newest = await session.exec(select(Case).order_by(col(Case.received_at).desc()).limit(NAME_SCAN))
            for case in newest.all():
                if text in case.applicant_name:
                    found[case.case_id] = case
    return sorted(found.values(), key=lambda c: c.received_at, reverse=True)[:LIMIT]
