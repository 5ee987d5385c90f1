"""Key files sealed with a passphrase (口令封存节点密钥): the node's private keys and data key, encrypted at rest so a
copy of the key directory alone is not enough either.

A sealed key file is one line of JSON (the original name stays, so the key directory looks the same)::

    {"format": "onewindow-sealed-key", "version": 1, "name": "data.key",
     "kdf": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "…", "check": "…",
     "cipher": "AES-256-GCM", "nonce": "…", "ciphertext": "…"}

scrypt turns the passphrase and salt into 64 bytes: the first 32 are the AES-256-GCM key, the next 16 are stored
as ``check`` so a wrong passphrase is told apart from a damaged file (the check says nothing the GCM tag does not
already say to someone guessing passphrases). Every header field, the file's name included, is the associated
data of the encryption: a sealed ``data.key`` cannot pass for ``node.agekey``, nor its scrypt cost be lowered.
The files sealed together share one salt, so unsealing derives the key once.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from protocol.keys import read_secret_file, write_file_atomic

FORMAT = "onewindow-sealed-key"
VERSION = 1
#: scrypt cost: 32 MiB and about 0.1 s on a desktop, under 1 s on a Raspberry-Pi-class node, once per start.
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**15, 8, 1
#: Accepted cost range when reading a file (a file asking for more memory than this is refused, not run).
MIN_N, MAX_N = 2**14, 2**20
HEADER_FIELDS = ("format", "version", "name", "kdf", "n", "r", "p", "salt", "check", "cipher")


class KeySealError(Exception):
    """The node's keys cannot be used; the message tells the node admin what to do (Chinese, shown as is)."""


class PassphraseRequired(KeySealError):
    """The keys are sealed and no passphrase was given."""


class WrongPassphrase(KeySealError):
    """The passphrase does not open the sealed keys."""


class SealedFileDamaged(KeySealError):
    """A sealed key file is not in the format, or was changed after sealing."""


@dataclass(frozen=True)
class ScryptCost:
    n: int = DEFAULT_N
    r: int = DEFAULT_R
    p: int = DEFAULT_P


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, name: str, field: str) -> bytes:
    if not isinstance(value, str):
        raise SealedFileDamaged(f"密钥文件 {name} 已损坏：{field} 字段缺失")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealedFileDamaged(f"密钥文件 {name} 已损坏：{field} 字段不是 base64") from exc


def _derive(passphrase: str, salt: bytes, cost: ScryptCost) -> bytes:
    return Scrypt(salt=salt, length=64, n=cost.n, r=cost.r, p=cost.p).derive(passphrase.encode("utf-8"))


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps({k: header[k] for k in HEADER_FIELDS}, sort_keys=True, separators=(",", ":")).encode()


def is_sealed(text: str) -> bool:
    """Whether a key file's text is a sealed key (rather than the key itself)."""
    return text.lstrip().startswith("{") and f'"{FORMAT}"' in text


class Sealer:
    """Seals key files with one passphrase and one salt (one scrypt run for all of them)."""

    def __init__(self, passphrase: str, *, cost: ScryptCost | None = None, salt: bytes | None = None) -> None:
        if not passphrase:
            raise KeySealError("口令不能为空")
        self.cost = cost or ScryptCost()
        self.salt = salt or os.urandom(16)
        derived = _derive(passphrase, self.salt, self.cost)
        self._key, self._check = derived[:32], derived[32:48]

    def seal(self, secret: str, *, name: str) -> str:
        """The sealed file's text for `secret` (a key file's content) stored under file name `name`."""
        header: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "name": name,
            "kdf": "scrypt",
            "n": self.cost.n,
            "r": self.cost.r,
            "p": self.cost.p,
            "salt": _b64(self.salt),
            "check": _b64(self._check),
            "cipher": "AES-256-GCM",
        }
        nonce = os.urandom(12)
        ciphertext = AESGCM(self._key).encrypt(nonce, secret.encode("utf-8"), _aad(header))
        return json.dumps({**header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)})


class Unsealer:
    """Opens sealed key files with a passphrase, deriving the key once per salt and cost."""

    def __init__(self, passphrase: str | None) -> None:
        self.passphrase = passphrase
        self._keys: dict[tuple[bytes, ScryptCost], bytes] = {}

    def unseal(self, text: str, *, name: str) -> str:
        """The key file's content from its sealed text; raises a `KeySealError` saying what is wrong."""
        try:
            sealed = json.loads(text)
        except ValueError as exc:
            raise SealedFileDamaged(f"密钥文件 {name} 已损坏：不是封存格式") from exc
        if not isinstance(sealed, dict) or sealed.get("format") != FORMAT:
            raise SealedFileDamaged(f"密钥文件 {name} 已损坏：不是封存格式")
        if sealed.get("version") != VERSION:
            raise SealedFileDamaged(f"密钥文件 {name} 的封存格式版本 {sealed.get('version')!r} 本程序不认识")
        if sealed.get("name") != name:
            raise SealedFileDamaged(f"密钥文件 {name} 里封存的是 {sealed.get('name')!r}，文件被调换过")
        if (
            any(f not in sealed for f in HEADER_FIELDS)
            or sealed["kdf"] != "scrypt"
            or sealed["cipher"] != "AES-256-GCM"
        ):
            raise SealedFileDamaged(f"密钥文件 {name} 已损坏：封存参数不全或不认识")
        n, r, p = sealed["n"], sealed["r"], sealed["p"]
        if (
            not all(isinstance(v, int) for v in (n, r, p))
            or not (MIN_N <= n <= MAX_N)
            or not (1 <= r <= 32 and 1 <= p <= 16)
        ):
            raise SealedFileDamaged(f"密钥文件 {name} 已损坏：口令强度参数不合理")
        if self.passphrase is None:
            raise PassphraseRequired(
                "节点密钥已用口令封存：请设置环境变量 ONEWINDOW_NODE_KEY_PASSPHRASE，或在终端启动时输入口令"
            )
        salt = _unb64(sealed["salt"], name, "salt")
        cost = ScryptCost(n, r, p)
        key = self._keys.get((salt, cost))
        if key is None:
            key = self._keys[(salt, cost)] = _derive(self.passphrase, salt, cost)
        if not hmac.compare_digest(key[32:48], _unb64(sealed["check"], name, "check")):
            raise WrongPassphrase("口令不正确，无法解封节点密钥；节点未启动")
        try:
            plain = AESGCM(key[:32]).decrypt(
                _unb64(sealed.get("nonce"), name, "nonce"),
                _unb64(sealed.get("ciphertext"), name, "ciphertext"),
                _aad(sealed),
            )
        except (InvalidTag, ValueError) as exc:
            raise SealedFileDamaged(
                f"密钥文件 {name} 已损坏或被改动过（口令正确，但内容校验不通过）"
            ) from exc
        return plain.decode("utf-8")


def read_key_file(path: Path, unsealer: Unsealer) -> str:
    """A key file's content, unsealed when it is sealed (mode 0600 required either way)."""
    text = read_secret_file(path)
    return unsealer.unseal(text, name=path.name) if is_sealed(text) else text


def seal_key_files(paths: list[Path], passphrase: str, *, cost: ScryptCost | None = None) -> list[Path]:
    """Seal every key file of `paths` that is not sealed yet (each rewritten temp → fsync → rename, 0600);
    returns the files sealed. Refuses when some are already sealed (unseal first to change the passphrase)."""
    texts = {path: read_secret_file(path) for path in paths}
    if any(is_sealed(text) for text in texts.values()):
        raise KeySealError("密钥已经封存；如需更换口令，请先用 unseal-keys 解封，再重新封存")
    sealer = Sealer(passphrase, cost=cost)
    sealed = {path: sealer.seal(text, name=path.name) for path, text in texts.items()}
    check = Unsealer(passphrase)
    for path, text in sealed.items():  # never replace a key with something that does not open
        if check.unseal(text, name=path.name) != texts[path]:
            raise KeySealError(f"封存 {path.name} 后校验不一致，未作任何更改")
    for path, text in sealed.items():
        write_file_atomic(path, text.encode("utf-8") + b"\n", mode=0o600)
    return list(sealed)


def unseal_key_files(paths: list[Path], passphrase: str) -> list[Path]:
    """Write the sealed files of `paths` back as plain key files (0600); returns the files unsealed."""
    unsealer = Unsealer(passphrase)
    texts = {path: read_secret_file(path) for path in paths}
    plain = {path: unsealer.unseal(text, name=path.name) for path, text in texts.items() if is_sealed(text)}
    for path, text in plain.items():
        write_file_atomic(path, text.encode("utf-8") + b"\n", mode=0o600)
    return list(plain)
