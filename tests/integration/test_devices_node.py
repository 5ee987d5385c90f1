"""A node running with simulated devices, through its HTTP API: the card on the reader fills the applicant, the
evaluator's button rates the visit the clerk asked about, a ticket taken at the kiosk comes out of the printer,
a scanned page lands on the case, and a reader unplugged and plugged back in is reported and then used again.
The drivers are the real ones; only the USB devices are emulated (node.devices.simulators)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from node.app import create_app
from node.devices.manager import DeviceManager
from node.devices.models import IdCardRead
from node.enrolment import enroll
from node.runtime import NodeRuntime
from node.settings import NodeSettings
from tests.support import CLERK, CountySetup

ITEM = "11220581MB0153015A4002000101000"


async def eventually(check: Callable[[], Awaitable[Any]], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s")
        await asyncio.sleep(0.1)


@pytest.fixture
async def node(
    county: CountySetup, tmp_path: Path
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], Litestar]]:
    node_dir = tmp_path / "node1"
    await enroll(
        county.bundles[0].bundle_path, node_dir, expected_county=county.bundles[0].county_fingerprint
    )
    app = create_app(
        NodeSettings(
            data_dir=node_dir,
            sync_enabled=False,
            clock_interval_s=0,
            simulate_devices=True,
            scan_folder=tmp_path / "scans",
            device_poll_s=0.1,
        )
    )
    async with AsyncTestClient(app=app, base_url="http://node.test") as client:
        response = await client.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
        assert response.status_code == 200
        devices: DeviceManager = app.state.devices
        await eventually(lambda: _all_connected(devices))
        yield client, app


async def _all_connected(devices: DeviceManager) -> bool:
    return {d["state"] for d in devices.status()["devices"]} == {"connected"} and len(devices.slots) == 3


async def test_reading_a_card_gives_the_applicant_fields_and_keeps_no_plain_number(
    node: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, app = node
    started = time.monotonic()
    response = await client.post("/api/v1/devices/idcard/read")
    assert response.status_code == 409
    assert response.json()["code"] == "OW-1404"
    assert "请把身份证放在读卡区" in response.json()["detail"]
    assert time.monotonic() - started >= 2.5  # it waited for a card to be placed

    assert (await client.post("/devices/sim/card", data={"card": "0"})).status_code in (200, 201)
    response = await client.post("/api/v1/devices/idcard/read")
    assert response.status_code == 200, response.text
    fields = response.json()
    assert {k: fields[k] for k in ("name", "cert_type", "cert_number", "sex", "birth_date")} == {
        "name": "张伟",
        "cert_type": "111",
        "cert_number": "220581199003151232",
        "sex": "1",
        "birth_date": "1990-03-15",
    }
    assert fields["nation"] == "汉族" and fields["number_valid"] and fields["photo_kept"]
    # The fields are accepted by the case form as they are (sex and birth date agree with the number).
    case = await client.post(
        "/api/v1/cases",
        json={
            "item_code": ITEM,
            "applicant": {k: fields[k] for k in ("name", "cert_type", "cert_number", "sex", "birth_date")},
        },
    )
    assert case.status_code == 201, case.text
    runtime: NodeRuntime = app.state.runtime
    async with runtime.db.read() as db:
        read = (await db.exec(select(IdCardRead))).one()
    assert "220581199003151232" not in read.model_dump_json()
    assert len(runtime.blobs.get(read.photo_blob)) == 1024
    # Read once: until the card is lifted and placed again, there is no new card.
    again = await client.post("/api/v1/devices/idcard/read")
    assert again.status_code == 409 and "拿起后再放一次" in again.json()["detail"]


async def test_the_evaluator_rates_the_visit_the_clerk_asked_about(
    node: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, app = node
    # A press with nothing to rate is reported on the device page, not recorded.
    await client.post("/devices/sim/press", data={"button": "1"})
    devices: DeviceManager = app.state.devices
    await eventually(lambda: _event(devices, "当前没有待评价的办事"))
    response = await client.post("/api/v1/evaluator/request", json={"window": "1号窗口", "visit": "A001"})
    assert response.status_code == 200, response.text
    # The case page offers the simulated evaluator's buttons beside 用评价器评价.
    controls = await client.get("/devices/sim/controls?for=evaluator")
    assert "评价器：非常满意" in controls.text and "评价器：非常不满意" in controls.text
    answer = await client.post("/devices/sim/press", data={"button": "2"}, headers={"HX-Request": "true"})
    assert "已按下评价器「满意」" in answer.text

    async def rated() -> list[dict[str, Any]]:
        return [r for r in (await client.get("/api/v1/ratings")).json()["ratings"] if r["visit"] == "A001"]

    rating = (await eventually(rated))[0]
    assert (rating["level"], rating["channel"], rating["window"]) == (2, "evaluator", "1号窗口")


async def _event(devices: DeviceManager, words: str) -> bool:
    return any(words in e["text"] for e in devices.status()["events"])


async def test_a_ticket_taken_comes_out_of_the_printer(
    node: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, app = node
    response = await client.post("/api/v1/tickets", json={"category": "A"})
    assert response.status_code == 201, response.text
    number = response.json()["ticket"]["number"]
    printer = app.state.devices.simulator.printer

    async def printed() -> list[bytes]:
        return printer.tickets()

    ticket = (await eventually(printed))[0]
    assert number.encode("gb18030") in ticket
    assert "综合受理".encode("gb18030") in ticket
    assert "您前面还有 0 人等候".encode("gb18030") in ticket
    assert b"/kiosk/tickets/" in ticket  # the QR code's content


async def test_a_scanned_page_lands_on_the_case(node: tuple[AsyncTestClient[Litestar], Litestar]) -> None:
    client, _app = node
    await client.post("/devices/sim/card", data={"card": "1"})
    fields = (await client.post("/api/v1/devices/idcard/read")).json()
    case = (
        await client.post(
            "/api/v1/cases",
            json={
                "item_code": ITEM,
                "applicant": {k: fields[k] for k in ("name", "cert_type", "cert_number")},
            },
        )
    ).json()
    case_id = case["case_id"]
    response = await client.post(
        f"/cases/{case_id}/capture", data={"material_id": "id-card", "window": "1号窗口"}
    )
    assert response.status_code in (200, 302, 303)
    box = await client.get(f"/cases/{case_id}/capture")
    assert "正在等待扫描件" in box.text and "1号窗口" in box.text
    await client.post("/devices/sim/scan")

    async def attached() -> list[dict[str, Any]]:
        return (await client.get(f"/api/v1/cases/{case_id}")).json()["materials"]

    materials = await eventually(attached)
    assert materials[0]["material_id"] == "id-card" and materials[0]["media_type"] == "application/pdf"
    box = await client.get(f"/cases/{case_id}/capture?seen=0")
    assert box.headers.get("hx-refresh") == "true"  # the open case page reloads to show the new page
    assert "已加入办件" in box.text


async def test_a_reader_unplugged_and_replugged_is_reported_then_used_again(
    node: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, app = node
    devices: DeviceManager = app.state.devices
    await client.post("/devices/sim/plug", data={"kind": "idcard"})

    async def unplugged() -> bool:
        return any(d["kind"] == "idcard" and d["state"] == "unplugged" for d in devices.status()["devices"])

    await eventually(unplugged)
    response = await client.post("/api/v1/devices/idcard/read")
    assert response.status_code == 503
    assert response.json()["detail"] == "身份证读卡器不可用：设备已拔出或断开"
    page = await client.get("/devices")
    assert "已断开" in page.text and "插回身份证读卡器" in page.text

    await client.post("/devices/sim/plug", data={"kind": "idcard"})
    await eventually(lambda: _all_connected(devices))
    await client.post("/devices/sim/card", data={"card": "2"})
    response = await client.post("/api/v1/devices/idcard/read")
    assert response.status_code == 200 and response.json()["name"] == "李小龙"


async def test_the_document_camera_photographs_a_page_onto_the_case(
    node: tuple[AsyncTestClient[Litestar], Litestar],
) -> None:
    client, _app = node
    await client.post("/devices/sim/card", data={"card": "2"})
    fields = (await client.post("/api/v1/devices/idcard/read")).json()
    case_id = (
        await client.post(
            "/api/v1/cases",
            json={
                "item_code": ITEM,
                "applicant": {k: fields[k] for k in ("name", "cert_type", "cert_number")},
            },
        )
    ).json()["case_id"]
    await client.post(
        f"/cases/{case_id}/capture", data={"material_id": "household-register", "window": "2号窗口"}
    )
    response = await client.post(f"/devices/camera/capture?next=/cases/{case_id}")
    assert response.status_code in (200, 302, 303)

    async def attached() -> list[dict[str, Any]]:
        return (await client.get(f"/api/v1/cases/{case_id}")).json()["materials"]

    material = (await eventually(attached))[0]
    assert (material["material_id"], material["media_type"]) == ("household-register", "image/jpeg")
    assert material["filename"].startswith("高拍仪-")


async def test_a_decoder_plug_in_turns_the_photo_into_an_image(
    county: CountySetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    plugin = types.ModuleType("fake_wlt_vendor")
    plugin.decode = lambda wlt: b"BM" + bytes(38860)  # type: ignore[attr-defined]  # a 102x126 BMP's size
    monkeypatch.setitem(sys.modules, "fake_wlt_vendor", plugin)
    node_dir = tmp_path / "node1"
    await enroll(
        county.bundles[0].bundle_path, node_dir, expected_county=county.bundles[0].county_fingerprint
    )
    app = create_app(
        NodeSettings(
            data_dir=node_dir,
            sync_enabled=False,
            clock_interval_s=0,
            simulate_devices=True,
            device_poll_s=0.1,
            photo_decoder="fake_wlt_vendor:decode",
        )
    )
    async with AsyncTestClient(app=app, base_url="http://node.test") as client:
        await client.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
        await eventually(lambda: _all_connected(app.state.devices))
        await client.post("/devices/sim/card", data={"card": "0"})
        fields = (await client.post("/api/v1/devices/idcard/read")).json()
        assert fields["photo_kept"] and fields["photo_decoded"]
        runtime: NodeRuntime = app.state.runtime
        async with runtime.db.read() as db:
            read = (await db.exec(select(IdCardRead))).one()
        assert len(runtime.blobs.get(read.photo_decoded_blob)) == 38862
