"""The ID card reader driver through real pyusb code on the fake backend: what goes over the wire byte for byte,
full reads over every transport shape, no card, card not lifted, a late reply after a timeout, error status
codes, and unplugging mid-read."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import usb.core

from node.devices import sam
from node.devices.errors import DEVICE_ABSENT, DEVICE_FAILED, DEVICE_TIMEOUT, NO_CARD, DeviceError, DeviceGone
from node.devices.fakeusb import FakeUsbBackend
from node.devices.idcard import IdCardReader, ReaderTimeouts
from node.devices.simulators import SAMPLE_CARDS, SamReaderModel

FIND = bytes.fromhex("AAAAAA96690003200122")
SELECT = bytes.fromhex("AAAAAA96690003200221")
READ = bytes.fromhex("AAAAAA96690003300132")


def connect(model: SamReaderModel, **timeouts: int) -> tuple[FakeUsbBackend, IdCardReader, Any]:
    backend = FakeUsbBackend()
    backend.plug(model)
    device = usb.core.find(idVendor=0x0400, idProduct=0xC35A, backend=backend)
    assert device is not None
    return backend, IdCardReader(device, timeouts=ReaderTimeouts(**timeouts)), device


def outs(model: SamReaderModel) -> list[tuple[int, bytes]]:
    return [(ep, data) for direction, ep, data in model.trace if direction == "out"]


def test_the_reader_enumerates_through_pyusb_with_its_strings() -> None:
    _backend, _reader, device = connect(SamReaderModel())
    assert (device.idVendor, device.idProduct) == (0x0400, 0xC35A)
    assert device.product == "IDCard Reader (simulated)"
    assert device.serial_number == "SIM-IDR-01"


def test_a_full_read_sends_the_known_frames_and_decodes_the_card() -> None:
    model = SamReaderModel()
    _backend, reader, _device = connect(model)
    model.place(SAMPLE_CARDS[0])
    card = reader.read_card()
    assert [data for _ep, data in outs(model)] == [FIND, SELECT, READ]
    assert all(ep == 0x02 for ep, _data in outs(model))
    assert (card.name, card.sex_label, card.nation_label, card.birth_iso) == (
        "张伟",
        "男",
        "汉族",
        "1990-03-15",
    )
    assert card.number == "220581199003151232" and card.number_valid
    assert card.address == "吉林省梅河口市红梅镇红梅村三组12号"
    assert (card.valid_from, card.valid_to) == ("20150601", "20350601")
    assert card.photo_wlt == SAMPLE_CARDS[0].photo_wlt


@pytest.mark.parametrize(
    ("shape", "in_chunk", "split"),
    [
        ("whole", None, False),
        ("64-byte", 64, False),
        ("7-byte", 7, False),
        ("split", None, True),
        ("split-7", 7, True),
    ],
)
def test_packetisation_and_endpoint_layouts_all_give_the_same_card(
    shape: str, in_chunk: int | None, split: bool
) -> None:
    model = SamReaderModel(in_chunk=in_chunk, split=split)
    _backend, reader, _device = connect(model)
    model.place(SAMPLE_CARDS[2])
    card = reader.read_card()
    assert card.name == "李小龙" and card.number == "220581200102205617"
    ins = [data for direction, _ep, data in model.trace if direction == "in"]
    if in_chunk:
        assert max(len(d) for d in ins) <= in_chunk
        assert sum(len(d) for d in ins) == 15 + 19 + 1295  # find + select + read replies, whole
    if split:
        # The 7-byte header goes to EP 0x02, the rest to EP 0x06; replies come as header on 0x81, body on 0x85.
        assert outs(model)[:2] == [(0x02, FIND[:7]), (0x06, FIND[7:])]
        assert {ep for direction, ep, _d in model.trace if direction == "in"} == {0x81, 0x85}


def test_no_card_is_a_clear_no_card_answer() -> None:
    _backend, reader, _device = connect(SamReaderModel())
    assert reader.find() is False
    with pytest.raises(DeviceError) as raised:
        reader.read_card()
    assert raised.value.problem is NO_CARD
    assert "请把身份证放在读卡区" in raised.value.reason


def test_a_card_must_be_lifted_before_it_is_found_again() -> None:
    model = SamReaderModel()
    _backend, reader, _device = connect(model)
    model.place(SAMPLE_CARDS[0])
    reader.read_card()
    assert reader.find() is False  # still lying there: 0x80, "no new card", not an error
    with pytest.raises(DeviceError, match="拿起后再放一次"):
        reader.read_card()
    model.lift()
    model.place(SAMPLE_CARDS[0])
    assert reader.read_card().name == "张伟"


def test_read_waits_for_a_card_being_placed() -> None:
    model = SamReaderModel()
    _backend, reader, _device = connect(model)
    threading.Timer(0.3, model.place, args=(SAMPLE_CARDS[1],)).start()
    assert reader.read_card(wait_s=3.0, poll_s=0.05).name == "金美兰"


def test_a_reply_after_the_timeout_is_dropped_and_the_next_read_is_right() -> None:
    model = SamReaderModel(read_delay_s=0.5)
    _backend, reader, _device = connect(model, read_ms=150, resync_ms=100)
    model.place(SAMPLE_CARDS[0])
    with pytest.raises(DeviceError) as raised:
        reader.read_card()
    assert raised.value.problem is DEVICE_TIMEOUT
    assert "没有及时应答" in raised.value.reason
    time.sleep(0.6)  # the late 1295-byte reply is now queued on the IN endpoint
    model.read_delay_s = 0.0
    model.lift()
    model.place(SAMPLE_CARDS[2])
    card = reader.read_card()
    assert card.name == "李小龙"  # not 张伟 from the stale frame
    # The stale frame was read and thrown away, not answered as the find.
    big = [d for direction, _ep, d in model.trace if direction == "in" and len(d) > 1000]
    assert len(big) >= 2


def test_a_late_frame_that_arrives_mid_conversation_is_not_believed() -> None:
    """Even without a drain, a stale full-read frame cannot pass as a find reply."""
    model = SamReaderModel()
    _backend, reader, _device = connect(model)
    model.place(SAMPLE_CARDS[1])
    reader.read_card()
    # Queue an unsolicited read reply (as if a second read had been answered late).
    with model.condition:
        model._queue(sam.reply_frame(sam.OK, sam.read_payload(SAMPLE_CARDS[0])), 0.0)
    model.lift()
    model.place(SAMPLE_CARDS[2])
    assert reader.read_card().name == "李小龙"


@pytest.mark.parametrize(
    ("command", "sw3", "words"),
    [
        (sam.FIND_CARD, 0x21, "不支持此命令"),
        (sam.SELECT_CARD, 0x81, "选卡失败"),
        (sam.READ_BASE, 0x41, "读证件失败"),
        (sam.READ_BASE, 0x33, "证件信息验证错误"),
        (sam.FIND_CARD, 0x60, "自检失败"),
        (sam.READ_BASE, 0x55, "未知状态 0x55"),
    ],
)
def test_error_status_codes_become_clear_messages(command: tuple[int, int], sw3: int, words: str) -> None:
    model = SamReaderModel()
    _backend, reader, _device = connect(model)
    model.place(SAMPLE_CARDS[0])
    model.fail_next(command, sw3)
    with pytest.raises(DeviceError) as raised:
        reader.read_card()
    assert raised.value.problem is DEVICE_FAILED
    assert words in raised.value.reason and f"0x{sw3:02X}" in raised.value.reason
    assert raised.value.extra["sw3"] == sw3


def test_select_without_find_is_refused_by_the_sam() -> None:
    model = SamReaderModel()
    _backend, reader, _device = connect(model)
    model.place(SAMPLE_CARDS[0])
    with pytest.raises(DeviceError, match="选卡失败"):
        reader.select_and_read()


def test_sam_self_test_failure_is_reported() -> None:
    model = SamReaderModel()
    model.self_test_ok = False
    _backend, reader, _device = connect(model)
    with pytest.raises(DeviceError, match="自检失败"):
        reader.check()


def test_unplugging_mid_read_gives_a_clear_message() -> None:
    model = SamReaderModel(read_delay_s=1.0)
    backend, reader, _device = connect(model, read_ms=3000)
    model.place(SAMPLE_CARDS[0])
    threading.Timer(0.3, backend.unplug, args=(model,)).start()
    started = time.monotonic()
    with pytest.raises(DeviceGone) as raised:
        reader.read_card()
    assert time.monotonic() - started < 1.0  # not left waiting for the timeout
    assert raised.value.problem is DEVICE_ABSENT
    assert "读卡器已断开" in raised.value.reason and "插回后会自动恢复" in raised.value.reason
    # A driver on the old handle stays dead; a fresh enumeration after replugging works.
    with pytest.raises(DeviceGone):
        reader.find()
    backend.plug(model)
    device = usb.core.find(idVendor=0x0400, idProduct=0xC35A, backend=backend)
    model.read_delay_s = 0.0
    assert IdCardReader(device).read_card().name == "张伟"
