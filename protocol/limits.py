"""Every size bound in one place: field lengths and list counts of what people type, request body sizes, JSON
depth, and the size of a log entry — one set of constants both ends read.

The node seals no up entry larger than `MAX_ENTRY_CIPHERTEXT`, and central applies entries up to that size: the
same constant at both ends (a central configured lower stores and quarantines a larger entry rather than
refusing it, so the chain behind it moves on). Field bounds are generous for a person (a name, an address, a
reason) and small enough that no record a window can accept makes an entry anywhere near that size.
"""

from __future__ import annotations

import re

from protocol.errors import VALIDATION, OneWindowError

#: Codes, ids, usernames, certificate numbers, phone numbers, dates.
MAX_CODE = 64
#: A person's or an organisation's name (申请人, 法定代表人, 收件人, 承办人 …).
MAX_NAME = 100
#: A short line: a window's name, an address, a title, a channel.
MAX_LINE = 300
#: Free text a person writes: a reason, an opinion, a comment, a note, a complaint, a legal basis.
MAX_TEXT = 4000
#: Items of one list in a request body (materials, corrections, item codes, annotations …).
MAX_LIST = 500
#: A signature drawn on the tablet, as the form posts it (a PNG as a data: URL, base64).
MAX_SIGNATURE_FIELD = 1024 * 1024
#: A row number or sequence number taken from a query or a path (SQLite and PostgreSQL integers are 64-bit).
MAX_ROW_ID = 2**63 - 1
#: Nesting of a JSON request body (objects and arrays): checked before the body is parsed.
MAX_JSON_DEPTH = 32
#: A JSON or form request body without files (a drawn signature is the largest thing in one).
MAX_BODY = 2 * 1024 * 1024
#: A request that uploads a file (a scan, a photo, a courier file, a chunk of an attachment).
MAX_UPLOAD_BODY = 48 * 1024 * 1024
#: The largest up entry's ciphertext: what the node seals at most and what central applies.
MAX_ENTRY_CIPHERTEXT = 16 * 1024 * 1024
#: The largest entry central reads off the wire at all (verifies, stores and quarantines when over its limit).
MAX_WIRE_CIPHERTEXT = 2 * MAX_ENTRY_CIPHERTEXT
#: One push of up entries (JSON, ciphertexts in base64): the node batches by this, central accepts it.
MAX_PUSH_BODY = 24 * 1024 * 1024
#: The request body central takes on ``POST /sync/v1/up`` (one entry at its wire limit, base64, with room).
MAX_PUSH_REQUEST = (MAX_WIRE_CIPHERTEXT * 4) // 3 + 1024 * 1024


def bounded(value: str, limit: int, *, field: str, label: str) -> str:
    """`value` unchanged, or OW-1001 naming the field (`label` is its Chinese name) when it is longer."""
    if len(value) > limit:
        raise OneWindowError(VALIDATION, f"{label}过长：最多 {limit} 个字，现有 {len(value)} 个", field=field)
    return value


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `body` nests objects and arrays deeper than `limit` — found without parsing it, so
    a hostile body never reaches a recursive parser. Strings are cut out, then each pass removes the innermost
    pairs (one level); brackets left after `limit` passes are too deep, or do not pair up at all
    (not JSON either way). A body with no more than `limit` brackets is never too deep."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    # Objects count as arrays here: only the nesting matters (the parser refuses a "[}" anyway).
    brackets = _STRING.sub(b"", body).translate(_OBJECT_AS_ARRAY, _NOT_BRACKET)
    for _ in range(limit):
        if not brackets:
            return False
        peeled = brackets.replace(b"[]", b"")
        if peeled == brackets:
            break  # nothing pairs up: not JSON
        brackets = peeled
    return bool(brackets)


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OBJECT_AS_ARRAY = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
