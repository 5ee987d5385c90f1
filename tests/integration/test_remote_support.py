"""Remote support (远程帮办, R-BO-5): a window's question about a case, with a scan, travels up the node's log;
the department it names answers with an annotation on that scan; the answer travels down and the window's
fold shows it. (The window's form for asking is not built yet: the question is written through the node's
own log functions, exactly as a node service would.)"""

from __future__ import annotations

from node.events import case_events, insert_event, project_case
from node.sync.client import sync_once
from node.sync.log import seal_pending
from protocol.events import CASE_CONSULT_REQUESTED, Event, fold
from protocol.ids import uuid7
from tests.conftest import Stack, login_node
from tests.integration.test_backoffice import JOINT_QUERY, LAND, accept_item, cst, staff_departments


async def test_a_window_asks_a_department_and_the_answer_comes_back(stack: Stack) -> None:
    stack.clock.set(cst("2026-11-02"))
    await login_node(stack)
    case = await accept_item(stack, JOINT_QUERY)
    runtime = stack.runtime
    async with runtime.db.read() as session:
        state = fold(case["case_id"], await case_events(session, case["case_id"]))
    scan = state.materials[0]
    consult_id = uuid7()
    asked = Event(
        uuid7(),
        case["case_id"],
        CASE_CONSULT_REQUESTED,
        runtime.node_id,
        "clerk",
        runtime.clock.now(),
        {
            "consult_id": consult_id,
            "question": "宗地图是否需要村委会盖章？",
            "department": LAND,
            "scans": [{"blob": scan["blob"], "filename": scan["filename"], "media_type": scan["media_type"]}],
            "asked_at": "2026-11-02T02:00:00Z",
        },
    )
    async with runtime.db.write() as session:
        assert await insert_event(session, asked, origin="local")
        await project_case(session, case["case_id"])
        await seal_pending(session, runtime)
    await sync_once(stack.central, runtime)
    await staff_departments(stack)

    async def login(username: str) -> None:
        answer = await stack.central.post(
            "/api/v1/login", json={"username": username, "password": f"{username}-pass-1"}
        )
        assert answer.status_code == 200

    url = f"/api/v1/consults/{case['case_id']}/{consult_id}/answer"
    await login("farm_a")  # not the department asked
    assert (await stack.central.post(url, json={"answer": "需要"})).status_code == 403
    page = await stack.central.get("/consults", headers={"accept": "text/html"})
    assert "宗地图是否需要村委会盖章" not in page.text
    await login("land_a")
    page = await stack.central.get("/consults", headers={"accept": "text/html"})
    assert "宗地图是否需要村委会盖章" in page.text and scan["filename"] in page.text
    stray = await stack.central.post(
        url, json={"answer": "需要", "annotations": [{"blob": "0" * 64, "page": 1, "note": "此处"}]}
    )
    assert stray.status_code == 422 and stray.json()["field"] == "annotations"
    answered = await stack.central.post(
        url,
        json={
            "answer": "需要村委会盖章并注明四至",
            "annotations": [{"blob": scan["blob"], "page": 1, "note": "右下角缺村委会印章"}],
        },
    )
    assert answered.status_code == 200, answered.text
    again = await stack.central.post(url, json={"answer": "再答一次"})
    assert again.status_code == 409

    await sync_once(stack.central, runtime)
    async with runtime.db.read() as session:
        at_node = fold(case["case_id"], await case_events(session, case["case_id"]))
    assert at_node.anomalies == ()
    [consult] = at_node.consults
    assert consult["answer"] == "需要村委会盖章并注明四至"
    assert consult["answered_department"] == "梅河口市自然资源局"
    assert consult["annotations"] == [{"blob": scan["blob"], "page": 1, "note": "右下角缺村委会印章"}]
