"""Wiring the devices into a running node: build the manager from the node settings, and run its background work
(discovery, evaluator, ticket printer) and the scan folder watcher until the node stops."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from node.devices.camera import FileCamera, open_camera
from node.devices.capture import ScanFolders, ingest_file
from node.devices.errors import DeviceError
from node.devices.manager import DeviceManager, parse_device_table
from node.devices.photo import load_decoder
from node.devices.watcher import FolderTiming, HotFolder
from node.runtime import NodeRuntime

SIMULATED_WINDOW = "1号窗口"


def _libusb_backend() -> Any:
    import usb.backend.libusb1

    return usb.backend.libusb1.get_backend()


def create_devices(
    *,
    simulate: bool,
    device_table: str,
    scan_folder: Path | None,
    keep_processed_scans: bool = False,
    camera: str = "",
    photo_decoder: str = "",
    evaluator_window: str = "",
) -> DeviceManager:
    """The manager for a node's settings (nothing is opened until `run_devices`)."""
    table = parse_device_table(device_table)
    if simulate:
        from node.devices.simulators import Simulator

        simulator = Simulator()
        manager = DeviceManager(
            simulator.backend,
            table,
            mode="simulated",
            simulator=simulator,
            evaluator_window=evaluator_window or SIMULATED_WINDOW,
        )
    else:
        backend = _libusb_backend()
        manager = DeviceManager(
            backend, table, mode="usb" if backend else "none", evaluator_window=evaluator_window
        )
        if backend is None:
            manager.problem = "未找到 libusb-1.0，不能使用 USB 设备（apt-get install libusb-1.0-0）"
    try:
        manager.camera = open_camera(camera) or (FileCamera() if simulate else None)
    except (DeviceError, ValueError) as exc:
        manager.problem = getattr(exc, "reason", str(exc))
    manager.decoder = load_decoder(photo_decoder)
    if scan_folder is not None:
        manager.folders = ScanFolders.beside(scan_folder, keep_processed=keep_processed_scans)
    return manager


async def run_devices(
    manager: DeviceManager,
    runtime: NodeRuntime,
    stop: asyncio.Event,
    *,
    poll_s: float = 2.0,
    ticket_url: str = "",
    timing: FolderTiming | None = None,
) -> None:
    """Everything the devices do in the background, until `stop` is set."""
    tasks = [asyncio.create_task(manager.run(runtime, stop, poll_s=poll_s, ticket_url=ticket_url))]
    if manager.folders is not None:
        folders: ScanFolders = manager.folders
        folders.create()

        async def deliver(path: Path) -> None:
            record = await ingest_file(runtime, path, folders)
            what = {"attached": "已导入", "duplicate": "重复，未导入", "quarantined": "已隔离"}[record.status]
            manager.note(
                "扫描文件夹",
                f"{record.filename}：{what}{'（' + record.reason + '）' if record.reason else ''}",
            )

        hot = HotFolder(folders.incoming, deliver, timing=timing)
        manager.extra_status["scan_folder"] = lambda: {
            **hot.status(),
            "processed": str(folders.processed)
            if folders.keep_processed
            else "（导入后删除，不留明文扫描件）",
            "quarantine": str(folders.quarantine),
        }
        tasks.append(asyncio.create_task(hot.run(stop)))
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
