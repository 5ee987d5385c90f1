"""The node's identity: who it is (node.json, in the data directory) and its private keys and data key (the key
directory, mode 0700 with files 0600, never leave the node).

The key directory is kept apart from the data directory (R-SEC-1): by default ``<data>-keys`` beside it
(``/var/lib/onewindow/node`` → ``/var/lib/onewindow/node-keys``), or wherever ``ONEWINDOW_NODE_KEYS`` / ``--keys``
says, e.g. a USB key or a separately mounted partition. A copy of the data directory alone then opens nothing:
its blobs and sensitive columns are encrypted with the data key. Nodes enrolled before the move kept their keys
in ``<data>/keys/``; they are still read from there (with a warning saying how to move them). Key files may be
sealed with a passphrase (`node.trust.keyseal`).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.trust.keyseal import Unsealer, read_key_file
from protocol.keys import (
    AgeIdentity,
    AgeRecipient,
    SigningKey,
    VerifyKey,
    write_file_atomic,
    write_secret_file,
)
from protocol.trust import KeyRing

log = logging.getLogger(__name__)

#: `meta` note of a node key rotation central has not yet receipted (`node.sync.keys`); new key files wait
#: beside the current ones with this suffix until the rotation's entry is committed.
ROTATION_KEY = "node_key_rotation"
NEXT = ".next"

#: The files of a key directory: the node's Ed25519 signing key, its age (X25519) identity, the data key.
KEY_FILES = ("node-sign.key", "node.agekey", "data.key")


@dataclass(frozen=True)
class NodeIdentity:
    """Public facts about this node and its keys."""

    node_id: str
    name: str
    division: str
    number: int
    county_name: str
    county_sign_key: VerifyKey
    county_recipient: AgeRecipient
    central_urls: tuple[str, ...]
    signing_key: SigningKey
    age_identity: AgeIdentity
    data_key: bytes
    #: Every county signing key this node trusts, newest first (the enrolment key, then generations learned
    #: from key statements in the down log).
    county_keys: tuple[VerifyKey, ...] = ()
    #: Where the private keys were read from (the key directory).
    key_dir: Path | None = None
    #: The node's own earlier keys after it rotated them (newest first): kept in the same key files, after the
    #: current one, to read down entries central encrypted to the old recipient and to sign requests with the
    #: old key until central has taken the rotation (`request_signing_key`, set by `node.sync.keys`).
    previous_signing_keys: tuple[SigningKey, ...] = ()
    previous_age_identities: tuple[AgeIdentity, ...] = ()
    request_signing_key: SigningKey | None = None
    #: The county CA certificate (PEM) from the enrolment bundle: central's HTTPS certificate must be issued by
    #: it (and only it). None: the system's CA store.
    central_ca: str | None = None

    @property
    def request_key(self) -> SigningKey:
        """What requests to central are signed with: the key central knows this node by."""
        return self.request_signing_key or self.signing_key

    @property
    def age_identities(self) -> list[AgeIdentity]:
        return [self.age_identity, *self.previous_age_identities]

    @property
    def sign_key(self) -> VerifyKey:
        return self.signing_key.verify_key

    @property
    def county_ring(self) -> KeyRing:
        """What county signatures are checked against: any generation this node has trusted."""
        return KeyRing(self.county_keys or (self.county_sign_key,))


def default_key_dir(data_dir: Path) -> Path:
    """Where a node's keys go unless told otherwise: ``<data>-keys``, beside (not inside) the data directory."""
    data = data_dir.absolute()
    if not data.name:
        raise ValueError(f"{data_dir}: the data directory cannot be the file system root")
    return data.with_name(data.name + "-keys")


def legacy_key_dir(data_dir: Path) -> Path:
    """Where nodes enrolled before the keys moved out of the data directory keep them."""
    return data_dir / "keys"


def is_inside(path: Path, directory: Path) -> bool:
    """Whether `path` is `directory` or somewhere under it."""
    path, directory = path.absolute(), directory.absolute()
    return path == directory or directory in path.parents


def keys_dir(data_dir: Path, key_dir: Path | None = None) -> Path:
    """The node's key directory: `key_dir` when given; else ``<data>-keys``, or ``<data>/keys`` for a node
    enrolled with the old layout (its keys are there and not beside)."""
    if key_dir is not None:
        return key_dir
    default = default_key_dir(data_dir)
    legacy = legacy_key_dir(data_dir)
    if not (default / "data.key").exists() and (legacy / "data.key").exists():
        return legacy
    return default


def write_identity(
    data_dir: Path,
    info: dict[str, Any],
    signing: SigningKey,
    ident: AgeIdentity,
    *,
    key_dir: Path | None = None,
    data_key: bytes | None = None,
) -> Path:
    """Write the keys into the key directory (created 0700; refuses to overwrite another node's keys) and
    node.json into the data directory; returns the key directory."""
    keys = key_dir if key_dir is not None else default_key_dir(data_dir)
    existing = [name for name in KEY_FILES if (keys / name).exists()]
    if existing:
        raise FileExistsError(f"{keys} 已有节点密钥（{'、'.join(existing)}）；不会覆盖，请换一个密钥目录")
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(keys, 0o700)  # mkdir's mode is masked by umask, and an existing directory keeps its own
    write_secret_file(keys / "node-sign.key", signing.to_text())
    write_secret_file(keys / "node.agekey", ident.to_text())
    write_secret_file(keys / "data.key", (data_key or os.urandom(32)).hex())
    write_file_atomic(data_dir / "node.json", json.dumps(info, ensure_ascii=False, indent=2).encode("utf-8"))
    return keys


def load_identity(
    data_dir: Path, key_dir: Path | None = None, *, passphrase: str | None = None
) -> NodeIdentity:
    """Read node.json and the keys (see `keys_dir`); raises FileNotFoundError when the node has not enrolled,
    and a `node.trust.keyseal.KeySealError` when the keys are sealed and `passphrase` does not open them."""
    info = json.loads((data_dir / "node.json").read_text("utf-8"))
    keys = keys_dir(data_dir, key_dir)
    finish_interrupted_rotation(data_dir, keys)
    if is_inside(keys, data_dir):
        log.warning(
            "node keys are read from %s, inside the data directory %s (the layout before keys moved out): a "
            "copy of the data directory then carries the keys that open it. Stop the node and move them "
            "beside it: mv %s %s",
            keys,
            data_dir,
            keys,
            default_key_dir(data_dir),
        )
    unsealer = Unsealer(passphrase)
    signing = key_lines(read_key_file(keys / "node-sign.key", unsealer))
    ages = key_lines(read_key_file(keys / "node.agekey", unsealer))
    return NodeIdentity(
        node_id=info["node_id"],
        name=info["name"],
        division=info["division"],
        number=int(info["number"]),
        county_name=info["county_name"],
        county_sign_key=VerifyKey.from_text(info["county_sign_key"]),
        county_recipient=AgeRecipient.from_text(info["county_recipient"]),
        central_urls=tuple(info["central_urls"]),
        signing_key=SigningKey.from_text(signing[0]),
        age_identity=AgeIdentity.from_text(ages[0]),
        data_key=bytes.fromhex(read_key_file(keys / "data.key", unsealer)),
        county_keys=tuple(VerifyKey.from_text(k) for k in info.get("county_keys", [])),
        key_dir=keys,
        previous_signing_keys=tuple(SigningKey.from_text(k) for k in signing[1:]),
        previous_age_identities=tuple(AgeIdentity.from_text(k) for k in ages[1:]),
        central_ca=info.get("central_ca") or None,
    )


def key_lines(text: str) -> list[str]:
    """The keys of a key file, current first (a file holds one key per line after a node key rotation, like an
    age identity file; lines starting with # are comments)."""
    lines = [line.strip() for line in text.splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    if not keys:
        raise ValueError("key file holds no key")
    return keys


def key_files(data_dir: Path, key_dir: Path | None = None) -> list[Path]:
    """The node's key files (they must all exist)."""
    keys = keys_dir(data_dir, key_dir)
    missing = [name for name in KEY_FILES if not (keys / name).exists()]
    if missing:
        raise FileNotFoundError(f"{keys} 里没有节点密钥 {'、'.join(missing)}（节点注册了吗？密钥目录对吗？）")
    return [keys / name for name in KEY_FILES]


def trust_county_keys(data_dir: Path, ring: KeyRing, recipient: AgeRecipient) -> dict[str, Any]:
    """Record in node.json the county keys this node now trusts and the recipient it encrypts to from now on
    (after a verified key statement from the down log)."""
    path = data_dir / "node.json"
    info: dict[str, Any] = json.loads(path.read_text("utf-8"))
    info["county_keys"] = [k.to_text() for k in ring.keys]
    info["county_sign_key"] = ring.newest.to_text()
    info["county_recipient"] = recipient.to_text()
    write_file_atomic(path, json.dumps(info, ensure_ascii=False, indent=2).encode("utf-8"))
    return info


def take_next_keys(keys: Path) -> None:
    """Give a rotation's new key files (written beside the current ones) the current names."""
    for name in (
        "node.agekey",
        "node-sign.key",
    ):  # the signing key last: its .next marks a rotation under way
        pending = keys / (name + NEXT)
        if pending.exists():
            pending.replace(keys / name)


def finish_interrupted_rotation(data_dir: Path, key_dir: Path | None = None) -> str:
    """Before the keys are loaded: complete a rotation whose entry committed, or drop one whose entry did not.
    Returns "completed", "dropped" or "" (nothing was under way)."""
    keys = key_dir or keys_dir(data_dir)
    if not (keys / ("node-sign.key" + NEXT)).exists() and not (keys / ("node.agekey" + NEXT)).exists():
        return ""
    db = data_dir / "node.db"
    committed = False
    if db.exists():
        connection = sqlite3.connect(db)
        try:
            row = connection.execute("SELECT value FROM meta WHERE key = ?", (ROTATION_KEY,)).fetchone()
        finally:
            connection.close()
        committed = row is not None and bool(row[0])
    if committed:
        take_next_keys(keys)
        return "completed"
    for name in ("node-sign.key", "node.agekey"):
        (keys / (name + NEXT)).unlink(missing_ok=True)
    return "dropped"
