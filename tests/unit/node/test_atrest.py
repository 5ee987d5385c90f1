"""Data at rest on the node (R-SEC-1): the key directory is beside the data directory, never inside it; sensitive
columns are encrypted with the data key (and readable only with it); a database an older version wrote in
plaintext is encrypted in place on its first open, leaving no plaintext in the file."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

import pytest
from sqlmodel import col, select

from node.db import Database, migrate
from node.intake.hall.models import Appointment
from node.models import CaseEvent, NodeTable
from node.settings import NodeSettings
from node.trust.atrest import PREFIX, ColumnCipher, DataAtRestError, encrypt_plaintext_rows
from node.trust.identity import default_key_dir, is_inside, keys_dir, legacy_key_dir

ID_NUMBER = "11010519491231002X"
PHONE = "13912345678"


def test_the_key_directory_is_beside_the_data_directory_not_inside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_key_dir(Path("/var/lib/onewindow/node")) == Path("/var/lib/onewindow/node-keys")
    assert default_key_dir(Path("/var/lib/onewindow/node/")) == Path("/var/lib/onewindow/node-keys")
    data = tmp_path / "node"
    assert not is_inside(default_key_dir(data), data)
    assert is_inside(legacy_key_dir(data), data)
    settings = NodeSettings(data_dir=data)
    assert settings.key_dir is None and keys_dir(data, settings.key_dir) == tmp_path / "node-keys"
    # Relative paths too (the CLI takes what the admin typed).
    monkeypatch.chdir(tmp_path)
    assert not is_inside(default_key_dir(Path("node")), Path("node"))
    assert NodeSettings.from_env(
        {"ONEWINDOW_NODE_DATA": "d", "ONEWINDOW_NODE_KEYS": "/mnt/usb/keys"}
    ).key_dir == (Path("/mnt/usb/keys"))


def test_keys_left_in_the_old_place_are_still_found(tmp_path: Path) -> None:
    data = tmp_path / "node"
    (data / "keys").mkdir(parents=True)
    (data / "keys" / "data.key").write_text("00" * 32)
    assert keys_dir(data) == data / "keys"  # the old layout, while nothing is beside
    default_key_dir(data).mkdir()
    (default_key_dir(data) / "data.key").write_text("00" * 32)
    assert keys_dir(data) == tmp_path / "node-keys"  # once moved, the new place wins
    assert keys_dir(data, tmp_path / "elsewhere") == tmp_path / "elsewhere"


def test_a_column_value_opens_only_with_its_key_and_in_its_column() -> None:
    key = os.urandom(32)
    stored = ColumnCipher(key).encrypt(ID_NUMBER, "event.payload")
    assert stored.startswith(PREFIX) and ID_NUMBER not in stored
    assert ColumnCipher(key).encrypt(ID_NUMBER, "event.payload") != stored  # a fresh nonce every time
    assert ColumnCipher(key).decrypt(stored, "event.payload") == ID_NUMBER
    with pytest.raises(DataAtRestError, match="无法用本节点的数据密钥解密"):
        ColumnCipher(os.urandom(32)).decrypt(stored, "event.payload")
    with pytest.raises(DataAtRestError):
        ColumnCipher(key).decrypt(stored, "case.applicant_name")  # moved to another column
    with pytest.raises(DataAtRestError, match="未加密"):
        ColumnCipher(key).decrypt(ID_NUMBER, "event.payload")


def test_an_encrypted_column_cannot_be_searched_in_sql() -> None:
    with pytest.raises(TypeError, match="encrypted at rest"):
        col(CaseEvent.payload).contains('"passed":false')
    with pytest.raises(TypeError, match="encrypted at rest"):
        _ = Appointment.phone == PHONE
    with pytest.raises(TypeError, match="encrypted at rest"):
        col(Appointment.name).desc()
    select(CaseEvent).where(col(CaseEvent.payload).is_not(None))  # presence is fine


def _plaintext_database(path: Path) -> None:
    """A database as the version before encryption at rest wrote it (and a deleted row left in free space)."""
    migrate(path)
    with sqlite3.connect(path) as db:
        payload = json.dumps({"applicant": {"cert_number": ID_NUMBER, "phone": PHONE}, "pad": "x" * 3000})
        for n in range(3):
            db.execute(
                "INSERT INTO event (id, case_id, type, authority, actor, hlc, payload, schema_version,"
                " content_hash, origin) VALUES (?, 'c1', 'case.received', 'n', 'clerk', ?, ?, 1, 'h', 'local')",
                (f"e{n}", n, payload),
            )
        db.execute(
            "INSERT INTO appointment (id, category, day, slot_start, name, phone, status, booked_at)"
            " VALUES ('a1', 'A', '2026-12-03', '09:00', '张三', ?, 'booked', 'now')",
            (PHONE,),
        )
        db.execute("DELETE FROM event WHERE id = 'e2'")


def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_a_plaintext_database_is_encrypted_in_place_on_first_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "node.db"
    _plaintext_database(path)
    assert ID_NUMBER.encode() in _file_bytes(path)
    key = os.urandom(32)
    with caplog.at_level(logging.INFO, logger="node.trust.atrest"):
        assert encrypt_plaintext_rows(path, key, NodeTable.metadata) == 2 * 1 + 2  # 2 payloads, name, phone
    assert "encrypted 4 sensitive values" in caplog.text
    data = _file_bytes(path)
    for secret in (ID_NUMBER.encode(), PHONE.encode(), "张三".encode()):
        assert secret not in data  # not in the rows, nor in free pages (the deleted row), nor in a WAL
    assert encrypt_plaintext_rows(path, key, NodeTable.metadata) == 0  # once per database

    db = Database(path, data_key=key)
    try:
        async with db.read() as session:
            events = (await session.exec(select(CaseEvent).order_by(col(CaseEvent.hlc)))).all()
            appointment = await session.get(Appointment, "a1")
        assert [json.loads(e.payload)["applicant"]["cert_number"] for e in events] == [ID_NUMBER] * 2
        assert appointment is not None and (appointment.name, appointment.phone) == ("张三", PHONE)
        async with db.write() as session:
            appointment.phone = "13800000000"
            session.add(appointment)
    finally:
        await db.close()
    with sqlite3.connect(path) as raw:
        stored = raw.execute("SELECT phone FROM appointment").fetchone()[0]
    assert stored.startswith(PREFIX) and "13800000000" not in stored

    # Without the key, or with another node's, nothing is read.
    for other in (None, os.urandom(32)):
        db = Database(path, data_key=other)
        try:
            with pytest.raises(DataAtRestError):
                async with db.read() as session:
                    await session.get(Appointment, "a1")
        finally:
            await db.close()
