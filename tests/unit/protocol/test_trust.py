"""County key statements (protocol/trust.py): a node follows the county's generations one after another, and
nothing else extends its trust: not a stranger's key, not a statement without the new key's signature, not a
retired generation whose private key leaked."""

from __future__ import annotations

import pytest

from protocol.errors import OneWindowError
from protocol.keys import AgeIdentity, SigningKey
from protocol.trust import KeyRing, follow_statements, make_statement


def _statement(generation: int, previous: SigningKey, new: SigningKey) -> dict[str, object]:
    recipient = AgeIdentity.generate().recipient
    return make_statement(
        generation=generation, previous=previous, new=new, age_recipient=recipient, issued_at="2026-12-02"
    ).to_dict()


def test_a_node_follows_generations_in_order_even_several_behind() -> None:
    g1, g2, g3 = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    ring, newest = follow_statements(
        KeyRing((g1.verify_key,)), [_statement(3, g2, g3), _statement(2, g1, g2)]
    )
    assert newest is not None and newest.generation == 3
    assert ring.keys == (g3.verify_key, g2.verify_key, g1.verify_key)
    again, none = follow_statements(ring, [_statement(2, g1, g2)])  # already known: nothing changes
    assert again == ring and none is None


def test_a_retired_key_cannot_announce_a_new_generation() -> None:
    g1, g2, evil = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    ring, _ = follow_statements(KeyRing((g1.verify_key,)), [_statement(2, g1, g2)])
    with pytest.raises(OneWindowError) as refused:
        follow_statements(ring, [_statement(3, g1, evil)])  # g1 leaked after the rotation
    assert refused.value.field == "previous_sign_key"


def test_a_stranger_or_half_signed_statement_is_refused() -> None:
    g1, g2, stranger = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    ring = KeyRing((g1.verify_key,))
    with pytest.raises(OneWindowError):
        follow_statements(ring, [_statement(2, stranger, g2)])
    half = _statement(2, g1, g2)
    half["by_new"] = _statement(2, g1, stranger)["by_new"]
    with pytest.raises(OneWindowError) as refused:
        follow_statements(ring, [half])
    assert refused.value.field == "by_new"
