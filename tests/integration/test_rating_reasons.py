"""好差评 as the rules have them (issue 19, acceptance 4): a level, then for 不满意/非常不满意 a reason category
(required) and a comment, then submit; a 差评 without a category is refused in Chinese and changes nothing; with
one it reaches central with its category and the follow-up opens; a visit already rated says so at once; the
rating is credited to whoever handled the visit, not whoever's session is open; the evaluator's press is
confirmed on the clerk's case page."""

from __future__ import annotations

from node.sync.client import sync_once
from protocol.hall import RATING_REASONS
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_acceptance_outcomes import problem
from tests.integration.test_ratings_complaints import accepted_case
from tests.support import LEAD, VALID_IDS

HTML = {"accept": "text/html"}


async def test_a_bad_rating_needs_its_reason_category_and_reaches_central_with_it(stack: Stack) -> None:
    # The lead handles the visit; later the clerk's session is the one open on the tablet.
    await login_node(stack, LEAD)
    case_id = await accepted_case(stack)
    await login_node(stack)

    screen = await stack.node.get(f"/cases/{case_id}/rate", headers=HTML)
    assert screen.status_code == 200
    for label in RATING_REASONS.values():
        assert label in screen.text
    assert "提交评价" in screen.text and 'type="radio" name="level"' in screen.text

    # 非常不满意 with a comment but no reason category: refused, in Chinese, naming the field; nothing recorded.
    refused = await stack.node.post(
        f"/cases/{case_id}/rate", data={"level": "5", "comment": "等了一个小时"}, headers=HTML
    )
    assert refused.status_code == 422
    assert 'data-field="reason"' in refused.text and "原因类别" in refused.text
    assert 'value="5" checked' in refused.text and "等了一个小时" in refused.text  # nothing typed is lost
    no_level = await stack.node.post(f"/cases/{case_id}/rate", data={"comment": "x"}, headers=HTML)
    assert (
        no_level.status_code == 422 and 'data-field="level"' in no_level.text and "满意程度" in no_level.text
    )
    api = await stack.node.post("/api/v1/ratings", json={"level": 4, "channel": "tablet", "case_id": case_id})
    assert "原因类别" in problem(api, 422, "OW-1006", "reason")
    unknown = await stack.node.post(
        "/api/v1/ratings", json={"level": 4, "channel": "tablet", "case_id": case_id, "reason": "weather"}
    )
    assert "服务态度" in problem(unknown, 422, "OW-1001", "reason")
    assert (await stack.node.get("/api/v1/ratings")).json()["ratings"] == []

    # A good rating needs no category (and keeps none if one was sent).
    good_case = await accepted_case(stack, VALID_IDS[1])
    good = await stack.node.post(
        "/api/v1/ratings",
        json={"level": 2, "channel": "tablet", "case_id": good_case, "reason": "attitude"},
    )
    assert good.status_code == 201 and good.json()["reason"] == "" and good.json()["followup_open"] is False

    # With its category the 差评 is recorded, credited to the lead who handled the visit.
    done = await stack.node.post(
        f"/cases/{case_id}/rate",
        data={"level": "5", "reason": "efficiency", "comment": "等了一个小时"},
        headers=HTML,
    )
    assert done.status_code == 200 and "感谢您的评价" in done.text and "办事效率" in done.text
    [rating] = [
        r for r in (await stack.node.get("/api/v1/ratings")).json()["ratings"] if r["case_id"] == case_id
    ]
    assert (rating["reason"], rating["reason_label"], rating["staff"]) == ("efficiency", "办事效率", "lead")
    assert rating["followup_open"] is True and rating["followup_due"]

    # Already rated: the screen says so at once, with nothing to press; the card and the evaluator agree.
    again = await stack.node.get(f"/cases/{case_id}/rate", headers=HTML)
    assert again.status_code == 200 and "本次办事已经评价过" in again.text
    assert 'name="level"' not in again.text and "非常不满意" in again.text
    card = await stack.node.get(f"/cases/{case_id}/rating-card", headers=HTML)
    assert "已评价" in card.text and "办事效率" in card.text and "rating-request" not in card.text
    evaluator = await stack.node.post(
        "/api/v1/evaluator/request", json={"window": "1号窗口", "case_id": case_id}
    )
    problem(evaluator, 409, "OW-1301", "visit")

    # It reaches central with its category, staff and follow-up.
    report = await sync_once(stack.central, stack.runtime)
    assert report.rejected == 0
    await login_central(stack)
    at_central = {r["case_number"]: r for r in (await stack.central.get("/api/v1/ratings")).json()["ratings"]}
    bad = next(r for r in at_central.values() if r["level"] == 5)
    assert (bad["reason"], bad["reason_label"], bad["staff"]) == ("efficiency", "办事效率", "lead")
    assert bad["followup_due"] == rating["followup_due"] and not bad["closed_at"]
    page = await stack.central.get("/ratings", headers=HTML)
    assert "办事效率" in page.text and "整改中" in page.text

    # The follow-up is open at the centre: the lead calls back and closes it.
    await login_node(stack, LEAD)
    listing = await stack.node.get("/ratings", headers=HTML)
    assert "办事效率" in listing.text
    called = await stack.node.post(f"/api/v1/ratings/{rating['rating_id']}/callback", json={"note": "已致电"})
    assert called.status_code == 200 and called.json()["called_back_at"]


async def test_the_evaluators_press_is_confirmed_at_the_window(stack: Stack) -> None:
    await login_node(stack, LEAD)
    case_id = await accepted_case(stack)
    await login_node(stack)
    asked = await stack.node.post(
        f"/cases/{case_id}/rating-request", data={"window": "1号窗口"}, headers=HTML
    )
    assert asked.status_code in (200, 302, 303)
    waiting = await stack.node.get(f"/cases/{case_id}/rating-card", params={"waiting": 1}, headers=HTML)
    assert 'id="rating-waiting"' in waiting.text and "every 2s" in waiting.text
    status = await stack.node.get(f"/cases/{case_id}/rating-status", headers=HTML)
    assert 'id="rating-waiting"' in status.text and 'id="rating-result"' not in status.text

    pressed = await stack.node.post("/api/v1/evaluator/press", json={"window": "1号窗口", "level": 5})
    assert pressed.status_code == 201, pressed.text
    # The device has only its five buttons: its 差评 has no category, the follow-up call will ask.
    assert pressed.json()["followup_open"] is True and pressed.json()["staff"] == "lead"
    status = await stack.node.get(f"/cases/{case_id}/rating-status", headers=HTML)
    assert 'id="rating-result"' in status.text and "非常不满意" in status.text and "评价器" in status.text
    assert "every 2s" not in status.text  # the poll stops once confirmed
