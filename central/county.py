"""Central's view of its county directory: keys, node registry and accounts, loaded into the database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from central.models import CentralUser, NodeRecord
from protocol.keys import AgeIdentity, SigningKey, VerifyKey, read_secret_file


@dataclass(frozen=True)
class CountyKeys:
    """The county's identity as central holds it."""

    name: str
    division: str
    signing_key: SigningKey
    age_identities: tuple[AgeIdentity, ...]

    @property
    def verify_key(self) -> VerifyKey:
        return self.signing_key.verify_key


def load_county(county_dir: Path) -> CountyKeys:
    info = json.loads((county_dir / "county.json").read_text("utf-8"))
    keys = county_dir / "keys"
    return CountyKeys(
        name=info["name"],
        division=info["division"],
        signing_key=SigningKey.from_text(read_secret_file(keys / "county-sign.key")),
        age_identities=(AgeIdentity.from_text(read_secret_file(keys / "county.agekey")),),
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
                )
            )
            added += 1
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
