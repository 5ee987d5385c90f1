"""Result documents: the denial states its reasons and the appeal rights (60 days / 6 months, never the old
three months); the approval carries the e-licence identifier. Read back with poppler's pdftotext."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

from common.documents.pdf import render_pdf
from common.documents.results import decision_document
from protocol.events import APPROVED, DENIED, CaseState, Decision
from protocol.identifiers import licence_identifier, parse_licence_identifier
from tests.support import require_tool

TOWN = "11220581MB0155125F"


def _state(outcome: str, reason: str) -> CaseState:
    return CaseState(
        case_id="c",
        status=APPROVED if outcome == "approve" else DENIED,
        case_number="11220581MB0155125F5000100201000202609220001",
        centre_name="测试1号便民服务中心",
        item_name="农村宅基地申请",
        applicant={"name": "李四"},
        accepted_at="2026-09-22T01:00:00Z",
        decision=Decision(outcome, reason, "梅河口市山城镇人民政府", "town_a", "2026-10-21T01:00:00Z"),
    )


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "result.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([require_tool("pdftotext"), str(path), "-"], capture_output=True, check=True)
    return "".join(out.stdout.decode("utf-8").split())  # lines wrap anywhere in Chinese text


def test_a_denial_states_reasons_and_appeal_rights(tmp_path: Path) -> None:
    text = _text(
        render_pdf(
            decision_document(
                _state("deny", "申请人已有宅基地。"),
                item_type="01",
                county_name="梅河口市",
                number="梅河口市不许字〔2026〕第0001号",
            )
        ),
        tmp_path,
    )
    assert "不予行政许可决定书" in text and "梅河口市不许字〔2026〕第0001号" in text
    assert "理由：申请人已有宅基地。" in text  # one full stop, not two
    assert "六十日内向梅河口市人民政府申请行政复议" in text and "六个月内依法向人民法院提起行政诉讼" in text
    assert "三个月" not in text


def test_an_approval_carries_the_licence_identifier(tmp_path: Path) -> None:
    identifier = licence_identifier(TOWN + "001", TOWN, "202600000001")
    parse_licence_identifier(identifier)
    text = _text(
        render_pdf(
            decision_document(
                _state("approve", ""),
                item_type="01",
                county_name="梅河口市",
                number="梅河口市准许字〔2026〕第0001号",
                licence=identifier,
            )
        ),
        tmp_path,
    )
    assert "准予行政许可决定书" in text and "决定准予行政许可" in text
    assert identifier in text
    assert "行政复议" not in text


KNOWN_GOOD = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"  # domain-facts §6


def _reason(identifier: str) -> str | None:
    try:
        parse_licence_identifier(identifier)
    except ValueError as exc:
        return str(exc)
    return None


def test_known_good_identifier_and_every_corruption_of_it_is_detected() -> None:
    """Every single-character substitution and every swap of two adjacent different characters is refused: in
    the serial (where any letter or digit is well-formed) by the ISO 7064 MOD 37,36 check character itself;
    elsewhere by it or first by the version's format or the GB 32100 check of a credit code."""
    assert parse_licence_identifier(KNOWN_GOOD).check_char == "U"
    root = "1.2.156.3005.2."
    body = KNOWN_GOOD[len(root) :]
    serial = range(body.index("20230000403"), body.index("20230000403") + len("20230000403"))
    positions = [i for i, c in enumerate(body[:-2]) if c != "."]
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    variants = [(i, body[:i] + c + body[i + 1 :]) for i in positions for c in alphabet if c != body[i]]
    variants += [
        (i, body[:i] + body[j] + body[i] + body[j + 1 :])
        for i, j in itertools.pairwise(positions)
        if j == i + 1 and body[i] != body[j]
    ]
    assert len(variants) > 1800  # 53 characters × 35 substitutions, and the swaps
    for i, variant in variants:
        reason = _reason(root + variant)
        assert reason is not None, variant
        if i in serial:  # any letter or digit is a well-formed serial
            assert reason.startswith("校验位错误"), (variant, reason)
