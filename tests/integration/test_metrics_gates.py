"""The gates of ``GET /metrics`` (issue 21) in-process: no token configured → 404 at both ends; central with a token
→ 401 without it or with another, 200 with it; the node answers only clients on the LAN or the machine itself
(the test client's address is no IP: refused with 403 even with the right token). The figures themselves are
checked against real processes in `test_logs_and_metrics`."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient

from central.app import create_app as create_central
from central.settings import CentralSettings
from node.app import create_app as create_node
from node.enrolment import enroll
from node.settings import NodeSettings
from tests.support import CountySetup, copy_enrolled

TOKEN = "a-token-only-the-scraper-knows"
AUTH = {"authorization": f"Bearer {TOKEN}"}


async def test_metrics_are_off_without_a_token_and_closed_without_it(
    county: CountySetup, tmp_path: Path
) -> None:
    node_dir = tmp_path / "node1"
    if not copy_enrolled(county, node_dir, tmp_path / "central"):
        await enroll(
            county.bundles[0].bundle_path, node_dir, expected_county=county.bundles[0].county_fingerprint
        )
    for token in ("", TOKEN):
        central_app = create_central(
            CentralSettings(data_dir=tmp_path / "central", county_dir=county.county_dir, metrics_token=token)
        )
        node_app = create_node(
            NodeSettings(data_dir=node_dir, sync_enabled=False, clock_interval_s=0, metrics_token=token)
        )
        async with (
            AsyncTestClient(app=central_app, base_url="http://central.test") as central,
            AsyncTestClient(app=node_app, base_url="http://node.test") as node,
        ):
            if not token:
                assert (await central.get("/metrics", headers=AUTH)).status_code == 404
                assert (await node.get("/metrics", headers=AUTH)).status_code == 404
                continue
            assert (await central.get("/metrics")).status_code == 401
            refused = await central.get("/metrics", headers={"authorization": "Bearer another"})
            assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
            answer = await central.get("/metrics", headers=AUTH)
            assert answer.status_code == 200
            assert 'onewindow_central_nodes{status="active"}' in answer.text
            assert "onewindow_central_calendar_missing_years " in answer.text
            # The node: not from the LAN, so not even the right token opens it.
            assert (await node.get("/metrics", headers=AUTH)).status_code == 403
