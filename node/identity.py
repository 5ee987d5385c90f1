"""The node's identity: who it is (node.json) and its private keys (keys/, mode 0600, never leave the node)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.keys import (
    AgeIdentity,
    AgeRecipient,
    SigningKey,
    VerifyKey,
    read_secret_file,
    write_file_atomic,
    write_secret_file,
)
from protocol.trust import KeyRing


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

    @property
    def sign_key(self) -> VerifyKey:
        return self.signing_key.verify_key

    @property
    def county_ring(self) -> KeyRing:
        """What county signatures are checked against: any generation this node has trusted."""
        return KeyRing(self.county_keys or (self.county_sign_key,))


def keys_dir(data_dir: Path) -> Path:
    return data_dir / "keys"


def write_identity(data_dir: Path, info: dict[str, Any], signing: SigningKey, ident: AgeIdentity) -> None:
    keys = keys_dir(data_dir)
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_secret_file(keys / "node-sign.key", signing.to_text())
    write_secret_file(keys / "node.agekey", ident.to_text())
    write_secret_file(keys / "data.key", os.urandom(32).hex())
    write_file_atomic(data_dir / "node.json", json.dumps(info, ensure_ascii=False, indent=2).encode("utf-8"))


def load_identity(data_dir: Path) -> NodeIdentity:
    """Read node.json and the keys; raises FileNotFoundError when the node has not enrolled."""
    info = json.loads((data_dir / "node.json").read_text("utf-8"))
    keys = keys_dir(data_dir)
    return NodeIdentity(
        node_id=info["node_id"],
        name=info["name"],
        division=info["division"],
        number=int(info["number"]),
        county_name=info["county_name"],
        county_sign_key=VerifyKey.from_text(info["county_sign_key"]),
        county_recipient=AgeRecipient.from_text(info["county_recipient"]),
        central_urls=tuple(info["central_urls"]),
        signing_key=SigningKey.from_text(read_secret_file(keys / "node-sign.key")),
        age_identity=AgeIdentity.from_text(read_secret_file(keys / "node.agekey")),
        data_key=bytes.fromhex(read_secret_file(keys / "data.key")),
        county_keys=tuple(VerifyKey.from_text(k) for k in info.get("county_keys", [])),
    )


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
