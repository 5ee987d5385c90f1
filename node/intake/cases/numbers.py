"""Numbers a node issues offline without ever colliding with another node's (R-ACC-7).

Two kinds, each from a range this node alone owns, derived from the node number the county assigned at
enrolment (1–99, unique in the county):

- 办件编号 (case number): implementation code (31) + ``yyyymmdd`` + a 4-digit serial per item and day. The node
  owns serials ``NN01``–``NN99`` where ``NN`` is its number, so two nodes on the same day and item never meet.
- 文书编号 (notice number), e.g. ``红梅便民受字〔2026〕第10001号``: a serial per notice kind and year. The node owns
  serials ``N×10000+1`` … ``N×10000+9999`` of each year, so even with one shared prefix the numbers are unique.

Counters live in the node's database and advance inside the caller's write transaction, so a number is used
exactly when the event that carries it is stored: never handed out twice, never skipped by a crash.
"""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from node.models import Counter
from protocol.errors import NUMBER_RANGE_EXHAUSTED, OneWindowError

CASE_SERIALS_PER_DAY = 99
NOTICE_SERIALS_PER_YEAR = 9999

#: The 字 of each notice kind's document number (文号): 受 = 受理, 补 = 补正 (一次性告知), …
NOTICE_KIND_MARKS = {
    "receipt": "收",
    "acceptance": "受",
    "waiver_notice": "容",
    "waiver_commitment": "诺",
    "correction": "补",
    "refusal": "不受",
    "pickup": "领",
    "result": "结",  # 办理结果文书 of a 即办件 decided on the spot
}


def notice_serial_range(node_number: int) -> range:
    """The serials of each notice kind and year that belong to this node."""
    if not 1 <= node_number <= 99:
        raise ValueError(f"node number must be 1..99, got {node_number}")
    base = node_number * 10000
    return range(base + 1, base + NOTICE_SERIALS_PER_YEAR + 1)


def case_serial_range(node_number: int) -> range:
    """The daily serials (per item) of case numbers that belong to this node."""
    if not 1 <= node_number <= 99:
        raise ValueError(f"node number must be 1..99, got {node_number}")
    base = node_number * 100
    return range(base + 1, base + CASE_SERIALS_PER_DAY + 1)


async def _advance(session: AsyncSession, name: str, limit: int) -> int:
    counter = await session.get(Counter, name)
    if counter is None:
        counter = Counter(name=name, value=0)
    if counter.value >= limit:
        raise OneWindowError(
            NUMBER_RANGE_EXHAUSTED, f"编号段已用完（{name}，共{limit}个）", field="number", counter=name
        )
    counter.value += 1
    session.add(counter)
    await session.flush()
    return counter.value


async def next_case_number(session: AsyncSession, *, node_number: int, item_code: str, day: date) -> str:
    """The next 办件编号 for this item today (inside the caller's write transaction)."""
    serials = case_serial_range(node_number)
    k = await _advance(session, f"case:{item_code}:{day:%Y%m%d}", len(serials))
    return f"{item_code}{day:%Y%m%d}{serials[k - 1]:04d}"


async def next_notice_number(
    session: AsyncSession, *, node_number: int, prefix: str, kind: str, year: int
) -> str:
    """The next document number of this kind this year, e.g. 红梅便民受字〔2026〕第10001号."""
    mark = NOTICE_KIND_MARKS[kind]
    serials = notice_serial_range(node_number)
    k = await _advance(session, f"notice:{kind}:{year}", len(serials))
    return f"{prefix}便民{mark}字〔{year}〕第{serials[k - 1]}号"
