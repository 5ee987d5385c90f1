"""Shared fixtures: a provisioned county, an enrolled node, central and node apps in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from central.app import create_app as create_central
from central.settings import CentralSettings
from node.app import create_app as create_node
from node.enrolment import enroll
from node.runtime import NodeRuntime
from node.settings import NodeSettings
from tests.support import (
    CLERK,
    REVIEWER,
    CountySetup,
    FakeClock,
    build_template,
    copy_enrolled,
    copy_template,
)


@dataclass
class Stack:
    """One county: central and one node, both in-process, talking real HTTP semantics through ASGI."""

    setup: CountySetup
    central_app: Litestar
    central: AsyncTestClient[Litestar]
    node_app: Litestar
    node: AsyncTestClient[Litestar]
    node_dir: Path
    clock: FakeClock

    @property
    def runtime(self) -> NodeRuntime:
        runtime: NodeRuntime = self.node_app.state.runtime
        return runtime


@pytest.fixture(scope="session")
def county_template(tmp_path_factory: pytest.TempPathFactory) -> CountySetup:
    """One provisioned county per test process (each xdist worker builds its own), with its first node enrolled
    and central's database migrated: every test gets a copy (`county`), never the template itself."""
    return build_template(tmp_path_factory.mktemp("county-template"))


@pytest.fixture
def county(county_template: CountySetup, tmp_path: Path) -> CountySetup:
    """A county of two nodes, private to the test: a copy of the session's template."""
    return copy_template(county_template, tmp_path)


@pytest.fixture
def central_database_url() -> str | None:
    """Central's database for the in-process stack: SQLite in its data directory unless a module overrides."""
    return None


@pytest.fixture
def clock() -> FakeClock:
    """The node's clock: real time unless the test sets it."""
    return FakeClock()


@pytest.fixture
async def stack(
    county: CountySetup, tmp_path: Path, central_database_url: str | None, clock: FakeClock
) -> AsyncIterator[Stack]:
    node_dir = tmp_path / "node1"
    if not copy_enrolled(county, node_dir, tmp_path / "central"):
        await enroll(
            county.bundles[0].bundle_path, node_dir, expected_county=county.bundles[0].county_fingerprint
        )
    central_app = create_central(
        CentralSettings(
            data_dir=tmp_path / "central", county_dir=county.county_dir, database_url=central_database_url
        )
    )
    node_app = create_node(NodeSettings(data_dir=node_dir, sync_enabled=False, clock_interval_s=0), now=clock)
    async with (
        AsyncTestClient(app=central_app, base_url="http://central.test") as central,
        AsyncTestClient(app=node_app, base_url="http://node.test") as node,
    ):
        yield Stack(county, central_app, central, node_app, node, node_dir, clock)


async def login_node(stack: Stack, who: tuple[str, str] = CLERK) -> None:
    response = await stack.node.post("/api/v1/login", json={"username": who[0], "password": who[1]})
    assert response.status_code == 200, response.text


async def login_central(stack: Stack, who: tuple[str, str] = REVIEWER) -> None:
    response = await stack.central.post("/api/v1/login", json={"username": who[0], "password": who[1]})
    assert response.status_code == 200, response.text


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests (real processes, browsers) first, so that with `-n` (xdist) neither core is left with a
    long test at the end while the other idles; the order within each group is kept."""
    for item in items:
        if "browser" in item.path.parts:  # every browser test drives Chromium against real processes
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
