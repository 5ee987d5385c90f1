"""Ratings (好差评) and complaints (issue 4): one rating per visit, offline ratings keep their time, a bad rating
opens a follow-up due on the working-day calendar, the provincial code directions, complaints end to end."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from node.runtime import CST
from node.sync.client import sync_once
from protocol.hall import (
    GBT39046_TO_PROVINCIAL,
    NATIONAL_CHANNEL,
    PROVINCIAL_TO_GBT39046,
    SATISFACTION_LABELS,
    ZHEJIANG_PF,
)
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_acceptance_outcomes import attach_all, item_named, problem, receive
from tests.support import LEAD, VALID_IDS


def at(day: str, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), CST).replace(
        hour=hour, minute=minute
    )


async def accepted_case(stack: Stack, id_number: str = VALID_IDS[0]) -> str:
    item = await item_named(stack, "城乡居民基本养老保险待遇领取")
    case = await receive(stack, item, id_number=id_number)
    await attach_all(stack, case["case_id"], item)
    response = await stack.node.post(f"/api/v1/cases/{case['case_id']}/accept")
    assert response.status_code == 200, response.text
    return str(case["case_id"])


def test_satisfaction_codes_map_explicitly_in_both_directions() -> None:
    # GB/T 39046 A.8: 1 = 非常满意; the provincial push: 1 = 非常不满意, 5 = 非常满意.
    assert SATISFACTION_LABELS[1] == "非常满意" and SATISFACTION_LABELS[5] == "非常不满意"
    assert GBT39046_TO_PROVINCIAL == {1: 5, 2: 4, 3: 3, 4: 2, 5: 1}
    assert all(PROVINCIAL_TO_GBT39046[GBT39046_TO_PROVINCIAL[k]] == k for k in SATISFACTION_LABELS)
    # Channels: Zhejiang pf 4 tablet, 5 other hall terminal, 6 SMS; the national style has 6 phone, 7 SMS.
    assert (ZHEJIANG_PF["tablet"], ZHEJIANG_PF["evaluator"], ZHEJIANG_PF["sms"]) == (4, 5, 6)
    assert (NATIONAL_CHANNEL["phone"], NATIONAL_CHANNEL["sms"]) == (6, 7)


async def test_a_rating_made_offline_reaches_central_with_its_time_and_a_bad_one_opens_a_follow_up(
    stack: Stack,
) -> None:
    stack.clock.set(at("2026-02-10", 9))
    await login_node(stack)
    case_id = await accepted_case(stack)
    # The link is down (nothing synced yet); the applicant rates at 10:05.
    stack.clock.set(at("2026-02-10", 10, 5))
    rated = await stack.node.post(
        "/api/v1/ratings",
        json={
            "level": 5,
            "channel": "tablet",
            "case_id": case_id,
            "comment": "等了很久",
            "reason": "efficiency",
        },
    )
    assert rated.status_code == 201, rated.text
    rating = rated.json()
    assert rating["label"] == "非常不满意" and rating["provincial_satisfaction"] == 1
    # 15 working days after Tue 10 Feb 2026, with the make-up Saturdays 14 and 28 Feb: Mon 9 Mar.
    assert rating["followup_due"] == "2026-03-09" and rating["followup_open"] is True
    rated_at = rating["rated_at"]
    assert rated_at.startswith("2026-02-10T02:05")  # 10:05 CST

    # The same visit cannot be rated twice (double tap, resent form, evaluator and tablet).
    again = await stack.node.post(
        "/api/v1/ratings", json={"level": 1, "channel": "tablet", "case_id": case_id}
    )
    assert "已经评价" in problem(again, 409, "OW-1301", "visit")
    missing = await stack.node.post(
        "/api/v1/ratings",
        json={"level": 1, "channel": "tablet", "case_id": "01a20237-4c3b-7611-8eed-9a78d5f5b01c"},
    )
    problem(missing, 404, "OW-1003", "case_id")
    bad_level = await stack.node.post(
        "/api/v1/ratings", json={"level": 6, "channel": "tablet", "visit": "A001"}
    )
    problem(bad_level, 422, "OW-1001", "level")
    bad_channel = await stack.node.post(
        "/api/v1/ratings", json={"level": 1, "channel": "fax", "visit": "A001"}
    )
    problem(bad_channel, 422, "OW-1001", "channel")

    # Two hours later the link returns: the rating arrives with its original time.
    stack.clock.set(at("2026-02-10", 12, 5))
    report = await sync_once(stack.central, stack.runtime)
    assert report.rejected == 0
    await login_central(stack)
    [at_central] = (await stack.central.get("/api/v1/ratings")).json()["ratings"]
    assert at_central["rated_at"] == rated_at
    assert (at_central["level"], at_central["provincial"], at_central["followup_due"]) == (5, 1, "2026-03-09")
    assert at_central["case_number"] and at_central["staff"] == "clerk"
    page = await stack.central.get("/ratings", headers={"accept": "text/html"})
    assert "非常不满意" in page.text and "2026-03-09" in page.text

    # The lead calls back and closes the follow-up; a clerk may not.
    rating_id = rating["rating_id"]
    by_clerk = await stack.node.post(f"/api/v1/ratings/{rating_id}/callback", json={"note": "已致电"})
    problem(by_clerk, 403, "OW-1102", "role")
    await login_node(stack, LEAD)
    called = await stack.node.post(f"/api/v1/ratings/{rating_id}/callback", json={"note": "已致电说明原因"})
    assert called.status_code == 200 and called.json()["called_back_at"]
    closed = await stack.node.post(
        f"/api/v1/ratings/{rating_id}/close", json={"rectification": "高峰时段增开一个受理窗口"}
    )
    assert closed.status_code == 200 and closed.json()["followup_open"] is False
    twice = await stack.node.post(f"/api/v1/ratings/{rating_id}/close", json={"rectification": "x"})
    problem(twice, 409, "OW-1301", "rating_id")
    await sync_once(stack.central, stack.runtime)
    [closed_at_central] = (await stack.central.get("/api/v1/ratings")).json()["ratings"]
    assert closed_at_central["closed_at"] and closed_at_central["rectification"] == "高峰时段增开一个受理窗口"


async def test_the_evaluator_rates_the_visit_the_clerk_asked_about(stack: Stack) -> None:
    await login_node(stack)
    case_id = await accepted_case(stack)
    idle = await stack.node.post("/api/v1/evaluator/press", json={"window": "1号窗口", "level": 1})
    problem(idle, 409, "OW-1301", "window")
    asked = await stack.node.post("/api/v1/evaluator/request", json={"window": "1号窗口", "case_id": case_id})
    assert asked.status_code == 200
    pressed = await stack.node.post("/api/v1/evaluator/press", json={"window": "1号窗口", "level": 2})
    assert pressed.status_code == 201, pressed.text
    body = pressed.json()
    assert (body["channel"], body["label"], body["window"], body["followup_open"]) == (
        "evaluator",
        "满意",
        "1号窗口",
        False,
    )
    # The device goes idle after one press; the tablet cannot rate the same visit again.
    again = await stack.node.post("/api/v1/evaluator/press", json={"window": "1号窗口", "level": 5})
    problem(again, 409, "OW-1301", "window")
    tablet = await stack.node.post(
        "/api/v1/ratings", json={"level": 1, "channel": "tablet", "case_id": case_id}
    )
    problem(tablet, 409, "OW-1301", "visit")


async def test_the_rating_screen_for_the_applicant(stack: Stack) -> None:
    await login_node(stack)
    case_id = await accepted_case(stack)
    page = await stack.node.get(f"/cases/{case_id}/rate", headers={"accept": "text/html"})
    assert page.status_code == 200
    for label in SATISFACTION_LABELS.values():
        assert label in page.text
    done = await stack.node.post(
        f"/cases/{case_id}/rate", data={"level": "1"}, headers={"accept": "text/html"}
    )
    assert done.status_code == 200 and "感谢您的评价" in done.text
    twice = await stack.node.post(
        f"/cases/{case_id}/rate", data={"level": "3"}, headers={"accept": "text/html"}
    )
    assert twice.status_code == 409 and "已经评价过" in twice.text
    listing = await stack.node.get("/ratings", headers={"accept": "text/html"})
    assert "非常满意" in listing.text


async def test_complaints_are_registered_assigned_resolved_and_reach_central(stack: Stack) -> None:
    stack.clock.set(at("2026-09-30"))  # before National Day: the deadline skips 1–7 Oct
    await login_node(stack)
    bad = await stack.node.post(
        "/api/v1/complaints", json={"channel": "fax", "complainant": "赵六", "content": "x"}
    )
    problem(bad, 422, "OW-1001", "channel")
    empty = await stack.node.post(
        "/api/v1/complaints", json={"channel": "phone", "complainant": "赵六", "content": " "}
    )
    problem(empty, 422, "OW-1006", "content")
    registered = await stack.node.post(
        "/api/v1/complaints",
        json={
            "channel": "phone",
            "complainant": "赵六",
            "phone": "13700000000",
            "content": "跑了两次还没办成",
        },
    )
    assert registered.status_code == 201, registered.text
    complaint_id = registered.json()["complaint_id"]
    resolve_first = await stack.node.post(
        f"/api/v1/complaints/{complaint_id}/resolve", json={"resolution": "已处理"}
    )
    problem(resolve_first, 409, "OW-1301", "complaint_id")
    by_clerk = await stack.node.post(f"/api/v1/complaints/{complaint_id}/assign", json={"assignee": "王主任"})
    problem(by_clerk, 403, "OW-1102", "role")
    await login_node(stack, LEAD)
    assigned = await stack.node.post(
        f"/api/v1/complaints/{complaint_id}/assign", json={"assignee": "王主任", "working_days": 5}
    )
    assert assigned.status_code == 200
    # 5 working days after Wed 30 Sep 2026: 8, 9 Oct, Sat 10 Oct (make-up), 12, 13 Oct.
    assert assigned.json()["due"] == "2026-10-13"
    resolved = await stack.node.post(
        f"/api/v1/complaints/{complaint_id}/resolve", json={"resolution": "已当面致歉并当场办结"}
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    [at_central] = (await stack.central.get("/api/v1/complaints")).json()["complaints"]
    assert (at_central["complainant"], at_central["assignee"], at_central["due"]) == (
        "赵六",
        "王主任",
        "2026-10-13",
    )
    assert at_central["resolution"] == "已当面致歉并当场办结"
    page = await stack.central.get("/complaints", headers={"accept": "text/html"})
    assert "跑了两次还没办成" in page.text


@pytest.mark.parametrize("level", [4, 5])
async def test_both_bad_levels_open_a_follow_up(stack: Stack, level: int) -> None:
    await login_node(stack)
    rated = await stack.node.post(
        "/api/v1/ratings", json={"level": level, "channel": "tablet", "visit": "A007", "reason": "attitude"}
    )
    assert rated.status_code == 201 and rated.json()["followup_open"] is True


async def test_a_case_received_from_a_called_ticket_is_linked_to_it(stack: Stack) -> None:
    await login_node(stack)
    taken = await stack.node.post("/api/v1/tickets", json={"category": "A"})
    assert taken.status_code == 201, taken.text
    ticket_id = taken.json()["ticket"]["id"]
    called = await stack.node.post("/api/v1/tickets/call", json={"window": "1号窗口"})
    assert called.json()["ticket"]["id"] == ticket_id
    item = await item_named(stack, "最低生活保障申请")
    unknown = await stack.node.post(
        "/api/v1/cases",
        json={
            "item_code": item["code"],
            "ticket_id": "01a20237-4c3b-7611-8eed-9a78d5f5b01c",
            "applicant": {"name": "张三", "cert_type": "111", "cert_number": VALID_IDS[0]},
        },
    )
    assert unknown.status_code == 404 and unknown.json()["field"] == "ticket_id"
    assert (await stack.node.get("/api/v1/cases")).json()["cases"] == []  # nothing half-done
    case = await receive(stack, item, ticket_id=ticket_id)
    ticket = (await stack.node.get(f"/api/v1/tickets/{ticket_id}")).json()["ticket"]
    assert (ticket["case_id"], ticket["status"]) == (case["case_id"], "serving")


async def test_the_lead_sees_the_days_flow_staffing_and_ratings(stack: Stack) -> None:
    await login_node(stack, LEAD)
    # 13 tickets between 09:00 and 09:04 (the peak 5 minutes), 2 more at 14:00.
    for i in range(13):
        stack.clock.set(at("2026-11-23", 9, i // 4))
        assert (await stack.node.post("/api/v1/tickets", json={"category": "A"})).status_code == 201
    for _ in range(2):
        stack.clock.set(at("2026-11-23", 14))
        await stack.node.post("/api/v1/tickets", json={"category": "B"})
    await stack.node.post(
        "/api/v1/ratings", json={"level": 4, "channel": "tablet", "visit": "A001", "reason": "other"}
    )
    page = await stack.node.get("/hall", params={"pcs": 5}, headers={"accept": "text/html"})
    assert page.status_code == 200, page.text
    assert '<strong id="peak">13</strong>' in page.text
    # Table 1, band 13～24 with N = 5: 1 1 1 8 1 ⌈5/2⌉=3 1 (total 16).
    compact = "".join(page.text.split())
    assert (
        "<td>1</td><td>1</td><td>1</td><td>8</td><td>1</td><td>3</td><td>1</td><td><strong>16</strong>"
        in compact
    )
    assert "<svg" in page.text and "09:00" in page.text
    assert "待回访整改的差评 <strong>1</strong>" in page.text
    clerk_view = await stack.node.post(
        "/api/v1/login", json={"username": "clerk", "password": "clerk-pass-1"}
    )
    assert clerk_view.status_code == 200
    assert (await stack.node.get("/hall", headers={"accept": "text/html"})).status_code == 403
