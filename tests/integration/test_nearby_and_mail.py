"""Where the result goes (issue 17): 就近办 — the applicant collects at another centre, which receives the whole case
and the result documents and hands them over, while the accepting centre refuses to; and a mailed result, whose
outbound parcel lists the documents it carries. Node and central in-process, real crypto and real SQLite."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient

from node.app import create_app as create_node
from node.enrolment import enroll
from node.intake.mail.outbound import pack_parcel
from node.runtime import NodeRuntime
from node.settings import NodeSettings
from node.staff import Actor
from node.sync.client import SyncReport, pull, sync_once
from node.sync.down_blobs import download_document, wanted_documents
from tests.backoffice_support import decide
from tests.conftest import Stack, login_central, login_node
from tests.integration.test_acceptance_outcomes import png_signature
from tests.integration.test_walking_skeleton import accept_one
from tests.support import CLERK, PDF, VALID_IDS


async def test_a_nearby_centre_receives_the_case_and_hands_over_its_result(
    stack: Stack, tmp_path: Path
) -> None:
    other_dir = tmp_path / "node2"
    await enroll(stack.setup.bundles[1].bundle_path, other_dir)
    other_app = create_node(NodeSettings(data_dir=other_dir, sync_enabled=False, clock_interval_s=0))
    async with AsyncTestClient(app=other_app, base_url="http://node2.test") as other:
        other_runtime: NodeRuntime = other_app.state.runtime
        await sync_once(stack.central, other_runtime)  # the second centre is enrolled at central
        await login_node(stack)
        case = await accept_one(stack, VALID_IDS[0], "张三")
        case_id = case["case_id"]
        await sync_once(stack.central, stack.runtime)
        await login_central(stack)
        assert (await decide(stack.central, case_id, "approve", "符合条件")).status_code == 200
        dispatched = await stack.central.post(
            f"/api/v1/work/{case_id}/dispatch", json={"to_node": other_runtime.node_id}
        )
        assert dispatched.status_code == 200, dispatched.text

        # The accepting centre knows where the result went and does not hand it over.
        await sync_once(stack.central, stack.runtime)
        refused = await stack.node.post(
            f"/api/v1/cases/{case_id}/issue",
            json={"cert_type": "111", "cert_number": VALID_IDS[0], "signature": png_signature()},
        )
        assert refused.status_code == 409 and "就近领取" in refused.json()["detail"], refused.text
        page = await stack.node.get(f"/cases/{case_id}", headers={"accept": "text/html"})
        assert "结果已下发至" in page.text and "测试2号便民服务中心" in page.text

        # The chosen centre gets the case, its documents, and hands the result over.
        report = await sync_once(stack.central, other_runtime)
        assert report.documents == 1 and not report.errors, report
        login = await other.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
        assert login.status_code == 200
        there = (await other.get(f"/api/v1/cases/{case_id}")).json()
        assert there["status"] == "approved" and there["case_number"] == case["case_number"]
        page = await other.get(f"/cases/{case_id}", headers={"accept": "text/html"})
        assert "打印办理结果通知书" in page.text
        blob = there["documents"][0]["blob"]
        issued = await other.post(
            f"/api/v1/cases/{case_id}/issue",
            json={"cert_type": "111", "cert_number": VALID_IDS[0], "signature": png_signature()},
        )
        assert issued.status_code == 200, issued.text
        await sync_once(stack.central, other_runtime)
        at_central = (await stack.central.get(f"/api/v1/cases/{case_id}")).json()
        assert at_central["status"] == "issued"
        trip = {s["step"]: s for s in at_central["round_trip"]}
        assert all(s["at"] for s in trip.values()), trip
        assert blob == at_central["documents"][0]["blob"]
        assert trip["at_window"]["at"] >= trip["decided"]["at"]


async def test_a_mailed_result_puts_its_documents_in_the_parcel(stack: Stack) -> None:
    await login_node(stack)
    case_id = (await accept_one(stack, VALID_IDS[1], "李四"))["case_id"]
    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    assert (await decide(stack.central, case_id, "deny", "家庭人均收入高于低保标准")).status_code == 200
    await pull(stack.central, stack.runtime, SyncReport())  # the decision is here, its document not yet
    handed = await stack.node.post(
        f"/api/v1/cases/{case_id}/mail",
        json={"recipient": "李四", "phone": "13912345678", "address": "红梅镇红梅村三组12号"},
    )
    assert handed.status_code == 409 and "结果文书还在从县中心传来" in handed.json()["detail"]
    await sync_once(stack.central, stack.runtime)
    handed = await stack.node.post(
        f"/api/v1/cases/{case_id}/mail",
        json={"recipient": "李四", "phone": "13912345678", "address": "红梅镇红梅村三组12号"},
    )
    assert handed.status_code == 200, handed.text
    at_node = (await stack.node.get(f"/api/v1/cases/{case_id}")).json()
    number = at_node["documents"][0]["number"]
    parcel = await pack_parcel(
        stack.runtime,
        actor=Actor("lead", "lead"),
        case_id=case_id,
        kind="result",
        tracking_number="EA000000005CN",
    )
    assert f"办理结果通知书（{number}）" in parcel.contents


async def test_a_broken_document_download_resumes_on_the_same_bytes(stack: Stack) -> None:
    """The result document comes down as an age file encrypted to the node, resumable: a download cut halfway
    continues from where it stopped (HTTP 206 on the ETag it began with), and what arrives is checked against
    the hash the county signed before the window may print it."""
    await login_node(stack)
    case_id = (await accept_one(stack, VALID_IDS[2], "王五"))["case_id"]
    await sync_once(stack.central, stack.runtime)
    await login_central(stack)
    assert (await decide(stack.central, case_id, "approve", "符合条件")).status_code == 200
    await pull(stack.central, stack.runtime, SyncReport())
    wanted = await wanted_documents(stack.runtime)
    assert list(wanted.values()) == [case_id]
    digest = next(iter(wanted))
    whole, resumed = await download_document(stack.central, stack.runtime, digest)
    assert not resumed
    assert digest not in whole.decode("latin-1")  # an age file, not the PDF
    part = stack.runtime.data_dir / "down" / f"{digest}.age.part"
    part.write_bytes(whole[: len(whole) // 2])  # the link broke halfway
    path = f"/sync/v1/blobs/{digest}"
    again, resumed = await download_document(stack.central, stack.runtime, digest)
    assert resumed and again == whole  # only the second half came over the link
    # Another node may not fetch it; a wrong hash is refused as malformed.
    unsigned = await stack.central.get(path)
    assert unsigned.status_code in (400, 401, 403), unsigned.text
    report = await sync_once(stack.central, stack.runtime)
    assert report.documents == 1 and not report.errors
    pdf = await stack.node.get(f"/cases/{case_id}/results/{digest}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_an_on_the_spot_result_reaches_central_like_any_other(stack: Stack) -> None:
    await login_node(stack, ("lead", "lead-pass-1"))
    items = (await stack.node.get("/api/v1/items", params={"q": "cxjmjbylbxcbdj"})).json()["items"]
    item = next(i for i in items if i["case_type"] == 1)
    created = await stack.node.post(
        "/api/v1/cases",
        json={
            "item_code": item["code"],
            "applicant": {"name": "赵六", "cert_type": "111", "cert_number": VALID_IDS[0]},
        },
    )
    case_id = created.json()["case_id"]
    for material in item["materials"]:
        if material["mandatory"]:
            await stack.node.post(
                f"/api/v1/cases/{case_id}/materials",
                data={"material_id": material["id"]},
                files={"file": (f"{material['id']}.pdf", PDF, "application/pdf")},
            )
    assert (await stack.node.post(f"/api/v1/cases/{case_id}/accept")).status_code == 200
    decided = await stack.node.post(f"/api/v1/cases/{case_id}/decide-on-spot", json={"outcome": "approve"})
    assert decided.status_code == 200, decided.text
    document = decided.json()["documents"][0]
    assert document["title"] == "办理结果通知书"
    await sync_once(stack.central, stack.runtime)
    await login_central(stack, ("admin", "admin-pass-1"))
    at_central = (await stack.central.get(f"/api/v1/cases/{case_id}")).json()
    assert at_central["documents"] == [document]
    pdf = await stack.central.get(f"/cases/{case_id}/documents/{document['blob']}")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and len(pdf.content) == document["size"]
    steps = {s["step"]: s["at"] for s in at_central["round_trip"]}
    assert steps["at_window"] == steps["decided"] != ""
