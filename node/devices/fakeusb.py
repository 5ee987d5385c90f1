"""An in-process pyusb backend (`usb.backend.IBackend`) with emulated devices plugged into it.

The drivers run unchanged on it: `usb.core.find(..., backend=FakeUsbBackend)` builds real pyusb `Device`,
`Configuration` and `Endpoint` objects from the descriptors here, and every transfer goes through pyusb's own
code. A device's behaviour is a `DeviceModel` (the reader, evaluator and printer models are in
`node.devices.simulators`); this module knows only USB: descriptors, string descriptors, plugging and unplugging,
timeouts and "no such device" exactly as libusb reports them (devices.md §2.2).

Used by the tests and by the node's simulator mode (`--simulate-devices`).
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

BULK = 0x02
INTERRUPT = 0x03
LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_PIPE = -9


def timeout_error() -> usb.core.USBTimeoutError:
    return usb.core.USBTimeoutError("Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT)


def gone_error() -> usb.core.USBError:
    return usb.core.USBError(
        "No such device (it may have been disconnected)", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV
    )


@dataclass(frozen=True)
class EndpointSpec:
    address: int
    attributes: int = BULK
    max_packet: int = 64
    interval: int = 0


class DeviceModel:
    """Base of an emulated device: its identity and endpoints, and what it does with transfers.

    Subclasses override `on_out` and `on_in`. `on_in` may wait (up to the transfer's timeout) for data; it
    must return early with `gone_error()` when the device is unplugged meanwhile, which `wait_for` handles.
    """

    vendor_id = 0
    product_id = 0
    manufacturer = "OneWindow"
    product = "device"
    serial = "0001"
    interface_class = 0xFF
    interface_subclass = 0
    interface_protocol = 0
    endpoints: tuple[EndpointSpec, ...] = ()

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.plugged = False
        self.trace: list[tuple[str, int, bytes]] = []  # (direction, endpoint, bytes) of every transfer

    # -- behaviour, overridden by device models
    def on_out(self, endpoint: int, data: bytes) -> None:
        """Bytes the host wrote to an OUT endpoint."""

    def on_in(self, endpoint: int, size: int, timeout_s: float) -> bytes:
        """Bytes for an IN transfer of at most `size` (raise `timeout_error()` when nothing comes)."""
        raise timeout_error()

    def on_reset(self) -> None:
        """USB port reset."""

    def on_power_off(self) -> None:
        """The cable was pulled: whatever the device held in RAM is gone."""

    # -- helpers for models
    def wait_for(self, ready: Any, timeout_s: float) -> None:
        """Wait (holding `condition`) until `ready()` is true; a timeout or an unplug raise as libusb would."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.plugged:
                raise gone_error()
            if ready():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise timeout_error()
            self.condition.wait(left)

    def notify(self) -> None:
        with self.condition:
            self.condition.notify_all()


@dataclass
class _Descriptor:
    """A plain attribute bag: pyusb reads descriptors with getattr over fixed field lists."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


class FakeDevice:
    """One enumeration of a plugged model (a replug gets a new address, as a real re-enumeration does)."""

    def __init__(self, model: DeviceModel, bus: int, address: int, port: int) -> None:
        self.model = model
        self.bus = bus
        self.address = address
        self.port = port
        self.present = True
        self.strings = {1: model.manufacturer, 2: model.product, 3: model.serial}

    def descriptor(self) -> _Descriptor:
        m = self.model
        return _Descriptor(
            {
                "bLength": 18,
                "bDescriptorType": 1,
                "bcdUSB": 0x0200,
                "bDeviceClass": 0,
                "bDeviceSubClass": 0,
                "bDeviceProtocol": 0,
                "bMaxPacketSize0": 64,
                "idVendor": m.vendor_id,
                "idProduct": m.product_id,
                "bcdDevice": 0x0100,
                "iManufacturer": 1,
                "iProduct": 2,
                "iSerialNumber": 3,
                "bNumConfigurations": 1,
                "address": self.address,
                "bus": self.bus,
                "port_number": self.port,
                "port_numbers": (self.port,),
                "speed": 3,  # high speed
            }
        )


class _Handle:
    def __init__(self, device: FakeDevice) -> None:
        self.device = device
        self.configuration = 1  # the kernel has configured it already (devices.md §2.2 pitfall 5)
        self.claimed: set[int] = set()


class FakeUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A USB bus in memory: `plug` a model, `unplug` it, and pyusb sees it come and go."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._devices: list[FakeDevice] = []
        self._next_address = 1

    # -- the bus
    def plug(self, model: DeviceModel, *, port: int | None = None) -> FakeDevice:
        with self._lock:
            self._next_address += 1
            device = FakeDevice(model, 1, self._next_address, port or len(self._devices) + 1)
            self._devices.append(device)
        with model.condition:
            model.plugged = True
            model.condition.notify_all()
        return device

    def unplug(self, model: DeviceModel) -> None:
        with self._lock:
            for device in self._devices:
                if device.model is model:
                    device.present = False
            self._devices = [d for d in self._devices if d.model is not model]
        with model.condition:
            model.plugged = False
            model.on_power_off()
            model.condition.notify_all()

    def models(self) -> list[DeviceModel]:
        with self._lock:
            return [d.model for d in self._devices]

    # -- IBackend
    def enumerate_devices(self) -> Iterator[FakeDevice]:
        with self._lock:
            devices = list(self._devices)
        yield from devices

    def get_device_descriptor(self, dev: FakeDevice) -> _Descriptor:
        return dev.descriptor()

    def get_configuration_descriptor(self, dev: FakeDevice, config: int) -> _Descriptor:
        if config != 0:
            raise IndexError(config)
        return _Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 2,
                "wTotalLength": 9 + 9 + 7 * len(dev.model.endpoints),
                "bNumInterfaces": 1,
                "bConfigurationValue": 1,
                "iConfiguration": 0,
                "bmAttributes": 0x80,
                "bMaxPower": 50,
                "extra_descriptors": [],
            }
        )

    def get_interface_descriptor(self, dev: FakeDevice, intf: int, alt: int, config: int) -> _Descriptor:
        # Only interface 0, alternate setting 0: pyusb probes alternates until IndexError (pitfall 2).
        if intf != 0 or alt != 0 or config != 0:
            raise IndexError((intf, alt, config))
        m = dev.model
        return _Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 4,
                "bInterfaceNumber": 0,
                "bAlternateSetting": 0,
                "bNumEndpoints": len(m.endpoints),
                "bInterfaceClass": m.interface_class,
                "bInterfaceSubClass": m.interface_subclass,
                "bInterfaceProtocol": m.interface_protocol,
                "iInterface": 0,
                "extra_descriptors": [],
            }
        )

    def get_endpoint_descriptor(
        self, dev: FakeDevice, ep: int, intf: int, alt: int, config: int
    ) -> _Descriptor:
        endpoints = dev.model.endpoints
        if intf != 0 or alt != 0 or config != 0 or ep >= len(endpoints):
            raise IndexError(ep)
        spec = endpoints[ep]
        return _Descriptor(
            {
                "bLength": 7,
                "bDescriptorType": 5,
                "bEndpointAddress": spec.address,
                "bmAttributes": spec.attributes,
                "wMaxPacketSize": spec.max_packet,
                "bInterval": spec.interval,
                "bRefresh": 0,
                "bSynchAddress": 0,
                "extra_descriptors": [],
            }
        )

    def open_device(self, dev: FakeDevice) -> _Handle:
        if not dev.present:
            raise gone_error()
        return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        dev_handle.claimed.clear()

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self._alive(dev_handle)
        dev_handle.configuration = config_value

    def get_configuration(self, dev_handle: _Handle) -> int:
        self._alive(dev_handle)
        return dev_handle.configuration

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        self._alive(dev_handle)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        self._alive(dev_handle)
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.claimed.discard(intf)

    def bulk_write(self, dev_handle: _Handle, ep: int, intf: int, data: Any, timeout: int) -> int:
        return self._write(dev_handle, ep, bytes(data))

    def intr_write(self, dev_handle: _Handle, ep: int, intf: int, data: Any, timeout: int) -> int:
        return self._write(dev_handle, ep, bytes(data))

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: Any, timeout: int) -> int:
        return self._read(dev_handle, ep, buff, timeout)

    def intr_read(self, dev_handle: _Handle, ep: int, intf: int, buff: Any, timeout: int) -> int:
        return self._read(dev_handle, ep, buff, timeout)

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: Any,
        timeout: int,
    ) -> int:
        self._alive(dev_handle)
        # GET_DESCRIPTOR (string) is the only control request pyusb makes itself (pitfall 4).
        if bmRequestType == 0x80 and bRequest == 6 and wValue >> 8 == 3:
            index = wValue & 0xFF
            if index == 0:
                raw = bytes([4, 3, 0x09, 0x04])  # LANGID en-US
            else:
                text = dev_handle.device.strings.get(index, "").encode("utf-16-le")
                raw = bytes([len(text) + 2, 3]) + text
            n = min(len(raw), len(data))
            data[:n] = type(data)(data.typecode, raw[:n])
            return n
        raise usb.core.USBError("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._alive(dev_handle)

    def reset_device(self, dev_handle: _Handle) -> None:
        self._alive(dev_handle)
        dev_handle.device.model.on_reset()

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        return None

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        return None

    def get_parent(self, dev: FakeDevice) -> None:
        return None

    # -- transfers
    def _alive(self, dev_handle: _Handle) -> None:
        if not dev_handle.device.present:
            raise gone_error()

    def _write(self, dev_handle: _Handle, ep: int, data: bytes) -> int:
        self._alive(dev_handle)
        model = dev_handle.device.model
        with model.condition:
            model.trace.append(("out", ep, data))
            model.on_out(ep, data)
            model.condition.notify_all()
        return len(data)

    def _read(self, dev_handle: _Handle, ep: int, buff: Any, timeout: int) -> int:
        self._alive(dev_handle)
        model = dev_handle.device.model
        timeout_s = (timeout or 5000) / 1000
        with model.condition:
            if not dev_handle.device.present:
                raise gone_error()
            chunk = model.on_in(ep, len(buff), timeout_s)
            model.trace.append(("in", ep, chunk))
        # IN transfers fill the caller's array in place and return the count (pitfall 3).
        buff[: len(chunk)] = type(buff)(buff.typecode, chunk)
        return len(chunk)
