"""The fold's chain of custody (issue 9): parcel steps join the case in order from either authority, a delivered
mailed result issues the case, and a custody event that does not fit is an anomaly, never an exception."""

from __future__ import annotations

from typing import Any

from protocol.events import (
    CASE_ACCEPTED,
    CASE_DECIDED,
    CASE_HANDED_TO_LOGISTICS,
    CASE_PRE_REVIEWED,
    CASE_RECEIVED,
    ISSUED,
    MAILING,
    PARCEL_DELIVERED,
    PARCEL_HANDED_TO_COURIER,
    PARCEL_PACKED,
    PARCEL_RECEIVED,
    PARCEL_REGISTERED,
    Event,
    fold,
)
from protocol.ids import uuid7

CASE = uuid7()
NODE = "node-1"


def event(hlc: int, type_: str, authority: str = NODE, **payload: Any) -> Event:
    return Event(uuid7(), CASE, type_, authority, "clerk", hlc, payload)


RECEIVED = event(
    1,
    CASE_RECEIVED,
    case_number="N1",
    item_code="I1",
    applicant={"name": "张三"},
    received_at="2026-03-10T02:00:00.000+00:00",
)
PARCEL = {"parcel_id": "p1", "tracking_number": "EA123456785CN"}


def test_custody_steps_from_node_and_county_join_the_case_in_order() -> None:
    events = [
        RECEIVED,
        event(2, PARCEL_REGISTERED, at="2026-03-10T01:00:00.000+00:00", **PARCEL),
        event(3, CASE_PRE_REVIEWED, result="complete", reviewed_at="2026-03-10T03:00:00.000+00:00"),
        event(4, PARCEL_PACKED, at="2026-03-10T04:00:00.000+00:00", kind="original", parcel_id="p2"),
        event(
            5,
            PARCEL_HANDED_TO_COURIER,
            at="2026-03-10T05:00:00.000+00:00",
            parcel_id="p2",
            due_by="2026-03-13",
        ),
        event(6, PARCEL_RECEIVED, "central:logistics", at="2026-03-11T05:00:00.000+00:00", parcel_id="p2"),
    ]
    state = fold(CASE, reversed(events))  # any arrival order: the fold sorts
    assert [s["step"] for s in state.custody] == ["registered", "packed", "handed_to_courier", "received"]
    assert (
        state.custody[-1]["authority"] == "central:logistics" and state.custody[2]["due_by"] == "2026-03-13"
    )
    assert state.pre_acceptance is not None and state.pre_acceptance["result"] == "complete"
    assert state.status == "received" and state.anomalies == ()


def test_a_delivered_mailed_result_issues_the_case_and_an_early_delivery_is_an_anomaly() -> None:
    accepted = event(2, CASE_ACCEPTED, accepted_at="2026-03-10T03:00:00.000+00:00")
    decided = event(3, CASE_DECIDED, "central:x", outcome="approve", department="人社局", decided_at="x")
    mailed = event(4, CASE_HANDED_TO_LOGISTICS, method="mail", recipient="张三", address="某地")
    delivered = event(5, PARCEL_DELIVERED, at="2026-03-12T03:00:00.000+00:00", kind="result", parcel_id="p3")
    state = fold(CASE, [RECEIVED, accepted, decided, mailed])
    assert state.status == MAILING
    state = fold(CASE, [RECEIVED, accepted, decided, mailed, delivered])
    assert state.status == ISSUED and state.issue is not None
    assert state.issue["issued_at"] == "2026-03-12T03:00:00.000+00:00" and state.issue["recipient"] == "张三"

    early = fold(CASE, [RECEIVED, accepted, delivered])
    assert early.status == "accepted" and len(early.anomalies) == 1 and "delivered" in early.anomalies[0]
    broken = fold(CASE, [RECEIVED, event(6, PARCEL_PACKED, kind="notice")])  # no parcel_id, no time
    assert broken.custody == () and "malformed payload" in broken.anomalies[0]
