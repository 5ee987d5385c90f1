"""Tests for the age v1 implementation and its Bech32 key encoding.

Malformed files are built by `_forge`, a small encoder written here straight from the spec and independent of
`protocol.age`, so the header MAC stays valid and each test reaches the one check it is about.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import shutil
import subprocess
import tracemalloc
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol.age import (
    CHUNK_SIZE,
    FILE_KEY_SIZE,
    AgeError,
    _wrap_body,
    decrypt,
    decrypt_stream,
    encrypt,
    encrypt_stream,
    generate_identity,
    identity_from_str,
    identity_to_str,
    parse_identity_file,
    recipient_from_identity,
    recipient_from_str,
    recipient_to_str,
)
from protocol.bech32 import bech32_decode, bech32_encode

SIZES = [0, 1, 65535, 65536, 65537, 131072, 200000]
TAG = 16
ENCRYPTED_CHUNK = CHUNK_SIZE + TAG

# From the age spec (c2sp.org/age): the identity is 32 bytes of 0x42.
SPEC_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def _keypair() -> tuple[bytes, bytes]:
    identity = generate_identity()
    return identity, recipient_from_identity(identity)


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _forge(
    recipient: bytes,
    chunks: list[tuple[bytes, bool]],
    *,
    extra_stanzas: bytes = b"",
    share_text: bytes | None = None,
    x25519_extra_args: bytes = b"",
    body_text: bytes | None = None,
) -> bytes:
    """Build an age file by hand with explicit chunks as (plaintext, last flag) and optional header quirks."""
    file_key = os.urandom(FILE_KEY_SIZE)
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    wrap_key = _hkdf(shared, share + recipient, b"age-encryption.org/v1/X25519")
    body = ChaCha20Poly1305(wrap_key).encrypt(bytes(12), file_key, None)
    header = (
        b"age-encryption.org/v1\n"
        + extra_stanzas
        + b"-> X25519 "
        + (share_text if share_text is not None else _b64(share))
        + x25519_extra_args
        + b"\n"
        + (body_text if body_text is not None else _b64(body) + b"\n")
        + b"---"
    )
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header, hashlib.sha256).digest()
    nonce = os.urandom(16)
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    payload = b"".join(
        aead.encrypt(counter.to_bytes(11, "big") + bytes([last]), data, None)
        for counter, (data, last) in enumerate(chunks)
    )
    return header + b" " + _b64(mac) + b"\n" + nonce + payload


def _header_length(ciphertext: bytes) -> int:
    mac_line = ciphertext.index(b"\n--- ") + 1
    return ciphertext.index(b"\n", mac_line) + 1


def _flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[offset] ^= 1 << bit
    return bytes(out)


def _noncanonical(text: bytes) -> bytes:
    """Same decoded bytes, but with a non-zero unused low bit in the last character."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(text[-1:])
    assert last % 4 == 0, "expected a 43-character encoding with two unused bits"
    return text[:-1] + alphabet[last + 1 : last + 2]


# -- round trips ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_round_trip(size: int) -> None:
    identity, recipient = _keypair()
    plaintext = os.urandom(size)
    ciphertext = encrypt(plaintext, [recipient])
    assert ciphertext.startswith(b"age-encryption.org/v1\n-> X25519 ")
    assert decrypt(ciphertext, [identity]) == plaintext


@pytest.mark.parametrize("size", SIZES)
def test_payload_chunking_matches_spec(size: int) -> None:
    # A non-zero multiple of 64 KiB must end with a full final chunk, never an extra empty one.
    _, recipient = _keypair()
    ciphertext = encrypt(os.urandom(size), [recipient])
    chunks = max(1, -(-size // CHUNK_SIZE))
    assert len(ciphertext) - _header_length(ciphertext) == 16 + size + TAG * chunks


def test_encryption_is_randomised() -> None:
    _, recipient = _keypair()
    assert encrypt(b"same", [recipient]) != encrypt(b"same", [recipient])


def test_independent_encoder_output_decrypts() -> None:
    identity, recipient = _keypair()
    data = os.urandom(CHUNK_SIZE + 5)
    forged = _forge(recipient, [(data[:CHUNK_SIZE], False), (data[CHUNK_SIZE:], True)])
    assert decrypt(forged, [identity]) == data


def test_multiple_recipients_each_decrypt() -> None:
    pairs = [_keypair() for _ in range(3)]
    plaintext = os.urandom(70000)
    ciphertext = encrypt(plaintext, [recipient for _, recipient in pairs])
    assert ciphertext[: _header_length(ciphertext)].count(b"\n-> X25519 ") == 3
    for identity, _ in pairs:
        assert decrypt(ciphertext, [identity]) == plaintext


def test_any_of_several_identities_decrypts() -> None:
    identity, recipient = _keypair()
    stranger, _ = _keypair()
    ciphertext = encrypt(b"hello", [recipient])
    assert decrypt(ciphertext, [stranger, identity]) == b"hello"


def test_wrong_identity_is_rejected() -> None:
    _, recipient = _keypair()
    stranger, _ = _keypair()
    with pytest.raises(AgeError, match="no identity"):
        decrypt(encrypt(b"secret", [recipient]), [stranger])


def test_arguments_are_checked() -> None:
    identity, recipient = _keypair()
    with pytest.raises(AgeError, match="at least one recipient"):
        encrypt(b"x", [])
    with pytest.raises(AgeError, match="32 raw bytes"):
        encrypt(b"x", [recipient[:31]])
    with pytest.raises(AgeError, match="usable"):
        encrypt(b"x", [bytes(32)])  # a low-order point
    ciphertext = encrypt(b"x", [recipient])
    with pytest.raises(AgeError, match="at least one identity"):
        decrypt(ciphertext, [])
    with pytest.raises(AgeError, match="32 raw bytes"):
        decrypt(ciphertext, [identity + b"\x00"])


# -- tampering, truncation, trailing data --------------------------------------------------------------


def _header_offsets(ciphertext: bytes) -> dict[str, int]:
    header = ciphertext[: _header_length(ciphertext)]
    stanza = header.index(b"-> X25519 ")
    body = header.index(b"\n", stanza) + 1
    return {
        "version": 3,
        "stanza type": stanza + 3,
        "share": stanza + 12,
        "body": body + 10,
        "footer dashes": header.index(b"\n---") + 2,
    }


@pytest.mark.parametrize("where", ["version", "stanza type", "share", "body", "footer dashes"])
def test_flipped_bit_in_header_is_rejected(where: str) -> None:
    identity, recipient = _keypair()
    ciphertext = encrypt(b"attack at dawn", [recipient])
    with pytest.raises(AgeError):
        decrypt(_flip(ciphertext, _header_offsets(ciphertext)[where], 1), [identity])


@pytest.mark.parametrize("bit", [0, 7, 255])
def test_flipped_bit_in_mac_is_rejected(bit: int) -> None:
    identity, recipient = _keypair()
    ciphertext = encrypt(b"attack at dawn", [recipient])
    end = _header_length(ciphertext) - 1
    start = ciphertext.rindex(b"--- ", 0, end) + 4
    mac = base64.b64decode(ciphertext[start:end] + b"=")
    altered = _flip(mac, bit // 8, bit % 8)
    with pytest.raises(AgeError, match="MAC"):
        decrypt(ciphertext[:start] + _b64(altered) + ciphertext[end:], [identity])


def test_header_change_that_keeps_the_file_key_fails_the_mac() -> None:
    # The X25519 stanza still unwraps, so only the MAC can notice the inserted stanza.
    identity, recipient = _keypair()
    ciphertext = encrypt(b"attack at dawn", [recipient])
    cut = len(b"age-encryption.org/v1\n")
    altered = ciphertext[:cut] + b"-> injected\n\n" + ciphertext[cut:]
    with pytest.raises(AgeError, match="MAC"):
        decrypt(altered, [identity])


@pytest.mark.parametrize("where", ["nonce", "first chunk", "last tag"])
def test_flipped_bit_in_payload_is_rejected(where: str) -> None:
    identity, recipient = _keypair()
    ciphertext = encrypt(os.urandom(100000), [recipient])
    offset = {
        "nonce": _header_length(ciphertext) + 3,
        "first chunk": _header_length(ciphertext) + 16 + 1000,
        "last tag": len(ciphertext) - 1,
    }[where]
    with pytest.raises(AgeError):
        decrypt(_flip(ciphertext, offset, 4), [identity])


@pytest.mark.parametrize("size", [0, 10, CHUNK_SIZE, 200000])
@pytest.mark.parametrize(
    "cut", ["one byte", "whole last chunk", "all payload", "half nonce", "inside header"]
)
def test_truncation_is_rejected(size: int, cut: str) -> None:
    identity, recipient = _keypair()
    ciphertext = encrypt(os.urandom(size), [recipient])
    header = _header_length(ciphertext)
    last_chunk = (size - 1) % CHUNK_SIZE + 1 + TAG if size else TAG
    keep = {
        "one byte": len(ciphertext) - 1,
        "whole last chunk": len(ciphertext) - last_chunk,
        "all payload": header,
        "half nonce": header + 8,
        "inside header": header - 10,
    }[cut]
    with pytest.raises(AgeError):
        decrypt(ciphertext[:keep], [identity])


def test_truncation_at_a_chunk_boundary_is_named() -> None:
    identity, recipient = _keypair()
    ciphertext = encrypt(os.urandom(2 * CHUNK_SIZE + 1), [recipient])
    with pytest.raises(AgeError, match="truncated"):
        decrypt(ciphertext[: _header_length(ciphertext) + 16 + 2 * ENCRYPTED_CHUNK], [identity])


@pytest.mark.parametrize("size", [0, 10, CHUNK_SIZE, 2 * CHUNK_SIZE])
@pytest.mark.parametrize(
    "extra",
    [b"\x00", os.urandom(TAG), os.urandom(ENCRYPTED_CHUNK)],
    ids=["one zero", "a tag", "a whole chunk"],
)
def test_appended_bytes_are_rejected(size: int, extra: bytes) -> None:
    identity, recipient = _keypair()
    ciphertext = encrypt(os.urandom(size), [recipient])
    with pytest.raises(AgeError):
        decrypt(ciphertext + extra, [identity])


def test_appended_copy_of_last_chunk_is_trailing_data() -> None:
    identity, recipient = _keypair()
    ciphertext = encrypt(os.urandom(CHUNK_SIZE), [recipient])
    with pytest.raises(AgeError, match="trailing data"):
        decrypt(ciphertext + ciphertext[-ENCRYPTED_CHUNK:], [identity])


def test_final_chunk_must_be_flagged_last() -> None:
    identity, recipient = _keypair()
    with pytest.raises(AgeError, match="final chunk"):
        decrypt(_forge(recipient, [(b"abc", False)]), [identity])
    with pytest.raises(AgeError, match="final chunk"):
        decrypt(_forge(recipient, [(os.urandom(CHUNK_SIZE), False)]), [identity])
    with pytest.raises(AgeError, match="final chunk"):
        decrypt(_forge(recipient, [(b"", False)]), [identity])


def test_last_flag_only_on_the_final_chunk() -> None:
    identity, recipient = _keypair()
    forged = _forge(recipient, [(os.urandom(CHUNK_SIZE), True), (b"more", True)])
    with pytest.raises(AgeError):
        decrypt(forged, [identity])


def test_empty_final_chunk_after_data_is_rejected() -> None:
    # This is how a careless encoder would end a plaintext that is a multiple of 64 KiB.
    identity, recipient = _keypair()
    forged = _forge(recipient, [(os.urandom(CHUNK_SIZE), False), (b"", True)])
    with pytest.raises(AgeError, match="empty final chunk"):
        decrypt(forged, [identity])


def test_empty_plaintext_is_a_single_empty_final_chunk() -> None:
    identity, recipient = _keypair()
    assert decrypt(_forge(recipient, [(b"", True)]), [identity]) == b""
    with pytest.raises(AgeError):
        decrypt(_forge(recipient, []), [identity])


def test_short_chunk_before_the_end_is_rejected() -> None:
    identity, recipient = _keypair()
    forged = _forge(recipient, [(b"short", False), (b"tail", True)])
    with pytest.raises(AgeError):
        decrypt(forged, [identity])


# -- header syntax -------------------------------------------------------------------------------------


def test_forged_header_is_accepted_as_a_baseline() -> None:
    identity, recipient = _keypair()
    assert decrypt(_forge(recipient, [(b"ok", True)]), [identity]) == b"ok"


@pytest.mark.parametrize(
    "stanzas",
    [
        b"-> grease\n\n",
        b"-> scrypt c2FsdHNhbHRzYWx0c2FsdA 18\n" + _b64(os.urandom(32)) + b"\n",
        b"-> example.com/enigma !#$%&'()*+,-./:;<=>?@[]^_`{|}~\n" + _b64(os.urandom(48)) + b"\n\n",
        b"-> long-body\n" + _b64(os.urandom(60))[:64] + b"\n" + _b64(os.urandom(60))[64:] + b"\n",
        b"-> x25519 lowercase-type-is-another-type\n" + _b64(os.urandom(32)) + b"\n",
    ],
    ids=[
        "empty body",
        "scrypt",
        "punctuation args, full line then empty",
        "full line then short",
        "lowercase x25519",
    ],
)
def test_unknown_stanzas_are_skipped(stanzas: bytes) -> None:
    identity, recipient = _keypair()
    assert decrypt(_forge(recipient, [(b"ok", True)], extra_stanzas=stanzas), [identity]) == b"ok"


@pytest.mark.parametrize(
    "stanzas",
    [
        b"->\n\n",
        b"-> \n\n",
        b"-> two  spaces\n\n",
        b"-> trailing \n\n",
        b"->no-space\n\n",
        b"-> caf\xc3\xa9\n\n",
        b"-> tab\there\n\n",
        b"-> full-line-no-terminator\n" + _b64(os.urandom(48)) + b"\n",
        b"-> too-long\n" + _b64(os.urandom(51)) + b"\n",
        b"-> padded\n" + base64.b64encode(os.urandom(10)) + b"\n",
        b"-> not-base64\n!!!!\n",
        b"-> noncanonical\n" + _noncanonical(_b64(os.urandom(32))) + b"\n",
        b"-> crlf\r\n\n",
        b"random text line\n",
    ],
    ids=lambda stanza: stanza.split(b"\n")[0].decode("utf-8", "replace"),  # the line without random bytes
)
def test_malformed_stanzas_are_rejected_even_if_unknown(stanzas: bytes) -> None:
    identity, recipient = _keypair()
    with pytest.raises(AgeError, match="malformed header"):
        decrypt(_forge(recipient, [(b"ok", True)], extra_stanzas=stanzas), [identity])


def test_share_with_padding_is_rejected() -> None:
    # A lenient decoder would read the same 32 bytes and decrypt successfully.
    identity, recipient = _keypair()
    probe = _forge(recipient, [(b"ok", True)])
    share = probe.split(b"\n")[1].split(b" ")[2]
    with pytest.raises(AgeError, match="padding"):
        decrypt(_forge(recipient, [(b"ok", True)], share_text=share + b"="), [identity])


def test_non_canonical_share_is_rejected() -> None:
    identity, recipient = _keypair()
    ephemeral = X25519PrivateKey.generate()
    share = _b64(ephemeral.public_key().public_bytes_raw())
    with pytest.raises(AgeError, match="non-canonical"):
        decrypt(_forge(recipient, [(b"ok", True)], share_text=_noncanonical(share)), [identity])


def test_non_canonical_mac_is_rejected() -> None:
    identity, recipient = _keypair()
    ciphertext = encrypt(b"ok", [recipient])
    end = _header_length(ciphertext) - 1
    altered = ciphertext[: end - 1] + _noncanonical(ciphertext[end - 1 : end]) + ciphertext[end:]
    assert base64.b64decode(altered[end - 43 : end] + b"=") == base64.b64decode(
        ciphertext[end - 43 : end] + b"="
    )
    with pytest.raises(AgeError, match="non-canonical"):
        decrypt(altered, [identity])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x25519_extra_args": b" extra"}, "exactly one argument"),
        ({"share_text": _b64(os.urandom(31))}, "not 32 bytes"),
        ({"body_text": _b64(os.urandom(33)) + b"\n"}, "body is not 32 bytes"),
        ({"body_text": b"\n"}, "body is not 32 bytes"),
        ({"share_text": _b64(bytes(32))}, "low-order"),
    ],
)
def test_malformed_x25519_stanza_is_rejected(kwargs: dict[str, bytes], message: str) -> None:
    identity, recipient = _keypair()
    with pytest.raises(AgeError, match=message):
        decrypt(_forge(recipient, [(b"ok", True)], **kwargs), [identity])


def test_malformed_x25519_stanza_is_rejected_after_a_matching_one() -> None:
    identity, recipient = _keypair()
    forged = _forge(recipient, [(b"ok", True)])
    line_end = forged.index(b"\n---")
    bad = b"\n-> X25519 " + _b64(os.urandom(32)) + b"\n" + _b64(os.urandom(20))
    with pytest.raises(AgeError, match="malformed X25519"):
        decrypt(forged[:line_end] + bad + forged[line_end:], [identity])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an age file"),
        (b"hello world\n", "not an age file"),
        (b"age-encryption.org/v2\n-> X25519 abc\n\n--- x\n", "unsupported"),
        (b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n", "armored"),
        (b"age-encryption.org/v1\r\n-> grease\r\n", "CRLF"),
        (b"age-encryption.org/v1\n--- " + _b64(bytes(32)) + b"\n", "no recipient stanzas"),
        (b"age-encryption.org/v1\n-> X25519 " + _b64(bytes(32)), "ends inside the header"),
        (b"age-encryption.org/v1\n-> grease\n\n---" + _b64(bytes(32)) + b"\n", "'--- '"),
        (b"age-encryption.org/v1\n-> grease\n\n--- " + _b64(bytes(31)) + b"\n", "MAC is not 32 bytes"),
        (b"age-encryption.org/v1\n-> grease\n\n--- " + _b64(bytes(32)) + b" \n", "base64"),
    ],
)
def test_malformed_files_are_rejected(data: bytes, message: str) -> None:
    identity, _ = _keypair()
    with pytest.raises(AgeError, match=message):
        decrypt(data, [identity])


def test_body_wrapping() -> None:
    # Lines of exactly 64 columns continue the body, so a body filling its last line needs an empty one.
    assert _wrap_body(b"") == b"\n"
    assert _wrap_body(bytes(32)) == _b64(bytes(32)) + b"\n"
    assert _wrap_body(bytes(47)).count(b"\n") == 1
    assert _wrap_body(bytes(48)) == b"A" * 64 + b"\n\n"
    assert _wrap_body(bytes(49)) == b"A" * 64 + b"\n" + b"AA\n"
    assert _wrap_body(bytes(96)) == (b"A" * 64 + b"\n") * 2 + b"\n"


# -- keys ----------------------------------------------------------------------------------------------


def test_spec_key_vector() -> None:
    identity = identity_from_str(SPEC_IDENTITY)
    assert identity == b"\x42" * 32
    assert identity_to_str(identity) == SPEC_IDENTITY
    assert recipient_to_str(recipient_from_identity(identity)) == SPEC_RECIPIENT
    assert recipient_from_str(SPEC_RECIPIENT) == recipient_from_identity(identity)


def test_key_strings_round_trip() -> None:
    identity, recipient = _keypair()
    text = identity_to_str(identity)
    assert text.startswith("AGE-SECRET-KEY-1") and text == text.upper()
    assert identity_from_str(text) == identity
    assert identity_from_str(text.lower()) == identity
    public = recipient_to_str(recipient)
    assert public.startswith("age1") and public == public.lower()
    assert recipient_from_str(public) == recipient


def test_key_strings_are_checked() -> None:
    identity, recipient = _keypair()
    public, secret = recipient_to_str(recipient), identity_to_str(identity)
    with pytest.raises(AgeError, match="not an X25519 'age1' recipient"):
        recipient_from_str(secret)
    with pytest.raises(AgeError, match="not an X25519 'AGE-SECRET-KEY-1' identity"):
        identity_from_str(public)
    with pytest.raises(AgeError, match="checksum"):
        recipient_from_str(public[:-1] + ("q" if public[-1] != "q" else "p"))
    with pytest.raises(AgeError, match="mixed-case"):
        identity_from_str("age" + secret[3:])
    with pytest.raises(AgeError, match="expected 32"):
        recipient_from_str(bech32_encode("age", recipient[:31]))
    with pytest.raises(AgeError, match="32 raw bytes"):
        recipient_to_str(recipient + b"\x00")


def test_identity_errors_do_not_echo_the_key() -> None:
    identity, _ = _keypair()
    secret = identity_to_str(identity)
    broken = secret[:20] + "O" + secret[21:]  # 'o' is not in the Bech32 alphabet
    with pytest.raises(AgeError) as caught:
        identity_from_str(broken)
    assert secret[16:30] not in str(caught.value)
    assert "'O'" not in str(caught.value) and "'o'" not in str(caught.value)


def test_parse_identity_file() -> None:
    first, second = generate_identity(), generate_identity()
    text = (
        "# created: 2024-01-15T10:30:45+08:00\n"
        f"# public key: {recipient_to_str(recipient_from_identity(first))}\n"
        f"{identity_to_str(first)}\n"
        "\n"
        "   \n"
        f"{identity_to_str(second)}\r\n"
    )
    assert parse_identity_file(text) == [first, second]


def test_parse_identity_file_errors() -> None:
    with pytest.raises(AgeError, match="no identities"):
        parse_identity_file("# just a comment\n\n")
    with pytest.raises(AgeError, match="line 2"):
        parse_identity_file(f"# ok\n{SPEC_RECIPIENT}\n")


# -- bech32 --------------------------------------------------------------------------------------------

BIP173_VALID = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11" + "q" * 82 + "c8247j",  # exactly 90 characters, the BIP-173 maximum
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]

BIP173_INVALID = [
    "\x201nwldj5",  # HRP character out of range
    "\x7f1axkwrx",  # HRP character out of range
    "\x801eym55h",  # HRP character out of range
    "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",  # HRP > 83
    "pzry9x0s0muk",  # no separator
    "1pzry9x0s0muk",  # empty HRP
    "x1b4n0q5v",  # invalid data character
    "li1dgmt3",  # too short checksum
    "de1lg7wt\xff",  # invalid character in checksum
    "A1G7SGD8",  # checksum computed with uppercase HRP
    "10a06t8",  # empty HRP
    "1qzzfhee",  # empty HRP
]


@pytest.mark.parametrize("text", BIP173_VALID)
def test_bech32_bip173_valid(text: str) -> None:
    hrp, data = bech32_decode(text)
    assert hrp == text.lower()[: text.rfind("1")]
    assert bech32_encode(hrp, data) == text.lower()


def test_bech32_known_data() -> None:
    # The data part of this BIP-173 vector is the alphabet in order, i.e. the 5-bit values 0..31.
    hrp, data = bech32_decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")
    assert hrp == "abcdef"
    assert data == bytes.fromhex("00443214c74254b635cf84653a56d7c675be77df")


@pytest.mark.parametrize("text", BIP173_INVALID)
def test_bech32_bip173_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        bech32_decode(text)


def test_bech32_rejects_mixed_case_and_bad_checksums() -> None:
    with pytest.raises(ValueError, match="mixed-case"):
        bech32_decode("a12UEL5L")
    text = bech32_encode("test", b"checksum me")
    for position in range(len("test1"), len(text)):
        replacement = "q" if text[position] != "q" else "p"
        with pytest.raises(ValueError, match="checksum"):
            bech32_decode(text[:position] + replacement + text[position + 1 :])


def _reference_checksum(hrp: str, groups: list[int]) -> list[int]:
    # Straight from BIP-173's reference code, to build strings our encoder would never produce.
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    checksum = 1
    for value in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + groups + [0] * 6:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            checksum ^= generator[i] if ((top >> i) & 1) else 0
    checksum ^= 1
    return [(checksum >> 5 * (5 - i)) & 31 for i in range(6)]


def _reference_encode(hrp: str, groups: list[int]) -> str:
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    return hrp + "1" + "".join(charset[g] for g in groups + _reference_checksum(hrp, groups))


def test_bech32_rejects_bad_padding() -> None:
    assert bech32_decode(_reference_encode("a", [0, 0])) == ("a", b"\x00")
    with pytest.raises(ValueError, match="non-zero padding"):
        bech32_decode(_reference_encode("a", [0, 1]))
    with pytest.raises(ValueError, match="superfluous"):
        bech32_decode(_reference_encode("a", [0]))


@pytest.mark.parametrize("length", [0, 1, 4, 5, 32, 57, 200, 1216])
def test_bech32_round_trip_without_length_limit(length: int) -> None:
    data = os.urandom(length)
    text = bech32_encode("age-secret-key-", data)
    assert bech32_decode(text) == ("age-secret-key-", data)
    assert bech32_decode(text.upper()) == ("age-secret-key-", data)


# -- streaming -----------------------------------------------------------------------------------------


class _Trickle(io.RawIOBase):
    """A reader that hands out at most `step` bytes a call and records the largest request."""

    def __init__(self, data: bytes, step: int = 1000) -> None:
        self._data = memoryview(data)
        self._step = step
        self.largest_request = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self.largest_request = max(self.largest_request, len(buffer))
        count = min(len(buffer), self._step, len(self._data))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count


class _Zeros(io.RawIOBase):
    """`size` zero bytes produced on demand, so the plaintext itself never sits in memory."""

    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self._left)
        buffer[:count] = bytes(count)
        self._left -= count
        return count


class _Sink(io.RawIOBase):
    """Counts what is written and keeps a running hash instead of the bytes."""

    def __init__(self) -> None:
        self.count = 0
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.count += len(data)
        self.digest.update(data)
        return len(data)


@pytest.mark.parametrize("size", [0, CHUNK_SIZE, 200000])
def test_streaming_matches_bytes_api(size: int) -> None:
    identity, recipient = _keypair()
    plaintext = os.urandom(size)

    source = _Trickle(plaintext)
    out = io.BytesIO()
    written = encrypt_stream(cast(BinaryIO, source), out, [recipient])
    assert written == len(out.getvalue())
    assert source.largest_request <= CHUNK_SIZE
    assert decrypt(out.getvalue(), [identity]) == plaintext

    ciphertext = encrypt(plaintext, [recipient])
    source = _Trickle(ciphertext)
    result = io.BytesIO()
    assert decrypt_stream(cast(BinaryIO, source), result, [identity]) == size
    assert result.getvalue() == plaintext
    assert source.largest_request <= ENCRYPTED_CHUNK


def test_streaming_rejects_tampering() -> None:
    identity, recipient = _keypair()
    ciphertext = encrypt(os.urandom(150000), [recipient])
    with pytest.raises(AgeError):
        decrypt_stream(io.BytesIO(ciphertext[:-1]), io.BytesIO(), [identity])
    with pytest.raises(AgeError):
        decrypt_stream(io.BytesIO(_flip(ciphertext, len(ciphertext) - 70000)), io.BytesIO(), [identity])


def test_streaming_memory_is_constant(tmp_path: Path) -> None:
    identity, recipient = _keypair()
    size = 8 * 1024 * 1024 + 123
    path = tmp_path / "big.age"

    tracemalloc.start()
    try:
        with path.open("wb") as dst:
            encrypt_stream(cast(BinaryIO, _Zeros(size)), dst, [recipient])
        _, encrypt_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sink = _Sink()
        with path.open("rb") as src:
            assert decrypt_stream(src, cast(BinaryIO, sink), [identity]) == size
        _, decrypt_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert sink.digest.digest() == hashlib.sha256(bytes(size)).digest()
    assert encrypt_peak < 1024 * 1024, encrypt_peak
    assert decrypt_peak < 1024 * 1024, decrypt_peak


# -- interoperability with the reference age tool ------------------------------------------------------

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
needs_age = pytest.mark.skipif(
    AGE is None or AGE_KEYGEN is None, reason="the reference `age`/`age-keygen` tools are not installed"
)


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, check=True, capture_output=True, timeout=60)


@pytest.mark.slow
@needs_age
@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, 200000])
def test_reference_age_decrypts_our_files(tmp_path: Path, size: int) -> None:
    identity, recipient = _keypair()
    _, other_recipient = _keypair()
    plaintext = os.urandom(size)
    key_file = tmp_path / "identity.txt"
    key_file.write_text(f"# test identity\n{identity_to_str(identity)}\n")
    encrypted = tmp_path / "ours.age"
    encrypted.write_bytes(encrypt(plaintext, [other_recipient, recipient]))

    assert _run(str(AGE), "-d", "-i", str(key_file), str(encrypted)).stdout == plaintext
    assert _run(str(AGE_KEYGEN), "-y", str(key_file)).stdout.decode().strip() == recipient_to_str(recipient)


@pytest.mark.slow
@needs_age
@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, 200000])
def test_we_decrypt_reference_age_files(tmp_path: Path, size: int) -> None:
    key_file = tmp_path / "key.txt"
    _run(str(AGE_KEYGEN), "-o", str(key_file))
    text = key_file.read_text()
    public = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("# public key: "))
    identities = parse_identity_file(text)
    assert [recipient_to_str(recipient_from_identity(identity)) for identity in identities] == [public]

    plaintext = os.urandom(size)
    source = tmp_path / "plain.bin"
    source.write_bytes(plaintext)
    encrypted = tmp_path / "out.age"
    _run(str(AGE), "-r", public, "-o", str(encrypted), str(source))

    assert decrypt(encrypted.read_bytes(), identities) == plaintext
    with encrypted.open("rb") as src:
        out = io.BytesIO()
        assert decrypt_stream(src, out, identities) == size
    assert out.getvalue() == plaintext


@pytest.mark.slow
@needs_age
def test_reference_age_rejects_our_tampered_file(tmp_path: Path) -> None:
    # Guards the interop tests against a tool that would accept anything.
    identity, recipient = _keypair()
    key_file = tmp_path / "identity.txt"
    key_file.write_text(identity_to_str(identity) + "\n")
    encrypted = tmp_path / "ours.age"
    encrypted.write_bytes(encrypt(b"x" * 1000, [recipient])[:-1])
    result = subprocess.run(
        [str(AGE), "-d", "-i", str(key_file), str(encrypted)], capture_output=True, timeout=60, check=False
    )
    assert result.returncode != 0
