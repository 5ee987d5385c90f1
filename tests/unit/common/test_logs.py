"""The one-line log format and its redaction guard (issue 21): whatever a call site or a library puts in a record —
message, arguments, fields, traceback — the line holds no ID number, phone or password, and stays one line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.logs import configure_logging, log_event, redact
from protocol.identifiers import resident_id_check_char

FIRST17 = "22058119900307123"
ID_NUMBER = FIRST17 + resident_id_check_char(FIRST17)
PHONE = "13912345678"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", "kv", stream=stream)
    try:
        yield stream
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "_onewindow_handler", False)]:
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)


def test_redact_masks_id_numbers_phones_and_secrets_but_not_hashes_or_ids() -> None:
    assert redact(f"身份证{ID_NUMBER}，电话{PHONE}") == "身份证***，电话***"
    assert redact("cert=11010519491231002X phone=+86 13800138000") == "cert=*** phone=***"
    assert redact('password=hunter22 {"passphrase": "open sesame"}') == 'password=*** {"passphrase": ***}'
    # Ids, hashes and counts with long digit runs inside them are left alone.
    kept = (
        "node=01a249a3-4720-7aec-afa3-4b47f151e493 hash=ab220581199003071234cd seq=13912345 ms=139123456789"
    )
    assert redact(kept) == kept


def test_every_part_of_a_record_is_masked_and_the_line_stays_one(captured: io.StringIO) -> None:
    log = logging.getLogger("onewindow.test")
    log.warning("applicant %s called from %s", ID_NUMBER, PHONE)
    log_event(log, "case_note", name="王秀英", phone=PHONE, note=f"证件 {ID_NUMBER}", count=3, ok=True)
    try:
        raise ValueError(f"bad cert {ID_NUMBER} for {PHONE}")
    except ValueError:
        log.exception("failed with password=letmein")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 3  # the traceback too is inside its one line
    text = captured.getvalue()
    for secret in (ID_NUMBER, PHONE, "王秀英", "letmein"):
        assert secret not in text
    assert lines[1].split(" ", 3)[3] == 'event=case_note name=*** phone=*** note="证件 ***" count=3 ok=true'
    assert "traceback=" in lines[2] and "ValueError: bad cert ***" in lines[2] and "\\n" in lines[2]


def test_json_format_and_level_setting() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", "json", stream=stream)
    try:
        log = logging.getLogger("onewindow.test")
        log_event(log, "quiet", n=1)  # below the level
        log_event(log, "loud", level=logging.ERROR, phone=PHONE, n=2)
        (line,) = stream.getvalue().splitlines()
        record = json.loads(line)
        assert record["event"] == "loud" and record["level"] == "error" and record["n"] == 2
        assert record["phone"] == "***"
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "_onewindow_handler", False)]:
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
    with pytest.raises(ValueError, match="ONEWINDOW_LOG_LEVEL"):
        configure_logging("LOUD")
    with pytest.raises(ValueError, match="ONEWINDOW_LOG_FORMAT"):
        configure_logging("INFO", "xml")


def test_a_misspelt_log_setting_stops_the_cli_naming_it(tmp_path: Path) -> None:
    for app, variable, value in (
        ("node", "ONEWINDOW_LOG_LEVEL", "LOUD"),
        ("central", "ONEWINDOW_LOG_FORMAT", "xml"),
    ):
        args = ["import", str(tmp_path / "f"), "--data", str(tmp_path)]
        if app == "central":
            args += ["--out", str(tmp_path / "o"), "--county-dir", str(tmp_path)]
        done = subprocess.run(
            [sys.executable, "-m", app, *args],
            env={**os.environ, variable: value},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2 and variable in done.stderr and value in done.stderr, done.stderr
        assert not any(tmp_path.iterdir())  # nothing started, nothing written
