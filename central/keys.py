"""The county's keys as central holds them (`CountyKeys`): the current signing and encryption key generation,
every retired one, and the statements that chain them, read from the county directory `onewindow provision init`
made. Everything central signs (receipts, down entries, reconcile answers, catalogue versions) and everything it
decrypts goes through this one value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.keys import AgeIdentity, SigningKey, VerifyKey, read_secret_file
from protocol.trust import KeyRing


@dataclass(frozen=True)
class CountyKeys:
    """The county's identity as central holds it: the current key generation and every retired one."""

    name: str
    division: str
    signing_key: SigningKey
    age_identities: tuple[AgeIdentity, ...]  # current first, then the retired generations (newest first)
    generation: int = 1
    #: Every signing key by fingerprint (current and retired): what a node that has not yet learned the newest
    #: generation is answered in.
    signers: Mapping[str, SigningKey] = field(default_factory=dict)
    #: The statements announcing generations 2 … current (each signed by the one before and by itself).
    statements: tuple[dict[str, Any], ...] = ()

    @property
    def verify_key(self) -> VerifyKey:
        return self.signing_key.verify_key

    @property
    def fingerprint(self) -> str:
        return self.signing_key.verify_key.fingerprint

    @property
    def ring(self) -> KeyRing:
        """Every generation's public key: what central's own earlier signatures are checked against."""
        current = self.signing_key.verify_key
        return KeyRing((current, *(k.verify_key for k in self.signers.values() if k.verify_key != current)))

    def signer_for(self, trusted: str | None) -> SigningKey:
        """The key to sign what a node reads: the newest it trusts (its enrolment key until it learns others)."""
        if trusted and trusted in self.signers:
            return self.signers[trusted]
        if trusted is None and self.generation > 1 and self.statements:
            # A node registered before fingerprints were recorded: it trusts the first generation.
            first = VerifyKey.from_text(str(self.statements[0]["previous_sign_key"])).fingerprint
            return self.signers.get(first, self.signing_key)
        return self.signing_key


def load_county(county_dir: Path) -> CountyKeys:
    info = json.loads((county_dir / "county.json").read_text("utf-8"))
    keys = county_dir / "keys"
    sign_file, age_file = keys / "county-sign.key", keys / "county.agekey"
    if (keys / "county-sign.next.key").exists():
        # Caught between a rotation's county.json and its renames: the keys county.json names are the next ones.
        pending = SigningKey.from_text(read_secret_file(keys / "county-sign.next.key"))
        if pending.verify_key.to_text() == info["sign_key"]:
            sign_file = keys / "county-sign.next.key"
            if (keys / "county.next.agekey").exists():
                age_file = keys / "county.next.agekey"
    signing = SigningKey.from_text(read_secret_file(sign_file))
    identities = [AgeIdentity.from_text(read_secret_file(age_file))]
    signers = {signing.verify_key.fingerprint: signing}
    for retired in sorted(info.get("retired_keys", []), key=lambda r: -int(r["generation"])):
        old = SigningKey.from_text(read_secret_file(keys / retired["sign_key_file"]))
        signers[old.verify_key.fingerprint] = old
        identities.append(AgeIdentity.from_text(read_secret_file(keys / retired["identity_file"])))
    return CountyKeys(
        name=info["name"],
        division=info["division"],
        signing_key=signing,
        age_identities=tuple(identities),
        generation=int(info.get("key_generation", 1)),
        signers=signers,
        statements=tuple(info.get("key_statements", [])),
    )
