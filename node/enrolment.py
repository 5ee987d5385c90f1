"""Enrolling a node from its bundle, offline: verify, generate keys (into the key directory, beside the data
directory and never inside it), load catalogue and staff, queue the enrolment request as the first up entry. The
node works from that moment; central activates it on first contact."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from node.boot import open_runtime
from node.db import Database, migrate
from node.models import CatalogueVersion, Meta
from node.runtime import CALENDAR_KEY
from node.staff import staff_row
from node.sync.log import append_up_entry
from node.trust.identity import KEY_FILES, default_key_dir, is_inside, write_identity
from protocol.calendar import calendar_from_dict
from protocol.canonical import canonical_json
from protocol.catalogue import catalogue_from_dict
from protocol.enrolment import EnrolmentBundle, check_against_qr, parse_enrolment_qr, verify_bundle
from protocol.keys import AgeIdentity, SigningKey
from protocol.staff import StaffAccount
from protocol.version import PROTOCOL_VERSION


class EnrolmentError(Exception):
    """Enrolment cannot proceed; the message says why, for the node admin."""


async def enroll(
    bundle_path: Path,
    data_dir: Path,
    *,
    key_dir: Path | None = None,
    expected_county: str | None = None,
    qr: str | None = None,
    now: datetime | None = None,
) -> EnrolmentBundle:
    """Enrol this machine as the node the bundle describes.

    `expected_county` pins the county key fingerprint; `qr` (the text of the QR code printed beside the bundle)
    pins the fingerprint, the node and the exact bundle file at once. The keys go to `key_dir` (default
    ``<data_dir>-keys``, `node.trust.identity.default_key_dir`)."""
    now = now or datetime.now(UTC)
    data = bundle_path.read_bytes()
    scanned = parse_enrolment_qr(qr) if qr else None
    if scanned is not None:
        expected_county = expected_county or scanned.county_fingerprint
    bundle = verify_bundle(data, expected_county=expected_county, now=now)
    if scanned is not None:
        check_against_qr(data, bundle, scanned)
    if (data_dir / "node.json").exists():
        raise EnrolmentError(f"{data_dir} 已经注册为节点；不会覆盖已有节点的数据和密钥")
    keys = key_dir if key_dir is not None else default_key_dir(data_dir)
    if is_inside(keys, data_dir):
        raise EnrolmentError(
            f"密钥目录 {keys} 不能放在数据目录 {data_dir} 里面：数据目录被拷走时密钥不能跟着走"
        )
    if any((keys / name).exists() for name in KEY_FILES):
        raise EnrolmentError(f"{keys} 里已有节点密钥（可能属于另一个节点的数据）；不会覆盖，请换一个密钥目录")
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
    if bundle.central_ca is not None:
        info["central_ca"] = bundle.central_ca
    data_key = os.urandom(32)
    write_identity(data_dir, info, signing, ident, key_dir=keys, data_key=data_key)
    migrate(data_dir / "node.db")
    db = Database(data_dir / "node.db", data_key=data_key)
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
    runtime = await open_runtime(data_dir, key_dir=keys, now=lambda: now)
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
