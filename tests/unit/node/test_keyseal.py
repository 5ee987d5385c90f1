"""Key files sealed with a passphrase (node.trust.keyseal): what opens them, and what is refused with a clear reason —
a wrong passphrase, a changed byte, a lowered scrypt cost, a sealed file put in place of another."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from node.trust.keyseal import (
    KeySealError,
    PassphraseRequired,
    ScryptCost,
    SealedFileDamaged,
    Sealer,
    Unsealer,
    WrongPassphrase,
    is_sealed,
    read_key_file,
    seal_key_files,
    unseal_key_files,
)
from protocol.keys import write_secret_file

CHEAP = ScryptCost(n=2**14)  # the smallest cost a file may ask for: keeps the tests quick
SECRET = os.urandom(32).hex()


def sealed_text(name: str = "data.key", passphrase: str = "correct horse") -> str:
    return Sealer(passphrase, cost=CHEAP).seal(SECRET, name=name)


def test_a_sealed_key_opens_with_its_passphrase_and_shows_nothing_of_the_key() -> None:
    text = sealed_text()
    assert is_sealed(text) and not is_sealed(SECRET)
    assert SECRET not in text and bytes.fromhex(SECRET) not in base64.b64decode(
        json.loads(text)["ciphertext"]
    )
    fields = json.loads(text)
    assert (fields["format"], fields["version"], fields["kdf"], fields["cipher"]) == (
        "onewindow-sealed-key",
        1,
        "scrypt",
        "AES-256-GCM",
    )
    assert Unsealer("correct horse").unseal(text, name="data.key") == SECRET


def test_a_wrong_passphrase_is_told_apart_from_a_damaged_file() -> None:
    with pytest.raises(WrongPassphrase, match="口令不正确"):
        Unsealer("wrong horse").unseal(sealed_text(), name="data.key")
    with pytest.raises(PassphraseRequired, match="ONEWINDOW_NODE_KEY_PASSPHRASE"):
        Unsealer(None).unseal(sealed_text(), name="data.key")


def test_a_changed_ciphertext_or_header_is_refused() -> None:
    fields = json.loads(sealed_text())
    raw = bytearray(base64.b64decode(fields["ciphertext"]))
    raw[3] ^= 0x01
    flipped = json.dumps({**fields, "ciphertext": base64.b64encode(bytes(raw)).decode()})
    with pytest.raises(SealedFileDamaged, match="已损坏或被改动过"):
        Unsealer("correct horse").unseal(flipped, name="data.key")
    # A header field is bound to the ciphertext: changing r (still a sane cost) breaks the check value or tag.
    with pytest.raises(KeySealError):
        Unsealer("correct horse").unseal(json.dumps({**fields, "r": 9}), name="data.key")
    # An absurd cost is refused before any scrypt runs (a file cannot make the node allocate gigabytes).
    with pytest.raises(SealedFileDamaged, match="参数不合理"):
        Unsealer("correct horse").unseal(json.dumps({**fields, "n": 2**30}), name="data.key")
    with pytest.raises(SealedFileDamaged, match="版本"):
        Unsealer("correct horse").unseal(json.dumps({**fields, "version": 2}), name="data.key")
    with pytest.raises(SealedFileDamaged, match="不是封存格式"):
        Unsealer("correct horse").unseal('{"format": "onewindow-sealed-key"', name="data.key")


def test_a_sealed_file_cannot_stand_in_for_another() -> None:
    agekey = sealed_text(name="node.agekey")
    with pytest.raises(SealedFileDamaged, match="调换"):
        Unsealer("correct horse").unseal(agekey, name="data.key")
    renamed = json.dumps({**json.loads(agekey), "name": "data.key"})  # and renaming inside is caught too
    with pytest.raises(SealedFileDamaged):
        Unsealer("correct horse").unseal(renamed, name="data.key")


def test_sealing_a_key_directory_and_back(tmp_path: Path) -> None:
    files = [tmp_path / name for name in ("node-sign.key", "node.agekey", "data.key")]
    originals = {path: os.urandom(24).hex() for path in files}
    for path, text in originals.items():
        write_secret_file(path, text)
    assert seal_key_files(files, "correct horse", cost=CHEAP) == files
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600
        assert is_sealed(path.read_text()) and originals[path] not in path.read_text()
    salts = {json.loads(path.read_text())["salt"] for path in files}
    assert len(salts) == 1  # sealed together: one scrypt run opens all three
    unsealer = Unsealer("correct horse")
    assert {path: read_key_file(path, unsealer) for path in files} == originals
    with pytest.raises(KeySealError, match="已经封存"):
        seal_key_files(files, "another passphrase", cost=CHEAP)
    with pytest.raises(WrongPassphrase):
        unseal_key_files(files, "wrong horse")
    assert all(is_sealed(path.read_text()) for path in files)  # a wrong passphrase changed nothing
    assert unseal_key_files(files, "correct horse") == files
    assert {path: path.read_text().strip() for path in files} == originals
    assert read_key_file(files[0], Unsealer(None)) == originals[files[0]]  # plain files need no passphrase
