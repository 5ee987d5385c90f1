"""Canonical encoding: the one byte form of a JSON value that hashes and signatures are computed over.

Keys sorted, no insignificant white space, UTF-8, integers only (floats are refused: their text form is not
portable), so node and central always hash the same bytes for the same value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

JsonValue = Any


def _check(value: JsonValue, path: str) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{path}: integer out of 64-bit range")
        return
    if isinstance(value, float):
        raise ValueError(f"{path}: floats are not allowed in canonical values")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: object keys must be strings")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")


def _valid(value: JsonValue) -> bool:
    """The same rules as `_check`, without building a path for every element (the hot path: every event's
    content hash); `_check` runs only to say where a value went wrong."""
    kind = type(value)
    if value is None or kind is str or kind is bool:
        return True
    if kind is int:
        return bool(-(2**63) <= value < 2**63)
    if kind is dict:
        return all(type(k) is str and _valid(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_valid(v) for v in value)
    return False


def canonical_json(value: JsonValue) -> bytes:
    """Encode a JSON-compatible value canonically."""
    if not _valid(value):
        _check(value, "$")  # raises with the path of the first offending element
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def parse_json(data: bytes | str) -> JsonValue:
    """Parse JSON strictly: no NaN/Infinity, no duplicate keys."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, item in pairs:
            if key in result:
                raise ValueError(f"duplicate key {key!r}")
            result[key] = item
        return result

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    return json.loads(data, object_pairs_hook=no_duplicates, parse_constant=no_constants)
