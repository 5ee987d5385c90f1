"""Structured logs for both apps (issue 21): one line per event on stderr, ``key=value`` (logfmt) or JSON, so
journald (which stamps, stores and rotates what a unit writes) keeps each event whole and ``journalctl -u …
--grep`` finds it; the level from a setting (``ONEWINDOW_LOG_LEVEL``).

`log_event` is how code says that something happened: an event name and fields, e.g.
``log_event(log, "sync_round", ok=True, pushed=3, duration_ms=120)`` →
``ts=… level=info logger=onewindow.node.sync event=sync_round ok=true pushed=3 duration_ms=120``.

No ID number, phone, name or password may reach a log line. Call sites log ids, counts and codes only; as
defence in depth `RedactingFilter` masks whatever slips through: any 18-character 身份证 number, any mainland
mobile number (``1[3-9]`` and nine digits), and the value of any field whose key names a person's data
(``name``, ``phone``, ``id_number``, ``password`` …) — in the message, its arguments, the fields and the
traceback alike. A traceback stays one line: its line breaks are escaped inside one field."""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

#: Environment variables both apps read (through their settings).
LEVEL_ENV = "ONEWINDOW_LOG_LEVEL"
FORMAT_ENV = "ONEWINDOW_LOG_FORMAT"
FORMATS = ("kv", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

#: The attribute of a `LogRecord` that carries an event's fields.
FIELDS = "ow_fields"
MASK = "***"

#: 18-character resident ID number (GB 11643: 17 digits and a digit or X), not inside a longer word or hash.
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
#: Mainland mobile number, not inside a longer word or number.
PHONE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[- ]?)?1[3-9]\d{9}(?![0-9A-Za-z])")
#: ``password=…``, ``"passphrase": "…"`` and the like written into a message.
SECRET_PAIR = re.compile(
    r"(?i)(\"?(?:password|passphrase|passwd|secret|token|authorization)\"?\s*[=:]\s*)(\"[^\"]*\"|[^\s,;&]+)"
)
#: Field keys whose value is always masked, whatever it looks like (a name has no pattern).
SENSITIVE_KEYS = frozenset(
    {
        "name",
        "applicant",
        "applicant_name",
        "agent_name",
        "full_name",
        "id_number",
        "id_no",
        "phone",
        "mobile",
        "address",
        "password",
        "passphrase",
        "secret",
        "token",
        "authorization",
    }
)

#: Record attributes that are not fields: the standard ones, and uvicorn's ANSI-coloured copy of its message.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
    FIELDS,
}


def redact(text: str) -> str:
    """`text` with every ID number, mobile number and ``password=…`` value masked."""
    text = ID_NUMBER.sub(MASK, text)
    text = PHONE.sub(MASK, text)
    return SECRET_PAIR.sub(lambda m: m.group(1) + MASK, text)


def _redact_value(key: str, value: Any) -> Any:
    if key.lower() in SENSITIVE_KEYS and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Masks ID numbers, phones and secrets in a record before any handler formats it (and the value of every
    field whose key names a person's data). Attached to the handler, so every logger's records pass it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the event
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, Mapping):
            setattr(record, FIELDS, {k: _redact_value(k, v) for k, v in fields.items()})
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event's fields: those given to `log_event`, then any ``extra=`` a library passed."""
    fields: dict[str, Any] = dict(getattr(record, FIELDS, None) or {})
    for key, value in vars(record).items():
        if key not in _RESERVED and not key.startswith("_") and key not in fields:
            fields[key] = _redact_value(key, value)
    return fields


def _kv_value(value: Any) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and not any(c in text for c in ' "=\\\n\r\t') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


class OneLineFormatter(logging.Formatter):
    """One line per record: ``ts= level= logger= event=|msg= fields… traceback=`` (kv) or one JSON object."""

    def __init__(self, fmt: str = "kv") -> None:
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"{FORMAT_ENV}={fmt!r}: 应为 kv 或 json")
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        message = record.getMessage()
        key = "event" if getattr(record, FIELDS, None) is not None else "msg"
        line[key] = message
        line.update(_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            line["traceback"] = record.exc_text
        if self.fmt == "json":
            return redact(json.dumps(line, ensure_ascii=False, default=str))
        return redact(" ".join(f"{k}={_kv_value(v)}" for k, v in line.items()))


def log_event(logger: logging.Logger, event: str, /, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event: its name (a short snake_case word) and fields (ids, counts, codes, durations — never a
    person's data)."""
    logger.log(level, event, extra={FIELDS: fields})


_HANDLER_MARK = "_onewindow_handler"


def configure_logging(level: str = "INFO", fmt: str = "kv", *, stream: TextIO | None = None) -> None:
    """Route every logger (ours, uvicorn's, litestar's) to one stderr handler writing one line per event through
    the redacting filter. Idempotent: a second call replaces the handler it installed."""
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"{LEVEL_ENV}={level!r}: 应为 {'、'.join(LEVELS)} 之一")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(OneLineFormatter(fmt))
    root.addHandler(handler)
    root.setLevel(name)
    # Their own handlers would print a second, unstructured line; ours says it once. Access lines come from our
    # request middleware (with an id and the duration), so uvicorn's are off.
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar"):
        logger = logging.getLogger(noisy)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for chatty in (
        "httpx",
        "httpcore",
        "aiosqlite",
        "watchfiles",
        "multipart",
        "asyncio",
        "alembic.runtime.plugins",
    ):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(name)))


def configure_from_env(environ: Mapping[str, str]) -> None:
    """`configure_logging` with ``ONEWINDOW_LOG_LEVEL`` and ``ONEWINDOW_LOG_FORMAT`` (the CLI's commands)."""
    configure_logging(environ.get(LEVEL_ENV) or "INFO", environ.get(FORMAT_ENV) or "kv")
