"""County provisioning: the county's keys and registry, and enrolment bundles for new nodes.

A county directory holds everything central needs to trust its nodes:

    county.json            name, 6-digit division code, public keys
    keys/county-sign.key   Ed25519 signing key (0600)
    keys/county.agekey     X25519 age identity (0600; ``age -d -i`` reads it)
    catalogue.json         the current item catalogue
    central-users.json     back-office accounts (scrypt hashes)
    nodes/<id>.json        each node: name, 12-digit division, enrolment secret digest, expiry
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import segno

from protocol.calendar import calendar_from_dict
from protocol.catalogue import catalogue_from_dict
from protocol.enrolment import bundle_digest, secret_digest, sign_bundle
from protocol.ids import uuid7
from protocol.keys import AgeIdentity, SigningKey, read_secret_file, write_file_atomic, write_secret_file
from protocol.passwords import hash_password
from protocol.staff import CENTRAL_ROLES, NODE_ROLES


class ProvisioningError(Exception):
    """A provisioning step that cannot be done, with the reason for the county admin."""


def _write_json(path: Path, value: Any, *, mode: int = 0o644) -> None:
    write_file_atomic(
        path, json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8") + b"\n", mode=mode
    )


def sample_calendar() -> dict[str, Any]:
    """The State Council holiday arrangements shipped with the product (the county may publish newer ones)."""
    text = (Path(__file__).parent / "data" / "holiday_calendar.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def sample_catalogue() -> dict[str, Any]:
    """The sample village-level catalogue shipped with the product (for the demo and tests)."""
    text = (Path(__file__).parent / "data" / "sample_catalogue.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class County:
    """An initialised county directory."""

    path: Path

    @property
    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / "county.json").read_text("utf-8"))
        return data

    def signing_key(self) -> SigningKey:
        return SigningKey.from_text(read_secret_file(self.path / "keys" / "county-sign.key"))

    def age_identity(self) -> AgeIdentity:
        return AgeIdentity.from_text(read_secret_file(self.path / "keys" / "county.agekey"))

    @property
    def identity_file(self) -> Path:
        return self.path / "keys" / "county.agekey"

    def catalogue(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / "catalogue.json").read_text("utf-8"))
        return data

    def calendar(self) -> dict[str, Any]:
        """The county's working-day calendar (holidays and make-up working days)."""
        path = self.path / "calendar.json"
        if not path.exists():  # a county initialised before calendars were distributed
            return sample_calendar()
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return data

    def nodes(self) -> list[dict[str, Any]]:
        folder = self.path / "nodes"
        return (
            [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))]
            if folder.exists()
            else []
        )

    def central_users(self) -> list[dict[str, Any]]:
        path = self.path / "central-users.json"
        data: list[dict[str, Any]] = json.loads(path.read_text("utf-8")) if path.exists() else []
        return data


def open_county(path: Path) -> County:
    if not (path / "county.json").exists():
        raise ProvisioningError(f"{path} 不是已初始化的县目录（缺少 county.json）：先运行 provision init")
    return County(path)


def init_county(
    path: Path,
    *,
    name: str,
    division: str,
    admin_password: str,
    catalogue: dict[str, Any] | None = None,
    calendar: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> County:
    """Create a county's keys, registry and first county-admin account."""
    if len(division) != 6 or not division.isdigit():
        raise ProvisioningError(f"division: 县级行政区划代码应为6位数字，收到 {division!r}")
    if (path / "county.json").exists():
        raise ProvisioningError(f"{path} 已经初始化过；为安全起见不会覆盖已有县密钥")
    if len(admin_password) < 8:
        raise ProvisioningError("admin_password: 至少8位")
    catalogue = catalogue or sample_catalogue()
    catalogue_from_dict(catalogue)  # refuse a broken catalogue before anything is written
    calendar = calendar or sample_calendar()
    calendar_from_dict(calendar)
    now = now or datetime.now(UTC)
    signing, identity = SigningKey.generate(), AgeIdentity.generate()
    write_secret_file(path / "keys" / "county-sign.key", signing.to_text())
    write_secret_file(
        path / "keys" / "county.agekey",
        f"# created: {now.isoformat()}\n# public key: {identity.recipient.to_text()}\n{identity.to_text()}",
    )
    _write_json(path / "catalogue.json", catalogue)
    _write_json(path / "calendar.json", calendar)
    _write_json(
        path / "central-users.json",
        [
            {
                "username": "admin",
                "display_name": "县管理员",
                "role": "admin",
                "password_hash": hash_password(admin_password),
            }
        ],
        mode=0o600,
    )
    _write_json(
        path / "county.json",
        {
            "name": name,
            "division": division,
            "sign_key": signing.verify_key.to_text(),
            "sign_fingerprint": signing.verify_key.fingerprint,
            "age_recipient": identity.recipient.to_text(),
            "created_at": now.isoformat(),
        },
    )
    (path / "nodes").mkdir(exist_ok=True)
    return County(path)


def add_central_user(county: County, *, username: str, display_name: str, role: str, password: str) -> None:
    """Add or replace a back-office account (reviewer, admin, supervisor)."""
    if role not in CENTRAL_ROLES:
        raise ProvisioningError(f"role: 未知角色 {role!r}，可选 {', '.join(CENTRAL_ROLES)}")
    users = [u for u in county.central_users() if u["username"] != username]
    users.append(
        {
            "username": username,
            "display_name": display_name,
            "role": role,
            "password_hash": hash_password(password),
        }
    )
    _write_json(county.path / "central-users.json", users, mode=0o600)


@dataclass(frozen=True)
class StaffSpec:
    """A staff account to put in a node's bundle; the password is shown once and never stored."""

    username: str
    display_name: str
    role: str
    password: str = ""


@dataclass(frozen=True)
class NodeBundle:
    node_id: str
    bundle_path: Path
    qr_path: Path
    passwords: dict[str, str]
    county_fingerprint: str


def add_node(
    county: County,
    *,
    name: str,
    division: str,
    central_urls: Sequence[str],
    out: Path,
    staff: Sequence[StaffSpec],
    valid_for: timedelta = timedelta(days=14),
    now: datetime | None = None,
) -> NodeBundle:
    """Register a node at the county and write its signed enrolment bundle and QR code."""
    if len(division) != 12 or not division.isdigit():
        raise ProvisioningError(f"division: 中心所在地应为12位行政区划代码，收到 {division!r}")
    if not division.startswith(county.info["division"]):
        raise ProvisioningError(f"division: {division} 不在本县（{county.info['division']}）辖区内")
    if not central_urls or not all(u.startswith(("http://", "https://")) for u in central_urls):
        raise ProvisioningError("central_url: 需要 http:// 或 https:// 开头的地址")
    if not staff:
        raise ProvisioningError("staff: 至少需要一个工作人员账号")
    for spec in staff:
        if spec.role not in NODE_ROLES:
            raise ProvisioningError(
                f"staff {spec.username}: 未知角色 {spec.role!r}，可选 {', '.join(NODE_ROLES)}"
            )
    now = now or datetime.now(UTC)
    node_id = uuid7()
    number = len(county.nodes()) + 1
    if number > 99:
        raise ProvisioningError("一个县最多99个节点（办件编号流水号前两位为节点号）")
    secret = secrets.token_urlsafe(32)
    expires_at = now + valid_for
    passwords = {s.username: s.password or secrets.token_urlsafe(9) for s in staff}
    accounts = [
        {
            "username": s.username,
            "display_name": s.display_name,
            "role": s.role,
            "password_hash": hash_password(passwords[s.username]),
            "disabled": False,
        }
        for s in staff
    ]
    info = county.info
    payload = {
        "v": 1,
        "county": {
            "name": info["name"],
            "division": info["division"],
            "sign_key": info["sign_key"],
            "age_recipient": info["age_recipient"],
        },
        "node": {"id": node_id, "name": name, "division": division, "number": number},
        "central_urls": list(central_urls),
        "secret": secret,
        "issued_at": now.isoformat(),
        "expires_at": expires_at.isoformat(),
        "catalogue": county.catalogue(),
        "calendar": county.calendar(),
        "staff": accounts,
    }
    data = sign_bundle(payload, county.signing_key())
    write_file_atomic(out, data, mode=0o600)
    record = {
        "id": node_id,
        "name": name,
        "division": division,
        "number": number,
        "central_urls": list(central_urls),
        "secret_digest": secret_digest(secret),
        "expires_at": expires_at.isoformat(),
        "created_at": now.isoformat(),
        "bundle_digest": bundle_digest(data),
    }
    _write_json(county.path / "nodes" / f"{node_id}.json", record)
    qr_path = out.with_suffix(".qr.png")
    qr_text = (
        f"onewindow:enrol?node={node_id}&county={info['sign_fingerprint']}&bundle={bundle_digest(data)[:32]}"
    )
    segno.make(qr_text, error="m").save(str(qr_path), scale=6, border=4)
    return NodeBundle(node_id, out, qr_path, passwords, info["sign_fingerprint"])
