"""County key generations and key rings (ARCHITECTURE §5, R-PROV-4).

The county rotates its signing and encryption keys. Each new generation is announced by a **key statement**
signed twice: by the previous generation's signing key (so a node that trusts the old key can trust the new one)
and by the new key itself (proof that whoever announces it holds it). Nodes learn statements through the down
log and keep every generation they have trusted in a `KeyRing`, so what was signed before the rotation (down
entries already in flight, receipts of older entries, catalogue versions) still verifies. Old private keys stay
at the county so that entries encrypted to an old recipient still decrypt.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocol.canonical import canonical_json
from protocol.errors import STATEMENT_INVALID, OneWindowError
from protocol.keys import AgeRecipient, SigningKey, VerifyKey

_KEY_STATEMENT_TAG = b"onewindow/county-key/v1\x00"
KEY_STATEMENT_TYPE = "onewindow.county-key"
_NODE_KEYS_TAG = b"onewindow/node-keys/v1\x00"


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The county signing keys a node trusts, newest first; a signature by any of them verifies."""

    keys: tuple[VerifyKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")

    @property
    def newest(self) -> VerifyKey:
        return self.keys[0]

    @property
    def fingerprints(self) -> list[str]:
        return [k.fingerprint for k in self.keys]

    def verify(self, signature: bytes, message: bytes) -> bool:
        return any(key.verify(signature, message) for key in self.keys)

    def trusts(self, key: VerifyKey) -> bool:
        return any(k.raw == key.raw for k in self.keys)

    def with_newest(self, key: VerifyKey) -> KeyRing:
        if self.trusts(key):
            return self
        return KeyRing((key, *self.keys))


@dataclass(frozen=True, slots=True)
class KeyStatement:
    """Generation `generation` of the county's keys, as announced by generation `generation - 1`."""

    generation: int
    sign_key: VerifyKey
    age_recipient: AgeRecipient
    previous_sign_key: VerifyKey
    issued_at: str
    by_previous: bytes
    by_new: bytes

    def body(self) -> dict[str, Any]:
        return {
            "type": KEY_STATEMENT_TYPE,
            "generation": self.generation,
            "sign_key": self.sign_key.to_text(),
            "age_recipient": self.age_recipient.to_text(),
            "previous_sign_key": self.previous_sign_key.to_text(),
            "issued_at": self.issued_at,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.body(),
            "by_previous": base64.b64encode(self.by_previous).decode("ascii"),
            "by_new": base64.b64encode(self.by_new).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Any) -> KeyStatement:
        if not isinstance(data, Mapping) or data.get("type") != KEY_STATEMENT_TYPE:
            raise OneWindowError(STATEMENT_INVALID, "not a county key statement", field="county_keys")
        try:
            return cls(
                generation=int(data["generation"]),
                sign_key=VerifyKey.from_text(str(data["sign_key"])),
                age_recipient=AgeRecipient.from_text(str(data["age_recipient"])),
                previous_sign_key=VerifyKey.from_text(str(data["previous_sign_key"])),
                issued_at=str(data["issued_at"]),
                by_previous=base64.b64decode(str(data["by_previous"]), validate=True),
                by_new=base64.b64decode(str(data["by_new"]), validate=True),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OneWindowError(
                STATEMENT_INVALID, f"county key statement: {exc}", field="county_keys"
            ) from exc

    def check(self) -> None:
        """OW-1219 unless both signatures hold (the previous key announced it; the new key's holder agreed)."""
        message = _KEY_STATEMENT_TAG + canonical_json(self.body())
        if not self.previous_sign_key.verify(self.by_previous, message):
            raise OneWindowError(
                STATEMENT_INVALID,
                f"第 {self.generation} 代县密钥的声明不是上一代密钥签发的",
                field="by_previous",
            )
        if not self.sign_key.verify(self.by_new, message):
            raise OneWindowError(
                STATEMENT_INVALID, f"第 {self.generation} 代县密钥的声明缺少新密钥的签名", field="by_new"
            )


def make_statement(
    *,
    generation: int,
    previous: SigningKey,
    new: SigningKey,
    age_recipient: AgeRecipient,
    issued_at: str,
) -> KeyStatement:
    """Announce `new` as generation `generation`, signed by `previous` and by `new`."""
    unsigned = KeyStatement(
        generation, new.verify_key, age_recipient, previous.verify_key, issued_at, b"", b""
    )
    message = _KEY_STATEMENT_TAG + canonical_json(unsigned.body())
    return KeyStatement(
        generation,
        new.verify_key,
        age_recipient,
        previous.verify_key,
        issued_at,
        previous.sign(message),
        new.sign(message),
    )


def follow_statements(ring: KeyRing, statements: Iterable[Any]) -> tuple[KeyRing, KeyStatement | None]:
    """Extend `ring` by every statement that a key already trusted (or one just learned) announced.

    Statements are taken in generation order; each new one must be announced by the newest key trusted so far
    (not by any older one), else it is refused with OW-1219: a forged chain never extends trust, and a retired
    key that leaked cannot name a new generation. Returns the ring and the newest statement learned (None if
    none)."""
    parsed = sorted((KeyStatement.from_dict(s) for s in statements), key=lambda s: s.generation)
    newest: KeyStatement | None = None
    for statement in parsed:
        if ring.trusts(statement.sign_key):
            continue
        if statement.previous_sign_key.raw != ring.newest.raw:
            raise OneWindowError(
                STATEMENT_INVALID,
                f"第 {statement.generation} 代县密钥不是由本节点信任的最新一代县密钥宣布的",
                field="previous_sign_key",
            )
        statement.check()
        ring = ring.with_newest(statement.sign_key)
        newest = statement
    return ring, newest


def ring_of(keys: Sequence[str]) -> KeyRing:
    """A key ring from public keys as text (newest first)."""
    return KeyRing(tuple(VerifyKey.from_text(k) for k in keys))


def node_keys_proof(node_id: str, sign_key: str, age_recipient: str) -> bytes:
    """What a node's new signing key signs when the node rotates its keys (the `node_keys` up entry): proof that
    the holder of the new key asked for the change. The entry itself is signed by the old key."""
    return _NODE_KEYS_TAG + canonical_json(
        {"node_id": node_id, "sign_key": sign_key, "age_recipient": age_recipient}
    )
