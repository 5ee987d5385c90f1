"""The device manager (设备管理, R-DEV-5): finds the centre's USB devices by a configurable VID:PID table, follows
them being plugged and unplugged, keeps each one's health, and runs the background work that uses them — the
evaluator's button presses go to the rating flow, each new queue ticket goes to the printer.

`status()` is a JSON-able dict for the tablet's device page and the node's heartbeat. In simulator mode the same
drivers run against emulated devices on the in-process pyusb backend (`node.devices.simulators`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import usb.core
import usb.util
from sqlmodel import col, select

from common.logs import log_event
from node.devices.errors import DEVICE_ABSENT, NO_CARD, DeviceError, DeviceGone
from node.devices.evaluator import Evaluator
from node.devices.idcard import IdCardReader, ReaderTimeouts
from node.devices.printer import TicketPrinter, TicketSlip
from node.devices.sam import IdCard
from node.intake.hall.models import Ticket, TicketCategory
from node.runtime import CST, NodeRuntime
from protocol.errors import OneWindowError
from protocol.hall import SATISFACTION_LABELS

log = logging.getLogger(__name__)

KIND_LABELS = {"idcard": "身份证读卡器", "evaluator": "评价器", "printer": "取号票打印机"}
STATE_LABELS = {"connected": "正常", "error": "故障", "unplugged": "已断开"}
#: VID:PID=kind, comma separated. 0400:c35a and 0483:5652 are ID readers seen in public code (devices.md §3.5);
#: 0416:5011 is a common POS printer; 1a86:e0e5 is the simulator's evaluator until a real one is measured.
DEFAULT_DEVICE_TABLE = "0400:c35a=idcard,0483:5652=idcard,0416:5011=printer,1a86:e0e5=evaluator"


def parse_device_table(text: str) -> dict[tuple[int, int], str]:
    """``"0400:c35a=idcard,0416:5011=printer"`` → {(0x0400, 0xC35A): "idcard", …}."""
    table: dict[tuple[int, int], str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        ids, _, kind = part.partition("=")
        vid, _, pid = ids.partition(":")
        kind = kind.strip()
        if kind not in KIND_LABELS:
            raise ValueError(f"设备表 {part!r}：未知设备类型 {kind!r}（可用：{'、'.join(KIND_LABELS)}）")
        try:
            table[(int(vid, 16), int(pid, 16))] = kind
        except ValueError:
            raise ValueError(f"设备表 {part!r}：应写成 VID:PID=类型，如 0400:c35a=idcard") from None
    return table


@dataclass
class DeviceSlot:
    """One device the manager knows of, present or not."""

    key: str
    kind: str
    vendor_id: int
    product_id: int
    product: str = ""
    serial: str = ""
    state: str = "unplugged"
    message: str = ""
    address: tuple[int, int] = (0, 0)
    connected_at: str = ""
    last_ok_at: str = ""
    driver: Any = None
    device: Any = None
    window: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "label": KIND_LABELS[self.kind],
            "vid_pid": f"{self.vendor_id:04x}:{self.product_id:04x}",
            "product": self.product,
            "serial": self.serial,
            "state": self.state,
            "state_label": STATE_LABELS[self.state],
            "message": self.message,
            "connected_at": self.connected_at,
            "last_ok_at": self.last_ok_at,
            "window": self.window,
        }


@dataclass
class DeviceEvent:
    at: str
    device: str
    text: str


def _now_iso() -> str:
    return datetime.now().astimezone(CST).isoformat(timespec="seconds")


@dataclass
class DeviceManager:
    """The node's USB devices. `backend` is a pyusb backend (libusb, or the simulator's fake bus)."""

    backend: Any
    table: dict[tuple[int, int], str]
    mode: str = "usb"  # usb | simulated | none
    evaluator_window: str = ""
    reader_timeouts: ReaderTimeouts = field(default_factory=ReaderTimeouts)
    simulator: Any = None  # node.devices.simulators.Simulator in simulator mode
    camera: Any = None  # node.devices.camera.Camera, when one is configured
    folders: Any = None  # node.devices.capture.ScanFolders, when a scan folder is configured
    decoder: Any = None  # the WLT photo decoder plug-in, when one is configured
    problem: str = ""
    slots: dict[str, DeviceSlot] = field(default_factory=dict)
    events: deque[DeviceEvent] = field(default_factory=lambda: deque(maxlen=30))
    extra_status: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    updated_at: str = ""

    # ---- discovery ------------------------------------------------------------------------------------------

    def _driver(self, kind: str, device: Any) -> Any:
        if kind == "idcard":
            reader = IdCardReader(device, timeouts=self.reader_timeouts)
            reader.check()  # the SAM's self-test: a faulty module shows as 故障 at once
            return reader
        if kind == "evaluator":
            return Evaluator(device)
        return TicketPrinter(device)

    def note(self, device: str, text: str) -> None:
        self.events.appendleft(DeviceEvent(_now_iso(), device, text))

    def discover(self) -> None:
        """Enumerate the bus once: new devices get a driver, missing ones are marked unplugged (blocking)."""
        if self.backend is None:
            self.updated_at = _now_iso()
            return
        found: dict[str, Any] = {}
        try:
            devices = list(usb.core.find(find_all=True, backend=self.backend))
        except usb.core.USBError as exc:
            self.problem = f"无法列出 USB 设备：{exc}"
            return
        for device in devices:
            kind = self.table.get((device.idVendor, device.idProduct))
            if kind is None:
                continue
            try:
                serial = device.serial_number or ""
                product = device.product or ""
            except (usb.core.USBError, ValueError, NotImplementedError):
                serial, product = "", ""
            key = f"{kind}:{serial or f'{device.bus}-{device.address}'}"
            found[key] = (device, kind, serial, product)
        with self._lock:
            for key, (device, kind, serial, product) in found.items():
                slot = self.slots.get(key)
                where = (device.bus or 0, device.address or 0)
                if slot is not None and slot.state == "connected" and slot.address == where:
                    continue
                if slot is None:
                    slot = DeviceSlot(
                        key, kind, device.idVendor, device.idProduct, window=self.evaluator_window
                    )
                    self.slots[key] = slot
                slot.product, slot.serial, slot.address = product, serial, where
                slot.device, slot.connected_at = device, _now_iso()
                try:
                    slot.driver = self._driver(kind, device)
                    slot.state, slot.message = "connected", ""
                    self.note(KIND_LABELS[kind], "已连接")
                    log_event(
                        log,
                        "device_plugged",
                        kind=kind,
                        vid_pid=f"{slot.vendor_id:04x}:{slot.product_id:04x}",
                        bus=f"{where[0]}-{where[1]}",
                    )
                except DeviceError as exc:
                    slot.driver, slot.state, slot.message = None, "error", exc.reason
                    self.note(KIND_LABELS[kind], f"连接后自检失败：{exc.reason}")
                    log_event(
                        log,
                        "device_failed",
                        level=logging.WARNING,
                        kind=kind,
                        vid_pid=f"{slot.vendor_id:04x}:{slot.product_id:04x}",
                        code=exc.code,
                    )
            for key, slot in self.slots.items():
                if key not in found and slot.state != "unplugged":
                    self._mark_gone(slot, "设备已拔出或断开")
        self.updated_at = _now_iso()

    def _mark_gone(self, slot: DeviceSlot, message: str) -> None:
        if slot.device is not None:
            with contextlib.suppress(Exception):
                usb.util.dispose_resources(slot.device)
        slot.state, slot.message, slot.driver, slot.device = "unplugged", message, None, None
        self.note(KIND_LABELS[slot.kind], message)
        log_event(
            log,
            "device_unplugged",
            level=logging.WARNING,
            kind=slot.kind,
            vid_pid=f"{slot.vendor_id:04x}:{slot.product_id:04x}",
        )

    def connected(self, kind: str) -> DeviceSlot | None:
        with self._lock:
            return next((s for s in self.slots.values() if s.kind == kind and s.state == "connected"), None)

    def status(self) -> dict[str, Any]:
        """The devices and their health, JSON-able (tablet page, heartbeat)."""
        with self._lock:
            devices = [s.to_dict() for s in sorted(self.slots.values(), key=lambda s: s.key)]
        status: dict[str, Any] = {
            "mode": self.mode,
            "problem": self.problem,
            "updated_at": self.updated_at,
            "devices": devices,
            "events": [e.__dict__ for e in list(self.events)[:15]],
        }
        for name, probe in self.extra_status.items():
            status[name] = probe()
        return status

    # ---- using devices -------------------------------------------------------------------------------------

    def _need(self, kind: str) -> DeviceSlot:
        slot = self.connected(kind)
        if slot is None:
            with self._lock:
                known = next((s for s in self.slots.values() if s.kind == kind), None)
            reason = known.message if known is not None and known.message else "未检测到设备"
            raise DeviceError(DEVICE_ABSENT, f"{KIND_LABELS[kind]}不可用：{reason}", device=KIND_LABELS[kind])
        return slot

    async def _use(self, slot: DeviceSlot, call: Callable[[], Any]) -> Any:
        """Run a blocking driver call in a thread; an unplug marks the slot, any failure is remembered."""
        try:
            result = await asyncio.to_thread(call)
        except DeviceGone as exc:
            with self._lock:
                self._mark_gone(slot, exc.reason)
            raise
        except DeviceError as exc:
            if exc.problem is not NO_CARD:  # no card on the reader is not a fault of the reader
                slot.message = exc.reason
            raise
        slot.last_ok_at, slot.message = _now_iso(), ""
        return result

    async def read_idcard(self, *, wait_s: float = 3.0) -> IdCard:
        """Read the card lying on the reader (waiting up to `wait_s` for one to be placed)."""
        slot = self._need("idcard")
        card: IdCard = await self._use(slot, lambda: slot.driver.read_card(wait_s=wait_s))
        self.note(KIND_LABELS["idcard"], f"读卡成功：{card.name[:1]}**")
        return card

    async def print_ticket(self, slip: TicketSlip) -> None:
        slot = self._need("printer")
        await self._use(slot, lambda: slot.driver.print_ticket(slip))
        self.note(KIND_LABELS["printer"], f"已打印 {slip.number}")

    def set_window(self, key: str, window: str) -> None:
        with self._lock:
            slot = self.slots.get(key)
            if slot is None:
                raise DeviceError(DEVICE_ABSENT, "没有这个设备", device=key)
            slot.window = window.strip()[:20]

    # ---- background work -----------------------------------------------------------------------------------

    async def run(
        self, runtime: NodeRuntime, stop: asyncio.Event, *, poll_s: float = 2.0, ticket_url: str = ""
    ) -> None:
        """Discovery, evaluator presses and ticket printing until `stop` is set."""
        tasks = [
            asyncio.create_task(self._discovery_loop(stop, poll_s)),
            asyncio.create_task(self._evaluator_loop(runtime, stop)),
            asyncio.create_task(self._ticket_loop(runtime, stop, ticket_url)),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _discovery_loop(self, stop: asyncio.Event, poll_s: float) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.discover)
            except Exception:  # a device that misbehaves during enumeration must not end the loop
                log.exception("device discovery failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)

    async def _evaluator_loop(self, runtime: NodeRuntime, stop: asyncio.Event) -> None:
        from node.intake.hall.ratings import evaluator_pressed

        while not stop.is_set():
            slot = self.connected("evaluator")
            if slot is None:
                await asyncio.sleep(0.3)
                continue
            try:
                level = await self._use(slot, slot.driver.next_press)
            except DeviceError:
                await asyncio.sleep(0.3)
                continue
            if level is None:
                continue
            window = slot.window or self.evaluator_window
            label = SATISFACTION_LABELS.get(level, str(level))
            if not window:
                slot.message = f"按下「{label}」，但评价器未设置所在窗口"
                self.note(KIND_LABELS["evaluator"], slot.message)
                continue
            try:
                await evaluator_pressed(runtime, window=window, level=level)
                self.note(KIND_LABELS["evaluator"], f"{window}：已记录评价「{label}」")
            except OneWindowError as exc:
                self.note(KIND_LABELS["evaluator"], f"{window}：按下「{label}」未记录——{exc.reason}")

    async def _ticket_loop(self, runtime: NodeRuntime, stop: asyncio.Event, ticket_url: str) -> None:
        from node.intake.hall.tickets import people_ahead

        mark = runtime.now_iso()
        names: dict[str, str] = {}
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            if self.connected("printer") is None:
                mark = runtime.now_iso()  # no printer: the kiosk shows tickets on screen; nothing to catch up
                continue
            try:
                async with runtime.db.read() as db:
                    fresh = (
                        await db.exec(
                            select(Ticket)
                            .where(Ticket.issued_at > mark, col(Ticket.transferred_from).is_(None))
                            .order_by(col(Ticket.issued_at))
                        )
                    ).all()
                    if fresh and not names:
                        names = {c.code: c.name for c in (await db.exec(select(TicketCategory))).all()}
            except Exception:
                log.exception("reading new tickets failed")
                continue
            for ticket in fresh:
                mark = ticket.issued_at
                issued = datetime.fromisoformat(ticket.issued_at).astimezone(CST).strftime("%Y-%m-%d %H:%M")
                slip = TicketSlip(
                    centre=runtime.identity.name,
                    number=ticket.number,
                    category=names.get(ticket.category, ticket.category),
                    issued=issued,
                    waiting=await people_ahead(runtime, ticket),
                    qr=f"{ticket_url.rstrip('/')}/kiosk/tickets/{ticket.id}" if ticket_url else ticket.number,
                )
                try:
                    await self.print_ticket(slip)
                except DeviceError as exc:
                    self.note(KIND_LABELS["printer"], f"{ticket.number} 未能打印：{exc.reason}")
