"""Tickets and calling (排队叫号, R-HALL-1; Zhejiang §5.4.2): take a ticket by business category, call it to a
window, serve it, and link it to the case it starts.

Numbers: the category letter and a 3-digit serial per category and local (CST) day (``A001``), gap-free because
the serial advances in the same write transaction that stores the ticket; the next day starts at 001 again.

Order of calling (`call_next`), among today's waiting tickets of the window's categories:

1. Priority tickets (老年人, 残疾人, 军人, 绿色通道 — any class, no class above another) before all others.
2. Then by place in the queue (``queue_at``), earliest first. An ordinary ticket's place is its issue time. An
   appointment ticket's place is its slot start, so it is served before every ordinary ticket taken after the
   slot began and after those taken before it; an appointment that arrives more than `APPOINTMENT_GRACE` after
   its slot has lost it and queues from its arrival like anyone else. A transferred ticket keeps its place.
3. Ties go to appointment tickets, then to the lower number.

A window has at most one open ticket (called or serving): the clerk finishes, marks missed or transfers it before
calling the next. A missed ticket (过号) is never called again; the person takes a new ticket.

An ID number (ticket by ID-card swipe) is only kept as its SHA-256 hex digest. With it, one person cannot hold two
active (waiting or called) tickets in one category, and a booked appointment for today in that category is
checked in by the swipe. The board (`board_state`) carries numbers, windows and counts only — no personal data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from node.intake.hall.models import Appointment, Ticket, TicketCategory
from node.models import Counter
from node.runtime import CST, NodeRuntime
from node.trust.atrest import id_number_hash
from protocol.catalogue import CatalogueItem
from protocol.errors import (
    ID_NUMBER_INVALID,
    INVALID_TRANSITION,
    NOT_FOUND,
    NUMBER_RANGE_EXHAUSTED,
    REQUIRED_FIELD,
    UNKNOWN_ITEM,
    VALIDATION,
    OneWindowError,
)
from protocol.identifiers import parse_resident_id
from protocol.ids import uuid7

WAITING, CALLED, SERVING, DONE, MISSED, TRANSFERRED = (
    "waiting",
    "called",
    "serving",
    "done",
    "missed",
    "transferred",
)
STATUS_LABELS = {
    WAITING: "等候中",
    CALLED: "已叫号",
    SERVING: "办理中",
    DONE: "已办结",
    MISSED: "已过号",
    TRANSFERRED: "已转号",
}
#: Tickets a person still holds: a second one in the same category is refused.
ACTIVE = (WAITING, CALLED)
#: Tickets a window is dealing with.
OPEN = (CALLED, SERVING)
PRIORITIES = {"": "普通", "elderly": "老年人", "disabled": "残疾人", "military": "军人", "green": "绿色通道"}
BOOKED, ARRIVED, CANCELLED = "booked", "arrived", "cancelled"
APPOINTMENT_LABELS = {BOOKED: "已预约", ARRIVED: "已签到取号", CANCELLED: "已取消"}

MAX_SERIAL = 999
#: How late after its slot an appointment still keeps its place (later it queues from arrival).
APPOINTMENT_GRACE = timedelta(minutes=30)
_CODE = re.compile(r"^[A-Z]$")
_SLOT = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
MAX_CATEGORY_NAME = 12


# ---- helpers --------------------------------------------------------------------------------------------------


def hash_id_number(number: str, key: bytes) -> str:
    """The keyed hash kept instead of an ID number (`node.trust.atrest.id_number_hash`)."""
    return id_number_hash(number, key)


def _id_hash(runtime: NodeRuntime, id_number: str | None, field: str = "id_number") -> str | None:
    if id_number is None or not id_number.strip():
        return None
    try:
        resident = parse_resident_id(id_number, today=runtime.today())
    except ValueError as exc:
        raise OneWindowError(ID_NUMBER_INVALID, str(exc), field=field) from exc
    return hash_id_number(resident.number, runtime.identity.data_key)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def seconds_between(start: str | None, end: str | None) -> int | None:
    """Whole seconds from one ISO time to another; None when either is missing."""
    if not start or not end:
        return None
    return max(0, round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()))


def call_order(ticket: Ticket) -> tuple[int, str, int, str]:
    """The key `call_next` takes the smallest of (see the module docstring)."""
    return (0 if ticket.priority else 1, ticket.queue_at, 0 if ticket.appointment_id else 1, ticket.number)


def window_order(name: str) -> tuple[int, str]:
    """Windows in hall order: 2号窗口 before 10号窗口, named windows after numbered ones."""
    digits = re.match(r"\d+", name)
    return (int(digits.group()) if digits else 10**6, name)


def item_codes_of(category: TicketCategory) -> list[str]:
    codes = json.loads(category.item_codes or "[]")
    return [str(c) for c in codes] if isinstance(codes, list) else []


def category_items(runtime: NodeRuntime, category: TicketCategory) -> list[CatalogueItem]:
    """The catalogue items a category covers (those still in the current catalogue); [] means any item."""
    if not runtime.catalogues:
        return []
    items = []
    for code in item_codes_of(category):
        try:
            items.append(runtime.catalogue.by_code(code))
        except KeyError:
            continue
    return items


async def _category(session: AsyncSession, code: str, field: str, *, active: bool = True) -> TicketCategory:
    normalized = (code or "").strip().upper()
    if not normalized:
        raise OneWindowError(REQUIRED_FIELD, "请选择业务类别", field=field)
    category = await session.get(TicketCategory, normalized)
    if category is None:
        raise OneWindowError(VALIDATION, f"没有业务类别「{code.strip()}」", field=field)
    if active and not category.active:
        raise OneWindowError(VALIDATION, f"业务类别「{category.name}」已停用", field=field)
    return category


async def _ticket(session: AsyncSession, ticket_id: str) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise OneWindowError(NOT_FOUND, "找不到这张号票", field="ticket_id")
    return ticket


def _refuse(ticket: Ticket, action: str) -> OneWindowError:
    if ticket.status == MISSED:
        return OneWindowError(
            INVALID_TRANSITION,
            f"{ticket.number} 已过号，不能再{action}；请群众重新取号",
            field="ticket_id",
            status=ticket.status,
        )
    return OneWindowError(
        INVALID_TRANSITION,
        f"{ticket.number} {STATUS_LABELS.get(ticket.status, ticket.status)}，不能{action}",
        field="ticket_id",
        status=ticket.status,
    )


async def _next_serial(session: AsyncSession, day: str, category: TicketCategory) -> int:
    name = f"ticket:{day}:{category.code}"
    counter = await session.get(Counter, name)
    if counter is None:
        counter = Counter(name=name, value=0)
    if counter.value >= MAX_SERIAL:
        raise OneWindowError(
            NUMBER_RANGE_EXHAUSTED,
            f"「{category.name}」今天的 {MAX_SERIAL} 个号已全部发出，请选择其他类别或请工作人员协助",
            field="category",
        )
    counter.value += 1
    session.add(counter)
    return counter.value


async def _refuse_second_ticket(
    session: AsyncSession, day: str, category: TicketCategory, id_hash: str
) -> None:
    held = (
        await session.exec(
            select(Ticket).where(
                Ticket.day == day,
                Ticket.category == category.code,
                Ticket.id_hash == id_hash,
                col(Ticket.status).in_(ACTIVE),
            )
        )
    ).first()
    if held is not None:
        raise OneWindowError(
            VALIDATION,
            f"您已取「{category.name}」{held.number} 号，正在等候，不能重复取号",
            field="id_number",
            ticket_number=held.number,
        )


def _slot_moment(appointment: Appointment) -> datetime:
    hour, minute = (int(part) for part in appointment.slot_start.split(":"))
    return datetime.combine(date.fromisoformat(appointment.day), time(hour, minute), CST)


async def _issue(
    session: AsyncSession,
    runtime: NodeRuntime,
    *,
    category: TicketCategory,
    priority: str,
    id_hash: str | None,
    appointment: Appointment | None = None,
) -> Ticket:
    day = runtime.today().isoformat()
    if id_hash is not None:
        await _refuse_second_ticket(session, day, category, id_hash)
    serial = await _next_serial(session, day, category)
    now = runtime.now()
    queue_at = _iso(now)
    if appointment is not None:
        slot = _slot_moment(appointment)
        if now <= slot + APPOINTMENT_GRACE:
            queue_at = _iso(slot)
    ticket = Ticket(
        id=uuid7(int(now.timestamp() * 1000)),
        number=f"{category.code}{serial:03d}",
        category=category.code,
        day=day,
        priority=priority,
        appointment_id=appointment.id if appointment else None,
        id_hash=id_hash,
        status=WAITING,
        issued_at=_iso(now),
        queue_at=queue_at,
    )
    session.add(ticket)
    if appointment is not None:
        appointment.status = ARRIVED
        appointment.ticket_id = ticket.id
        session.add(appointment)
    await session.flush()
    return ticket


# ---- categories -----------------------------------------------------------------------------------------------


async def list_categories(runtime: NodeRuntime, *, active_only: bool = False) -> list[TicketCategory]:
    async with runtime.db.read() as session:
        rows = (await session.exec(select(TicketCategory))).all()
    return sorted((c for c in rows if c.active or not active_only), key=lambda c: (c.sort_order, c.code))


async def save_category(
    runtime: NodeRuntime,
    *,
    code: str,
    name: str,
    item_codes: Iterable[str] = (),
    active: bool = True,
    sort_order: int | None = None,
) -> TicketCategory:
    """Create or change a category. The letter is the key: it cannot be renamed, only deactivated."""
    letter = (code or "").strip().upper()
    if not _CODE.match(letter):
        raise OneWindowError(VALIDATION, "类别代码应为一个大写字母 A–Z", field="code")
    label = (name or "").strip()
    if not label:
        raise OneWindowError(REQUIRED_FIELD, "请填写类别名称", field="name")
    if len(label) > MAX_CATEGORY_NAME:
        raise OneWindowError(VALIDATION, f"类别名称最多 {MAX_CATEGORY_NAME} 个字", field="name")
    codes: list[str] = []
    for raw in item_codes:
        item_code = raw.strip().upper()
        if not item_code or item_code in codes:
            continue
        try:
            runtime.catalogue.by_code(item_code)
        except (KeyError, ValueError):
            raise OneWindowError(
                UNKNOWN_ITEM, f"事项目录中没有实施编码 {item_code}", field="item_codes"
            ) from None
        codes.append(item_code)
    async with runtime.db.write() as session:
        category = await session.get(TicketCategory, letter)
        if category is None:
            existing = (await session.exec(select(TicketCategory))).all()
            category = TicketCategory(
                code=letter,
                name=label,
                sort_order=max((c.sort_order for c in existing), default=0) + 1,
            )
        category.name = label
        category.item_codes = json.dumps(codes, ensure_ascii=False)
        category.active = active
        if sort_order is not None:
            category.sort_order = sort_order
        session.add(category)
    return category


# ---- taking a ticket, appointments ----------------------------------------------------------------------------


async def take_ticket(
    runtime: NodeRuntime, *, category: str, priority: str = "", id_number: str | None = None
) -> Ticket:
    """Issue the next number of an active category. With an ID number (card swipe) only its hash is stored;
    a booked appointment of that person for today in that category is checked in by it."""
    if priority not in PRIORITIES:
        raise OneWindowError(VALIDATION, "优先类别只能是 老年人、残疾人、军人 或 绿色通道", field="priority")
    id_hash = _id_hash(runtime, id_number)
    async with runtime.db.write() as session:
        chosen = await _category(session, category, "category")
        booked = None
        if id_hash is not None:
            booked = (
                await session.exec(
                    select(Appointment).where(
                        Appointment.day == runtime.today().isoformat(),
                        Appointment.category == chosen.code,
                        Appointment.id_hash == id_hash,
                        Appointment.status == BOOKED,
                    )
                )
            ).first()
        return await _issue(
            session, runtime, category=chosen, priority=priority, id_hash=id_hash, appointment=booked
        )


async def book_appointment(
    runtime: NodeRuntime,
    *,
    category: str,
    day: date | str,
    slot_start: str,
    name: str,
    phone: str,
    id_number: str | None = None,
) -> Appointment:
    """Book a visit for a day (today or later) and a slot start ("09:30", local time)."""
    try:
        visit = day if isinstance(day, date) else date.fromisoformat(str(day).strip())
    except ValueError:
        raise OneWindowError(VALIDATION, "预约日期格式应为 年-月-日，如 2026-12-01", field="day") from None
    if visit < runtime.today():
        raise OneWindowError(VALIDATION, "预约日期不能早于今天", field="day")
    slot = (slot_start or "").strip()
    if not _SLOT.match(slot):
        raise OneWindowError(VALIDATION, "预约时段应写作 时:分，如 09:30", field="slot_start")
    person = (name or "").strip()
    if not person:
        raise OneWindowError(REQUIRED_FIELD, "请填写预约人姓名", field="name")
    number = (phone or "").strip()
    if not _PHONE.match(number):
        raise OneWindowError(VALIDATION, "联系电话应为 11 位手机号或带区号的固定电话", field="phone")
    id_hash = _id_hash(runtime, id_number)
    async with runtime.db.write() as session:
        chosen = await _category(session, category, "category")
        if id_hash is not None:
            twice = (
                await session.exec(
                    select(Appointment).where(
                        Appointment.day == visit.isoformat(),
                        Appointment.category == chosen.code,
                        Appointment.id_hash == id_hash,
                        Appointment.status == BOOKED,
                    )
                )
            ).first()
            if twice is not None:
                raise OneWindowError(
                    VALIDATION, f"该证件当天已预约「{chosen.name}」{twice.slot_start}", field="id_number"
                )
        appointment = Appointment(
            id=uuid7(int(runtime.now().timestamp() * 1000)),
            category=chosen.code,
            day=visit.isoformat(),
            slot_start=slot,
            name=person,
            phone=number,
            id_hash=id_hash,
            status=BOOKED,
            booked_at=runtime.now_iso(),
        )
        session.add(appointment)
    return appointment


async def arrive(runtime: NodeRuntime, *, appointment_id: str) -> Ticket:
    """Check in a booked appointment on its day: issues its ticket (placed by the slot, see the module doc)."""
    async with runtime.db.write() as session:
        appointment = await session.get(Appointment, appointment_id)
        if appointment is None:
            raise OneWindowError(NOT_FOUND, "找不到该预约", field="appointment_id")
        if appointment.status != BOOKED:
            label = APPOINTMENT_LABELS.get(appointment.status, appointment.status)
            raise OneWindowError(INVALID_TRANSITION, f"该预约{label}，不能再签到", field="appointment_id")
        if appointment.day != runtime.today().isoformat():
            raise OneWindowError(
                VALIDATION, f"该预约的日期是 {appointment.day}，不是今天", field="appointment_id"
            )
        chosen = await _category(session, appointment.category, "category")
        return await _issue(
            session,
            runtime,
            category=chosen,
            priority="",
            id_hash=appointment.id_hash,
            appointment=appointment,
        )


async def cancel_appointment(runtime: NodeRuntime, *, appointment_id: str) -> Appointment:
    async with runtime.db.write() as session:
        appointment = await session.get(Appointment, appointment_id)
        if appointment is None:
            raise OneWindowError(NOT_FOUND, "找不到该预约", field="appointment_id")
        if appointment.status != BOOKED:
            label = APPOINTMENT_LABELS.get(appointment.status, appointment.status)
            raise OneWindowError(INVALID_TRANSITION, f"该预约{label}，不能取消", field="appointment_id")
        appointment.status = CANCELLED
        session.add(appointment)
    return appointment


async def list_appointments(runtime: NodeRuntime, day: date | str) -> list[Appointment]:
    async with runtime.db.read() as session:
        rows = (await session.exec(select(Appointment).where(Appointment.day == str(day)))).all()
    return sorted(rows, key=lambda a: (a.slot_start, a.id))


# ---- calling and serving --------------------------------------------------------------------------------------


async def call_next(
    runtime: NodeRuntime, *, window: str, staff: str, categories: Sequence[str] = ()
) -> Ticket | None:
    """Call the next waiting ticket of `categories` (all categories when empty) to `window`; None when nobody
    waits. Refused while the window still has a called or serving ticket."""
    name = (window or "").strip()
    if not name:
        raise OneWindowError(REQUIRED_FIELD, "请先设置本窗口名称", field="window")
    day = runtime.today().isoformat()
    async with runtime.db.write() as session:
        codes = [(await _category(session, c, "categories", active=False)).code for c in categories]
        open_ticket = (
            await session.exec(
                select(Ticket).where(Ticket.day == day, Ticket.window == name, col(Ticket.status).in_(OPEN))
            )
        ).first()
        if open_ticket is not None:
            raise OneWindowError(
                INVALID_TRANSITION,
                f"{name}的 {open_ticket.number} 还没有办结：请先办结、过号或转号，再叫下一号",
                field="window",
                ticket_number=open_ticket.number,
            )
        query = select(Ticket).where(Ticket.day == day, Ticket.status == WAITING)
        if codes:
            query = query.where(col(Ticket.category).in_(codes))
        waiting = (await session.exec(query)).all()
        if not waiting:
            return None
        ticket = min(waiting, key=call_order)
        now = runtime.now_iso()
        ticket.status = CALLED
        ticket.called_at = ticket.last_called_at = now
        ticket.call_count = 1
        ticket.window = name
        ticket.staff = staff
        session.add(ticket)
    return ticket


async def recall(runtime: NodeRuntime, *, ticket_id: str, staff: str = "") -> Ticket:
    """Call a called ticket again (重呼): the board shows it anew, the call count goes up."""
    async with runtime.db.write() as session:
        ticket = await _ticket(session, ticket_id)
        if ticket.status != CALLED:
            raise _refuse(ticket, "重呼")
        ticket.call_count += 1
        ticket.last_called_at = runtime.now_iso()
        ticket.staff = staff or ticket.staff
        session.add(ticket)
    return ticket


async def start_service(runtime: NodeRuntime, *, ticket_id: str, staff: str = "") -> Ticket:
    """The called person is at the window: service starts (开始办理)."""
    async with runtime.db.write() as session:
        ticket = await _ticket(session, ticket_id)
        if ticket.status != CALLED:
            raise _refuse(ticket, "开始办理")
        ticket.status = SERVING
        ticket.started_at = runtime.now_iso()
        ticket.staff = staff or ticket.staff
        session.add(ticket)
    return ticket


async def finish(
    runtime: NodeRuntime, *, ticket_id: str, case_id: str | None = None, staff: str = ""
) -> Ticket:
    """办结. From 'called' too (a short consultation): service is then counted from the latest call."""
    async with runtime.db.write() as session:
        ticket = await _ticket(session, ticket_id)
        if ticket.status not in OPEN:
            raise _refuse(ticket, "办结")
        now = runtime.now_iso()
        ticket.started_at = ticket.started_at or ticket.last_called_at or now
        ticket.finished_at = now
        ticket.status = DONE
        ticket.staff = staff or ticket.staff
        if case_id and not ticket.case_id:
            ticket.case_id = case_id
        session.add(ticket)
    return ticket


async def mark_missed(runtime: NodeRuntime, *, ticket_id: str, staff: str = "") -> Ticket:
    """过号: the called person did not come. The ticket is closed for good; they must take a new one."""
    async with runtime.db.write() as session:
        ticket = await _ticket(session, ticket_id)
        if ticket.status != CALLED:
            raise _refuse(ticket, "过号")
        ticket.status = MISSED
        ticket.finished_at = runtime.now_iso()
        ticket.staff = staff or ticket.staff
        session.add(ticket)
    return ticket


async def transfer(runtime: NodeRuntime, *, ticket_id: str, to_category: str, staff: str = "") -> Ticket:
    """转号: move a waiting, called or serving ticket to another category's queue. The old row is closed as
    'transferred'; the new one keeps the number, priority, appointment and place in the queue (``queue_at``,
    i.e. the original issue time), so the person is not sent to the back of the line."""
    async with runtime.db.write() as session:
        ticket = await _ticket(session, ticket_id)
        if ticket.status not in (WAITING, *OPEN):
            raise _refuse(ticket, "转号")
        target = await _category(session, to_category, "to_category")
        if target.code == ticket.category:
            raise OneWindowError(VALIDATION, "已经在这个类别的队列里，请选择其他类别", field="to_category")
        now = runtime.now()
        moved = Ticket(
            id=uuid7(int(now.timestamp() * 1000)),
            number=ticket.number,
            category=target.code,
            day=ticket.day,
            priority=ticket.priority,
            appointment_id=ticket.appointment_id,
            id_hash=ticket.id_hash,
            status=WAITING,
            issued_at=_iso(now),
            queue_at=ticket.queue_at,
            case_id=ticket.case_id,
            transferred_from=ticket.id,
        )
        ticket.status = TRANSFERRED
        ticket.finished_at = _iso(now)
        ticket.staff = staff or ticket.staff
        session.add(ticket)
        session.add(moved)
    return moved


async def link_case(session: AsyncSession, ticket_id: str, case_id: str, *, at: str | None = None) -> Ticket:
    """Record the case received from a called ticket (叫号信息关联办件信息), inside the caller's write
    transaction. A called ticket starts being served (at `at`, default its latest call). The first case
    received from a ticket is the one it records; linking another keeps it."""
    ticket = await _ticket(session, ticket_id)
    if ticket.status not in (*OPEN, DONE):
        raise _refuse(ticket, "关联办件")
    if ticket.status == CALLED:
        ticket.status = SERVING
        ticket.started_at = at or ticket.last_called_at
    if not ticket.case_id:
        ticket.case_id = case_id
    session.add(ticket)
    await session.flush()
    return ticket


async def finish_case_ticket(session: AsyncSession, case_id: str, *, at: str, staff: str) -> Ticket | None:
    """The window's decision on a case ends the visit of the called ticket that started it (办结), inside the
    caller's write transaction; None when no open ticket started the case."""
    ticket = (
        await session.exec(select(Ticket).where(Ticket.case_id == case_id, col(Ticket.status).in_(OPEN)))
    ).first()
    if ticket is None:
        return None
    ticket.started_at = ticket.started_at or ticket.last_called_at or at
    ticket.finished_at = at
    ticket.status = DONE
    ticket.staff = staff or ticket.staff
    session.add(ticket)
    return ticket


# ---- what the hall, the window and the statistics see ---------------------------------------------------------


async def get_ticket(runtime: NodeRuntime, ticket_id: str) -> Ticket:
    async with runtime.db.read() as session:
        return await _ticket(session, ticket_id)


async def people_ahead(runtime: NodeRuntime, ticket: Ticket) -> int:
    """Waiting tickets of the same category called before this one (as things stand: a priority ticket
    taken later still goes ahead)."""
    if ticket.status != WAITING:
        return 0
    async with runtime.db.read() as session:
        waiting = (
            await session.exec(
                select(Ticket).where(
                    Ticket.day == ticket.day, Ticket.category == ticket.category, Ticket.status == WAITING
                )
            )
        ).all()
    mine = call_order(ticket)
    return sum(1 for t in waiting if t.id != ticket.id and call_order(t) < mine)


async def waiting_tickets(runtime: NodeRuntime, categories: Sequence[str] = ()) -> list[Ticket]:
    """Today's waiting tickets in calling order (of `categories`, or all)."""
    async with runtime.db.read() as session:
        query = select(Ticket).where(Ticket.day == runtime.today().isoformat(), Ticket.status == WAITING)
        if categories:
            query = query.where(col(Ticket.category).in_([c.strip().upper() for c in categories]))
        return sorted((await session.exec(query)).all(), key=call_order)


async def window_ticket(runtime: NodeRuntime, window: str) -> Ticket | None:
    """The ticket `window` is dealing with now (called or serving), if any."""
    async with runtime.db.read() as session:
        return (
            await session.exec(
                select(Ticket).where(
                    Ticket.day == runtime.today().isoformat(),
                    Ticket.window == window.strip(),
                    col(Ticket.status).in_(OPEN),
                )
            )
        ).first()


@dataclass(frozen=True)
class WindowCall:
    """What a window's LED shows: a number and where to go. No names, no ID data."""

    window: str
    number: str | None
    category: str | None
    status: str | None
    called_at: str | None  # the latest call
    call_count: int


@dataclass(frozen=True)
class WaitingCount:
    code: str
    name: str
    count: int


@dataclass(frozen=True)
class BoardState:
    """The hall board: the current call of every window that worked today, the newest call, counts."""

    day: str
    windows: list[WindowCall]
    latest: WindowCall | None
    recent: list[WindowCall]
    waiting: list[WaitingCount]


def _call_of(ticket: Ticket) -> WindowCall:
    return WindowCall(
        window=ticket.window,
        number=ticket.number,
        category=ticket.category,
        status=ticket.status,
        called_at=ticket.last_called_at,
        call_count=ticket.call_count,
    )


async def board_state(runtime: NodeRuntime) -> BoardState:
    day = runtime.today().isoformat()
    async with runtime.db.read() as session:
        tickets = (await session.exec(select(Ticket).where(Ticket.day == day))).all()
        categories = (await session.exec(select(TicketCategory))).all()
    latest_by_window: dict[str, Ticket] = {}
    for ticket in tickets:
        if not ticket.window or not ticket.last_called_at:
            continue
        best = latest_by_window.get(ticket.window)
        if best is None or (ticket.last_called_at or "") > (best.last_called_at or ""):
            latest_by_window[ticket.window] = ticket
    windows = [
        _call_of(t) if t.status in OPEN else WindowCall(name, None, None, None, None, 0)
        for name, t in sorted(latest_by_window.items(), key=lambda kv: window_order(kv[0]))
    ]
    called = sorted(
        (t for t in tickets if t.last_called_at and t.window),
        key=lambda t: t.last_called_at or "",
        reverse=True,
    )
    latest = next((_call_of(t) for t in called if t.status == CALLED), None)
    counts: dict[str, int] = {}
    for ticket in tickets:
        if ticket.status == WAITING:
            counts[ticket.category] = counts.get(ticket.category, 0) + 1
    waiting = [
        WaitingCount(c.code, c.name, counts.get(c.code, 0))
        for c in sorted(categories, key=lambda c: (c.sort_order, c.code))
        if c.active or counts.get(c.code)
    ]
    return BoardState(
        day=day, windows=windows, latest=latest, recent=[_call_of(t) for t in called[:6]], waiting=waiting
    )


@dataclass(frozen=True)
class QueueRow:
    """One ticket of the day with its durations (for the window page and the flow statistics)."""

    ticket: Ticket
    wait_s: int | None  # called_at − issued_at
    service_s: int | None  # finished_at − started_at


async def queue(runtime: NodeRuntime, day: date | str) -> list[QueueRow]:
    """The day's tickets by issue time, with waiting and service times in seconds."""
    async with runtime.db.read() as session:
        tickets = (await session.exec(select(Ticket).where(Ticket.day == str(day)))).all()
    return [
        QueueRow(t, seconds_between(t.issued_at, t.called_at), seconds_between(t.started_at, t.finished_at))
        for t in sorted(tickets, key=lambda t: (t.issued_at, t.id))
    ]
