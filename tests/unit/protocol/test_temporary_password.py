"""Temporary passwords (issue 19): no character that reads like another (0/O, 1/l/I), none of punctuation."""

from __future__ import annotations

from central.county.staff import new_password
from protocol.passwords import TEMPORARY_ALPHABET, temporary_password


def test_temporary_passwords_have_no_ambiguous_characters() -> None:
    assert not set("0O1lIio_-") & set(TEMPORARY_ALPHABET)
    made = [temporary_password() for _ in range(500)] + [new_password() for _ in range(100)]
    assert all(len(p) == 12 and set(p) <= set(TEMPORARY_ALPHABET) for p in made)
    assert len(set(made)) == len(made)  # random, not a fixed sequence
    every = set("".join(made))
    assert len(every) > 40  # the whole alphabet is in use
