"""Central's view of its county directory: keys, node registry and accounts, loaded into the database."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from central.models import CentralUser, NodeRecord
from protocol.keys import AgeIdentity, SigningKey, VerifyKey, read_secret_file, write_file_atomic
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


def registry_stamp(county_dir: Path) -> tuple[int, ...]:
    """Changes whenever provisioning writes the county (a key rotation, a node added or revoked). Every such
    write is temp file → rename inside its directory, which changes the directory's modification time, so three
    stats per request tell: county.json, keys/ and nodes/ (not one per node)."""
    return tuple(
        p.stat().st_mtime_ns if p.exists() else 0
        for p in (county_dir / "county.json", county_dir / "keys", county_dir / "nodes")
    )


async def import_registry(session: AsyncSession, county_dir: Path) -> int:
    """Add nodes registered by provisioning and refresh back-office accounts; returns new nodes."""
    added = 0
    for path in sorted((county_dir / "nodes").glob("*.json")):
        record: dict[str, Any] = json.loads(path.read_text("utf-8"))
        if await session.get(NodeRecord, record["id"]) is None:
            session.add(
                NodeRecord(
                    node_id=record["id"],
                    name=record["name"],
                    division=record["division"],
                    number=int(record["number"]),
                    secret_digest=record["secret_digest"],
                    expires_at=record["expires_at"],
                    county_key=record.get("county_key"),
                )
            )
            added += 1
        if isinstance(record.get("staff"), list):
            # The node's accounts as provisioning wrote them into its bundle; central's later changes win.
            from central.staff_admin import seed_node_staff  # here: staff_admin → backoffice → this module

            await seed_node_staff(session, record["id"], record["staff"], now=record.get("created_at", ""))
        node = await session.get(NodeRecord, record["id"])
        if node is not None and record.get("status") == "revoked" and node.status != "revoked":
            # The registry is where a county admin revokes (`provision revoke-node` or the fleet page): from
            # now on the node's new entries are quarantined. What it sent before stays as it is.
            node.status = "revoked"
            node.revoked_at = record.get("revoked_at")
            node.revoked_reason = record.get("revoked_reason")
            node.revoked_after_seq = node.up_seq
            session.add(node)
    users_path = county_dir / "central-users.json"
    if users_path.exists():
        for user in json.loads(users_path.read_text("utf-8")):
            row = await session.get(CentralUser, user["username"])
            if row is None:
                session.add(
                    CentralUser(**{k: user[k] for k in ("username", "display_name", "role", "password_hash")})
                )
            else:
                row.display_name, row.role, row.password_hash = (
                    user["display_name"],
                    user["role"],
                    user["password_hash"],
                )
                session.add(row)
    return added


def revoke_in_registry(county_dir: Path, node_id: str, *, reason: str, now: str) -> dict[str, Any]:
    """Revoke a node from central's fleet page: the same mark `provision revoke-node` writes in the county
    registry (the registry stays the record, so a central restored from a backup revokes it again)."""
    path = county_dir / "nodes" / f"{node_id}.json"
    record: dict[str, Any] = json.loads(path.read_text("utf-8"))
    if record.get("status") != "revoked":
        record.update(status="revoked", revoked_at=now, revoked_reason=reason[:500])
        write_file_atomic(
            path, json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8") + b"\n", mode=0o600
        )  # the record holds the node's staff password hashes
    return record
