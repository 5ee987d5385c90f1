"""Pages and JSON API for tickets and calling (R-HALL-1): the kiosk (取号机), the window caller (叫号), the hall
board (大屏), ticket categories, and `/api/v1/tickets…` mirroring every action.

Who may open what:

- The kiosk needs a staff login once on that tablet: a logged-in staff member opens it (it then works without a
  login) or switches the tablet to kiosk mode (取号机模式), which drops the staff session so a citizen can take
  tickets and nothing else. Logging in again on /login ends kiosk mode. 绿色通道 is offered to staff only.
- The window page and its actions: window staff (综合窗口, 物料流转窗口, 业务负责人). The window's name and the
  categories it serves are kept in cookies on that tablet, so they survive logging out.
- The board needs no login and shows numbers, windows and counts only.
- Categories are edited by the 业务负责人 or the 节点管理员.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote, unquote

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from node.intake.hall.bodies import Booking, CallRequest, CategorySave, TicketAction, TicketRequest
from node.intake.hall.models import Appointment, Ticket
from node.intake.hall.tickets import (
    APPOINTMENT_LABELS,
    PRIORITIES,
    STATUS_LABELS,
    BoardState,
    QueueRow,
    WindowCall,
    arrive,
    board_state,
    book_appointment,
    call_next,
    cancel_appointment,
    category_items,
    finish,
    get_ticket,
    item_codes_of,
    list_appointments,
    list_categories,
    mark_missed,
    people_ahead,
    queue,
    recall,
    save_category,
    start_service,
    take_ticket,
    transfer,
    waiting_tickets,
    window_ticket,
)
from node.runtime import CST, NodeRuntime
from node.staff import LEADS, WINDOW_STAFF, end_session
from node.web import CATEGORIES_COOKIE, WINDOW_COOKIE, current_user, runtime_of, window_name
from protocol.errors import FORBIDDEN, VALIDATION, OneWindowError

COOKIE_AGE = 365 * 24 * 3600
KIOSK_PRIORITIES = ("", "elderly", "disabled", "military")  # 绿色通道 is given by staff
WINDOW_SUGGESTIONS = [f"{n}号窗口" for n in range(1, 9)]


def hhmm(iso_utc: str | None) -> str:
    """An ISO UTC time as local 时:分 (the board and tickets show the time of day only)."""
    if not iso_utc:
        return ""
    return datetime.fromisoformat(iso_utc).astimezone(CST).strftime("%H:%M")


def minutes(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds // 60} 分 {seconds % 60:02d} 秒" if seconds >= 60 else f"{seconds} 秒"


def _session(request: Request[Any, Any, State]) -> dict[str, Any]:
    return request.session if request.scope.get("session") is not None else {}


def kiosk_user(request: Request[Any, Any, State]) -> dict[str, str] | None:
    """None on a tablet in kiosk mode, the staff member when one is logged in; OW-1101 otherwise."""
    if _session(request).get("kiosk"):
        return None
    return current_user(request)


def ticket_json(ticket: Ticket, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A ticket for the API: everything but the ID hash (only whether the card was used)."""
    body = ticket.model_dump(exclude={"id_hash"})
    body["by_id_card"] = ticket.id_hash is not None
    body["status_label"] = STATUS_LABELS.get(ticket.status, ticket.status)
    body["priority_label"] = PRIORITIES.get(ticket.priority, ticket.priority) if ticket.priority else ""
    if names is not None:
        body["category_name"] = names.get(ticket.category, ticket.category)
    return body


def appointment_json(appointment: Appointment) -> dict[str, Any]:
    body = appointment.model_dump(exclude={"id_hash"})
    body["by_id_card"] = appointment.id_hash is not None
    body["status_label"] = APPOINTMENT_LABELS.get(appointment.status, appointment.status)
    return body


def call_json(call: WindowCall) -> dict[str, Any]:
    return {
        "window": call.window,
        "number": call.number,
        "category": call.category,
        "status": call.status,
        "called_at": call.called_at,
        "call_count": call.call_count,
    }


def board_json(state: BoardState) -> dict[str, Any]:
    return {
        "day": state.day,
        "windows": [call_json(c) for c in state.windows],
        "latest": call_json(state.latest) if state.latest else None,
        "recent": [call_json(c) for c in state.recent],
        "waiting": [{"code": w.code, "name": w.name, "count": w.count} for w in state.waiting],
    }


def row_json(row: QueueRow, names: dict[str, str]) -> dict[str, Any]:
    return {**ticket_json(row.ticket, names), "wait_s": row.wait_s, "service_s": row.service_s}


async def category_names(runtime: NodeRuntime) -> dict[str, str]:
    return {c.code: c.name for c in await list_categories(runtime)}


def _day(value: str, runtime: NodeRuntime) -> date:
    if not value:
        return runtime.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise OneWindowError(VALIDATION, "日期格式应为 年-月-日，如 2026-12-01", field="day") from None


# ---- kiosk (取号机) ---------------------------------------------------------------------------------------------


async def kiosk_context(
    request: Request[Any, Any, State], user: dict[str, str] | None, error: OneWindowError | None = None
) -> dict[str, Any]:
    runtime = runtime_of(request)
    categories = await list_categories(runtime, active_only=True)
    state = await board_state(runtime)
    counts = {w.code: w.count for w in state.waiting}
    return {
        "user": user,
        "staff_mode": user is not None,
        "categories": [
            {
                "code": c.code,
                "name": c.name,
                "waiting": counts.get(c.code, 0),
                "covers": [i.name for i in category_items(runtime, c)],
            }
            for c in categories
        ],
        "priorities": {
            k: v for k, v in PRIORITIES.items() if k and (user is not None or k in KIOSK_PRIORITIES)
        },
        "error": error,
        "active": "kiosk",
    }


@get("/kiosk", media_type=MediaType.HTML)
async def kiosk_page(request: Request[Any, Any, State]) -> Template:
    user = kiosk_user(request)
    return Template(template_name="kiosk.html", context=await kiosk_context(request, user))


@post("/kiosk/open", media_type=MediaType.HTML, status_code=200)
async def kiosk_open(request: Request[Any, Any, State]) -> Redirect:
    """Turn this tablet into a kiosk: the staff session ends, only taking tickets remains."""
    user = current_user(request)
    auth = request.session.get("auth")
    await end_session(runtime_of(request), auth.get("sid") if isinstance(auth, dict) else None)
    request.set_session(
        {"kiosk": {"opened_by": user["username"], "opened_at": runtime_of(request).now_iso()}}
    )
    return Redirect(path="/kiosk")


@post("/kiosk/tickets", media_type=MediaType.HTML, status_code=200)
async def kiosk_take(request: Request[Any, Any, State]) -> Response[Any]:
    user = kiosk_user(request)
    form = await request.form()
    priority = str(form.get("priority", ""))
    try:
        if user is None and priority not in KIOSK_PRIORITIES:
            raise OneWindowError(FORBIDDEN, "绿色通道请向工作人员申请", field="priority")
        ticket = await take_ticket(
            runtime_of(request),
            category=str(form.get("category", "")),
            priority=priority,
            id_number=str(form.get("id_number", "")) or None,
        )
    except OneWindowError as exc:
        return Template(
            template_name="kiosk.html",
            context=await kiosk_context(request, user, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/kiosk/tickets/{ticket.id}")


@get("/kiosk/tickets/{ticket_id:str}", media_type=MediaType.HTML)
async def kiosk_ticket_page(request: Request[Any, Any, State], ticket_id: FromPath[str]) -> Template:
    """The taken ticket, big on the screen and print-friendly (the paper ticket until the ESC/POS printer)."""
    user = kiosk_user(request)
    runtime = runtime_of(request)
    ticket = await get_ticket(runtime, ticket_id)
    names = await category_names(runtime)
    return Template(
        template_name="ticket_slip.html",
        context={
            "user": user,
            "ticket": ticket,
            "category_name": names.get(ticket.category, ticket.category),
            "ahead": await people_ahead(runtime, ticket),
            "issued": datetime.fromisoformat(ticket.issued_at).astimezone(CST).strftime("%Y-%m-%d %H:%M"),
            "priority_label": PRIORITIES.get(ticket.priority, "") if ticket.priority else "",
            "status_label": STATUS_LABELS.get(ticket.status, ticket.status),
            "active": "kiosk",
        },
    )


# ---- window (叫号) ----------------------------------------------------------------------------------------------


def served_categories(request: Request[Any, Any, State]) -> list[str]:
    raw = unquote(request.cookies.get(CATEGORIES_COOKIE, ""))
    return [c for c in raw.split(",") if c]


async def window_context(
    request: Request[Any, Any, State],
    user: dict[str, str],
    *,
    error: OneWindowError | None = None,
    notice: str = "",
    setup: bool = False,
) -> dict[str, Any]:
    runtime = runtime_of(request)
    window = window_name(request)
    served = served_categories(request)
    categories = await list_categories(runtime)
    names = {c.code: c.name for c in categories}
    current = await window_ticket(runtime, window) if window else None
    waiting = await waiting_tickets(runtime, served)
    state = await board_state(runtime)
    mine = [r for r in await queue(runtime, runtime.today()) if window and r.ticket.window == window]
    return {
        "user": user,
        "window": window,
        "setup": setup or not window,
        "served": served,
        "categories": categories,
        "names": names,
        "current": current,
        "waiting": waiting[:12],
        "waiting_total": len(waiting),
        "counts": state.waiting,
        "history": list(reversed(mine))[:10],
        "priorities": PRIORITIES,
        "statuses": STATUS_LABELS,
        "suggestions": WINDOW_SUGGESTIONS,
        "hhmm": hhmm,
        "minutes": minutes,
        "error": error,
        "notice": notice,
        "active": "window",
    }


@get("/window", media_type=MediaType.HTML)
async def window_page(request: Request[Any, Any, State], setup: FromQuery[bool] = False) -> Template:
    user = current_user(request, *WINDOW_STAFF)
    return Template(template_name="window.html", context=await window_context(request, user, setup=setup))


@get("/window/waiting", media_type=MediaType.HTML)
async def window_waiting_partial(request: Request[Any, Any, State]) -> Template:
    """The waiting list beside the caller, refreshed by HTMX every few seconds."""
    user = current_user(request, *WINDOW_STAFF)
    return Template(template_name="ticket_waiting.html", context=await window_context(request, user))


@post("/window/setup", media_type=MediaType.HTML, status_code=200)
async def window_setup(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request, *WINDOW_STAFF)
    form = await request.form()
    name = str(form.get("window", "")).strip()
    if not name or len(name) > 20:
        error = OneWindowError(VALIDATION, "请填写本窗口名称（20 字以内），如「3号窗口」", field="window")
        return Template(
            template_name="window.html",
            context=await window_context(request, user, error=error, setup=True),
            status_code=error.problem.status,
        )
    codes = [str(c).strip().upper() for c in form.getall("categories", []) if str(c).strip()]
    response = Redirect(path="/window")
    response.set_cookie(WINDOW_COOKIE, quote(name), max_age=COOKIE_AGE, httponly=True)
    response.set_cookie(CATEGORIES_COOKIE, quote(",".join(codes)), max_age=COOKIE_AGE, httponly=True)
    return response


async def _window_action(
    request: Request[Any, Any, State], action: str, ticket_id: str = ""
) -> Response[Any]:
    user = current_user(request, *WINDOW_STAFF)
    runtime = runtime_of(request)
    staff = user["username"]
    try:
        if action == "call":
            called = await call_next(
                runtime, window=window_name(request), staff=staff, categories=served_categories(request)
            )
            if called is None:
                return Template(
                    template_name="window.html",
                    context=await window_context(request, user, notice="现在没有等候的群众"),
                )
        elif action == "recall":
            await recall(runtime, ticket_id=ticket_id, staff=staff)
        elif action == "start":
            await start_service(runtime, ticket_id=ticket_id, staff=staff)
        elif action == "finish":
            await finish(runtime, ticket_id=ticket_id, staff=staff)
        elif action == "missed":
            await mark_missed(runtime, ticket_id=ticket_id, staff=staff)
        elif action == "transfer":
            form = await request.form()
            await transfer(
                runtime, ticket_id=ticket_id, to_category=str(form.get("to_category", "")), staff=staff
            )
    except OneWindowError as exc:
        return Template(
            template_name="window.html",
            context=await window_context(request, user, error=exc),
            status_code=exc.problem.status,
        )
    return Redirect(path="/window")


@post("/window/call", media_type=MediaType.HTML, status_code=200)
async def window_call(request: Request[Any, Any, State]) -> Response[Any]:
    return await _window_action(request, "call")


@post("/window/tickets/{ticket_id:str}/{action:str}", media_type=MediaType.HTML, status_code=200)
async def window_ticket_action(
    request: Request[Any, Any, State], ticket_id: FromPath[str], action: FromPath[str]
) -> Response[Any]:
    if action not in ("recall", "start", "finish", "missed", "transfer"):
        raise OneWindowError(VALIDATION, "未知的操作", field="action")
    return await _window_action(request, action, ticket_id)


# ---- board (大屏) -----------------------------------------------------------------------------------------------


async def board_context(request: Request[Any, Any, State]) -> dict[str, Any]:
    runtime = runtime_of(request)
    state = await board_state(runtime)
    return {
        "state": state,
        "names": await category_names(runtime),
        "clock": runtime.now().astimezone(CST).strftime("%H:%M"),
    }


@get("/board", media_type=MediaType.HTML)
async def board_page(request: Request[Any, Any, State]) -> Template:
    """The hall board: no login (it hangs in the hall), numbers and windows only."""
    return Template(template_name="board.html", context=await board_context(request))


@get("/board/state", media_type=MediaType.HTML)
async def board_partial(request: Request[Any, Any, State]) -> Template:
    return Template(template_name="board_state.html", context=await board_context(request))


# ---- categories --------------------------------------------------------------------------------------------------


async def categories_context(
    request: Request[Any, Any, State], user: dict[str, str], error: OneWindowError | None = None
) -> dict[str, Any]:
    runtime = runtime_of(request)
    categories = await list_categories(runtime)
    used = {c.code for c in categories}
    return {
        "user": user,
        "categories": [{"row": c, "covered": set(item_codes_of(c))} for c in categories],
        "catalogue": list(runtime.catalogue.items) if runtime.catalogues else [],
        "free_codes": [chr(c) for c in range(ord("A"), ord("Z") + 1) if chr(c) not in used],
        "error": error,
        "saved": request.query_params.get("saved", ""),
        "active": "window",
    }


@get("/tickets/categories", media_type=MediaType.HTML)
async def categories_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request, *LEADS)
    return Template(template_name="ticket_categories.html", context=await categories_context(request, user))


@post("/tickets/categories", media_type=MediaType.HTML, status_code=200)
async def categories_save(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request, *LEADS)
    form = await request.form()
    try:
        order = str(form.get("sort_order", "")).strip()
        if order and not order.isdigit():
            raise OneWindowError(VALIDATION, "排序应为数字", field="sort_order")
        category = await save_category(
            runtime_of(request),
            code=str(form.get("code", "")),
            name=str(form.get("name", "")),
            item_codes=[str(c) for c in form.getall("item_codes", [])],
            active=form.get("active") == "on",
            sort_order=int(order) if order else None,
        )
    except OneWindowError as exc:
        return Template(
            template_name="ticket_categories.html",
            context=await categories_context(request, user, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path=f"/tickets/categories?saved={category.code}")


# ---- JSON API ------------------------------------------------------------------------------------------------------


@get("/api/v1/tickets/categories", media_type=MediaType.JSON)
async def api_categories(request: Request[Any, Any, State]) -> dict[str, Any]:
    kiosk_user(request)
    runtime = runtime_of(request)
    return {
        "categories": [
            {
                "code": c.code,
                "name": c.name,
                "item_codes": item_codes_of(c),
                "active": c.active,
                "sort_order": c.sort_order,
            }
            for c in await list_categories(runtime)
        ]
    }


@post("/api/v1/tickets/categories", media_type=MediaType.JSON, status_code=200)
async def api_save_category(
    request: Request[Any, Any, State], data: JSONBody[CategorySave]
) -> dict[str, Any]:
    current_user(request, *LEADS)
    category = await save_category(
        runtime_of(request),
        code=data.code or "",
        name=data.name or "",
        item_codes=data.item_codes or [],
        active=data.active,
        sort_order=data.sort_order,
    )
    return {
        "code": category.code,
        "name": category.name,
        "item_codes": item_codes_of(category),
        "active": category.active,
        "sort_order": category.sort_order,
    }


@post("/api/v1/tickets", media_type=MediaType.JSON, status_code=201)
async def api_take(request: Request[Any, Any, State], data: JSONBody[TicketRequest]) -> dict[str, Any]:
    user = kiosk_user(request)
    priority = data.priority or ""
    if user is None and priority not in KIOSK_PRIORITIES:
        raise OneWindowError(FORBIDDEN, "绿色通道请向工作人员申请", field="priority")
    runtime = runtime_of(request)
    ticket = await take_ticket(
        runtime, category=data.category or "", priority=priority, id_number=data.id_number or None
    )
    return {
        "ticket": ticket_json(ticket, await category_names(runtime)),
        "ahead": await people_ahead(runtime, ticket),
    }


@get("/api/v1/tickets", media_type=MediaType.JSON)
async def api_queue(request: Request[Any, Any, State], day: FromQuery[str] = "") -> dict[str, Any]:
    current_user(request)
    runtime = runtime_of(request)
    when = _day(day, runtime)
    names = await category_names(runtime)
    return {"day": when.isoformat(), "tickets": [row_json(r, names) for r in await queue(runtime, when)]}


@get("/api/v1/tickets/board", media_type=MediaType.JSON)
async def api_board(request: Request[Any, Any, State]) -> dict[str, Any]:
    return board_json(await board_state(runtime_of(request)))


@get("/api/v1/tickets/{ticket_id:str}", media_type=MediaType.JSON)
async def api_ticket(request: Request[Any, Any, State], ticket_id: FromPath[str]) -> dict[str, Any]:
    current_user(request)
    runtime = runtime_of(request)
    ticket = await get_ticket(runtime, ticket_id)
    return {
        "ticket": ticket_json(ticket, await category_names(runtime)),
        "ahead": await people_ahead(runtime, ticket),
    }


@post("/api/v1/tickets/call", media_type=MediaType.JSON, status_code=200)
async def api_call(request: Request[Any, Any, State], data: JSONBody[CallRequest]) -> dict[str, Any]:
    user = current_user(request, *WINDOW_STAFF)
    runtime = runtime_of(request)
    ticket = await call_next(
        runtime, window=data.window or "", staff=user["username"], categories=data.categories or []
    )
    return {"ticket": ticket_json(ticket, await category_names(runtime)) if ticket else None}


@post("/api/v1/tickets/{ticket_id:str}/{action:str}", media_type=MediaType.JSON, status_code=200)
async def api_ticket_action(
    request: Request[Any, Any, State],
    ticket_id: FromPath[str],
    action: FromPath[str],
    data: JSONBody[TicketAction | None] = None,
) -> dict[str, Any]:
    user = current_user(request, *WINDOW_STAFF)
    runtime = runtime_of(request)
    body = data or TicketAction()
    staff = user["username"]
    if action == "recall":
        ticket = await recall(runtime, ticket_id=ticket_id, staff=staff)
    elif action == "start":
        ticket = await start_service(runtime, ticket_id=ticket_id, staff=staff)
    elif action == "finish":
        ticket = await finish(runtime, ticket_id=ticket_id, case_id=body.case_id or None, staff=staff)
    elif action == "missed":
        ticket = await mark_missed(runtime, ticket_id=ticket_id, staff=staff)
    elif action == "transfer":
        ticket = await transfer(runtime, ticket_id=ticket_id, to_category=body.to_category or "", staff=staff)
    else:
        raise OneWindowError(VALIDATION, "未知的操作", field="action")
    return {"ticket": ticket_json(ticket, await category_names(runtime))}


@post("/api/v1/tickets/appointments", media_type=MediaType.JSON, status_code=201)
async def api_book(request: Request[Any, Any, State], data: JSONBody[Booking]) -> dict[str, Any]:
    current_user(request)
    appointment = await book_appointment(
        runtime_of(request),
        category=data.category or "",
        day=data.day or "",
        slot_start=data.slot_start or "",
        name=data.name or "",
        phone=data.phone or "",
        id_number=data.id_number or None,
    )
    return {"appointment": appointment_json(appointment)}


@get("/api/v1/tickets/appointments", media_type=MediaType.JSON)
async def api_appointments(request: Request[Any, Any, State], day: FromQuery[str] = "") -> dict[str, Any]:
    current_user(request)
    runtime = runtime_of(request)
    when = _day(day, runtime)
    return {
        "day": when.isoformat(),
        "appointments": [appointment_json(a) for a in await list_appointments(runtime, when)],
    }


@post("/api/v1/tickets/appointments/{appointment_id:str}/arrive", media_type=MediaType.JSON, status_code=201)
async def api_arrive(request: Request[Any, Any, State], appointment_id: FromPath[str]) -> dict[str, Any]:
    current_user(request)
    runtime = runtime_of(request)
    ticket = await arrive(runtime, appointment_id=appointment_id)
    return {
        "ticket": ticket_json(ticket, await category_names(runtime)),
        "ahead": await people_ahead(runtime, ticket),
    }


@post("/api/v1/tickets/appointments/{appointment_id:str}/cancel", media_type=MediaType.JSON, status_code=200)
async def api_cancel(request: Request[Any, Any, State], appointment_id: FromPath[str]) -> dict[str, Any]:
    current_user(request)
    return {
        "appointment": appointment_json(
            await cancel_appointment(runtime_of(request), appointment_id=appointment_id)
        )
    }


ROUTES = [
    kiosk_page,
    kiosk_open,
    kiosk_take,
    kiosk_ticket_page,
    window_page,
    window_waiting_partial,
    window_setup,
    window_call,
    window_ticket_action,
    board_page,
    board_partial,
    categories_page,
    categories_save,
    api_categories,
    api_save_category,
    api_take,
    api_queue,
    api_board,
    api_ticket,
    api_call,
    api_ticket_action,
    api_book,
    api_appointments,
    api_arrive,
    api_cancel,
]
