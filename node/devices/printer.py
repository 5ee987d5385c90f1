"""The queue-ticket printer driver (排队票据打印机, R-DEV-4): ESC/POS over USB bulk with pyusb.

`render_ticket` lays a ticket out as ESC/POS bytes — Chinese text in GB18030 (most domestic 58/80 mm printers
start in Chinese mode; `FS &` is sent as well for those that do not), the ticket number large, category, time,
people waiting, a QR code (`GS ( k`, model 2) and a cut. `TicketPrinter` sends them and reads the paper sensor
(`DLE EOT 4`) first, so an empty roll is reported instead of silently swallowing tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import usb.core
import usb.util

from node.devices.errors import DEVICE_FAILED, DEVICE_TIMEOUT, DeviceError, DeviceGone
from node.devices.idcard import is_gone

PRINTER = "取号票打印机"

ESC_INIT = b"\x1b\x40"
FS_CHINESE = b"\x1c\x26"
ALIGN_CENTER = b"\x1b\x61\x01"
ALIGN_LEFT = b"\x1b\x61\x00"
SIZE_NORMAL = b"\x1d\x21\x00"
SIZE_DOUBLE = b"\x1d\x21\x11"
SIZE_HUGE = b"\x1d\x21\x33"
FEED_AND_CUT = b"\x1d\x56\x42\x03"  # GS V 66 n: feed n lines, partial cut
STATUS_PAPER = b"\x10\x04\x04"


@dataclass(frozen=True)
class TicketSlip:
    """What goes on a queue ticket."""

    centre: str
    number: str
    category: str
    issued: str  # local "YYYY-MM-DD HH:MM"
    waiting: int
    qr: str = ""
    note: str = "请留意叫号，过号需重新取号"


def text(value: str) -> bytes:
    """Chinese text as the printer reads it in Chinese mode (GB18030 covers every Unicode character)."""
    return value.encode("gb18030")


def qr_code(data: str, *, module: int = 6) -> bytes:
    """ESC/POS `GS ( k` QR code, model 2, error correction M."""
    payload = data.encode("utf-8")
    store = len(payload) + 3
    return (
        b"\x1d\x28\x6b\x04\x00\x31\x41\x32\x00"  # model 2
        + b"\x1d\x28\x6b\x03\x00\x31\x43"
        + bytes([module])
        + b"\x1d\x28\x6b\x03\x00\x31\x45\x31"  # error correction M
        + b"\x1d\x28\x6b"
        + bytes([store & 0xFF, store >> 8])
        + b"\x31\x50\x30"
        + payload
        + b"\x1d\x28\x6b\x03\x00\x31\x51\x30"  # print
    )


def render_ticket(slip: TicketSlip) -> bytes:
    """The ticket as ESC/POS bytes, ending with a cut."""
    out = bytearray(ESC_INIT + FS_CHINESE + ALIGN_CENTER)
    out += SIZE_DOUBLE + text(slip.centre) + b"\n"
    out += SIZE_NORMAL + text(slip.category) + b"\n\n"
    out += SIZE_HUGE + text(slip.number) + b"\n\n"
    out += SIZE_NORMAL + text(f"取号时间：{slip.issued}") + b"\n"
    out += text(f"您前面还有 {slip.waiting} 人等候") + b"\n"
    if slip.qr:
        out += b"\n" + qr_code(slip.qr) + b"\n"
    out += ALIGN_LEFT + text(slip.note) + b"\n"
    out += FEED_AND_CUT
    return bytes(out)


class TicketPrinter:
    """An ESC/POS printer on a pyusb `Device` (bulk OUT for print data, bulk IN for status)."""

    def __init__(self, device: Any) -> None:
        self.device = device
        interface = device.get_active_configuration()[(0, 0)]

        def bulk(direction: int) -> int | None:
            endpoint = usb.util.find_descriptor(
                interface,
                custom_match=lambda e: (
                    usb.util.endpoint_direction(e.bEndpointAddress) == direction
                    and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
                ),
            )
            return None if endpoint is None else int(endpoint.bEndpointAddress)

        out = bulk(usb.util.ENDPOINT_OUT)
        if out is None:
            raise DeviceError(DEVICE_FAILED, "打印机没有输出端点（型号不支持？）", device=PRINTER)
        self.out_ep = out
        self.in_ep = bulk(usb.util.ENDPOINT_IN)

    def _error(self, exc: usb.core.USBError) -> DeviceError:
        if is_gone(exc):
            return DeviceGone("打印机已断开，请检查连线；插回后会自动恢复", device=PRINTER)
        if isinstance(exc, usb.core.USBTimeoutError):
            return DeviceError(DEVICE_TIMEOUT, "打印机没有应答（是否卡纸或开盖？）", device=PRINTER)
        return DeviceError(DEVICE_FAILED, f"打印机通信错误：{exc.strerror or exc}", device=PRINTER)

    def paper_ok(self, timeout_ms: int = 500) -> bool | None:
        """The paper-roll sensor: True with paper, False at paper end, None when the printer has no status."""
        if self.in_ep is None:
            return None
        try:
            self.device.write(self.out_ep, STATUS_PAPER, timeout_ms)
            status = bytes(self.device.read(self.in_ep, 64, timeout_ms))
        except usb.core.USBError as exc:
            raise self._error(exc) from None
        return not (status and status[0] & 0x60)

    def print_ticket(self, slip: TicketSlip, *, timeout_ms: int = 3000) -> None:
        if self.paper_ok() is False:
            raise DeviceError(DEVICE_FAILED, "打印机缺纸，请更换纸卷", device=PRINTER)
        data = render_ticket(slip)
        try:
            for start in range(0, len(data), 4096):
                self.device.write(self.out_ep, data[start : start + 4096], timeout_ms)
        except usb.core.USBError as exc:
            raise self._error(exc) from None
