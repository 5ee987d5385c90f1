"""Tickets and calling (R-HALL-1) through the node's API on a fake clock: daily serials, the calling order
(priority, appointments, FIFO), transfer, 过号, one waiting ticket per person, times, and a board without
personal data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text

from node.intake.hall.tickets import hash_id_number, link_case
from node.models import Counter
from node.runtime import CST
from protocol.errors import OneWindowError
from tests.conftest import Stack, login_node
from tests.support import LEAD, VALID_IDS

DAY = "2026-12-01"


def at(day: str, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), CST).replace(
        hour=hour, minute=minute, second=second
    )


async def take(stack: Stack, category: str = "A", **extra: Any) -> dict[str, Any]:
    response = await stack.node.post("/api/v1/tickets", json={"category": category, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def call(
    stack: Stack, window: str = "1号窗口", categories: list[str] | None = None
) -> dict[str, Any] | None:
    response = await stack.node.post(
        "/api/v1/tickets/call", json={"window": window, "categories": categories or []}
    )
    assert response.status_code == 200, response.text
    ticket: dict[str, Any] | None = response.json()["ticket"]
    return ticket


async def act(stack: Stack, ticket_id: str, action: str, **body: Any) -> Any:
    return await stack.node.post(f"/api/v1/tickets/{ticket_id}/{action}", json=body)


async def serve_in_order(
    stack: Stack, window: str = "1号窗口", categories: list[str] | None = None
) -> list[str]:
    """Call and finish until nobody waits: the numbers in the order they were called."""
    order = []
    while (ticket := await call(stack, window, categories)) is not None:
        order.append(ticket["number"])
        assert (await act(stack, ticket["id"], "finish")).status_code == 200
    return order


def problem(response: Any, status: int, code: str, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert (body["code"], body.get("field")) == (code, field), body
    return body


async def test_numbers_are_a_gap_free_daily_serial_per_category_that_restarts_each_day(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 8, 30))
    numbers = [(await take(stack, c))["ticket"]["number"] for c in ("A", "A", "B", "a", "C")]
    assert numbers == ["A001", "A002", "B001", "A003", "C001"]
    # A refused ticket (bad ID number) uses no number.
    problem(
        await stack.node.post("/api/v1/tickets", json={"category": "A", "id_number": "123"}),
        422,
        "OW-1005",
        "id_number",
    )
    first = await take(stack, "A")
    assert first["ticket"]["number"] == "A004"
    assert first["ticket"]["day"] == DAY
    assert first["ahead"] == 3

    # Just before midnight local time it is still the same day; after it, every category starts at 001.
    stack.clock.set(at(DAY, 23, 59))
    assert (await take(stack, "A"))["ticket"]["number"] == "A005"
    stack.clock.set(at("2026-12-02", 0, 1))
    again = [(await take(stack, c))["ticket"] for c in ("B", "A")]
    assert [t["number"] for t in again] == ["B001", "A001"]
    assert {t["day"] for t in again} == {"2026-12-02"}
    assert again[1]["id"] != first["ticket"]["id"]

    # Past 999 a category is closed for the day, clearly.
    async with stack.runtime.db.write() as session:
        session.add(Counter(name="ticket:2026-12-02:C", value=999))
    body = problem(
        await stack.node.post("/api/v1/tickets", json={"category": "C"}), 409, "OW-1305", "category"
    )
    assert "999" in body["detail"]


async def test_priority_tickets_are_called_first_then_first_come_first_served(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 9, 0))
    for category, priority in (("A", ""), ("A", "elderly"), ("B", ""), ("A", ""), ("B", "disabled")):
        await take(stack, category, priority=priority)
        stack.clock.advance(minutes=1)
    await take(stack, "A", priority="military")
    stack.clock.advance(minutes=1)
    # Priority classes are equal among themselves (FIFO); only this window's categories are called.
    assert await serve_in_order(stack, categories=["A"]) == ["A002", "A004", "A001", "A003"]
    assert await serve_in_order(stack) == ["B002", "B001"]
    problem(
        await stack.node.post("/api/v1/tickets", json={"category": "A", "priority": "vip"}),
        422,
        "OW-1001",
        "priority",
    )


async def test_appointments_go_ahead_of_tickets_taken_after_their_slot(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 8, 0))
    booking = {"category": "A", "day": DAY, "name": "李四", "phone": "13800138000"}
    on_time = (
        await stack.node.post("/api/v1/tickets/appointments", json={**booking, "slot_start": "09:30"})
    ).json()
    late = (
        await stack.node.post("/api/v1/tickets/appointments", json={**booking, "slot_start": "08:30"})
    ).json()
    by_card = await stack.node.post(
        "/api/v1/tickets/appointments", json={**booking, "slot_start": "09:35", "id_number": VALID_IDS[1]}
    )
    assert by_card.status_code == 201, by_card.text
    problem(
        await stack.node.post("/api/v1/tickets/appointments", json={**booking, "slot_start": "9点"}),
        422,
        "OW-1001",
        "slot_start",
    )

    stack.clock.set(at(DAY, 9, 0))
    early = (await take(stack, "A"))["ticket"]  # A001, before the slot
    stack.clock.set(at(DAY, 9, 40))
    after = (await take(stack, "A"))["ticket"]  # A002, after the 09:30 slot began
    stack.clock.set(at(DAY, 9, 45))
    arrived = await stack.node.post(f"/api/v1/tickets/appointments/{on_time['appointment']['id']}/arrive")
    assert arrived.status_code == 201, arrived.text
    booked = arrived.json()["ticket"]  # A003: placed at 09:30
    assert booked["appointment_id"] == on_time["appointment"]["id"]
    assert arrived.json()["ahead"] == 1  # only A001, taken before the slot
    # An ID-card swipe at the kiosk checks in that person's appointment.
    swiped = (await take(stack, "A", id_number=VALID_IDS[1]))["ticket"]  # A004: placed at 09:35
    assert swiped["appointment_id"] == by_card.json()["appointment"]["id"]
    # More than 30 minutes late: the slot is lost, the ticket queues from arrival.
    stack.clock.set(at(DAY, 9, 50))
    lost = (await stack.node.post(f"/api/v1/tickets/appointments/{late['appointment']['id']}/arrive")).json()
    problem(
        await stack.node.post(f"/api/v1/tickets/appointments/{on_time['appointment']['id']}/arrive"),
        409,
        "OW-1301",
        "appointment_id",
    )
    listed = (await stack.node.get(f"/api/v1/tickets/appointments?day={DAY}")).json()["appointments"]
    assert {a["status"] for a in listed} == {"arrived"}
    assert all("id_hash" not in a for a in listed)

    assert await serve_in_order(stack) == [
        early["number"],
        booked["number"],
        swiped["number"],
        after["number"],
        lost["ticket"]["number"],
    ]


async def test_transfer_keeps_the_number_and_the_place_by_original_issue_time(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 9, 0))
    first = (await take(stack, "A"))["ticket"]
    stack.clock.advance(minutes=5)
    await take(stack, "B")
    stack.clock.advance(minutes=5)
    await take(stack, "B")
    stack.clock.advance(minutes=5)

    called = await call(stack, "1号窗口", ["A"])
    assert called is not None and called["number"] == "A001"
    problem(await act(stack, called["id"], "transfer", to_category="A"), 422, "OW-1001", "to_category")
    problem(await act(stack, called["id"], "transfer", to_category="Q"), 422, "OW-1001", "to_category")
    moved = await act(stack, called["id"], "transfer", to_category="B")
    assert moved.status_code == 200, moved.text
    new = moved.json()["ticket"]
    assert (new["number"], new["category"], new["status"]) == ("A001", "B", "waiting")
    assert new["transferred_from"] == first["id"] and new["id"] != first["id"]
    old = (await stack.node.get(f"/api/v1/tickets/{first['id']}")).json()["ticket"]
    assert old["status"] == "transferred"
    problem(await act(stack, first["id"], "recall"), 409, "OW-1301", "ticket_id")
    # In B's queue it stands where its 09:00 ticket put it: before B001 (09:05).
    assert await serve_in_order(stack, "2号窗口", ["B"]) == ["A001", "B001", "B002"]


async def test_a_missed_ticket_is_never_called_again_and_the_person_takes_a_new_one(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 10, 0))
    mine = (await take(stack, "A", id_number=VALID_IDS[0]))["ticket"]
    called = await call(stack)
    assert called is not None and called["id"] == mine["id"]
    recalled = await act(stack, mine["id"], "recall")
    assert recalled.json()["ticket"]["call_count"] == 2
    missed = await act(stack, mine["id"], "missed")
    assert missed.json()["ticket"]["status"] == "missed"

    body = problem(await act(stack, mine["id"], "recall"), 409, "OW-1301", "ticket_id")
    assert "过号" in body["detail"] and "重新取号" in body["detail"]
    problem(await act(stack, mine["id"], "start"), 409, "OW-1301", "ticket_id")
    problem(await act(stack, mine["id"], "missed"), 409, "OW-1301", "ticket_id")
    assert await call(stack) is None  # the missed ticket is not in the queue

    renewed = (await take(stack, "A", id_number=VALID_IDS[0]))["ticket"]
    assert renewed["number"] == "A002"
    again = await call(stack)
    assert again is not None and again["id"] == renewed["id"]


async def test_one_person_cannot_hold_two_waiting_tickets_in_a_category(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 9, 0))
    person = "34052419800101001x"  # lower-case x: the same person as …01X
    held = (await take(stack, "A", id_number=person.upper()))["ticket"]
    assert held["by_id_card"] is True and "id_hash" not in held
    body = problem(
        await stack.node.post("/api/v1/tickets", json={"category": "A", "id_number": person}),
        422,
        "OW-1001",
        "id_number",
    )
    assert held["number"] in body["detail"]
    assert (await take(stack, "B", id_number=person))["ticket"][
        "number"
    ] == "B001"  # another category is fine
    # Called still counts as held; once served the person may take another.
    called = await call(stack, categories=["A"])
    assert called is not None
    problem(
        await stack.node.post("/api/v1/tickets", json={"category": "A", "id_number": person}),
        422,
        "OW-1001",
        "id_number",
    )
    await act(stack, called["id"], "finish")
    assert (await take(stack, "A", id_number=person))["ticket"]["number"] == "A002"

    # Only the hash is stored, never the number.
    async with stack.runtime.db.read() as session:
        connection = await session.connection()
        rows = (await connection.execute(text("SELECT * FROM ticket"))).all()
    dump = repr(rows)
    assert person.upper() not in dump and person not in dump
    assert hash_id_number(person, stack.runtime.identity.data_key) in dump


async def test_unknown_or_inactive_category_is_refused_with_the_code_and_field(stack: Stack) -> None:
    await login_node(stack)
    body = problem(
        await stack.node.post("/api/v1/tickets", json={"category": "Z"}), 422, "OW-1001", "category"
    )
    assert "Z" in body["detail"]
    problem(await stack.node.post("/api/v1/tickets", json={"category": ""}), 422, "OW-1006", "category")
    problem(await stack.node.post("/api/v1/tickets", json={"category": 1}), 400, "OW-1002", "category")

    await login_node(stack, LEAD)
    saved = await stack.node.post(
        "/api/v1/tickets/categories", json={"code": "C", "name": "咨询导办", "active": False}
    )
    assert saved.status_code == 200, saved.text
    body = problem(
        await stack.node.post("/api/v1/tickets", json={"category": "C"}), 422, "OW-1001", "category"
    )
    assert "停用" in body["detail"]
    kiosk = (await stack.node.get("/kiosk")).text
    assert "咨询导办" not in kiosk and "综合受理" in kiosk


async def test_waiting_and_service_times_are_computed(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 9, 0))
    first = (await take(stack, "A"))["ticket"]
    second = (await take(stack, "A"))["ticket"]
    stack.clock.advance(minutes=5)
    assert (await call(stack))["id"] == first["id"]  # type: ignore[index]
    stack.clock.advance(minutes=1)
    await act(stack, first["id"], "start")
    stack.clock.advance(minutes=12, seconds=30)
    done = await act(stack, first["id"], "finish", case_id="case-123")
    assert done.json()["ticket"]["case_id"] == "case-123"
    # Finished straight from 'called' (a short consultation): service counts from the call.
    assert (await call(stack))["id"] == second["id"]  # type: ignore[index]
    stack.clock.advance(minutes=2)
    await act(stack, second["id"], "finish")

    rows = {r["number"]: r for r in (await stack.node.get(f"/api/v1/tickets?day={DAY}")).json()["tickets"]}
    assert (rows["A001"]["wait_s"], rows["A001"]["service_s"]) == (300, 750)
    assert (rows["A002"]["wait_s"], rows["A002"]["service_s"]) == (1110, 120)
    assert rows["A001"]["window"] == "1号窗口" and rows["A001"]["staff"] == "clerk"


async def test_a_window_finishes_its_ticket_before_calling_the_next(stack: Stack) -> None:
    await login_node(stack)
    await take(stack, "A")
    await take(stack, "A")
    first = await call(stack, "3号窗口")
    assert first is not None
    body = problem(
        await stack.node.post("/api/v1/tickets/call", json={"window": "3号窗口"}), 409, "OW-1301", "window"
    )
    assert first["number"] in body["detail"]
    problem(await stack.node.post("/api/v1/tickets/call", json={"window": " "}), 422, "OW-1006", "window")
    other = await call(stack, "4号窗口")  # another window may call meanwhile
    assert other is not None and other["number"] == "A002"


async def test_the_board_shows_numbers_and_windows_but_no_personal_data(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 9, 0))
    name, phone = "王小明", "13912345678"
    booked = await stack.node.post(
        "/api/v1/tickets/appointments",
        json={
            "category": "A",
            "day": DAY,
            "slot_start": "09:00",
            "name": name,
            "phone": phone,
            "id_number": VALID_IDS[2],
        },
    )
    assert booked.status_code == 201, booked.text
    swiped = (await take(stack, "A", id_number=VALID_IDS[2]))["ticket"]
    await take(stack, "B", priority="elderly")
    await take(stack, "B")
    first = await call(stack, "2号窗口", ["A"])
    assert first is not None and first["id"] == swiped["id"]
    stack.clock.advance(seconds=20)
    await call(stack, "10号窗口", ["B"])
    stack.clock.advance(seconds=20)
    serving = await call(stack, "3号窗口", ["B"])
    assert serving is not None
    await act(stack, serving["id"], "start")

    await stack.node.post("/logout")  # the board needs no login
    board = await stack.node.get("/api/v1/tickets/board")
    assert board.status_code == 200, board.text
    state = board.json()
    assert [(w["window"], w["number"], w["status"]) for w in state["windows"]] == [
        ("2号窗口", "A001", "called"),
        ("3号窗口", "B002", "serving"),
        ("10号窗口", "B001", "called"),
    ]
    assert state["latest"]["number"] == "B001" and state["latest"]["window"] == "10号窗口"
    assert {w["code"]: w["count"] for w in state["waiting"]} == {"A": 0, "B": 0, "C": 0}
    page = await stack.node.get("/board")
    partial = await stack.node.get("/board/state")
    assert page.status_code == partial.status_code == 200
    assert "A001" in page.text and "10号窗口" in partial.text
    secrets = (
        name,
        phone,
        VALID_IDS[2],
        hash_id_number(VALID_IDS[2], stack.runtime.identity.data_key),
        "clerk",
        swiped["id"],
    )
    for shown in (board.text, page.text, partial.text):
        for secret in secrets:
            assert secret not in shown, secret
    # Everything else about tickets needs a login.
    assert (await stack.node.get(f"/api/v1/tickets?day={DAY}")).status_code == 401
    assert (await stack.node.post("/api/v1/tickets", json={"category": "A"})).status_code == 401


async def test_a_case_received_from_a_called_ticket_is_linked_in_the_same_transaction(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 9, 0))
    ticket = (await take(stack, "A"))["ticket"]
    await call(stack)
    stack.clock.advance(minutes=2)
    async with stack.runtime.db.write() as session:
        linked = await link_case(session, ticket["id"], "case-1", at=stack.runtime.now_iso())
    assert (linked.status, linked.case_id) == ("serving", "case-1")
    async with stack.runtime.db.write() as session:
        await link_case(session, ticket["id"], "case-2")  # a second case keeps the first link
    fetched = (await stack.node.get(f"/api/v1/tickets/{ticket['id']}")).json()["ticket"]
    assert (fetched["case_id"], fetched["started_at"]) == ("case-1", stack.runtime.now_iso())

    waiting = (await take(stack, "A"))["ticket"]
    try:
        async with stack.runtime.db.write() as session:
            await link_case(session, waiting["id"], "case-3")
    except OneWindowError as exc:
        assert (exc.code, exc.field) == ("OW-1301", "ticket_id")
    else:
        raise AssertionError("a waiting ticket has not been called: no case can come from it yet")


async def test_kiosk_mode_takes_tickets_only(stack: Stack) -> None:
    await login_node(stack)
    assert (await stack.node.get("/kiosk")).status_code == 200
    opened = await stack.node.post("/kiosk/open", follow_redirects=False)
    assert opened.status_code in (301, 302, 303), opened.text
    # The staff session is gone: the tablet takes tickets and nothing else.
    assert (await stack.node.get("/api/v1/cases")).status_code == 401
    assert (await stack.node.get("/window", follow_redirects=False)).status_code in (302, 303, 401)
    page = await stack.node.get("/kiosk")
    assert page.status_code == 200 and "开启取号机模式" not in page.text and "绿色通道" not in page.text
    problem(
        await stack.node.post("/api/v1/tickets", json={"category": "A", "priority": "green"}),
        403,
        "OW-1102",
        "priority",
    )
    taken = await stack.node.post(
        "/kiosk/tickets", data={"category": "B", "priority": "elderly"}, follow_redirects=False
    )
    assert taken.status_code in (301, 302, 303), taken.text
    slip = await stack.node.get(taken.headers["location"])
    assert "B001" in slip.text and "前面还有" in slip.text
    refused = await stack.node.post("/kiosk/tickets", data={"category": "Z"})
    assert refused.status_code == 422 and "没有业务类别" in refused.text


async def test_the_window_page_remembers_its_name_and_calls(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(at(DAY, 9, 0))
    await take(stack, "A")
    first = await stack.node.get("/window")
    assert "设置本窗口" in first.text
    setup = await stack.node.post(
        "/window/setup", data={"window": "5号窗口", "categories": ["A", "B"]}, follow_redirects=False
    )
    assert setup.status_code in (301, 302, 303)
    called = await stack.node.post("/window/call")
    assert called.status_code == 200 and 'id="current-number">A001<' in called.text
    assert "/items?ticket=" in called.text
    empty_after = await stack.node.post("/window/call")
    assert empty_after.status_code == 409 and "还没有办结" in empty_after.text


async def test_categories_are_edited_by_the_lead_only(stack: Stack) -> None:
    await login_node(stack)
    assert (
        await stack.node.post("/api/v1/tickets/categories", json={"code": "D", "name": "邮寄物流"})
    ).status_code == 403
    assert (await stack.node.get("/tickets/categories")).status_code == 403
    await login_node(stack, LEAD)
    items = (await stack.node.get("/api/v1/items")).json()["items"]
    codes = [items[0]["code"], items[1]["code"]]
    saved = await stack.node.post(
        "/api/v1/tickets/categories", json={"code": "d", "name": "邮寄物流", "item_codes": codes}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {
        "code": "D",
        "name": "邮寄物流",
        "item_codes": codes,
        "active": True,
        "sort_order": 4,
    }
    problem(
        await stack.node.post(
            "/api/v1/tickets/categories", json={"code": "A", "name": "综合受理", "item_codes": ["NOPE"]}
        ),
        422,
        "OW-1004",
        "item_codes",
    )
    problem(
        await stack.node.post("/api/v1/tickets/categories", json={"code": "AB", "name": "x"}),
        422,
        "OW-1001",
        "code",
    )
    page = await stack.node.get("/tickets/categories")
    assert page.status_code == 200 and "邮寄物流" in page.text
    kiosk = await stack.node.get("/kiosk")
    assert items[0]["name"] in kiosk.text  # the kiosk button lists the items it covers
    form = await stack.node.post(
        "/tickets/categories", data={"code": "E", "name": "", "active": "on"}, follow_redirects=False
    )
    assert form.status_code == 422 and "请填写类别名称" in form.text
