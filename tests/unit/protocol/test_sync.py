"""Signed statements, courier files and tus helpers: what node and central trust of each other's answers."""

from __future__ import annotations

import io
import os

import pytest

from protocol.errors import COURIER_FILE_INVALID, STATEMENT_INVALID, OneWindowError
from protocol.keys import SigningKey
from protocol.sync import (
    checksum_header,
    checksum_matches,
    describe_skew,
    parse_tus_metadata,
    read_courier_file,
    should_compress,
    sign_statement,
    tus_metadata,
    verify_statement,
    write_courier_file,
)


def test_statement_verifies_only_with_the_signers_key_and_unchanged() -> None:
    county, other = SigningKey.generate(), SigningKey.generate()
    signed = sign_statement({"up": {"seq": 3, "hash": "a" * 64}, "skew_ms": 5}, county)
    assert verify_statement(signed, county.verify_key) == {"up": {"seq": 3, "hash": "a" * 64}, "skew_ms": 5}
    with pytest.raises(OneWindowError) as wrong_key:
        verify_statement(signed, other.verify_key)
    assert wrong_key.value.problem is STATEMENT_INVALID
    with pytest.raises(OneWindowError):
        verify_statement({**signed, "skew_ms": 6}, county.verify_key)
    with pytest.raises(OneWindowError):
        verify_statement({"up": 1}, county.verify_key)


def _file(key: SigningKey) -> bytes:
    out = io.BytesIO()
    write_courier_file(
        out,
        {"direction": "up", "node_id": "n1"},
        {"entries.json": b'{"entries":[]}', "attachments/x.age": os.urandom(5000)},
        key,
    )
    return out.getvalue()


def test_courier_file_round_trips_and_any_changed_byte_refuses_it_whole() -> None:
    key = SigningKey.generate()
    data = _file(key)
    manifest, members = read_courier_file(data, lambda _m: key.verify_key)
    assert manifest["node_id"] == "n1" and set(members) == {"entries.json", "attachments/x.age"}
    # Every byte position matters: headers, padding, manifest, members.
    for position in range(0, len(data), 97):
        altered = bytearray(data)
        altered[position] ^= 0x40
        with pytest.raises(OneWindowError) as refused:
            read_courier_file(bytes(altered), lambda _m: key.verify_key)
        assert refused.value.problem is COURIER_FILE_INVALID
    with pytest.raises(OneWindowError):
        read_courier_file(data, lambda _m: SigningKey.generate().verify_key)  # signed by someone else
    with pytest.raises(OneWindowError):
        read_courier_file(data[: len(data) // 2], lambda _m: key.verify_key)  # cut short
    with pytest.raises(OneWindowError):
        read_courier_file(b"not a tar at all", lambda _m: key.verify_key)


def test_tus_metadata_and_checksums() -> None:
    header = tus_metadata({"sha256": "ab" * 32, "filename": "身份证 正面.jpg", "compression": ""})
    assert parse_tus_metadata(header) == {
        "sha256": "ab" * 32,
        "filename": "身份证 正面.jpg",
        "compression": "",
    }
    with pytest.raises(ValueError):
        parse_tus_metadata("sha256 !!!")
    chunk = os.urandom(1000)
    assert checksum_matches(checksum_header(chunk), chunk)
    assert not checksum_matches(checksum_header(chunk), chunk[:-1] + b"\x00")
    assert not checksum_matches("md5 " + checksum_header(chunk).split(" ")[1], chunk)


def test_compression_only_where_it_pays() -> None:
    text = b"BT /F1 12 Tf (line) Tj ET\n" * 10_000
    assert should_compress("application/pdf", text)
    assert not should_compress("image/jpeg", text)  # already compressed formats are never recompressed
    assert not should_compress("application/pdf", os.urandom(100_000))  # incompressible content


@pytest.mark.parametrize(
    ("skew_ms", "said"),
    [
        (None, "未知"),
        (30_000, "准确"),
        (-90_000, "准确"),
        (3 * 86_400_000, "快 3 天"),
        (-7_200_000, "慢 2 小时"),
        (-150_000, "慢 2.5 分钟"),
    ],
)
def test_skew_in_words(skew_ms: int | None, said: str) -> None:
    assert describe_skew(skew_ms) == said


def test_tus_metadata_header_never_ends_in_a_space() -> None:
    """An empty value is sent as the bare key (found by the benchmark: h11 refuses trailing whitespace)."""
    header = tus_metadata({"sha256": "ab" * 32, "compression": ""})
    assert header.endswith(",compression") and header == header.strip()
    assert parse_tus_metadata(header)["compression"] == ""
