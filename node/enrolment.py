"""Enrolling a node from its bundle, offline: verify, generate keys, load catalogue and staff, queue the
enrolment request as the first up entry. The node works from that moment; central activates it on first contact."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from node.db import Database, migrate
from node.identity import write_identity
from node.models import CatalogueVersion, Meta
from node.runtime import CALENDAR_KEY, open_runtime
from node.staff import staff_row
from node.sync.log import append_up_entry
from protocol.calendar import calendar_from_dict
from protocol.canonical import canonical_json
from protocol.catalogue import catalogue_from_dict
from protocol.enrolment import EnrolmentBundle, verify_bundle
from protocol.keys import AgeIdentity, SigningKey
from protocol.staff import StaffAccount
from protocol.version import PROTOCOL_VERSION


class EnrolmentError(Exception):
    """Enrolment cannot proceed; the message says why, for the node admin."""


async def enroll(
    bundle_path: Path, data_dir: Path, *, expected_county: str | None = None, now: datetime | None = None
) -> EnrolmentBundle:
    """Enrol this machine as the node the bundle describes."""
    now = now or datetime.now(UTC)
    bundle = verify_bundle(bundle_path.read_bytes(), expected_county=expected_county, now=now)
    if (data_dir / "node.json").exists():
        raise EnrolmentError(f"{data_dir} 已经注册为节点；不会覆盖已有节点的数据和密钥")
    catalogue = catalogue_from_dict(bundle.catalogue)
    staff = [StaffAccount.from_dict(s) for s in bundle.staff]
    data_dir.mkdir(parents=True, exist_ok=True)
    signing, ident = SigningKey.generate(), AgeIdentity.generate()
    info = {
        "node_id": bundle.node_id,
        "name": bundle.node_name,
        "division": bundle.node_division,
        "number": bundle.node_number,
        "county_name": bundle.county_name,
        "county_sign_key": bundle.county_sign_key.to_text(),
        "county_recipient": bundle.county_recipient.to_text(),
        "central_urls": bundle.central_urls,
        "enrolled_at": now.isoformat(),
    }
    write_identity(data_dir, info, signing, ident)
    migrate(data_dir / "node.db")
    db = Database(data_dir / "node.db")
    try:
        async with db.write() as session:
            session.add(
                CatalogueVersion(
                    version=catalogue.version,
                    issued_at=catalogue.issued_at,
                    data=canonical_json(bundle.catalogue).decode("utf-8"),
                )
            )
            for account in staff:
                session.add(staff_row(account))
            if bundle.calendar is not None:
                calendar_from_dict(bundle.calendar)  # refuse a broken calendar before the node relies on it
                session.add(Meta(key=CALENDAR_KEY, value=canonical_json(bundle.calendar).decode("utf-8")))
    finally:
        await db.close()
    runtime = await open_runtime(data_dir, now=lambda: now)
    try:
        async with runtime.db.write() as session:
            await append_up_entry(
                session,
                runtime,
                kind="enrol",
                payload={
                    "node_id": bundle.node_id,
                    "secret": bundle.secret,
                    "sign_key": signing.verify_key.to_text(),
                    "age_recipient": ident.recipient.to_text(),
                    "protocol_version": PROTOCOL_VERSION,
                    "enrolled_at": now.isoformat(),
                },
            )
    finally:
        await runtime.close()
    return bundle


def describe(data_dir: Path) -> dict[str, object]:
    info: dict[str, object] = json.loads((data_dir / "node.json").read_text("utf-8"))
    return info
