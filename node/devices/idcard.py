"""The second-generation ID card reader driver (二代证阅读器) over pyusb: find, select, read (R-DEV-1).

The SAM's frames (`node.devices.sam`) travel over a `BulkTransport`: one bulk OUT/IN pair, or split pairs
where the 7-byte header and the body use different endpoints. Replies are read by their own length field, in
whatever pieces the device hands over (64-byte or 7-byte transfers both work).

A timeout is not the end of a conversation: the SAM may still answer, and that late reply would be read as the
answer to the next command (devices.md §3.6). So after a timeout the driver drains the IN side, and every reply
is also checked to be a plausible answer to the command just sent; a stale frame is dropped, not believed.
"""

from __future__ import annotations

import errno
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import usb.core
import usb.util

from node.devices import sam
from node.devices.errors import DEVICE_FAILED, DEVICE_TIMEOUT, NO_CARD, DeviceError, DeviceGone

READER = "身份证读卡器"


def is_gone(exc: usb.core.USBError) -> bool:
    """Whether a pyusb error means the device is no longer there (unplugged, port reset)."""
    return bool(exc.errno == errno.ENODEV or exc.backend_error_code == -4)  # LIBUSB_ERROR_NO_DEVICE


class BulkTransport:
    """SAM frames over vendor bulk endpoints: a single OUT/IN pair, or split header/body pairs."""

    def __init__(self, device: Any, *, out_eps: tuple[int, int], in_eps: tuple[int, int], packet: int = 64):
        self.device = device
        self.out_eps = out_eps
        self.in_eps = in_eps
        self.packet = packet
        self._leftover: dict[int, bytearray] = {ep: bytearray() for ep in set(in_eps)}

    @property
    def split(self) -> bool:
        return self.out_eps[0] != self.out_eps[1]

    @classmethod
    def for_device(cls, device: Any) -> BulkTransport:
        """Pick the layout from the interface's bulk endpoints (two pairs: the lower of each carries headers)."""
        interface = device.get_active_configuration()[(0, 0)]
        bulk = [e for e in interface if usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK]
        outs = sorted(
            e.bEndpointAddress
            for e in bulk
            if usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_OUT
        )
        ins = sorted(
            e.bEndpointAddress
            for e in bulk
            if usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN
        )
        if not outs or not ins:
            raise DeviceError(DEVICE_FAILED, "读卡器没有批量端点（型号不支持？）", device=READER)
        packet = min((e.wMaxPacketSize for e in bulk), default=64) or 64
        if len(outs) >= 2 and len(ins) >= 2:
            return cls(device, out_eps=(outs[0], outs[1]), in_eps=(ins[0], ins[1]), packet=packet)
        return cls(device, out_eps=(outs[0], outs[0]), in_eps=(ins[0], ins[0]), packet=packet)

    def send(self, frame: bytes, timeout_ms: int) -> None:
        if self.split:
            self.device.write(self.out_eps[0], frame[: sam.HEADER_SIZE], timeout_ms)
            self.device.write(self.out_eps[1], frame[sam.HEADER_SIZE :], timeout_ms)
        else:
            self.device.write(self.out_eps[0], frame, timeout_ms)

    def _read_into(self, ep: int, buffer: bytearray, want: int, deadline: float) -> None:
        """Append to `buffer` from `ep` until it holds `want` bytes (raises USBTimeoutError at the deadline)."""
        stash = self._leftover[ep]
        if stash:
            take = stash[: want - len(buffer)]
            buffer += take
            del stash[: len(take)]
        while len(buffer) < want:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
            need = want - len(buffer)
            size = -(-need // self.packet) * self.packet  # whole packets, as a real host controller reads
            chunk = bytes(self.device.read(ep, size, left_ms))
            buffer += chunk[:need]
            stash += chunk[need:]

    def receive(self, timeout_ms: int) -> bytes:
        """One whole frame, however the device cuts it up."""
        deadline = time.monotonic() + timeout_ms / 1000
        frame = bytearray()
        self._read_into(self.in_eps[0], frame, sam.HEADER_SIZE, deadline)
        size = sam.frame_size(bytes(frame))
        self._read_into(self.in_eps[1], frame, size, deadline)
        return bytes(frame)

    def drain(self, *, quiet_ms: int = 30, limit_ms: int = 500) -> int:
        """Throw away whatever the device still has queued; returns the bytes dropped."""
        dropped = 0
        deadline = time.monotonic() + limit_ms / 1000
        for ep in dict.fromkeys(self.in_eps):
            dropped += len(self._leftover[ep])
            self._leftover[ep].clear()
            while time.monotonic() < deadline:
                try:
                    dropped += len(self.device.read(ep, 4096, quiet_ms))
                except usb.core.USBTimeoutError:
                    break
        return dropped


def _plausible(command: tuple[int, int], reply: sam.SamReply) -> bool:
    """Whether a reply can be the answer to `command` (a stale frame from an earlier command cannot)."""
    if not reply.data:
        return True  # status-only replies: a failure, or a command that returns nothing
    if command == sam.FIND_CARD:
        return len(reply.data) == 4
    if command == sam.SELECT_CARD:
        return len(reply.data) == 8
    if command in (sam.READ_BASE, sam.READ_BASE_FP):
        return len(reply.data) >= 4 + sam.TEXT_SIZE
    if command == sam.SAM_ID:
        return len(reply.data) == 16
    return False


@dataclass(frozen=True)
class ReaderTimeouts:
    """Milliseconds the driver waits for the SAM (a read takes 0.4–1 s on real readers)."""

    command_ms: int = 1000
    read_ms: int = 3000
    resync_ms: int = 3000


class IdCardReader:
    """A reader on a pyusb `Device`: `read_card()` does find → select → read and returns the decoded card."""

    def __init__(self, device: Any, *, timeouts: ReaderTimeouts | None = None) -> None:
        self.device = device
        self.timeouts = timeouts or ReaderTimeouts()
        self.transport = BulkTransport.for_device(device)
        self._lock = threading.Lock()
        self._stale = False  # a command timed out: its reply may still arrive

    def _usb(self, exc: usb.core.USBError) -> DeviceError:
        if is_gone(exc):
            return DeviceGone("读卡器已断开（USB 连接中断），请检查连线；插回后会自动恢复", device=READER)
        return DeviceError(DEVICE_FAILED, f"读卡器通信错误：{exc.strerror or exc}", device=READER)

    def command(
        self, command: tuple[int, int], data: bytes = b"", *, timeout_ms: int | None = None
    ) -> sam.SamReply:
        """Send one SAM command and return its reply (status not judged here)."""
        timeout_ms = timeout_ms or self.timeouts.command_ms
        with self._lock:
            try:
                if self._stale:
                    self.transport.drain(limit_ms=self.timeouts.resync_ms)
                    self._stale = False
                self.transport.send(sam.command_frame(command, data), timeout_ms)
                deadline = time.monotonic() + timeout_ms / 1000
                while True:
                    left = int((deadline - time.monotonic()) * 1000)
                    if left <= 0:
                        raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
                    reply = sam.parse_reply(self.transport.receive(left))
                    if _plausible(command, reply):
                        return reply
                    # A late answer to an earlier command: drop it and wait for ours.
            except usb.core.USBTimeoutError:
                self._stale = True
                raise DeviceError(
                    DEVICE_TIMEOUT, "读卡器没有及时应答，请稍候再试（已自动重新同步）", device=READER
                ) from None
            except sam.FrameError as exc:
                self._stale = True
                raise DeviceError(DEVICE_FAILED, f"读卡器应答有误：{exc}", device=READER) from None
            except usb.core.USBError as exc:
                raise self._usb(exc) from None

    def _expect(self, reply: sam.SamReply, *codes: int) -> sam.SamReply:
        if reply.sw1 or reply.sw2 or reply.sw3 not in codes:
            problem = NO_CARD if reply.sw3 == sam.FIND_FAILED else DEVICE_FAILED
            raise DeviceError(
                problem, f"{reply.message}（状态码 0x{reply.sw3:02X}）", device=READER, sw3=reply.sw3
            )
        return reply

    def check(self) -> None:
        """The SAM's self-test (`11 FF`): raises when the module reports a fault."""
        self._expect(self.command(sam.SAM_STATUS), sam.OK)

    def find(self) -> bool:
        """寻卡: True when a new card lies on the reader; False for none (or one already read, not yet lifted)."""
        reply = self.command(sam.FIND_CARD)
        if reply.sw3 == sam.FIND_FAILED and not (reply.sw1 or reply.sw2):
            return False
        self._expect(reply, sam.FIND_OK)
        return True

    def select_and_read(self, *, today: date | None = None, fingerprint: bool = False) -> sam.IdCard:
        """选卡 and 读基本信息 after a successful find."""
        self._expect(self.command(sam.SELECT_CARD), sam.OK)
        command = sam.READ_BASE_FP if fingerprint else sam.READ_BASE
        reply = self._expect(self.command(command, timeout_ms=self.timeouts.read_ms), sam.OK)
        try:
            return sam.decode_read(reply.data, with_fingerprint=fingerprint, today=today)
        except sam.FrameError as exc:
            raise DeviceError(DEVICE_FAILED, f"证件信息格式有误：{exc}", device=READER) from None

    def read_card(
        self, *, wait_s: float = 0.0, poll_s: float = 0.25, today: date | None = None
    ) -> sam.IdCard:
        """Find (waiting up to `wait_s` for a card to be placed), select and read; NO_CARD when none comes."""
        deadline = time.monotonic() + wait_s
        while not self.find():
            if time.monotonic() >= deadline:
                raise DeviceError(
                    NO_CARD,
                    "没有找到新放上的身份证：请把身份证放在读卡区；刚读过的证件需拿起后再放一次",
                    device=READER,
                    sw3=sam.FIND_FAILED,
                )
            time.sleep(poll_s)
        return self.select_and_read(today=today)
