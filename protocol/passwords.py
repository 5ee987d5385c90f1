"""Staff password hashes (scrypt), made at central and verified offline on the node."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

# n=2**14 keeps a login under ~50 ms on a Raspberry-Pi-class node while staying memory-hard (16 MiB).
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), the form carried in bundles and down entries."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        [
            "scrypt",
            str(_N),
            str(_R),
            str(_P),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against an encoded hash; False for any malformed hash."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


#: Letters and digits a temporary password is made of: none that reads like another when said aloud or copied
#: from paper (no 0/O/o, 1/l/I/i, no punctuation).
TEMPORARY_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz"


def temporary_password(length: int = 12) -> str:
    """A temporary password to read out or hand over once: `length` characters of `TEMPORARY_ALPHABET` (about
    69 bits for 12), so nobody has to guess between 0 and O or 1, l and I."""
    return "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(length))
