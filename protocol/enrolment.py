"""Enrolment bundles: what a county hands a new node (on a USB stick, with a QR code beside it).

The bundle is signed by the county's signing key and carries the node's identity, the county's public keys,
central's URLs, a one-time expiring enrolment secret, and the initial catalogue and staff accounts, so the node
can work offline from the moment it enrols. The QR code carries only the bundle's digest and the county key
fingerprint (never the secret), so a photo of it is no credential.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from protocol.canonical import canonical_json, parse_json
from protocol.errors import BUNDLE_INVALID, OneWindowError
from protocol.keys import AgeRecipient, SigningKey, VerifyKey

BUNDLE_TYPE = "onewindow.enrolment-bundle"
_BUNDLE_TAG = b"onewindow/bundle/v1\x00"


@dataclass(frozen=True, slots=True)
class EnrolmentBundle:
    """A verified bundle's contents."""

    payload: Mapping[str, Any]

    @property
    def node_id(self) -> str:
        return str(self.payload["node"]["id"])

    @property
    def node_name(self) -> str:
        return str(self.payload["node"]["name"])

    @property
    def node_division(self) -> str:
        return str(self.payload["node"]["division"])

    @property
    def node_number(self) -> int:
        return int(self.payload["node"]["number"])

    @property
    def county_name(self) -> str:
        return str(self.payload["county"]["name"])

    @property
    def county_sign_key(self) -> VerifyKey:
        return VerifyKey.from_text(self.payload["county"]["sign_key"])

    @property
    def county_recipient(self) -> AgeRecipient:
        return AgeRecipient.from_text(self.payload["county"]["age_recipient"])

    @property
    def central_urls(self) -> list[str]:
        return [str(u) for u in self.payload["central_urls"]]

    @property
    def secret(self) -> str:
        return str(self.payload["secret"])

    @property
    def expires_at(self) -> datetime:
        return datetime.fromisoformat(self.payload["expires_at"])

    @property
    def catalogue(self) -> Mapping[str, Any]:
        return dict(self.payload["catalogue"])

    @property
    def calendar(self) -> Mapping[str, Any] | None:
        """The county's working-day calendar (absent in bundles made before calendars were distributed)."""
        value = self.payload.get("calendar")
        return dict(value) if isinstance(value, Mapping) else None

    @property
    def central_ca(self) -> str | None:
        """The county CA certificate (PEM) central's HTTPS certificate is issued by; None: the system's CAs."""
        value = self.payload.get("central_ca")
        return value if isinstance(value, str) and value else None

    @property
    def staff(self) -> list[Mapping[str, Any]]:
        return list(self.payload["staff"])


def secret_digest(secret: str) -> str:
    """What central keeps of an enrolment secret."""
    return hashlib.sha256(b"onewindow/enrolment-secret\x00" + secret.encode()).hexdigest()


def sign_bundle(payload: Mapping[str, Any], key: SigningKey) -> bytes:
    """The bundle file's bytes: the payload and the county's signature of it."""
    body = dict(payload, type=BUNDLE_TYPE)
    signature = key.sign(_BUNDLE_TAG + canonical_json(body))
    document = {"bundle": body, "signature": base64.b64encode(signature).decode()}
    return canonical_json(document)


def bundle_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


QR_SCHEME = "onewindow:enrol?"


def enrolment_qr(node_id: str, county_fingerprint: str, digest: str, central_url: str) -> str:
    """The QR code printed beside a bundle: which node, which county key to trust, which bundle file exactly,
    and where central is. It holds no secret, so a photo of it is no credential."""
    return QR_SCHEME + urlencode(
        {"node": node_id, "county": county_fingerprint, "bundle": digest[:32], "central": central_url}
    )


@dataclass(frozen=True, slots=True)
class EnrolmentQr:
    node_id: str
    county_fingerprint: str
    bundle_prefix: str
    central_url: str


def parse_enrolment_qr(text: str) -> EnrolmentQr:
    """The fields of a scanned enrolment QR code; OW-1212 naming what is missing."""
    if not text.startswith(QR_SCHEME):
        raise OneWindowError(BUNDLE_INVALID, "不是注册二维码（应以 onewindow:enrol? 开头）", field="qr")
    fields = {k: v[0] for k, v in parse_qs(text[len(QR_SCHEME) :]).items()}
    for name in ("node", "county", "bundle"):
        if not fields.get(name):
            raise OneWindowError(BUNDLE_INVALID, f"注册二维码缺少 {name}", field="qr")
    return EnrolmentQr(fields["node"], fields["county"], fields["bundle"], fields.get("central", ""))


def check_against_qr(data: bytes, bundle: EnrolmentBundle, qr: EnrolmentQr) -> None:
    """Refuse a bundle file that is not the one the QR code describes (another node, or a swapped file)."""
    if bundle.node_id != qr.node_id:
        raise OneWindowError(
            BUNDLE_INVALID, f"注册包是节点 {bundle.node_id} 的，二维码是节点 {qr.node_id} 的", field="qr"
        )
    if not bundle_digest(data).startswith(qr.bundle_prefix):
        raise OneWindowError(BUNDLE_INVALID, "注册包文件与二维码不符（文件被替换或改动过）", field="bundle")


def verify_bundle(
    data: bytes, *, expected_county: str | None = None, now: datetime | None = None
) -> EnrolmentBundle:
    """Verify a bundle file: its signature by the key it names, that key's fingerprint when one is pinned, and
    its expiry when `now` is given. Raises OW-1212 naming what is wrong."""
    try:
        document = parse_json(data)
        body = document["bundle"]
        signature = base64.b64decode(document["signature"], validate=True)
        if body.get("type") != BUNDLE_TYPE:
            raise ValueError("not an enrolment bundle")
        key = VerifyKey.from_text(body["county"]["sign_key"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OneWindowError(BUNDLE_INVALID, f"注册包无法解析：{exc}", field="bundle") from exc
    if not key.verify(signature, _BUNDLE_TAG + canonical_json(body)):
        raise OneWindowError(BUNDLE_INVALID, "注册包签名无效（文件被修改或伪造）", field="signature")
    if expected_county is not None and key.fingerprint != expected_county.upper():
        raise OneWindowError(
            BUNDLE_INVALID,
            f"注册包不是本县签发的（指纹 {key.fingerprint}，应为 {expected_county}）",
            field="county.sign_key",
        )
    bundle = EnrolmentBundle(body)
    if now is not None and bundle.expires_at <= now:
        raise OneWindowError(
            BUNDLE_INVALID, f"注册包已于 {bundle.payload['expires_at']} 过期", field="expires_at"
        )
    return bundle
