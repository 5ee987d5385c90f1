"""The evaluator and the ticket printer drivers through pyusb on the fake backend."""

from __future__ import annotations

import threading

import pytest
import usb.core

from node.devices.errors import DeviceError, DeviceGone
from node.devices.evaluator import Evaluator
from node.devices.fakeusb import FakeUsbBackend
from node.devices.printer import TicketPrinter, TicketSlip, qr_code, render_ticket
from node.devices.simulators import EVALUATOR_VID_PID, PRINTER_VID_PID, EvaluatorModel, PrinterModel

SLIP = TicketSlip(
    centre="红梅镇便民服务中心",
    number="A007",
    category="综合受理",
    issued="2026-12-02 09:15",
    waiting=3,
    qr="http://192.168.1.10:8101/kiosk/tickets/abc",
)


def _evaluator(**kw: object) -> tuple[FakeUsbBackend, EvaluatorModel, Evaluator]:
    backend, model = FakeUsbBackend(), EvaluatorModel()
    backend.plug(model)
    device = usb.core.find(idVendor=EVALUATOR_VID_PID[0], idProduct=EVALUATOR_VID_PID[1], backend=backend)
    return backend, model, Evaluator(device, **kw)  # type: ignore[arg-type]


def _printer() -> tuple[FakeUsbBackend, PrinterModel, TicketPrinter]:
    backend, model = FakeUsbBackend(), PrinterModel()
    backend.plug(model)
    device = usb.core.find(idVendor=PRINTER_VID_PID[0], idProduct=PRINTER_VID_PID[1], backend=backend)
    return backend, model, TicketPrinter(device)


def test_each_button_is_a_rating_level_and_silence_is_no_press() -> None:
    _backend, model, evaluator = _evaluator()
    assert evaluator.next_press(50) is None
    for button in (1, 5, 3):
        model.press(button)
    assert [evaluator.next_press(200) for _ in range(3)] == [1, 5, 3]
    assert evaluator.next_press(50) is None


def test_the_button_table_can_be_reversed_for_devices_wired_the_other_way() -> None:
    _backend, model, evaluator = _evaluator(button_levels={1: 5, 2: 4, 3: 3, 4: 2, 5: 1})
    model.press(1)
    assert evaluator.next_press(200) == 5


def test_reports_that_are_not_presses_are_ignored() -> None:
    _backend, _model, evaluator = _evaluator()
    assert evaluator.level_of(bytes([0x02, 1, 0, 0, 0, 0, 0, 0])) is None
    assert evaluator.level_of(bytes([0x01, 9, 0, 0, 0, 0, 0, 0])) is None
    assert evaluator.level_of(bytes([0x01, 2, 0, 0, 0, 0, 0, 0])) == 2


def test_an_unplugged_evaluator_says_so() -> None:
    backend, model, evaluator = _evaluator()
    threading.Timer(0.1, backend.unplug, args=(model,)).start()
    with pytest.raises(DeviceGone, match="评价器已断开"):
        evaluator.next_press(2000)


def test_the_ticket_is_chinese_gb18030_with_a_qr_code_and_a_cut() -> None:
    data = render_ticket(SLIP)
    assert data.startswith(b"\x1b\x40\x1c\x26")  # init, Chinese mode
    for text in (
        "红梅镇便民服务中心",
        "综合受理",
        "A007",
        "取号时间：2026-12-02 09:15",
        "您前面还有 3 人等候",
    ):
        assert text.encode("gb18030") in data
    assert "红梅镇".encode() not in data  # not UTF-8
    assert qr_code(SLIP.qr) in data
    assert b"http://192.168.1.10:8101/kiosk/tickets/abc" in data
    assert data.endswith(b"\x1d\x56\x42\x03")  # feed and cut


def test_qr_store_length_counts_the_payload_plus_three() -> None:
    code = qr_code("x" * 300)
    store = code.index(b"\x31\x50\x30")
    assert code[store - 2 : store] == (303).to_bytes(2, "little")


def test_printing_sends_exactly_the_ticket_bytes_over_usb() -> None:
    _backend, model, printer = _printer()
    printer.print_ticket(SLIP)
    assert bytes(model.received) == render_ticket(SLIP)
    assert len(model.tickets()) == 1


def test_paper_out_is_reported_and_nothing_is_printed() -> None:
    _backend, model, printer = _printer()
    model.paper_out = True
    with pytest.raises(DeviceError, match="缺纸"):
        printer.print_ticket(SLIP)
    assert model.received == bytearray()


def test_an_unplugged_printer_says_so() -> None:
    backend, model, printer = _printer()
    backend.unplug(model)
    with pytest.raises(DeviceGone, match="打印机已断开"):
        printer.print_ticket(SLIP)
