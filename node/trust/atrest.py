"""Sensitive columns encrypted at rest with the node data key (R-SEC-1): event payloads (every applicant's ID
number, phone and address is in them), applicant and courier names, phones and addresses, message texts, file
names.

A column holding such a value is declared with `EncryptedString` / `EncryptedText`: services read and write
plain strings, the database holds ``ow1:`` + base64(nonce ‖ AES-256-GCM ciphertext ‖ tag). The column key is
derived from the data key with HKDF (its own purpose: the same data key also encrypts blobs and keys the
ID-number hashes); the column's name (``table.column``) is the associated data, so a value cannot be moved to
another column unnoticed. The key travels with the engine — `attach_data_key` puts it on the engine's dialect,
which SQLAlchemy hands to every bind and result processor — so there is no global key, and an engine opened
without it fails loudly instead of writing plaintext.

Such a column cannot be searched or sorted in SQL (every value has a random nonce); its comparator refuses
anything but ``IS NULL`` so a query that would silently match nothing fails at once. A value that must be
looked up is kept beside it as a keyed hash (tickets and appointments keep ``id_hash``, the HMAC of the ID
number under the data key, never the number).

Databases written before this existed are converted on the first open with the key
(`encrypt_plaintext_rows`): every plaintext value is encrypted in place, then the file is vacuumed so the old
plaintext does not linger in free pages or the WAL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import MetaData, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel.sql.sqltypes import AutoString

log = logging.getLogger(__name__)

#: Marks an encrypted value (format version 1); anything else in an encrypted column is plaintext.
PREFIX = "ow1:"
#: Meta key set once every plaintext value of the database has been encrypted.
CONVERTED_KEY = "data_at_rest"
_HKDF_INFO = b"onewindow/node/columns/v1"
_DIALECT_ATTRIBUTE = "onewindow_column_cipher"


class DataAtRestError(Exception):
    """An encrypted column cannot be read or written; the message says why (for the node admin)."""


class ColumnCipher:
    """AES-256-GCM for column values, under a key derived from the node data key."""

    def __init__(self, data_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(data_key)
        self._aead = AESGCM(key)

    def encrypt(self, value: str, where: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), where.encode("ascii"))
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, stored: str, where: str) -> str:
        if not stored.startswith(PREFIX):
            raise DataAtRestError(f"{where}：数据库里有未加密的值（数据库未经转换？请用节点程序打开一次）")
        try:
            raw = base64.b64decode(stored[len(PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], where.encode("ascii")).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise DataAtRestError(
                f"{where}：无法用本节点的数据密钥解密（密钥目录和数据目录不是同一个节点的？）"
            ) from exc

    def opens(self, stored: str, where: str) -> bool:
        """Whether `stored` is a value this cipher encrypted for `where`."""
        try:
            self.decrypt(stored, where)
        except DataAtRestError:
            return False
        return True


def id_number_hash(number: str, key: bytes) -> str:
    """What is kept instead of an ID number: HMAC-SHA-256 under the node's data key (upper-case X, no spaces).

    Keyed, because ID numbers are few enough to be guessed back from a plain hash; it only has to match
    within this node (one person, one waiting ticket per category; a swipe finds their appointment; the
    clerk's search finds their cases)."""
    return hmac.new(key, number.strip().upper().encode("utf-8"), hashlib.sha256).hexdigest()


def attach_data_key(engine: Any, data_key: bytes) -> None:
    """Let `engine` (sync or async) read and write encrypted columns with this node's data key."""
    sync_engine = getattr(engine, "sync_engine", engine)
    setattr(sync_engine.dialect, _DIALECT_ATTRIBUTE, ColumnCipher(data_key))


def _cipher(dialect: Dialect) -> ColumnCipher:
    cipher: ColumnCipher | None = getattr(dialect, _DIALECT_ATTRIBUTE, None)
    if cipher is None:
        raise DataAtRestError("数据库没有用节点数据密钥打开，不能读写加密列（Database(..., data_key=…)）")
    return cipher


class EncryptedString(TypeDecorator[str]):
    """A string column stored encrypted (``VARCHAR`` in the schema, like the plain column it replaces)."""

    impl: TypeEngine[Any] | type[TypeEngine[Any]] = AutoString
    cache_ok = True

    def __init__(self, where: str) -> None:
        super().__init__()
        #: ``table.column``: the associated data of every value (kept when a column is renamed).
        self.where = where

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _cipher(dialect).encrypt(str(value), self.where)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _cipher(dialect).decrypt(str(value), self.where)

    class Comparator(TypeDecorator.Comparator[str]):
        """Only ``IS NULL`` / ``IS NOT NULL``: equality, LIKE or ORDER BY on ciphertext would be wrong silently."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op in (operators.is_, operators.is_not) or (
                op in (operators.eq, operators.ne) and other and other[0] is None
            ):
                return super().operate(op, *other, **kwargs)
            where = getattr(self.type, "where", "?")
            raise TypeError(f"{where} is encrypted at rest: it cannot be compared, searched or sorted in SQL")

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            where = getattr(self.type, "where", "?")
            raise TypeError(f"{where} is encrypted at rest: it cannot be compared, searched or sorted in SQL")

    comparator_factory = Comparator


class EncryptedText(EncryptedString):
    """A text column stored encrypted (``TEXT`` in the schema)."""

    impl = Text
    cache_ok = True


def encrypted_columns(metadata: MetaData) -> list[tuple[str, str, str]]:
    """(table, column, associated data) of every encrypted column."""
    return [
        (table.name, column.name, column.type.where)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedString)
    ]


def encrypt_plaintext_rows(db_path: Path, data_key: bytes, metadata: MetaData, *, batch: int = 2000) -> int:
    """Encrypt in place every plaintext value of the encrypted columns, once per database (a meta row records
    it); returns how many values were encrypted. Run after migrating and before the engines open."""
    cipher = ColumnCipher(data_key)
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        done = db.execute("SELECT value FROM meta WHERE key = ?", (CONVERTED_KEY,)).fetchone()
        if done is not None:
            return 0
        db.execute("PRAGMA secure_delete=ON")  # what the updates free is zeroed, not left behind
        db.execute("BEGIN IMMEDIATE")
        converted = 0
        for table, column, where in encrypted_columns(metadata):
            last = 0
            while True:
                rows = db.execute(
                    f'SELECT rowid, "{column}" FROM "{table}" WHERE rowid > ? AND "{column}" IS NOT NULL '
                    "ORDER BY rowid LIMIT ?",
                    (last, batch),
                ).fetchall()
                if not rows:
                    break
                last = rows[-1][0]
                updates = [
                    (cipher.encrypt(str(value), where), rowid)
                    for rowid, value in rows
                    if not (
                        isinstance(value, str) and value.startswith(PREFIX) and cipher.opens(value, where)
                    )
                ]
                db.executemany(f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = ?', updates)
                converted += len(updates)
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (CONVERTED_KEY, PREFIX))
        db.execute("COMMIT")
        if converted:
            log.info("%s: encrypted %d sensitive values at rest", db_path, converted)
        try:
            # Rebuild the file (free pages and slack of earlier versions held plaintext), then empty the WAL.
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning(
                "%s: could not vacuum after encrypting (%s); old plaintext may remain in free pages until a "
                "VACUUM succeeds",
                db_path,
                exc,
            )
        return converted
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()
