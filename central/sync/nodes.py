"""Which node is talking to central, and whether it may: enrolment with the one-time secret, the node's own key
rotation, request signatures (the previous key accepted until the node holds its rotation's receipt), the
revoked state, and each contact's time and clock skew. Used by every sync door: the HTTP API, tus uploads and
courier files."""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.clock import utc_iso
from central.downlog import lock_node
from central.keys import CountyKeys
from central.models import NodeRecord
from protocol.enrolment import secret_digest
from protocol.errors import (
    ENROLMENT_INVALID,
    ENTRY_MALFORMED,
    NODE_REVOKED,
    NODE_UNKNOWN,
    REQUEST_SIGNATURE_INVALID,
    OneWindowError,
)
from protocol.keys import AgeRecipient, VerifyKey
from protocol.log import LogEntry, open_entry, verify_entry
from protocol.requests import HEADER_NODE, HEADER_SIGNATURE, verify_request
from protocol.trust import node_keys_proof

#: How long after its bundle expired a node enrolled offline in time may still make first contact.
ENROL_GRACE = timedelta(days=30)


def revoked_error(node: NodeRecord) -> OneWindowError:
    """Why an entry a revoked node signed after its revocation is held for review (quarantined), not applied."""
    return OneWindowError(
        NODE_REVOKED,
        f"节点已于 {(node.revoked_at or '')[:19]} 吊销（{node.revoked_reason or '未写原因'}）：此后收到的数据隔离待审",
        field="node_id",
    )


def rotate_node_keys(node: NodeRecord, payload: dict[str, Any], seq: int, now: str) -> None:
    """The node replaced its keys (its entry signed by the old key, the proof by the new): keep the old ones in
    its key history, and know it by the new ones from the next entry on."""
    try:
        new_key = VerifyKey.from_text(str(payload["sign_key"]))
        new_recipient = AgeRecipient.from_text(str(payload["age_recipient"]))
        proof = base64.b64decode(str(payload["proof"]), validate=True)
    except (KeyError, ValueError) as exc:
        raise OneWindowError(ENTRY_MALFORMED, f"node_keys: {exc}", field="sign_key") from exc
    if payload.get("node_id") != node.node_id or not new_key.verify(
        proof, node_keys_proof(node.node_id, new_key.to_text(), new_recipient.to_text())
    ):
        raise OneWindowError(REQUEST_SIGNATURE_INVALID, "新密钥的持有证明不成立", field="proof")
    history = json.loads(node.key_history or "[]")
    history.append(
        {
            "sign_key": node.sign_key,
            "age_recipient": node.age_recipient,
            "until_seq": seq,
            "replaced_at": now,
        }
    )
    node.key_history = json.dumps(history)
    node.sign_key, node.age_recipient = new_key.to_text(), new_recipient.to_text()


def previous_sign_key(node: NodeRecord) -> VerifyKey | None:
    """The key the node was known by before its last key rotation, while requests signed with it are still
    taken: the node signs with it until it holds the receipt of its rotation (which a cut link may have lost),
    and from its first request signed with the new key on, never again."""
    history = json.loads(node.key_history or "[]")
    if not history or history[-1].get("closed_at"):
        return None
    return VerifyKey.from_text(history[-1]["sign_key"])


def verify_node_request(
    node: NodeRecord, key: VerifyKey, method: str, path: str, time: str, body: bytes, signature: str
) -> bool:
    """Whether a request is signed by `key` (the node's key), or by its previous key while that is still taken.
    A request signed by the current key ends the previous key's use."""
    if verify_request(key, method, path, time, body, signature):
        history = json.loads(node.key_history or "[]")
        if history and not history[-1].get("closed_at") and node.sign_key == key.to_text():
            history[-1]["closed_at"] = utc_iso()
            node.key_history = json.dumps(history)
        return True
    previous = previous_sign_key(node)
    return previous is not None and verify_request(previous, method, path, time, body, signature)


def enrol(node: NodeRecord, payload: dict[str, Any], now: str) -> None:
    """Bind a pending node's keys after checking its one-time, unexpired enrolment secret."""
    if node.status != "pending":
        raise OneWindowError(
            ENROLMENT_INVALID,
            "这个注册包已经用过：节点已完成注册，注册密钥只能用一次（请向县管理员申请新的注册包）",
            field="secret",
        )
    if (
        payload.get("node_id") != node.node_id
        or secret_digest(str(payload.get("secret", ""))) != node.secret_digest
    ):
        raise OneWindowError(ENROLMENT_INVALID, "注册密钥与县里登记的不符", field="secret")
    expires = datetime.fromisoformat(node.expires_at)
    try:
        enrolled = datetime.fromisoformat(str(payload.get("enrolled_at")))
    except ValueError:
        enrolled = datetime.fromisoformat(now)
    if enrolled.tzinfo is None:  # a time without its zone cannot be compared: count it as now
        enrolled = datetime.fromisoformat(now)
    # The node enrols offline and may first reach central days later: the secret must have been used before it
    # expired, and reach central within a grace period after (a clock set back cannot stretch it further).
    if enrolled > expires or datetime.fromisoformat(now) > expires + ENROL_GRACE:
        raise OneWindowError(
            ENROLMENT_INVALID,
            f"注册包已于 {node.expires_at[:19]} 过期（请向县管理员申请新的注册包）",
            field="secret",
        )
    node.sign_key = VerifyKey.from_text(str(payload["sign_key"])).to_text()
    node.age_recipient = AgeRecipient.from_text(str(payload["age_recipient"])).to_text()
    node.status = "active"
    node.enrolled_at = now


async def load_pushing_node(
    session: AsyncSession, county: CountyKeys, node_id: str, entries: list[LogEntry]
) -> tuple[NodeRecord, VerifyKey]:
    """The node a push comes from (row-locked) and the key its push must be signed with.

    A node proves itself with the key it enrolled with; a pending node's only possible proof is the key inside
    its enrolment entry, which is checked (with the secret) before anything is stored.
    """
    node = await lock_node(session, node_id)
    if node is None:
        raise OneWindowError(
            NODE_UNKNOWN, f"node {node_id} is not registered in this county", field="node_id"
        )
    if node.status == "revoked" and not node.sign_key:
        raise OneWindowError(NODE_REVOKED, f"node {node_id} was revoked before it enrolled", field="node_id")
    if node.status != "pending" and node.sign_key:
        return node, VerifyKey.from_text(node.sign_key)
    first = entries[0] if entries else None
    if first is None or first.seq != 1 or first.kind != "enrol":
        raise OneWindowError(
            ENROLMENT_INVALID, "a new node must first send its enrolment entry", field="entries"
        )
    enrol_payload = open_entry(first, county.age_identities)
    try:
        verify_key = VerifyKey.from_text(str(enrol_payload.get("sign_key", "")))
    except ValueError as exc:
        raise OneWindowError(ENROLMENT_INVALID, "enrolment entry has no valid key", field="sign_key") from exc
    verify_entry(first, verify_key)
    return node, verify_key


def note_contact(node: NodeRecord, node_time: str, now: str, *, measure_skew: bool = True) -> None:
    """Record a contact and the node's clock skew (its stated time minus ours). Called only for a request that
    is fresh by the replay rule (`fresh_hello`); `measure_skew` False for a courier file, whose time is days
    old by design."""
    node.last_contact_at = now
    node.last_node_time = node_time
    if not measure_skew:
        return
    try:
        node.skew_ms = int(
            (datetime.fromisoformat(node_time) - datetime.fromisoformat(now)).total_seconds() * 1000
        )
    except (TypeError, ValueError):
        pass  # an unreadable time is kept as given; the skew stays as last measured


def fresh_hello(node: NodeRecord, document: dict[str, Any]) -> bool:
    """The replay rule: whether a reconcile request (network or courier file) counts for last contact and skew,
    and, when it does, a new challenge for the next one.

    Every reconcile answer (county-signed) carries a one-time challenge; the node's next reconcile request,
    signed, carries it back. Only a request with the challenge central issued last counts (the first contact,
    before any was issued, too), and counting it issues a new one. A request replayed later — two days or two
    seconds — carries a challenge already used and moves neither last contact nor skew; it is still answered
    (with the current challenge, unchanged), since everything it asks is idempotent. The node's clock plays no
    part: a clock set back, right or wrong, is counted at once. The other sync requests (push, pull, uploads)
    never move last contact or skew; every round starts with a reconcile."""
    issued = node.contact_challenge
    stated = document.get("challenge")
    fresh = not issued or (isinstance(stated, str) and hmac.compare_digest(stated, issued))
    if fresh:
        node.contact_challenge = secrets.token_urlsafe(18)
    return fresh


@dataclass(frozen=True)
class SignedRequest:
    """A node's request as it signed it: its ``X-OW-Node``, ``X-OW-Time`` and ``X-OW-Signature`` headers, the
    method, the path with its query, and the body bytes."""

    node_id: str
    method: str
    path: str
    time: str
    body: bytes
    signature: str


async def authenticated_node(
    session: AsyncSession,
    request: SignedRequest,
    *,
    lock: bool = False,
    allow_revoked: bool = False,
) -> NodeRecord:
    """The enrolled node that signed this request (its row locked when `lock`), or a numbered refusal naming
    the header at fault.

    A revoked node may still reconcile and read its down log (it learns it is revoked, and central sends it
    nothing new); everything else it asks is refused."""
    node_id = request.node_id
    query = select(NodeRecord).where(NodeRecord.node_id == node_id)
    node = (await session.exec(query.with_for_update() if lock else query)).first()
    if node is None or node.sign_key is None:
        raise OneWindowError(NODE_UNKNOWN, "节点未注册或尚未完成注册", field=HEADER_NODE)
    if node.status == "revoked" and not allow_revoked:
        raise OneWindowError(NODE_REVOKED, f"node {node_id} is revoked", field=HEADER_NODE)
    key = VerifyKey.from_text(node.sign_key)
    if not verify_node_request(
        node, key, request.method, request.path, request.time, request.body, request.signature
    ):
        raise OneWindowError(
            REQUEST_SIGNATURE_INVALID, "request not signed by this node", field=HEADER_SIGNATURE
        )
    return node
