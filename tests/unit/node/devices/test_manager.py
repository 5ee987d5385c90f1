"""The device manager: discovery by the VID:PID table, hot-plug and unplug, health in status(), and a device
unplugged mid-read coming back when replugged."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from node.devices.errors import DeviceError, DeviceGone
from node.devices.idcard import ReaderTimeouts
from node.devices.manager import DEFAULT_DEVICE_TABLE, DeviceManager, parse_device_table
from node.devices.simulators import SAMPLE_CARDS, Simulator


def _manager(simulator: Simulator, table: str = DEFAULT_DEVICE_TABLE) -> DeviceManager:
    return DeviceManager(
        simulator.backend,
        parse_device_table(table),
        mode="simulated",
        simulator=simulator,
        evaluator_window="1号窗口",
    )


def _states(manager: DeviceManager) -> dict[str, str]:
    return {d["kind"]: d["state"] for d in manager.status()["devices"]}


def test_the_device_table_is_parsed_and_mistakes_are_named() -> None:
    assert parse_device_table("0400:c35a=idcard, 0416:5011=printer") == {
        (0x0400, 0xC35A): "idcard",
        (0x0416, 0x5011): "printer",
    }
    with pytest.raises(ValueError, match="未知设备类型"):
        parse_device_table("0400:c35a=scanner")
    with pytest.raises(ValueError, match="VID:PID=类型"):
        parse_device_table("0400-c35a=idcard")


def test_discovery_finds_only_what_the_table_lists() -> None:
    simulator = Simulator(read_delay_s=0)
    manager = _manager(simulator, "0400:c35a=idcard")
    manager.discover()
    assert _states(manager) == {"idcard": "connected"}


def test_status_is_json_and_follows_unplug_and_replug() -> None:
    simulator = Simulator(read_delay_s=0)
    manager = _manager(simulator)
    manager.discover()
    assert _states(manager) == {"idcard": "connected", "evaluator": "connected", "printer": "connected"}
    json.dumps(manager.status(), ensure_ascii=False)  # goes into the heartbeat as it is
    simulator.unplug("printer")
    manager.discover()
    status = manager.status()
    printer = next(d for d in status["devices"] if d["kind"] == "printer")
    assert (printer["state"], printer["state_label"], printer["message"]) == (
        "unplugged",
        "已断开",
        "设备已拔出或断开",
    )
    assert status["events"][0]["text"] == "设备已拔出或断开"
    simulator.replug("printer")
    manager.discover()
    assert _states(manager)["printer"] == "connected"


def test_a_reader_whose_sam_fails_its_self_test_shows_as_faulty() -> None:
    simulator = Simulator(read_delay_s=0)
    simulator.reader.self_test_ok = False
    manager = _manager(simulator)
    manager.discover()
    reader = next(d for d in manager.status()["devices"] if d["kind"] == "idcard")
    assert reader["state"] == "error" and "自检失败" in reader["message"]
    simulator.reader.self_test_ok = True
    manager.discover()  # retried on the next scan
    assert _states(manager)["idcard"] == "connected"


async def test_unplug_mid_read_is_clear_and_the_reader_returns_when_replugged() -> None:
    simulator = Simulator(read_delay_s=1.0)
    manager = _manager(simulator)
    manager.reader_timeouts = ReaderTimeouts(read_ms=3000)
    manager.discover()
    simulator.place_card(0)
    threading.Timer(0.3, simulator.unplug, args=("idcard",)).start()
    with pytest.raises(DeviceGone, match="读卡器已断开"):
        await manager.read_idcard(wait_s=0)
    assert _states(manager)["idcard"] == "unplugged"
    with pytest.raises(DeviceError, match="身份证读卡器不可用：读卡器已断开"):
        await manager.read_idcard(wait_s=0)
    simulator.replug("idcard")
    await asyncio.to_thread(manager.discover)
    assert _states(manager)["idcard"] == "connected"
    simulator.reader.read_delay_s = 0
    card = await manager.read_idcard(wait_s=1)
    assert card.name == SAMPLE_CARDS[0].name


async def test_the_background_loop_notices_a_replug_by_itself() -> None:
    simulator = Simulator(read_delay_s=0)
    manager = _manager(simulator)
    stop = asyncio.Event()

    task = asyncio.create_task(manager._discovery_loop(stop, 0.05))
    try:
        await asyncio.sleep(0.3)
        assert _states(manager)["idcard"] == "connected"
        simulator.unplug("idcard")
        await asyncio.sleep(0.3)
        assert _states(manager)["idcard"] == "unplugged"
        simulator.replug("idcard")
        await asyncio.sleep(0.3)
        assert _states(manager)["idcard"] == "connected"
    finally:
        stop.set()
        await task
