"""Archiving end to end (issue 10, acceptance 3): a package goes to central as an attachment, central checks it
again and answers down the log, and the node purges its copy only on a passed confirmation of that exact package
— never before, not when the confirmation is lost on the way (until the retry brings it), not when central's
check fails. Plus the pages on both sides and `onewindow archive verify`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from central.archive.service import on_blob_arrived
from central.models import ArchiveRecord, EventRecord, NodeRecord
from node.archive.service import (
    archive_case,
    archive_closed_cases,
    archive_loop,
    list_packages,
    purge_confirmed_packages,
)
from node.sync.client import CentralUnavailable, sync_once
from protocol.archive import ARCHIVE_MEDIA_TYPE, sha256
from protocol.keys import SigningKey
from tests.conftest import Stack, login_central, login_node
from tests.support import LEAD, VALID_IDS
from tests.unit.protocol.test_archive import (
    LEAD_ACTOR,
    change_a_byte_in_a_material,
    issued_case,
    jpeg,
    members,
    tamper,
)


class LosesDownAnswers(httpx.AsyncBaseTransport):
    """Once an attachment has gone up (a tus PATCH), central's answers to the node's pull of the down log are
    lost on the way back (after central answered); everything else passes. (A round pulls before it uploads
    and again after: the confirmation can only be in the second pull.)"""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.armed = False
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "PATCH" and request.url.path.startswith("/sync/v1/files/"):
            self.armed = True
        if self.armed and request.url.path == "/sync/v1/down":
            await response.aread()
            self.lost += 1
            raise httpx.ReadError("connection reset while reading the answer", request=request)
        return response


async def central_record(stack: Stack, digest: str) -> ArchiveRecord | None:
    async with stack.central_app.state.central.db.transaction() as session:
        return await session.get(ArchiveRecord, digest)


async def test_the_node_purges_only_after_central_confirms_across_a_lost_confirmation_and_a_retry(
    stack: Stack,
) -> None:
    state = await issued_case(stack)
    runtime = stack.runtime
    outcome = await archive_case(runtime, actor=LEAD_ACTOR, case_id=state["case_id"])
    assert outcome.archived
    digest = outcome.package_sha256

    # Nothing has reached central: nothing is purged, however often the sweep runs.
    assert await purge_confirmed_packages(runtime) == []
    assert runtime.blobs.exists(digest)
    (row,) = await list_packages(runtime)
    assert (row.state, row.uploaded, row.local_copy) == ("awaiting", False, True)

    # The round that uploads the package: central checks it and queues the confirmation, but the node never
    # hears it — the answer to its pull is lost.
    lossy = LosesDownAnswers(httpx.ASGITransport(app=stack.central_app))
    async with httpx.AsyncClient(transport=lossy, base_url="http://central.test") as client:
        with pytest.raises(CentralUnavailable):
            await sync_once(client, runtime)
    assert lossy.lost == 1
    record = await central_record(stack, digest)
    assert record is not None and record.passed and record.answer_event
    assert record.archival_number == outcome.report.archival_number
    assert await purge_confirmed_packages(runtime) == []
    assert runtime.blobs.exists(digest)
    (row,) = await list_packages(runtime)
    assert (row.state, row.uploaded, row.local_copy) == ("awaiting", True, True)  # uploaded, not confirmed

    # The retry brings the confirmation down; now, and only now, the local copy goes.
    await sync_once(stack.central, runtime)
    (row,) = await list_packages(runtime)
    assert row.state == "confirmed" and row.local_copy
    assert await purge_confirmed_packages(runtime) == [digest]
    assert not runtime.blobs.exists(digest)
    assert await purge_confirmed_packages(runtime) == []  # harmless to repeat
    (row,) = await list_packages(runtime)
    assert (row.state, row.local_copy) == ("confirmed", False)

    # A further round sends nothing again, and central still has its copy and its answer.
    again = await sync_once(stack.central, runtime)
    assert (again.sent, again.attachments) == (0, 0)
    async with stack.central_app.state.central.db.transaction() as session:
        types = [
            r.type
            for r in (await session.exec(select(EventRecord).where(EventRecord.case_id == state["case_id"])))
        ]
    assert types.count("case.archived") == 1 and types.count("case.archive_confirmed") == 1

    # The pages on both sides say so.
    page = await stack.node.get(f"/archive/cases/{state['case_id']}", headers={"accept": "text/html"})
    assert page.status_code == 200 and "县级已确认接收" in page.text and "本机副本已清除" in page.text
    await login_central(stack)
    listed = (await stack.central.get("/api/v1/archive")).json()["packages"]
    assert [(p["sha256"], p["passed"]) for p in listed] == [(digest, True)]
    report = (await stack.central.get(f"/api/v1/archive/{digest}")).json()["report"]
    assert report["stage"] == "YJ" and report["passed"] and report["case_number"] == state["case_number"]
    html = await stack.central.get(f"/archive/{digest}", headers={"accept": "text/html"})
    assert "检测通过" in html.text and state["case_number"] in html.text
    case_page = await stack.central.get(f"/cases/{state['case_id']}", headers={"accept": "text/html"})
    assert case_page.status_code == 200 and "归档" in case_page.text and "县级接收检测" in case_page.text
    at_node = await stack.node.get(f"/cases/{state['case_id']}", headers={"accept": "text/html"})
    assert at_node.status_code == 200 and "已出件" in at_node.text


async def test_a_package_central_refuses_is_never_purged_and_the_case_can_be_archived_again(
    stack: Stack,
) -> None:
    state = await issued_case(stack)
    runtime = stack.runtime
    first = await archive_case(runtime, actor=LEAD_ACTOR, case_id=state["case_id"])
    await sync_once(stack.central, runtime)  # the events reach central; the package too
    record = await central_record(stack, first.package_sha256)
    assert record is not None and record.passed

    # A second case, whose package central checks against a key that is not the node's (as after a key
    # mix-up): the check fails, the node is told, and keeps its copy.
    other = await issued_case(stack)
    second = await archive_case(runtime, actor=LEAD_ACTOR, case_id=other["case_id"])
    async with stack.central_app.state.central.db.transaction() as session:
        node = await session.get(NodeRecord, runtime.node_id)
        assert node is not None
        real_key, node.sign_key = node.sign_key, SigningKey.generate().verify_key.to_text()
        session.add(node)
    # The package arrives (the hook the attachment ingest calls) while central holds the wrong key.
    package = runtime.blobs.get(second.package_sha256)
    async with stack.central_app.state.central.db.transaction() as session:
        await on_blob_arrived(
            session,
            stack.central_app.state.central.county,
            node_id=runtime.node_id,
            sha256=second.package_sha256,
            media_type=ARCHIVE_MEDIA_TYPE,
            filename="x.zip",
            data=package,
        )
        node = await session.get(NodeRecord, runtime.node_id)
        assert node is not None
        node.sign_key = real_key
        session.add(node)
    refused = await central_record(stack, second.package_sha256)
    assert refused is not None and not refused.passed
    assert {f["reason_code"] for f in json.loads(refused.report)["summary"]["failures"]} >= {"key_untrusted"}

    # A tampered copy of the first package (another hash) fails too and touches nothing of the first.
    tampered = tamper(runtime.blobs.get(first.package_sha256), change_a_byte_in_a_material)
    async with stack.central_app.state.central.db.transaction() as session:
        await on_blob_arrived(
            session,
            stack.central_app.state.central.county,
            node_id=runtime.node_id,
            sha256=sha256(tampered),
            media_type=ARCHIVE_MEDIA_TYPE,
            filename="x.zip",
            data=tampered,
        )
    assert not (await central_record(stack, sha256(tampered))).passed  # type: ignore[union-attr]

    await sync_once(stack.central, runtime)
    purged = await purge_confirmed_packages(runtime)
    assert purged == [first.package_sha256]  # only the one central confirmed
    assert runtime.blobs.exists(second.package_sha256)
    rows = {r.case.case_id: r for r in await list_packages(runtime)}
    assert rows[other["case_id"]].state == "refused" and rows[other["case_id"]].local_copy
    assert rows[state["case_id"]].state == "confirmed"

    # The refused case is archivable again: a new package (new archival number), and the old copy stays.
    page = await stack.node.get("/archive", headers={"accept": "text/html"})
    assert "县级检测未通过" in page.text and f'id="closed-{other["case_id"]}"' in page.text
    again = await stack.node.post(f"/api/v1/archive/cases/{other['case_id']}")
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["archived"] and body["package"] != second.package_sha256
    assert body["report"]["archival_number"] != second.report.archival_number
    assert runtime.blobs.exists(second.package_sha256)
    await sync_once(stack.central, runtime)
    assert await purge_confirmed_packages(runtime) == [body["package"]]
    assert runtime.blobs.exists(second.package_sha256)  # never confirmed, never purged


async def test_archive_pages_and_the_verify_command(stack: Stack, tmp_path: Path) -> None:
    state = await issued_case(stack)
    page = await stack.node.get("/archive", headers={"accept": "text/html"})
    assert (
        page.status_code == 200
        and f'id="closed-{state["case_id"]}"' in page.text
        and "检测并归档" in page.text
    )
    archived = await stack.node.post(f"/archive/cases/{state['case_id']}", headers={"accept": "text/html"})
    assert archived.status_code == 200, archived.text  # followed the redirect to the report
    assert "检测通过" in archived.text and "GD-KY-2" in archived.text and "真实性" in archived.text
    report = (await stack.node.get(f"/api/v1/archive/cases/{state['case_id']}/report")).json()
    assert report["report"]["passed"] and report["state"] == "awaiting"
    twice = await stack.node.post(f"/api/v1/archive/cases/{state['case_id']}")
    assert twice.status_code == 409

    download = await stack.node.get(f"/archive/cases/{state['case_id']}/package.zip")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    path = tmp_path / "package.zip"
    path.write_bytes(download.content)
    key = stack.runtime.identity.sign_key.to_text()

    def verify(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "provisioning.cli", "archive", "verify", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    ok = verify(str(path), "--node-key", key)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "结论：通过" in ok.stdout and report["report"]["archival_number"] in ok.stdout
    as_json = verify(str(path), "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["passed"] is True
    broken = tmp_path / "broken.zip"
    broken.write_bytes(tamper(download.content, change_a_byte_in_a_material))
    bad = verify(str(broken), "--node-key", key)
    assert bad.returncode == 1 and "结论：不通过" in bad.stdout and "digest_mismatch" in bad.stdout
    stranger = verify(str(path), "--node-key", SigningKey.generate().verify_key.to_text())
    assert stranger.returncode == 1 and "key_untrusted" in stranger.stdout


async def test_the_sweep_archives_closed_cases_only_and_does_not_rebuild_a_failing_one(stack: Stack) -> None:
    closed = await issued_case(stack)
    broken = await issued_case(stack, id_card=jpeg((200, 150))[:700])
    still_open = (
        await stack.node.post(
            "/api/v1/cases",
            json={
                "item_code": closed["item_code"],
                "applicant": {"name": "赵六", "cert_type": "111", "cert_number": VALID_IDS[2]},
            },
        )
    ).json()
    assert still_open["status"] == "received"

    outcomes = {o.case_id: o for o in await archive_closed_cases(stack.runtime)}
    assert set(outcomes) == {closed["case_id"], broken["case_id"]}
    assert outcomes[closed["case_id"]].archived and not outcomes[broken["case_id"]].archived
    assert outcomes[closed["case_id"]].report.archival_number.endswith("-D30-00001")
    # Next round: the archived case is done, the failing one is not rebuilt until something changes.
    assert await archive_closed_cases(stack.runtime) == []
    listed = (await stack.node.get("/api/v1/archive")).json()
    assert [c["case_id"] for c in listed["closed"]] == [broken["case_id"]]
    assert [p["case_id"] for p in listed["packages"]] == [closed["case_id"]]
    failed = await stack.node.post(f"/api/v1/archive/cases/{broken['case_id']}")
    assert failed.status_code == 422 and failed.json()["report"]["passed"] is False
    # The open case cannot be archived by hand either.
    refused = await stack.node.post(f"/api/v1/archive/cases/{still_open['case_id']}")
    assert refused.status_code == 409 and "尚未办结" in refused.json()["detail"]


async def test_a_refused_case_is_archived_with_its_refusal_for_permanent_keeping(stack: Stack) -> None:
    await login_node(stack, LEAD)
    items = (await stack.node.get("/api/v1/items")).json()["items"]
    item = next(i for i in items if i["name"] == "农村宅基地申请")  # retention: permanent
    case = (
        await stack.node.post(
            "/api/v1/cases",
            json={
                "item_code": item["code"],
                "applicant": {"name": "张三", "cert_type": "111", "cert_number": VALID_IDS[0]},
            },
        )
    ).json()
    refused = await stack.node.post(
        f"/api/v1/cases/{case['case_id']}/refuse",
        json={"reasons": "申请人已有一处宅基地。", "legal_basis": "《中华人民共和国土地管理法》第六十二条"},
    )
    assert refused.json()["status"] == "refused"
    archived = await stack.node.post(f"/api/v1/archive/cases/{case['case_id']}")
    assert archived.status_code == 200, archived.text
    report = archived.json()["report"]
    assert report["passed"] and report["retention"] == "permanent"
    assert "-WS·" in report["archival_number"] and report["archival_number"].split("-")[-2] == "Y"
    package = stack.runtime.blobs.get(archived.json()["package"])
    _bag, files = members(package)
    meta = json.loads(files["data/metadata/case.json"])
    assert meta["case"]["status"] == "refused" and meta["case"]["result"]["refusal"]["reasons"]
    assert meta["case"]["closed_at"] == refused.json()["refusal"]["refused_at"]
    assert sorted(f["title"] for f in meta["files"]) == ["不予受理决定书", "收件凭证"]


async def eventually(check: Callable[[], Awaitable[bool]], *, seconds: float = 30.0) -> None:
    """Poll a condition the background loop is expected to bring about."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the background loop did not get there in time")


async def test_the_background_loop_archives_and_later_purges_by_itself(stack: Stack) -> None:
    state = await issued_case(stack)
    runtime = stack.runtime
    stop = asyncio.Event()
    loop = asyncio.create_task(archive_loop(runtime, interval_s=0.05, stop=stop))

    async def archived() -> bool:
        return bool(await list_packages(runtime))

    try:
        await eventually(archived)
        (row,) = await list_packages(runtime)
        assert row.case.case_id == state["case_id"] and row.event.actor == "system:archive"
        await sync_once(stack.central, runtime)  # upload, central confirms, the answer comes down

        async def purged() -> bool:
            return not runtime.blobs.exists(row.package)

        await eventually(purged)
    finally:
        stop.set()
        await loop
    (row,) = await list_packages(runtime)
    assert (row.state, row.local_copy) == ("confirmed", False)
