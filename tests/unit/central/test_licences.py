"""Result documents: the denial states its reasons and the appeal rights (60 days / 6 months, never the old
three months); the approval carries the e-licence identifier. Read back with poppler's pdftotext."""

from __future__ import annotations

import subprocess
from pathlib import Path

from central.licences import result_pdf
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
        result_pdf(
            _state("deny", "申请人已有宅基地。"),
            county_name="梅河口市",
            number="梅河口市不许字〔2026〕第0001号",
        ),
        tmp_path,
    )
    assert "不予许可决定书" in text and "梅河口市不许字〔2026〕第0001号" in text
    assert "理由：申请人已有宅基地。" in text  # one full stop, not two
    assert "六十日内向梅河口市人民政府申请行政复议" in text and "六个月内依法向人民法院提起行政诉讼" in text
    assert "三个月" not in text


def test_an_approval_carries_the_licence_identifier(tmp_path: Path) -> None:
    identifier = licence_identifier(TOWN + "001", TOWN, "202600000001")
    parse_licence_identifier(identifier)
    text = _text(
        result_pdf(
            _state("approve", ""),
            county_name="梅河口市",
            number="梅河口市准许字〔2026〕第0001号",
            licence=identifier,
        ),
        tmp_path,
    )
    assert "准予许可决定书" in text and "决定准予许可" in text
    assert identifier in text
    assert "行政复议" not in text
