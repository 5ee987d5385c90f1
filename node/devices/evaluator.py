"""The 5-button evaluator driver (简易评价器, R-DEV-4): HID input reports over an interrupt endpoint, read with
pyusb, turned into the five rating levels.

Report layout (until the vendor's protocol sheet says otherwise): byte 0 report id 0x01, byte 1 the button
1–5, left to right. The button → level table is configurable because devices differ in which end is 非常满意.
A read that times out is "no press", not an error.
"""

from __future__ import annotations

from typing import Any

import usb.core
import usb.util

from node.devices.errors import DEVICE_FAILED, DeviceError, DeviceGone
from node.devices.idcard import is_gone

EVALUATOR = "评价器"
#: Button number on the device → rating level (1 非常满意 … 5 非常不满意).
DEFAULT_BUTTON_LEVELS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
REPORT_ID = 0x01


class Evaluator:
    """An evaluator on a pyusb `Device`; `next_press()` waits briefly for one button press."""

    def __init__(self, device: Any, *, button_levels: dict[int, int] | None = None) -> None:
        self.device = device
        self.button_levels = button_levels or DEFAULT_BUTTON_LEVELS
        interface = device.get_active_configuration()[(0, 0)]
        endpoint = usb.util.find_descriptor(
            interface,
            custom_match=lambda e: (
                usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN
                and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
            ),
        )
        if endpoint is None:
            raise DeviceError(DEVICE_FAILED, "评价器没有中断输入端点（型号不支持？）", device=EVALUATOR)
        self.endpoint = endpoint.bEndpointAddress
        self.report_size = endpoint.wMaxPacketSize or 8
        try:
            # On Linux usbhid owns the interface; pyusb must take it over (a udev rule grants access).
            if device.is_kernel_driver_active(0):
                device.detach_kernel_driver(0)
        except (NotImplementedError, usb.core.USBError):
            pass

    def level_of(self, report: bytes) -> int | None:
        """The rating level a report means, or None for a report that is not a button press."""
        if len(report) < 2 or report[0] != REPORT_ID:
            return None
        return self.button_levels.get(report[1])

    def next_press(self, timeout_ms: int = 200) -> int | None:
        """The level of the next button pressed within `timeout_ms`, or None."""
        try:
            report = bytes(self.device.read(self.endpoint, self.report_size, timeout_ms))
        except usb.core.USBTimeoutError:
            return None
        except usb.core.USBError as exc:
            if is_gone(exc):
                raise DeviceGone("评价器已断开，请检查连线；插回后会自动恢复", device=EVALUATOR) from None
            raise DeviceError(
                DEVICE_FAILED, f"评价器通信错误：{exc.strerror or exc}", device=EVALUATOR
            ) from None
        return self.level_of(report)
