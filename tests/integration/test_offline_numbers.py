"""Numbers issued offline never collide (R-ACC-7): two nodes of one county, each on its own database, issue
case numbers and notice numbers for a day without talking to anyone, in whatever order hypothesis picks."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.boot import open_runtime
from node.enrolment import enroll
from node.intake.cases.numbers import (
    NOTICE_KIND_MARKS,
    case_serial_range,
    next_case_number,
    next_notice_number,
    notice_serial_range,
)
from node.runtime import NodeRuntime, notice_prefix
from protocol.catalogue import Catalogue
from protocol.errors import OneWindowError
from tests.support import provision

T = TypeVar("T")
DAY = date(2026, 11, 23)
KINDS = sorted(NOTICE_KIND_MARKS)
CASE_NUMBER = re.compile(r"[0-9A-Z]{31}20261123\d{4}")
NOTICE_NUMBER = re.compile(r".+便民(收|受|容|诺|补|不受|领|结)字〔2026〕第\d{5,6}号")


class TwoNodes:
    """Two enrolled nodes of one county, opened on one private event loop."""

    def __init__(self, root: Path) -> None:
        self.loop = asyncio.new_event_loop()
        setup = provision(root, nodes=2)
        self.runtimes: list[NodeRuntime] = []
        for i, bundle in enumerate(setup.bundles):
            data = root / f"node{i + 1}"
            self.run(enroll(bundle.bundle_path, data, expected_county=bundle.county_fingerprint))
            self.runtimes.append(self.run(open_runtime(data)))
        self.issued: list[str] = []

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    @property
    def catalogue(self) -> Catalogue:
        return self.runtimes[0].catalogue

    async def issue(self, node: int, what: str, item: int) -> str:
        runtime = self.runtimes[node]
        async with runtime.db.write() as session:
            if what == "case":
                code = self.catalogue.items[item].code
                return await next_case_number(
                    session, node_number=runtime.identity.number, item_code=code, day=DAY
                )
            return await next_notice_number(
                session,
                node_number=runtime.identity.number,
                prefix=runtime.notice_prefix,
                kind=what,
                year=DAY.year,
            )

    def close(self) -> None:
        for runtime in self.runtimes:
            self.run(runtime.close())
        self.loop.close()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    pair = TwoNodes(tmp_path_factory.mktemp("numbers"))
    yield pair
    pair.close()


operations = st.lists(
    st.tuples(
        st.integers(0, 1),  # which node
        st.sampled_from(["case", *KINDS]),  # what it numbers
        st.integers(0, 3),  # which item (case numbers count per item and day)
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_two_nodes_issuing_offline_never_produce_the_same_number(
    nodes: TwoNodes, ops: list[tuple[int, str, int]]
) -> None:
    for node, what, item in ops:
        number = nodes.run(nodes.issue(node, what, item))
        pattern = CASE_NUMBER if what == "case" else NOTICE_NUMBER
        assert pattern.fullmatch(number), number
        nodes.issued.append(number)
    # Across every example so far (the counters keep running, as on a real day): no number twice.
    assert len(set(nodes.issued)) == len(nodes.issued)


def test_ranges_are_disjoint_and_the_prefix_is_the_centre_short_name() -> None:
    for a in range(1, 100):
        for b in range(a + 1, 100):
            assert not set(case_serial_range(a)) & set(case_serial_range(b))
        assert notice_serial_range(a).start == a * 10000 + 1
    assert max(notice_serial_range(99)) < notice_serial_range(1).start * 100
    assert notice_prefix("梅河口市红梅镇便民服务中心", "梅河口市") == "红梅"
    assert notice_prefix("海龙镇便民服务中心", "梅河口市") == "海龙"
    assert notice_prefix("新合街道便民服务站") == "新合"
    with pytest.raises(ValueError):
        case_serial_range(100)


def test_a_node_that_used_up_its_daily_range_is_told_so_and_issues_nothing(nodes: TwoNodes) -> None:
    runtime = nodes.runtimes[0]
    code = nodes.catalogue.items[5].code
    day = DAY + timedelta(days=1)

    async def one() -> str:
        async with runtime.db.write() as session:
            return await next_case_number(
                session, node_number=runtime.identity.number, item_code=code, day=day
            )

    numbers = [nodes.run(one()) for _ in range(99)]
    assert numbers[0].endswith("0101") and numbers[-1].endswith("0199")
    with pytest.raises(OneWindowError) as refused:
        nodes.run(one())
    assert refused.value.code == "OW-1305"
