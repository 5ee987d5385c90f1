"""The protocol compatibility rule (issue 21, point 7; `protocol.version`): a node whose version central no
longer accepts, a node newer than central, and a central older than the node are each refused with a reason in
Chinese — on the node's sync page and on central's 节点 page — never a silent failure; nothing is lost, and the
round after the upgrade carries everything."""

from __future__ import annotations

import pytest
from sqlmodel import select

import protocol.version
from central.models import NodeRecord
from node.sync.client import LinkRefused, sync_once
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_walking_skeleton import accept_one, central_counts


async def sync_page(stack: Stack) -> str:
    page = await stack.node.get("/sync", headers={"accept": "text/html"})
    assert page.status_code == 200
    return page.text


async def fleet_page(stack: Stack) -> str:
    page = await stack.central.get("/fleet", headers={"accept": "text/html"})
    assert page.status_code == 200
    return page.text


async def test_a_node_too_old_is_told_on_both_pages_and_catches_up_after_the_upgrade(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await login_node(stack)
    await login_central(stack, ("admin", "admin-pass-1"))
    await sync_once(stack.central, stack.runtime)  # enrolled and in step
    case = await accept_one(stack)
    before = await central_counts(stack)

    # Central is upgraded to a release that no longer reads this node's protocol version.
    monkeypatch.setattr(protocol.version, "MIN_NODE_PROTOCOL", protocol.version.PROTOCOL_VERSION + 1)
    with pytest.raises(LinkRefused, match="节点软件版本过旧"):
        await sync_once(stack.central, stack.runtime)
    page = await sync_page(stack)
    assert 'id="link-problem"' in page and "节点软件版本过旧" in page and "请升级节点软件" in page
    status = (await stack.node.get("/api/v1/sync/status")).json()
    assert status["link"] == "down" and "节点协议 v1" in status["link_problem"]
    assert status["queue"]["entries"] >= 1  # the case waits in the queue, untouched
    fleet = await fleet_page(stack)
    assert "版本不兼容：需升级节点软件（节点协议 v1）" in fleet
    answer = (await stack.central.get("/api/v1/nodes")).json()["nodes"][0]
    assert any("版本不兼容" in a for a in answer["attention"])
    assert await central_counts(stack) == before  # nothing was taken half-way

    # The node is upgraded: the next round carries the case, and both pages forget the refusal.
    monkeypatch.setattr(protocol.version, "MIN_NODE_PROTOCOL", 1)
    await sync_once(stack.central, stack.runtime)
    assert 'id="link-problem"' not in await sync_page(stack)
    assert "版本不兼容" not in await fleet_page(stack)
    after = await central_counts(stack)
    assert after["cases"] == before["cases"] + 1
    assert case["case_id"]


async def test_a_node_newer_than_central_is_told_to_wait_for_the_county(stack: Stack) -> None:
    await sync_once(stack.central, stack.runtime)
    newer = str(protocol.version.PROTOCOL_VERSION + 1)
    answer = await stack.central.post(
        "/sync/v1/hello",
        content=b"{}",
        headers={"x-ow-protocol": newer, "x-ow-node": stack.runtime.node_id, "x-ow-software": "9.9"},
    )
    assert answer.status_code == 426
    problem = answer.json()
    assert problem["code"] == "OW-1222" and problem["field"] == "x-ow-protocol"
    assert "节点软件比县中心新（软件 9.9）" in problem["detail"] and "请县里先升级县中心" in problem["detail"]
    assert answer.headers["x-ow-protocol"] == str(protocol.version.PROTOCOL_VERSION)
    garbled = await stack.central.post("/sync/v1/hello", content=b"{}", headers={"x-ow-protocol": "v2"})
    assert garbled.status_code == 426 and "无法识别" in garbled.json()["detail"]
    # The info endpoint answers everyone: a node learns what central speaks before anything else.
    info = await stack.central.get("/sync/v1/info")
    assert info.status_code == 200 and info.json()["protocol_version"] == protocol.version.PROTOCOL_VERSION


async def test_a_central_too_old_for_the_node_is_not_sent_anything(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await login_node(stack)
    await sync_once(stack.central, stack.runtime)
    await accept_one(stack)
    async with stack.central_app.state.central.db.transaction() as session:
        head = (
            await session.exec(select(NodeRecord.up_seq).where(NodeRecord.node_id == stack.runtime.node_id))
        ).one()
    monkeypatch.setattr(protocol.version, "MIN_CENTRAL_PROTOCOL", protocol.version.PROTOCOL_VERSION + 1)
    with pytest.raises(LinkRefused, match="县中心软件版本过旧"):
        await sync_once(stack.central, stack.runtime)
    page = await sync_page(stack)
    assert "县中心软件版本过旧" in page and "请县里先升级县中心" in page
    async with stack.central_app.state.central.db.transaction() as session:
        assert (
            await session.exec(select(NodeRecord.up_seq).where(NodeRecord.node_id == stack.runtime.node_id))
        ).one() == head  # not one entry went up
