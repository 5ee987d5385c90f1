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
from protocol.enrolment import bundle_digest, enrolment_qr, secret_digest, sign_bundle
from protocol.ids import uuid7
from protocol.keys import AgeIdentity, SigningKey, read_secret_file, write_file_atomic, write_secret_file
from protocol.passwords import hash_password, temporary_password
from protocol.staff import CENTRAL_ROLES, NODE_ROLES
from protocol.trust import make_statement


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


def catalogue_departments(catalogue: dict[str, Any]) -> dict[str, str]:
    """Every department the catalogue names: credit code → name, in catalogue order."""
    found: dict[str, str] = {}
    for item in catalogue_from_dict(catalogue).items:
        for department in item.departments:
            found.setdefault(department.code, department.name)
    return found


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
    _finish_rotation(path)
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


def add_central_user(
    county: County,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    department: str = "",
) -> None:
    """Add or replace a back-office account (reviewer, admin, supervisor); a reviewer may be placed at once in a
    department of the catalogue (by credit code), which central takes on its first start (an admin can move it)."""
    if role not in CENTRAL_ROLES:
        raise ProvisioningError(f"role: 未知角色 {role!r}，可选 {', '.join(CENTRAL_ROLES)}")
    user: dict[str, Any] = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "password_hash": hash_password(password),
    }
    if department:
        names = catalogue_departments(county.catalogue())
        if department not in names:
            raise ProvisioningError(f"department: 目录中没有部门 {department!r}")
        user["department"] = {"code": department, "name": names[department], "position": "reviewer"}
    users = [u for u in county.central_users() if u["username"] != username]
    users.append(user)
    _write_json(county.path / "central-users.json", users, mode=0o600)


@dataclass(frozen=True)
class StaffSpec:
    """A staff account to put in a node's bundle; the password is shown once and never stored."""

    username: str
    display_name: str
    role: str
    password: str = ""
    #: A lead's 即办件 authority: item codes (case_type 1) the lead may decide on the spot; ``*`` for every
    #: 即办件 of the county's catalogue.
    authorities: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeBundle:
    node_id: str
    bundle_path: Path
    qr_path: Path
    passwords: dict[str, str]
    county_fingerprint: str
    qr_text: str = ""


def on_spot_authorities(catalogue: dict[str, Any], spec: StaffSpec) -> list[str]:
    """The checked 即办件 authority list of `spec`: only a lead holds one, only 即办件 (case_type 1) items of
    the catalogue may be on it; ``*`` stands for all of them."""
    if not spec.authorities:
        return []
    if spec.role != "lead":
        raise ProvisioningError(f"staff {spec.username}: 只有业务负责人（lead）可以授权当场办结即办件")
    on_spot = {item["code"]: item["name"] for item in catalogue["items"] if item.get("case_type") == 1}
    if "*" in spec.authorities:
        return sorted(on_spot)
    for code in spec.authorities:
        if code not in on_spot:
            raise ProvisioningError(
                f"staff {spec.username}: 事项 {code} 不是本县目录中的即办件，不能授权当场办结"
            )
    return list(dict.fromkeys(spec.authorities))


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
    central_ca: str | None = None,
) -> NodeBundle:
    """Register a node at the county and write its signed enrolment bundle and QR code. `central_ca`: the county
    CA certificate (PEM) that issued central's HTTPS certificate; the node then trusts that CA only."""
    if len(division) != 12 or not division.isdigit():
        raise ProvisioningError(f"division: 中心所在地应为12位行政区划代码，收到 {division!r}")
    if not division.startswith(county.info["division"]):
        raise ProvisioningError(f"division: {division} 不在本县（{county.info['division']}）辖区内")
    if not central_urls or not all(u.startswith(("http://", "https://")) for u in central_urls):
        raise ProvisioningError("central_url: 需要 http:// 或 https:// 开头的地址")
    if not staff:
        raise ProvisioningError("staff: 至少需要一个工作人员账号")
    if central_ca is not None:
        check_ca_certificate(central_ca)
    for spec in staff:
        if spec.role not in NODE_ROLES:
            raise ProvisioningError(
                f"staff {spec.username}: 未知角色 {spec.role!r}，可选 {', '.join(NODE_ROLES)}"
            )
    authorities = {s.username: on_spot_authorities(county.catalogue(), s) for s in staff}
    now = now or datetime.now(UTC)
    node_id = uuid7()
    number = len(county.nodes()) + 1
    if number > 99:
        raise ProvisioningError("一个县最多99个节点（办件编号流水号前两位为节点号）")
    secret = secrets.token_urlsafe(32)
    expires_at = now + valid_for
    passwords = {s.username: s.password or temporary_password() for s in staff}
    accounts = [
        {
            "username": s.username,
            "display_name": s.display_name,
            "role": s.role,
            "password_hash": hash_password(passwords[s.username]),
            "disabled": False,
            "authorities": authorities[s.username],
            "version": 1,
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
    if central_ca is not None:
        payload["central_ca"] = central_ca  # nodes of earlier releases ignore it
    data = sign_bundle(payload, county.signing_key())
    write_file_atomic(out, data, mode=0o600)
    record = {
        "id": node_id,
        "name": name,
        "division": division,
        "number": number,
        "central_urls": list(central_urls),
        "secret_digest": secret_digest(secret),
        "staff": accounts,  # hashes only: central keeps and manages the node's accounts from here
        "expires_at": expires_at.isoformat(),
        "created_at": now.isoformat(),
        "bundle_digest": bundle_digest(data),
        "county_key": info["sign_fingerprint"],  # the county key the node trusts when it enrols
    }
    _write_json(county.path / "nodes" / f"{node_id}.json", record, mode=0o600)  # holds password hashes
    qr_path = out.with_suffix(".qr.png")
    qr_text = enrolment_qr(node_id, info["sign_fingerprint"], bundle_digest(data), central_urls[0])
    segno.make(qr_text, error="m").save(str(qr_path), scale=6, border=4)
    return NodeBundle(node_id, out, qr_path, passwords, info["sign_fingerprint"], qr_text)


# ---- the fleet: list, revoke, rotate (R-PROV-4) -------------------------------------------------------------


def node_record(county: County, node_id: str) -> dict[str, Any]:
    """A registered node by id, or by its number or name (what an admin types); ProvisioningError otherwise."""
    nodes = county.nodes()
    for record in nodes:
        if node_id in (record["id"], str(record.get("number")), record["name"]):
            return record
    matches = [r for r in nodes if r["id"].startswith(node_id)] if len(node_id) >= 8 else []
    if len(matches) == 1:
        return matches[0]
    raise ProvisioningError(f"node: 本县没有节点 {node_id!r}（用 provision list-nodes 查看）")


def revoke_node(county: County, node_id: str, *, reason: str, now: datetime | None = None) -> dict[str, Any]:
    """Mark a node revoked in the county registry (stolen, retired). Central refuses its new entries from its next
    request on (they are kept in quarantine for review); nothing already received is undone, nothing on the
    node is deleted. Revoking twice keeps the first revocation."""
    reason = reason.strip()
    if not reason:
        raise ProvisioningError("reason: 吊销节点必须写明原因（如：设备被盗、中心撤并）")
    record = node_record(county, node_id)
    if record.get("status") == "revoked":
        return record
    now = now or datetime.now(UTC)
    record = {**record, "status": "revoked", "revoked_at": now.isoformat(), "revoked_reason": reason[:500]}
    _write_json(county.path / "nodes" / f"{record['id']}.json", record, mode=0o600)  # holds staff hashes
    return record


def county_generation(info: dict[str, Any]) -> int:
    return int(info.get("key_generation", 1))


def rotate_county_keys(county: County, *, now: datetime | None = None) -> dict[str, Any]:
    """Make a new generation of the county's signing and encryption keys.

    The old private keys move to ``keys/retired/`` (kept: entries and blobs encrypted to the old recipient must
    still decrypt, and nodes that have not yet learned the new key are still answered in the old one). The new
    generation is announced by a statement signed by the old key and the new; central sends it to every node
    through its down log. Returns the updated county.json."""
    now = now or datetime.now(UTC)
    info = county.info
    generation = county_generation(info)
    keys = county.path / "keys"
    old_signing, old_identity = county.signing_key(), county.age_identity()
    retired = keys / "retired"
    retired.mkdir(mode=0o700, exist_ok=True)
    write_secret_file(retired / f"county-sign.g{generation}.key", old_signing.to_text())
    write_secret_file(
        retired / f"county.g{generation}.agekey",
        f"# generation {generation}, retired: {now.isoformat()}\n"
        f"# public key: {old_identity.recipient.to_text()}\n{old_identity.to_text()}",
    )
    signing, identity = SigningKey.generate(), AgeIdentity.generate()
    statement = make_statement(
        generation=generation + 1,
        previous=old_signing,
        new=signing,
        age_recipient=identity.recipient,
        issued_at=now.isoformat(),
    )
    # The new private keys are written beside the current ones first, then county.json names them, then they
    # take the current names: a crash part-way leaves either the old generation whole or the new one finishable
    # (`open_county` completes it).
    write_secret_file(keys / "county-sign.next.key", signing.to_text())
    write_secret_file(
        keys / "county.next.agekey",
        f"# created: {now.isoformat()} (generation {generation + 1})\n"
        f"# public key: {identity.recipient.to_text()}\n{identity.to_text()}",
    )
    updated = {
        **info,
        "key_generation": generation + 1,
        "sign_key": signing.verify_key.to_text(),
        "sign_fingerprint": signing.verify_key.fingerprint,
        "age_recipient": identity.recipient.to_text(),
        "rotated_at": now.isoformat(),
        "key_statements": [*info.get("key_statements", []), statement.to_dict()],
        "retired_keys": [
            *info.get("retired_keys", []),
            {
                "generation": generation,
                "sign_key": old_signing.verify_key.to_text(),
                "sign_fingerprint": old_signing.verify_key.fingerprint,
                "age_recipient": old_identity.recipient.to_text(),
                "retired_at": now.isoformat(),
                "sign_key_file": f"retired/county-sign.g{generation}.key",
                "identity_file": f"retired/county.g{generation}.agekey",
            },
        ],
    }
    _write_json(county.path / "county.json", updated)
    _finish_rotation(county.path)
    return updated


def _finish_rotation(path: Path) -> None:
    """Give the new generation's key files their current names, if a rotation left them beside the old ones."""
    keys = path / "keys"
    pending_sign, pending_age = keys / "county-sign.next.key", keys / "county.next.agekey"
    if not pending_sign.exists():
        return
    info = json.loads((path / "county.json").read_text("utf-8"))
    if SigningKey.from_text(read_secret_file(pending_sign)).verify_key.to_text() != info["sign_key"]:
        # county.json was never switched: the rotation did not happen; the half-made keys are dropped.
        pending_sign.unlink()
        pending_age.unlink(missing_ok=True)
        return
    if pending_age.exists():
        pending_age.replace(keys / "county.agekey")
    pending_sign.replace(keys / "county-sign.key")


def check_ca_certificate(pem: str) -> None:
    """Refuse a `--central-ca` that is not one PEM CA certificate (a server certificate or a key by mistake)."""
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ProvisioningError("central_ca: 不是 PEM 格式的证书") from exc
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ProvisioningError(
            "central_ca: 这不是 CA 证书（应给签发县中心证书的本县 CA 证书，不是服务器证书）"
        )
