"""A decision's notice is rendered once, when it is issued, and every print hands out those stored bytes
(issue 20: first print p99 ≤ 300 ms, any reprint ≤ 20 ms, with no render on the print's path)."""

from __future__ import annotations

import asyncio
import time

from sqlmodel import select

from node.intake.documents.models import IssuedDocument
from tests.conftest import Stack, login_node
from tests.integration.test_acceptance_outcomes import at, attach, item_named, receive


async def _issued(stack: Stack, case_id: str) -> dict[str, IssuedDocument]:
    async with stack.runtime.db.read() as session:
        rows = (await session.exec(select(IssuedDocument).where(IssuedDocument.case_id == case_id))).all()
    return {r.kind: r for r in rows}


async def test_acceptance_notice_is_made_at_issue_and_printed_from_the_store(stack: Stack) -> None:
    stack.clock.set(at("2026-11-16"))
    await login_node(stack)
    item = await item_named(stack, "特困人员救助供养申请")
    case = await receive(stack, item)
    case_id = case["case_id"]
    for material in item["materials"]:
        await attach(stack, case_id, material["id"])
    # Receiving issues the receipt, but it lists what is scanned in after it: not made before it is printed.
    assert await _issued(stack, case_id) == {}

    accepted = await stack.node.post(f"/api/v1/cases/{case_id}/accept", json={"collection": "window"})
    assert accepted.status_code == 200, accepted.text
    deadline = time.monotonic() + 60
    while set(await _issued(stack, case_id)) != {"receipt", "acceptance"}:
        assert time.monotonic() < deadline, "the notices were not made at the decision"
        await asyncio.sleep(0.05)
    stored = await _issued(stack, case_id)
    original = stack.runtime.blobs.get(stored["acceptance"].sha256)
    assert original.startswith(b"%PDF")

    printed = await stack.node.get(f"/cases/{case_id}/notices/acceptance.pdf")
    assert printed.status_code == 200 and printed.content == original
    reprinted = await stack.node.get(f"/api/v1/cases/{case_id}/notices/acceptance.pdf")
    assert reprinted.content == original
    receipt = await stack.node.get(f"/cases/{case_id}/notices/receipt.pdf")
    assert receipt.content == stack.runtime.blobs.get(stored["receipt"].sha256)
    assert (await _issued(stack, case_id)).keys() == stored.keys()  # nothing made twice
