"""Issue 18, replay: a signed sync request resent byte for byte is still answered (everything it asks is
idempotent) but moves neither central's last contact nor the node's clock skew — the rule written in
`central.sync.nodes.fresh_hello` (a one-time challenge each reconcile carries back). A node whose clock was
days fast and is set right is counted again at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from central.models import NodeRecord
from node.sync.client import SyncReport, apply_hello_answer, hello_document, sync_once
from protocol.canonical import canonical_json
from protocol.requests import sign_request
from tests.conftest import Stack, login_node


async def _node_row(stack: Stack) -> NodeRecord:
    async with stack.central_app.state.central.db.transaction() as session:
        node = await session.get(NodeRecord, stack.runtime.node_id)
    assert node is not None
    return node


def _signed(stack: Stack, path: str, body: bytes) -> dict[str, Any]:
    runtime = stack.runtime
    headers = sign_request(
        runtime.identity.request_key, runtime.node_id, "POST", path, runtime.now_iso(), body
    )
    return {"content-type": "application/json", **headers}


async def _reconcile_by_hand(stack: Stack) -> tuple[bytes, dict[str, Any]]:
    """One reconcile exactly as the node sends it (its answer applied), returned for replaying."""
    body = canonical_json(await hello_document(stack.runtime))
    headers = _signed(stack, "/sync/v1/hello", body)
    answer = await stack.central.post("/sync/v1/hello", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    await apply_hello_answer(stack.runtime, answer.json(), SyncReport())
    return body, headers


def _contact(node: NodeRecord) -> tuple[Any, ...]:
    return (node.last_contact_at, node.skew_ms, node.last_node_time)


async def test_a_replayed_signed_request_moves_neither_last_contact_nor_skew(stack: Stack) -> None:
    await login_node(stack)
    await sync_once(stack.central, stack.runtime)  # enrolled
    # Two days ago (the node's clock said so): a reconcile and a push, captured on the way.
    stack.clock.set(datetime.now(UTC) - timedelta(days=2))
    old_hello, old_hello_headers = await _reconcile_by_hand(stack)
    push = canonical_json({"node_id": stack.runtime.node_id, "entries": [], "down_head": 0})
    old_push_headers = _signed(stack, "/sync/v1/up", push)
    assert (
        await stack.central.post("/sync/v1/up", content=push, headers=old_push_headers)
    ).status_code == 200
    then = await _node_row(stack)
    assert then.skew_ms is not None and then.skew_ms < -86_400_000
    stack.clock.set(datetime.now(UTC))
    await sync_once(stack.central, stack.runtime)  # the node keeps syncing
    before = await _node_row(stack)
    assert before.skew_ms is not None and abs(before.skew_ms) < 60_000

    for body, headers, path in (
        (old_hello, old_hello_headers, "/sync/v1/hello"),
        (push, old_push_headers, "/sync/v1/up"),
    ):
        replay = await stack.central.post(path, content=body, headers=headers)
        assert replay.status_code == 200, replay.text  # answered: nothing in it is taken twice
        assert _contact(await _node_row(stack)) == _contact(before)

    # The newest reconcile, resent byte for byte at once, does not count again either.
    body, headers = await _reconcile_by_hand(stack)
    counted = await _node_row(stack)
    assert counted.last_contact_at != before.last_contact_at
    assert (await stack.central.post("/sync/v1/hello", content=body, headers=headers)).status_code == 200
    assert _contact(await _node_row(stack)) == _contact(counted)
    # … and the node's next round counts as usual.
    await sync_once(stack.central, stack.runtime)
    assert (await _node_row(stack)).last_contact_at != counted.last_contact_at


async def test_a_clock_days_fast_then_set_right_is_counted_again_at_once(stack: Stack) -> None:
    await login_node(stack)
    stack.clock.set(datetime.now(UTC) + timedelta(days=3))
    await sync_once(stack.central, stack.runtime)
    fast = await _node_row(stack)
    assert fast.skew_ms is not None and fast.skew_ms > 2 * 86_400_000
    stack.clock.set(datetime.now(UTC))  # the admin set the tablet's clock right
    await sync_once(stack.central, stack.runtime)
    right = await _node_row(stack)
    assert right.skew_ms is not None and abs(right.skew_ms) < 60_000
    assert right.last_contact_at != fast.last_contact_at
