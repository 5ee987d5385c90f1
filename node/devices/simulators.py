"""Emulated devices for the fake pyusb backend: the ID card reader (a GA/T 467 SAM behind vendor bulk endpoints),
the 5-button HID evaluator and the ESC/POS ticket printer, plus the sample cards and pages of the demo.

The reader model behaves as the real ones are documented to (devices.md §3.6): a card read once must be lifted
before `20 01` finds it again; select without find fails with 0x81; a reply can arrive after the host stopped
waiting and stays queued (the stale-frame hazard); replies can be cut into 64-byte or 7-byte transfers; the
transport is one bulk pair (02/81) or split pairs (header 02/81, body 06/85). Faults can be injected per command.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from dataclasses import dataclass

from node.devices import sam
from node.devices.fakeusb import (
    BULK,
    INTERRUPT,
    DeviceModel,
    EndpointSpec,
    FakeUsbBackend,
    gone_error,
    timeout_error,
)

IDCARD_VID_PID = (0x0400, 0xC35A)
# The evaluator ID is a placeholder for the simulator; a real one goes in the device table (settings).
EVALUATOR_VID_PID = (0x1A86, 0xE0E5)
PRINTER_VID_PID = (0x0416, 0x5011)


def sample_photo(seed: str) -> bytes:
    """1024 bytes standing in for a WLT photo (the real format is licensed; see node.devices.photo)."""
    out = b""
    block = seed.encode()
    while len(out) < sam.PHOTO_SIZE:
        block = hashlib.sha256(block).digest()
        out += block
    return out[: sam.PHOTO_SIZE]


SAMPLE_CARDS: tuple[sam.IdCard, ...] = (
    sam.IdCard(
        name="张伟",
        sex="1",
        nation="01",
        birth="19900315",
        address="吉林省梅河口市红梅镇红梅村三组12号",
        number="220581199003151232",
        authority="梅河口市公安局",
        valid_from="20150601",
        valid_to="20350601",
        photo_wlt=sample_photo("张伟"),
    ),
    sam.IdCard(
        name="金美兰",
        sex="2",
        nation="10",
        birth="19850708",
        address="吉林省梅河口市海龙镇新华街道88号2单元301室",
        number="220581198507082045",
        authority="梅河口市公安局",
        valid_from="20100312",
        valid_to=sam.LONG_TERM,
        photo_wlt=sample_photo("金美兰"),
    ),
    sam.IdCard(
        name="李小龙",
        sex="1",
        nation="11",
        birth="20010220",
        address="吉林省梅河口市山城镇东风村",
        number="220581200102205617",
        authority="梅河口市公安局",
        valid_from="20190220",
        valid_to="20290220",
        photo_wlt=sample_photo("李小龙"),
    ),
)


@dataclass
class _Pending:
    ready_at: float
    data: bytes


class SamReaderModel(DeviceModel):
    """A second-generation ID card reader (二代证阅读器) on vendor bulk endpoints."""

    vendor_id, product_id = IDCARD_VID_PID
    manufacturer = "OneWindow Simulator"
    product = "IDCard Reader (simulated)"
    serial = "SIM-IDR-01"

    def __init__(
        self,
        *,
        split: bool = False,
        in_chunk: int | None = None,
        read_delay_s: float = 0.0,
        command_delay_s: float = 0.0,
        serial: str = "",
    ) -> None:
        super().__init__()
        self.split = split
        self.in_chunk = in_chunk
        self.read_delay_s = read_delay_s
        self.command_delay_s = command_delay_s
        if serial:
            self.serial = serial
        self.endpoints = (
            (
                EndpointSpec(0x02),
                EndpointSpec(0x06),
                EndpointSpec(0x81),
                EndpointSpec(0x85),
            )
            if split
            else (EndpointSpec(0x02), EndpointSpec(0x81))
        )
        self.card: sam.IdCard | None = None
        self.needs_lift = False
        self.found = False
        self.selected = False
        self.self_test_ok = True
        self.faults: dict[tuple[int, int], int] = {}  # (CMD, PARA) -> SW3 to answer once
        self._incoming = bytearray()
        self._out: dict[int, deque[_Pending]] = {0x81: deque(), 0x85: deque()}
        self.reads = 0

    # -- what a person does with it
    def place(self, card: sam.IdCard) -> None:
        with self.condition:
            self.card, self.needs_lift, self.found, self.selected = card, False, False, False

    def lift(self) -> None:
        with self.condition:
            self.card, self.needs_lift, self.found, self.selected = None, False, False, False

    def fail_next(self, command: tuple[int, int], sw3: int) -> None:
        with self.condition:
            self.faults[command] = sw3

    # -- USB
    def on_power_off(self) -> None:
        # The SAM restarts: queued replies and the find/select/lift state are gone; the card still lies there.
        self._incoming.clear()
        for queue in self._out.values():
            queue.clear()
        self.needs_lift = self.found = self.selected = False

    def on_out(self, endpoint: int, data: bytes) -> None:
        self._incoming += data
        while len(self._incoming) >= sam.HEADER_SIZE:
            try:
                size = sam.frame_size(bytes(self._incoming[: sam.HEADER_SIZE]))
            except sam.FrameError:
                # Resynchronise on the next preamble, as the SAM does with line noise.
                start = self._incoming.find(sam.PREAMBLE, 1)
                del self._incoming[: start if start > 0 else len(self._incoming)]
                continue
            if len(self._incoming) < size:
                return
            frame = bytes(self._incoming[:size])
            del self._incoming[:size]
            self._answer(frame)

    def _answer(self, frame: bytes) -> None:
        try:
            command, _data = sam.parse_command(frame)
        except sam.FrameError:
            self._queue(sam.reply_frame(0x10), self.command_delay_s)
            return
        fault = self.faults.pop(command, None)
        delay = self.read_delay_s if command[0] == 0x30 else self.command_delay_s
        if fault is not None:
            self._queue(sam.reply_frame(fault), delay)
            return
        if command == sam.SAM_STATUS:
            reply = sam.reply_frame(sam.OK if self.self_test_ok else 0x60)
        elif command == sam.RESET:
            self.found = self.selected = False
            reply = sam.reply_frame(sam.OK)
        elif command == sam.SAM_ID:
            reply = sam.reply_frame(sam.OK, bytes.fromhex("0502000001000000" + "0102030405060708"))
        elif command == sam.FIND_CARD:
            self.found = self.card is not None and not self.needs_lift
            reply = sam.reply_frame(sam.FIND_OK, bytes(4)) if self.found else sam.reply_frame(sam.FIND_FAILED)
        elif command == sam.SELECT_CARD:
            self.selected = self.found and self.card is not None
            reply = sam.reply_frame(sam.OK, bytes(8)) if self.selected else sam.reply_frame(sam.SELECT_FAILED)
        elif command in (sam.READ_BASE, sam.READ_BASE_FP):
            if self.selected and self.card is not None:
                payload = sam.read_payload(self.card, with_fingerprint=command == sam.READ_BASE_FP)
                reply = sam.reply_frame(sam.OK, payload)
                self.needs_lift = True
                self.reads += 1
            else:
                reply = sam.reply_frame(0x41)
            self.found = self.selected = False
        else:
            reply = sam.reply_frame(0x21)
        self._queue(reply, delay)

    def _queue(self, reply: bytes, delay: float) -> None:
        ready = time.monotonic() + delay
        if self.split:
            self._out[0x81].append(_Pending(ready, reply[: sam.HEADER_SIZE]))
            self._out[0x85].append(_Pending(ready, reply[sam.HEADER_SIZE :]))
        else:
            self._out[0x81].append(_Pending(ready, reply))

    def on_in(self, endpoint: int, size: int, timeout_s: float) -> bytes:
        queue = self._out.get(endpoint)
        if queue is None:
            raise timeout_error()
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.plugged:
                raise gone_error()
            now = time.monotonic()
            if queue and queue[0].ready_at <= now:
                break
            if now >= deadline:
                raise timeout_error()
            wake = min(deadline, queue[0].ready_at) if queue else deadline
            self.condition.wait(wake - now)
        head = queue[0]
        n = min(size, self.in_chunk or size, len(head.data))
        chunk, head.data = head.data[:n], head.data[n:]
        if not head.data:
            queue.popleft()
        return chunk


class EvaluatorModel(DeviceModel):
    """A 5-button evaluator (简易评价器) reporting presses as 8-byte HID input reports on an interrupt endpoint.

    Report layout assumed until the vendor's sheet arrives: byte 0 report id 0x01, byte 1 the button 1–5
    (left to right: 非常满意 … 非常不满意), the rest zero.
    """

    vendor_id, product_id = EVALUATOR_VID_PID
    manufacturer = "OneWindow Simulator"
    product = "5-key Evaluator (simulated)"
    serial = "SIM-EVA-01"
    interface_class = 0x03  # HID
    endpoints = (EndpointSpec(0x81, INTERRUPT, 8, 10),)

    def __init__(self, *, serial: str = "") -> None:
        super().__init__()
        if serial:
            self.serial = serial
        self._reports: deque[bytes] = deque()

    def press(self, button: int) -> None:
        with self.condition:
            self._reports.append(bytes([0x01, button, 0, 0, 0, 0, 0, 0]))
            self.condition.notify_all()

    def on_in(self, endpoint: int, size: int, timeout_s: float) -> bytes:
        self.wait_for(lambda: bool(self._reports), timeout_s)
        return self._reports.popleft()[:size]


class PrinterModel(DeviceModel):
    """An ESC/POS 58/80 mm receipt printer (票据打印机) in Chinese mode: bytes in on 0x01, status out on 0x82."""

    vendor_id, product_id = PRINTER_VID_PID
    manufacturer = "OneWindow Simulator"
    product = "POS-80 Printer (simulated)"
    serial = "SIM-PRN-01"
    interface_class = 0x07  # printer
    endpoints = (EndpointSpec(0x01, BULK), EndpointSpec(0x82, BULK))

    ONLINE = 0x12
    PAPER_END = 0x72

    def __init__(self, *, serial: str = "") -> None:
        super().__init__()
        if serial:
            self.serial = serial
        self.received = bytearray()
        self.paper_out = False
        self._status: deque[bytes] = deque()

    def on_out(self, endpoint: int, data: bytes) -> None:
        # DLE EOT n (real-time status) is answered at once; everything else is printed.
        if data[:2] == b"\x10\x04" and len(data) == 3:
            if data[2] == 4:
                self._status.append(bytes([self.PAPER_END if self.paper_out else self.ONLINE]))
            else:
                self._status.append(bytes([self.ONLINE]))
            return
        self.received += data

    def on_in(self, endpoint: int, size: int, timeout_s: float) -> bytes:
        self.wait_for(lambda: bool(self._status), timeout_s)
        return self._status.popleft()

    def tickets(self) -> list[bytes]:
        """What came out of the printer, one piece of paper per cut."""
        parts = bytes(self.received).split(b"\x1dV")
        return [p for p in parts[:-1]]


class Simulator:
    """The centre's devices, emulated: a reader, an evaluator and a printer plugged into one fake USB bus.

    The tablet's simulator buttons act on it as a person would on the real things: place or lift a card,
    press an evaluator button, pull a cable out and put it back.
    """

    def __init__(self, *, read_delay_s: float = 0.3) -> None:
        self.backend = FakeUsbBackend()
        self.reader = SamReaderModel(read_delay_s=read_delay_s, in_chunk=64)
        self.evaluator = EvaluatorModel()
        self.printer = PrinterModel()
        self.models: dict[str, DeviceModel] = {
            "idcard": self.reader,
            "evaluator": self.evaluator,
            "printer": self.printer,
        }
        for model in self.models.values():
            self.backend.plug(model)

    def plugged(self, kind: str) -> bool:
        return self.models[kind].plugged

    def unplug(self, kind: str) -> None:
        self.backend.unplug(self.models[kind])

    def replug(self, kind: str) -> None:
        if not self.models[kind].plugged:
            self.backend.plug(self.models[kind])

    def place_card(self, index: int) -> sam.IdCard:
        card = SAMPLE_CARDS[index % len(SAMPLE_CARDS)]
        self.reader.place(card)
        return card

    def lift_card(self) -> None:
        self.reader.lift()

    def press(self, button: int) -> None:
        self.evaluator.press(button)

    def state(self) -> dict[str, object]:
        card = self.reader.card
        return {
            "plugged": {kind: model.plugged for kind, model in self.models.items()},
            "card": card.name if card is not None else "",
            "card_needs_lift": self.reader.needs_lift,
            "printed": len(self.printer.tickets()),
        }
