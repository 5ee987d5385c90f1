"""The audit trail's shared rules: how a request is named, what is never kept, and how the chain shows an edited,
removed or inserted row."""

from __future__ import annotations

from typing import Any

from protocol.audit import (
    GENESIS,
    AuditQuery,
    classify,
    created_object,
    entry_hash,
    login_username,
    object_of,
    query_names,
    verify_chain,
)


def chain(n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    prev = GENESIS
    for i in range(1, n + 1):
        row: dict[str, Any] = {
            "id": i,
            "at": f"2026-12-02T0{i % 10}:00:00.000+00:00",
            "actor": "clerk",
            "role": "window",
            "action": "view",
            "method": "GET",
            "path": f"/cases/c{i}",
            "route": "/cases/{case_id}",
            "query": "",
            "object_type": "case",
            "object_id": f"c{i}",
            "status": 200,
            "client": "10.0.0.5",
            "prev_hash": prev,
        }
        row["entry_hash"] = prev = entry_hash(row)
        rows.append(row)
    return rows


def test_an_intact_chain_verifies_and_names_its_head() -> None:
    rows = chain(5)
    report = verify_chain(rows)
    assert report.intact and report.rows == 5 and report.head == rows[-1]["entry_hash"]
    assert verify_chain([]).intact and verify_chain([]).head == GENESIS


def test_an_edited_row_is_found() -> None:
    rows = chain(5)
    rows[2]["actor"] = "someone-else"
    report = verify_chain(rows)
    assert (report.intact, report.broken_at) == (False, 3)
    assert "被修改" in report.problem


def test_an_edited_row_with_its_hash_recomputed_breaks_the_next_link() -> None:
    rows = chain(5)
    rows[2]["status"] = 403
    rows[2]["entry_hash"] = entry_hash(rows[2])
    assert verify_chain(rows).broken_at == 4


def test_a_removed_row_and_a_renumbered_chain_are_found() -> None:
    rows = chain(5)
    del rows[1]
    assert verify_chain(rows).broken_at == 2
    for i, row in enumerate(rows, start=1):
        row["id"] = i  # renumbering to hide the gap still leaves the link from the row after it broken
    assert verify_chain(rows).broken_at == 2


def test_requests_are_named_by_method_and_route() -> None:
    assert classify("GET", "/cases/{case_id}") == "view"
    assert classify("GET", "/work/{case_id}/result.pdf") == "download"
    assert classify("GET", "/archive/cases/{case_id}/package.zip") == "download"
    assert classify("GET", "/api/v1/archive/{sha256}") == "download"
    assert classify("POST", "/logistics/courier/export") == "export"
    assert classify("POST", "/sync/courier/import") == "import"
    assert classify("POST", "/api/v1/cases") == "create"
    assert classify("POST", "/api/v1/cases/{case_id}/accept") == "update"
    assert classify("DELETE", "/api/v1/cases/{case_id}") == "delete"
    assert object_of({"case_id": "c1", "consult_id": "k9"}) == ("consult", "k9")
    assert object_of({"parcel_id": "p1"}) == ("parcel", "p1")
    assert object_of({}) == ("", "")


def test_query_values_are_never_kept_only_their_names() -> None:
    assert query_names(b"q=11010519491231002X&phone=13800138000&q=x") == "phone,q"
    assert query_names(b"") == ""


def test_the_account_a_login_tried_is_read_from_form_or_json() -> None:
    assert login_username("application/x-www-form-urlencoded", b"username=%E5%BC%A0&password=x") == "张"
    assert login_username("application/json", b'{"username": " clerk ", "password": "x"}') == "clerk"
    assert login_username("application/json", b"not json") == ""


def test_what_a_create_made_comes_from_its_redirect_or_its_answer() -> None:
    assert created_object("/cases/0193abc?new=1", "", b"") == ("case", "0193abc")
    assert created_object("", "application/json", b'{"case_id": "c7", "status": "received"}') == (
        "case",
        "c7",
    )
    assert created_object("/cases", "text/html", b"<html>") == ("", "")


def test_dates_are_the_centres_local_days() -> None:
    start, end = AuditQuery(date_from="2026-12-02", date_to="2026-12-02").utc_bounds()
    assert (start, end) == ("2026-12-01T16:00:00.000+00:00", "2026-12-02T16:00:00.000+00:00")
