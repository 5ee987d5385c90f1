"""The GA/T 467 frame codec against the byte strings published by independent implementations
(devices.md §3.1, domain-facts §7.2), and the ID card's 256-byte text block."""

from __future__ import annotations

from datetime import date

import pytest

from node.devices import sam
from node.devices.simulators import SAMPLE_CARDS


def h(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize(
    ("command", "data", "frame"),
    [
        (sam.FIND_CARD, b"", "AA AA AA 96 69 00 03 20 01 22"),
        (sam.SELECT_CARD, b"", "AA AA AA 96 69 00 03 20 02 21"),
        (sam.READ_BASE, b"", "AA AA AA 96 69 00 03 30 01 32"),
        (sam.READ_BASE_FP, b"", "AA AA AA 96 69 00 03 30 10 23"),
        (sam.SAM_STATUS, b"", "AA AA AA 96 69 00 03 11 FF ED"),
        (sam.RESET, b"", "AA AA AA 96 69 00 03 10 FF EC"),
        (sam.SAM_ID, b"", "AA AA AA 96 69 00 03 12 FF EE"),
        ((0x61, 0xFF), b"\x50", "AA AA AA 96 69 00 04 61 FF 50 CA"),
    ],
)
def test_command_frames_are_byte_for_byte_the_published_ones(
    command: tuple[int, int], data: bytes, frame: str
) -> None:
    assert sam.command_frame(command, data) == h(frame)


@pytest.mark.parametrize(
    ("sw3", "data", "frame"),
    [
        (0x9F, bytes(4), "AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97"),
        (0x80, b"", "AA AA AA 96 69 00 04 00 00 80 84"),
        (0x90, bytes(8), "AA AA AA 96 69 00 0C 00 00 90" + " 00" * 8 + " 9C"),
        (0x81, b"", "AA AA AA 96 69 00 04 00 00 81 85"),
        (0x41, b"", "AA AA AA 96 69 00 04 00 00 41 45"),
        (0x90, b"", "AA AA AA 96 69 00 04 00 00 90 94"),
    ],
)
def test_reply_frames_are_byte_for_byte_the_published_ones(sw3: int, data: bytes, frame: str) -> None:
    assert sam.reply_frame(sw3, data) == h(frame)
    reply = sam.parse_reply(h(frame))
    assert (reply.sw1, reply.sw2, reply.sw3, reply.data) == (0, 0, sw3, data)


def test_a_full_read_reply_is_1295_bytes_and_decodes() -> None:
    card = SAMPLE_CARDS[1]
    frame = sam.reply_frame(sam.OK, sam.read_payload(card))
    assert len(frame) == 1295
    assert frame[:14] == h("AA AA AA 96 69 05 08 00 00 90 01 00 04 00")
    reply = sam.parse_reply(frame)
    decoded = sam.decode_read(reply.data)
    assert (decoded.name, decoded.sex_label, decoded.nation_label) == ("金美兰", "女", "朝鲜族")
    assert (decoded.birth_iso, decoded.number, decoded.valid_to) == (
        "1985-07-08",
        "220581198507082045",
        "长期",
    )
    assert decoded.address == "吉林省梅河口市海龙镇新华街道88号2单元301室"
    assert decoded.authority == "梅河口市公安局"
    assert decoded.photo_wlt == card.photo_wlt and len(decoded.photo_wlt) == 1024
    assert decoded.number_valid and decoded.number_problem == ""


def test_the_fingerprint_variant_carries_a_third_length() -> None:
    card = SAMPLE_CARDS[0]
    from dataclasses import replace

    with_fp = replace(card, fingerprint=bytes(range(256)) * 4)
    data = sam.read_payload(with_fp, with_fingerprint=True)
    assert data[:6] == h("01 00 04 00 04 00")
    assert sam.decode_read(data, with_fingerprint=True).fingerprint == with_fp.fingerprint


def test_text_block_fields_sit_at_their_offsets_in_ucs2_little_endian() -> None:
    block = sam.encode_text(SAMPLE_CARDS[0])
    assert len(block) == 256
    assert block[0:4] == "张伟".encode("utf-16-le") and block[4:30] == b" \x00" * 13
    assert block[30:32] == b"1\x00"  # sex
    assert block[32:36] == "01".encode("utf-16-le")  # nation
    assert block[122:158] == "220581199003151232".encode("utf-16-le")
    assert block[220:256] == b" \x00" * 18  # reserved


def test_a_wrong_check_digit_on_the_card_is_reported_not_hidden() -> None:
    from dataclasses import replace

    bad = replace(SAMPLE_CARDS[0], number="220581199003151233")
    card = sam.decode_text(sam.encode_text(bad), today=date(2026, 12, 1))
    assert not card.number_valid
    assert "校验位错误" in card.number_problem
    assert "220581199003151233" not in repr(card)  # the repr never shows the number


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ("AA AA AA 96 68 00 04 00 00 90 94", "帧头"),
        ("AA AA AA 96 69 00 04 00 00 90 95", "校验和"),
        ("AA AA AA 96 69 00 05 00 00 90 94", "长度"),
    ],
)
def test_damaged_frames_are_refused(frame: str, problem: str) -> None:
    with pytest.raises(sam.FrameError, match=problem):
        sam.parse_reply(h(frame))


def test_every_status_code_has_a_sentence_for_the_clerk() -> None:
    for code in (
        0x10,
        0x11,
        0x21,
        0x23,
        0x24,
        0x31,
        0x32,
        0x33,
        0x37,
        0x3F,
        0x40,
        0x41,
        0x47,
        0x60,
        0x66,
        0x80,
        0x81,
    ):
        assert sam.status_message(code) != f"读卡器返回未知状态 0x{code:02X}"
    assert sam.status_message(0x55) == "读卡器返回未知状态 0x55"


def test_the_card_type_letter_at_byte_248_is_kept() -> None:
    block = bytearray(sam.encode_text(SAMPLE_CARDS[0]))
    assert sam.decode_text(bytes(block)).card_type == ""
    block[248:250] = "J".encode("utf-16-le")
    assert sam.decode_text(bytes(block)).card_type == "J"
