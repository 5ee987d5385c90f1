"""Device errors (设备故障): what went wrong at a reader, evaluator, printer or scan folder, in words a clerk can act
on.

A `DeviceError` is a `OneWindowError`, so a route that lets it escape answers with the usual problem JSON. The
problems are numbered in the 14xx block, next to the catalogue in `protocol.errors` (they belong to the node only;
central never sees them).
"""

from __future__ import annotations

from typing import Any

from protocol.errors import OneWindowError, Problem

DEVICE_ABSENT = Problem("OW-1401", 503, "设备未连接", "device not connected")
DEVICE_FAILED = Problem("OW-1402", 502, "设备操作失败", "device operation failed")
DEVICE_TIMEOUT = Problem("OW-1403", 504, "设备无应答", "device did not answer in time")
NO_CARD = Problem("OW-1404", 409, "读卡器上没有身份证", "no card on the reader")


class DeviceError(OneWindowError):
    """A device could not do what was asked; ``reason`` says why and what to do."""

    def __init__(self, problem: Problem, reason: str, *, device: str = "", **extra: Any) -> None:
        super().__init__(problem, reason, field="device", **({"device": device} if device else {}), **extra)
        self.device = device


class DeviceGone(DeviceError):
    """The device disappeared (unplugged, or its USB link reset) while it was in use."""

    def __init__(self, reason: str, *, device: str = "") -> None:
        super().__init__(DEVICE_ABSENT, reason, device=device)
