"""Result documents (issue 17): the wording follows the item's type (行政许可 → 准予/不予行政许可决定书; 行政给付,
行政确认, 公共服务 → 办理结果通知书 without a word of 「许可」), dates are written in Chinese numerals, a denial
carries the appeal rights (60 days / 6 months), the e-licence page carries its identifier. Read back with
poppler's pdftotext, as an applicant's PDF reader would."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest

from common.documents.pdf import render_pdf, written_date
from common.documents.results import decision_document, issues_licence, licence_document
from protocol.events import APPROVED, DENIED, CaseState, Decision
from protocol.identifiers import licence_identifier
from tests.support import require_tool

TOWN = "11220581MB0155125F"


def _state(outcome: str, reason: str, item: str = "农村宅基地申请") -> CaseState:
    return CaseState(
        case_id="c",
        status=APPROVED if outcome == "approve" else DENIED,
        case_number="11220581MB0155125F5000100201000202612010001",
        centre_name="测试1号便民服务中心",
        item_name=item,
        applicant={"name": "李四", "cert_type": "111", "cert_number": "11010519491231002X"},
        accepted_at="2026-12-01T01:00:00Z",
        decision=Decision(outcome, reason, "梅河口市民政局", "civil_a", "2026-12-05T02:00:00Z"),
    )


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "result.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([require_tool("pdftotext"), str(path), "-"], capture_output=True, check=True)
    return "".join(out.stdout.decode("utf-8").split())  # lines wrap anywhere in Chinese text


def test_dates_are_written_in_chinese_numerals() -> None:
    assert written_date(date(2026, 12, 5)) == "二〇二六年十二月五日"
    assert written_date(date(2027, 1, 20)) == "二〇二七年一月二十日"
    assert written_date(date(2026, 10, 31)) == "二〇二六年十月三十一日"
    assert written_date(date(2026, 11, 10)) == "二〇二六年十一月十日"


def test_a_licence_denial_names_the_licensing_decision_and_the_appeal_rights(tmp_path: Path) -> None:
    doc = decision_document(
        _state("deny", "申请人已有宅基地"),
        item_type="01",
        county_name="梅河口市",
        number="梅河口市不许字〔2026〕第0001号",
    )
    text = _text(render_pdf(doc), tmp_path)
    assert "不予行政许可决定书" in text
    assert "决定不予行政许可。理由：申请人已有宅基地。" in text
    assert "二〇二六年十二月五日" in text and "二〇二六年十二月一日" in text  # decided, accepted
    assert "六十日内向梅河口市人民政府申请行政复议" in text and "六个月内依法向人民法院提起行政诉讼" in text
    assert "2026年12月5日" not in text


@pytest.mark.parametrize(
    ("item_type", "item", "approved", "denied"),
    [
        ("05", "最低生活保障申请", "决定予以给付", "决定不予给付"),
        ("07", "某项确认登记", "决定予以确认", "决定不予确认"),
        ("20", "城乡居民基本养老保险参保登记", "申请已办结", "决定不予办理"),
    ],
)
def test_other_item_types_get_a_result_notice_without_licensing_words(
    tmp_path: Path, item_type: str, item: str, approved: str, denied: str
) -> None:
    approval = _text(
        render_pdf(
            decision_document(
                _state("approve", "", item),
                item_type=item_type,
                county_name="梅河口市",
                number="梅河口市办结字〔2026〕第0001号",
            )
        ),
        tmp_path,
    )
    assert "办理结果通知书" in approval and approved in approval
    assert "许可" not in approval and "行政复议" not in approval
    assert "二〇二六年十二月五日" in approval
    denial = _text(
        render_pdf(
            decision_document(
                _state("deny", "家庭人均收入高于当地低保标准。", item),
                item_type=item_type,
                county_name="梅河口市",
                number="梅河口市不予字〔2026〕第0002号",
            )
        ),
        tmp_path,
    )
    assert "办理结果通知书" in denial and f"{denied}。理由：家庭人均收入高于当地低保标准。" in denial
    assert "许可" not in denial
    assert "六十日内" in denial and "行政复议" in denial and "六个月内" in denial and "行政诉讼" in denial


def test_the_e_licence_page_carries_its_identifier_and_the_holder(tmp_path: Path) -> None:
    identifier = licence_identifier(TOWN + "001", TOWN, "202600000007")
    assert (
        issues_licence("01")
        and issues_licence("07")
        and not issues_licence("05")
        and not issues_licence("20")
    )
    text = _text(
        render_pdf(
            licence_document(
                _state("approve", ""),
                identifier=identifier,
                licence_name="农村宅基地申请准予许可证明",
                issuer="梅河口市山城镇人民政府",
                issued_on=date(2026, 12, 5),
            )
        ),
        tmp_path,
    )
    assert "电子证照" in text and identifier in text and "李四" in text
    assert "110105********002X" in text and "11010519491231002X" not in text
    assert "二〇二六年十二月五日" in text
