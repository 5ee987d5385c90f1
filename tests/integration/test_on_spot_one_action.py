"""即办件 in one action (issue 19): a lead with authority for the item 受理s and 准予s a complete 即办件 with one
button on the case page; a clerk sees no such button and is refused; a 承诺件 cannot go this way; the item
lists say 「即办」, never 「承诺 0 个工作日」."""

from __future__ import annotations

from tests.conftest import Stack, login_node
from tests.integration.test_acceptance_outcomes import PENSION_ENROL, attach_all, item_named, receive
from tests.support import LEAD

HTML = {"accept": "text/html"}


async def test_a_lead_accepts_and_decides_a_complete_immediate_case_in_one_action(stack: Stack) -> None:
    await login_node(stack)
    item = await item_named(stack, PENSION_ENROL)
    case = await receive(stack, item)
    case_id = case["case_id"]
    await attach_all(stack, case_id, item)

    page = (await stack.node.get(f"/cases/{case_id}", headers=HTML)).text
    assert "受理并准予，当场办结" not in page  # the clerk's page offers plain 受理
    by_clerk = await stack.node.post(f"/cases/{case_id}/accept-on-spot", headers=HTML)
    assert by_clerk.status_code == 403 and "业务负责人" in by_clerk.text
    assert (await stack.node.get(f"/api/v1/cases/{case_id}")).json()["status"] == "received"  # nothing done

    await login_node(stack, LEAD)
    page = (await stack.node.get(f"/cases/{case_id}", headers=HTML)).text
    assert 'id="accept-on-spot"' in page
    done = await stack.node.post(f"/cases/{case_id}/accept-on-spot", headers=HTML, follow_redirects=False)
    assert done.status_code in (302, 303), done.text[:300]
    state = (await stack.node.get(f"/api/v1/cases/{case_id}")).json()
    assert state["status"] == "approved" and state["decision"]["on_spot"] is True
    assert state["promised_days"] == 0
    page = (await stack.node.get(f"/cases/{case_id}", headers=HTML)).text
    assert "0 个工作日" not in page and "即办件，当场办结" in page


async def test_a_promised_case_is_not_decided_on_the_spot_and_nothing_is_recorded(stack: Stack) -> None:
    await login_node(stack, LEAD)
    items = (await stack.node.get("/api/v1/items", params={"q": "zdsh"})).json()["items"]
    item = items[0]
    assert item["case_type"] != 1
    case = await receive(stack, item)
    await attach_all(stack, case["case_id"], item)
    refused = await stack.node.post(f"/cases/{case['case_id']}/accept-on-spot", headers=HTML)
    assert refused.status_code == 403 and "即办件" in refused.text
    assert (await stack.node.get(f"/api/v1/cases/{case['case_id']}")).json()["status"] == "received"


async def test_item_lists_say_immediate_not_zero_days(stack: Stack) -> None:
    await login_node(stack)
    listed = (await stack.node.get("/items", headers=HTML)).text
    assert "即办" in listed and "承诺 0 个工作日" not in listed
