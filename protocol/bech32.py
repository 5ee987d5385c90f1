"""Bech32 (BIP-173) text encoding of byte strings, as age uses it for its keys.

This is the original Bech32 checksum, not Bech32m (BIP-350). Unlike BIP-173 there is no overall 90-character
limit: the age spec drops it because an X25519 secret key is already longer than that. Everything else is
strict: a bad checksum, a mixed-case string, a character outside the alphabet, or data whose 5-bit groups do
not pack back into whole bytes (non-zero or overlong padding) is refused.
"""

from __future__ import annotations

from collections.abc import Iterable

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {char: index for index, char in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_LENGTH = 6
# BIP-173 keeps this bound on the human-readable part even though we drop the bound on the whole string.
_MAX_HRP_LENGTH = 83


def _polymod(values: Iterable[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def _create_checksum(hrp: str, data: list[int]) -> list[int]:
    polymod = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ 1
    return [(polymod >> 5 * (5 - index)) & 31 for index in range(_CHECKSUM_LENGTH)]


def _check_hrp(hrp: str) -> None:
    if not 1 <= len(hrp) <= _MAX_HRP_LENGTH:
        raise ValueError(f"bech32: human-readable part must be 1 to {_MAX_HRP_LENGTH} characters")
    for char in hrp:
        if not 33 <= ord(char) <= 126:
            raise ValueError(f"bech32: invalid character {char!r} in human-readable part")


def _to_5bit(data: bytes) -> list[int]:
    accumulator = 0
    bits = 0
    groups: list[int] = []
    for byte in data:
        accumulator = (accumulator << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            groups.append((accumulator >> bits) & 31)
    if bits:
        groups.append((accumulator << (5 - bits)) & 31)
    return groups


def _from_5bit(groups: list[int]) -> bytes:
    accumulator = 0
    bits = 0
    out = bytearray()
    for group in groups:
        accumulator = (accumulator << 5) | group
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((accumulator >> bits) & 0xFF)
    # The encoder pads with fewer than 5 zero bits; anything else means another encoder produced this string
    # or it was altered, and accepting it would give two texts for the same key.
    if bits >= 5:
        raise ValueError("bech32: data part has a superfluous 5-bit group")
    if accumulator & ((1 << bits) - 1):
        raise ValueError("bech32: data part has non-zero padding bits")
    return bytes(out)


def bech32_encode(hrp: str, data: bytes) -> str:
    """Encode `data` under the human-readable part `hrp`; the result is all lowercase."""
    hrp = hrp.lower()
    _check_hrp(hrp)
    groups = _to_5bit(data)
    return hrp + "1" + "".join(_CHARSET[group] for group in groups + _create_checksum(hrp, groups))


def bech32_decode(text: str) -> tuple[str, bytes]:
    """Decode a Bech32 string into its lowercase human-readable part and its data bytes.

    Raises `ValueError` describing the first problem found.
    """
    if text.lower() != text and text.upper() != text:
        raise ValueError("bech32: mixed-case string")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 0:
        raise ValueError("bech32: missing '1' separator")
    hrp, data_part = text[:separator], text[separator + 1 :]
    _check_hrp(hrp)
    if len(data_part) < _CHECKSUM_LENGTH:
        raise ValueError("bech32: data part is shorter than the 6-character checksum")
    groups: list[int] = []
    for position, char in enumerate(data_part):
        group = _CHARSET_INDEX.get(char)
        if group is None:
            # Position, not the character: the data part may be a secret key and errors end up in logs.
            raise ValueError(f"bech32: invalid character at position {separator + 1 + position} in data part")
        groups.append(group)
    if _polymod([*_hrp_expand(hrp), *groups]) != 1:
        raise ValueError("bech32: checksum mismatch")
    return hrp, _from_5bit(groups[:-_CHECKSUM_LENGTH])
