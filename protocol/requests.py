"""Signed sync requests: a node proves who it is on every sync call with its Ed25519 key.

The signature covers the method, the path with query, a timestamp and the SHA-256 of the body. Replaying a
request is harmless by design (ingest is idempotent, down entries are encrypted to the node), so the
timestamp is not a replay window that a node with a wrong clock would fail: it measures the node's skew. What
a replay could still move — central's last contact and the skew — moves only on a reconcile that carries back
the one-time challenge of central's last answer (`central.sync.nodes.fresh_hello` states the rule).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from protocol.keys import SigningKey, VerifyKey

_TAG = b"onewindow/request/v1\x00"
HEADER_NODE = "x-ow-node"
HEADER_TIME = "x-ow-time"
HEADER_SIGNATURE = "x-ow-signature"


def _message(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    return _TAG + "\n".join([method.upper(), path, timestamp, hashlib.sha256(body).hexdigest()]).encode()


def sign_request(
    key: SigningKey, node_id: str, method: str, path: str, timestamp: str, body: bytes
) -> dict[str, str]:
    """Headers for a node's sync request."""
    signature = key.sign(_message(method, path, timestamp, body))
    return {
        HEADER_NODE: node_id,
        HEADER_TIME: timestamp,
        HEADER_SIGNATURE: base64.b64encode(signature).decode(),
    }


def verify_request(
    key: VerifyKey, method: str, path: str, timestamp: str, body: bytes, signature_b64: str
) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    return key.verify(signature, _message(method, path, timestamp, body))
