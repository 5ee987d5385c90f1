"""Unit tests of the protocol's core: canonical encoding, ids, clocks, keys, entries, receipts, bundles, fold."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.canonical import canonical_json, parse_json
from protocol.enrolment import sign_bundle, verify_bundle
from protocol.errors import CATALOGUE, OneWindowError
from protocol.events import (
    CASE_ACCEPTED,
    CASE_DECIDED,
    CASE_RECEIVED,
    Event,
    event_columns,
    event_from_columns,
    fold,
)
from protocol.hlc import HybridClock, physical_ms
from protocol.ids import uuid7
from protocol.keys import AgeIdentity, SigningKey, read_secret_file, write_secret_file
from protocol.log import GENESIS_HASH, LogEntry, Receipt, open_entry, seal_entry, verify_entry
from protocol.passwords import hash_password, verify_password


def test_canonical_json_is_sorted_compact_utf8_and_refuses_floats() -> None:
    assert canonical_json({"b": 1, "a": ["中", True, None]}) == '{"a":["中",true,null],"b":1}'.encode()
    with pytest.raises(ValueError, match="floats"):
        canonical_json({"x": 1.5})
    with pytest.raises(ValueError, match="duplicate"):
        parse_json('{"a":1,"a":2}')
    with pytest.raises(ValueError):
        parse_json('{"a":NaN}')


def test_uuid7_is_version_7_and_sorts_in_creation_order() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert uuid7(now_ms=5) < uuid7(now_ms=10**13)


def test_hlc_never_goes_backwards_when_the_wall_clock_does() -> None:
    wall = itertools.chain([1000, 1000, 500, 400, 2000], itertools.repeat(2000))
    clock = HybridClock(now_ms=lambda: next(wall))
    stamps = [clock.now() for _ in range(5)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    assert physical_ms(stamps[-1]) == 2000
    remote = (10_000 << 16) | 7
    clock.observe(remote)
    assert clock.now() > remote


def test_private_keys_never_show_in_repr_and_round_trip_as_text(tmp_path: Path) -> None:
    key, ident = SigningKey.generate(), AgeIdentity.generate()
    assert key.to_text() not in repr(key) and ident.to_text() not in repr(ident)
    assert SigningKey.from_text(key.to_text()) == key
    assert AgeIdentity.from_text(ident.to_text()).recipient == ident.recipient
    path = tmp_path / "k.key"
    write_secret_file(path, key.to_text())
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_secret_file(path) == key.to_text()
    path.chmod(0o644)
    with pytest.raises(PermissionError):
        read_secret_file(path)


def _entry(seq: int = 1, prev: str = GENESIS_HASH) -> tuple[LogEntry, SigningKey, AgeIdentity]:
    signer, county = SigningKey.generate(), AgeIdentity.generate()
    entry = seal_entry(
        node_id="n1",
        stream="up",
        seq=seq,
        prev_hash=prev,
        kind="events",
        payload={"events": [], "note": "测试"},
        recipients=[county.recipient],
        signer=signer,
    )
    return entry, signer, county


def test_an_entry_verifies_decrypts_and_survives_the_wire() -> None:
    entry, signer, county = _entry()
    again = LogEntry.from_wire(parse_json(canonical_json(entry.to_wire())))
    assert again == entry and again.entry_hash == entry.entry_hash
    verify_entry(again, signer.verify_key)
    assert open_entry(again, [county]) == {"events": [], "note": "测试"}


@pytest.mark.parametrize("field", ["seq", "prev_hash", "kind", "node_id", "ciphertext"])
def test_changing_any_part_of_an_entry_breaks_its_signature(field: str) -> None:
    entry, signer, _ = _entry(seq=2, prev="a" * 64)
    changed = {
        "seq": lambda e: LogEntry(e.node_id, "up", 3, e.prev_hash, e.kind, e.ciphertext, e.signature),
        "prev_hash": lambda e: LogEntry(e.node_id, "up", e.seq, "b" * 64, e.kind, e.ciphertext, e.signature),
        "kind": lambda e: LogEntry(
            e.node_id, "up", e.seq, e.prev_hash, "heartbeat", e.ciphertext, e.signature
        ),
        "node_id": lambda e: LogEntry("n2", "up", e.seq, e.prev_hash, e.kind, e.ciphertext, e.signature),
        "ciphertext": lambda e: LogEntry(
            e.node_id,
            "up",
            e.seq,
            e.prev_hash,
            e.kind,
            e.ciphertext[:-1] + bytes([e.ciphertext[-1] ^ 1]),
            e.signature,
        ),
    }[field](entry)
    with pytest.raises(OneWindowError) as info:
        verify_entry(changed, signer.verify_key)
    assert info.value.code == "OW-1201"


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        ({"seq": 0}, "seq"),
        ({"seq": "1"}, "seq"),
        ({"prev_hash": "xyz"}, "prev_hash"),
        ({"kind": "evil"}, "kind"),
        ({"ciphertext": "***"}, "ciphertext"),
        ({"stream": "sideways"}, "stream"),
        ({"v": 99}, "v"),
    ],
)
def test_malformed_wire_entries_name_the_field(mutation: dict[str, object], field: str) -> None:
    wire = {**_entry()[0].to_wire(), **mutation}
    with pytest.raises(OneWindowError) as info:
        LogEntry.from_wire(wire)
    assert info.value.field == field


def test_receipts_are_deterministic_and_bound_to_their_entry() -> None:
    county = SigningKey.generate()
    receipt = Receipt("n1", "up", 4, "c" * 64, "2026-11-22T08:00:00+00:00").signed(county)
    assert (
        receipt.signature
        == Receipt("n1", "up", 4, "c" * 64, "2026-11-22T08:00:00+00:00").signed(county).signature
    )
    receipt.verify(county.verify_key)
    forged = Receipt("n1", "up", 5, "c" * 64, receipt.received_at, receipt.signature)
    with pytest.raises(OneWindowError):
        forged.verify(county.verify_key)


def test_bundles_refuse_tampering_other_counties_and_expiry() -> None:
    county, other = SigningKey.generate(), SigningKey.generate()
    payload = {
        "county": {"name": "梅河口市", "sign_key": county.verify_key.to_text()},
        "node": {"id": "n"},
        "expires_at": "2026-12-01T00:00:00+00:00",
    }
    data = sign_bundle(payload, county)
    ok = verify_bundle(
        data, expected_county=county.verify_key.fingerprint, now=datetime(2026, 11, 22, tzinfo=UTC)
    )
    assert ok.county_name == "梅河口市"
    with pytest.raises(OneWindowError, match="签名"):
        verify_bundle(data.replace("梅河口市".encode(), "通化县".encode()))
    with pytest.raises(OneWindowError, match="不是本县"):
        verify_bundle(data, expected_county=other.verify_key.fingerprint)
    with pytest.raises(OneWindowError, match="过期"):
        verify_bundle(data, now=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=1))
    # A bundle re-signed by another key that claims to be the county is refused when the county is pinned.
    forged = sign_bundle(
        {**payload, "county": {**payload["county"], "sign_key": other.verify_key.to_text()}}, other
    )
    with pytest.raises(OneWindowError):
        verify_bundle(forged, expected_county=county.verify_key.fingerprint)


def test_error_codes_are_unique_and_numbered() -> None:
    codes = [p.code for p in CATALOGUE]
    assert len(codes) == len(set(codes)) and all(c.startswith("OW-") and len(c) == 7 for c in codes)


def test_passwords_verify_only_with_the_right_password() -> None:
    encoded = hash_password("窗口密码-1")
    assert verify_password("窗口密码-1", encoded)
    assert not verify_password("窗口密码-2", encoded)
    assert not verify_password("x", "garbage")


def _case_events() -> list[Event]:
    case = uuid7()
    received = Event(
        uuid7(),
        case,
        CASE_RECEIVED,
        "node-1",
        "clerk",
        10,
        {"case_number": "N1", "item_code": "I", "applicant": {"name": "张三"}, "received_at": "t0"},
    )
    accepted = Event(
        uuid7(), case, CASE_ACCEPTED, "node-1", "clerk", 20, {"accepted_at": "t1", "promised_days": 5}
    )
    decided = Event(
        uuid7(),
        case,
        CASE_DECIDED,
        "central:d",
        "rev",
        30,
        {"outcome": "approve", "department": "民政局", "decided_at": "t2"},
    )
    return [received, accepted, decided]


def test_an_event_comes_back_whole_from_the_columns_it_is_stored_in() -> None:
    for event in _case_events():
        columns = event_columns(event)
        stored = {name: value for name, value in columns.items() if name != "content_hash"}
        back = event_from_columns(**stored)
        assert back == event and back.content_hash == columns["content_hash"]


def test_the_fold_gives_the_same_state_for_any_order_and_duplicates() -> None:
    events = _case_events()
    expected = fold(events[0].case_id, events)
    assert expected.status == "approved" and not expected.anomalies
    for order in itertools.permutations([*events, events[1]]):
        assert fold(events[0].case_id, order) == expected


def test_the_fold_records_out_of_order_facts_as_anomalies_never_raises() -> None:
    received, accepted, decided = _case_events()
    early = Event(
        decided.id, decided.case_id, decided.type, decided.authority, decided.actor, 15, decided.payload
    )
    state = fold(received.case_id, [received, early, accepted])
    assert (
        state.status == "accepted"
        and len(state.anomalies) == 1
        and "decision in status received" in state.anomalies[0]
    )
    broken = Event(uuid7(), received.case_id, CASE_RECEIVED, "node-1", "clerk", 1, {"nothing": True})
    assert fold(received.case_id, [broken]).anomalies


@given(st.lists(st.sampled_from(range(3)), min_size=1, max_size=8), st.randoms())
def test_fold_is_deterministic_under_shuffles(picks: list[int], rnd: random.Random) -> None:
    events = _case_events()
    chosen = [events[i] for i in picks]
    shuffled = chosen[:]
    rnd.shuffle(shuffled)
    assert fold(events[0].case_id, chosen) == fold(events[0].case_id, shuffled)


_json_leaf = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8)
_payloads = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        _json_leaf,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=8,
    ),
    max_size=5,
)


@given(
    payload=_payloads,
    actor=st.text(max_size=6),
    authority=st.text(min_size=1, max_size=6),
    hlc=st.integers(0, 2**62),
    schema=st.integers(0, 5),
)
def test_the_stored_content_hash_is_the_hash_of_the_whole_event_encoded_once(
    payload: dict[str, object], actor: str, authority: str, hlc: int, schema: int
) -> None:
    """Issue 20: `event_columns` encodes the payload once and builds the event's canonical form around it; the
    hash must be byte for byte the one of `canonical_json(to_dict())`, whatever the payload holds."""
    event = Event(str(uuid.uuid4()), str(uuid.uuid4()), "x.y", authority, actor, hlc, payload, schema)
    assert event_columns(event)["content_hash"] == event.content_hash
