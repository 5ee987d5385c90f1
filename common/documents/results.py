"""The wording of result documents (办理结果文书), shared by central (a department's decision) and the node (a
lead's on-the-spot decision of a 即办件), so the applicant gets the same document whoever decided.

What the document is called and says follows the item's type (事项类型, GB/T 39046 A.1):

- 行政许可 (01): 准予行政许可决定书 / 不予行政许可决定书, citing 行政许可法 art. 38;
- 行政给付 (05): 办理结果通知书 — 予以给付 / 不予给付 (a subsidy is never a 「许可」);
- 行政确认 (07): 办理结果通知书 — 予以确认 / 不予确认;
- 公共服务 (20) and any other type: 办理结果通知书 — 已办结 / 不予办理.

A denial states its reasons and the appeal rights (行政复议 within 60 days, 行政诉讼 within 6 months). Dates are
written in Chinese numerals (二〇二六年十二月五日) and the seal's place is marked as on the node's notices. An item
of type 行政许可 or 行政确认 issues an e-licence (电子证照) on approval (`issues_licence`), with its own page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from common.documents.model import Fields, OfficialDocument, Paragraph, written_date
from protocol.calendar import CST
from protocol.events import CaseState

LICENSING, BENEFIT, CONFIRMATION = "01", "05", "07"

#: Item types whose approval issues an e-licence (证照): licences and confirmations (登记、认定) certify
#: something the holder shows later; a benefit or a public service does not.
LICENCE_ITEM_TYPES = frozenset({LICENSING, CONFIRMATION})

#: Appeal rights printed on a denial (行政复议法 2023 art. 20; 行政诉讼法 art. 46).
APPEAL_RIGHTS = (
    "如不服本决定，可以自收到本决定书之日起六十日内向{organ}申请行政复议，"
    "或者自收到本决定书之日起六个月内依法向人民法院提起行政诉讼。"
)


@dataclass(frozen=True)
class Wording:
    """How one item type words its result: the title, the decision sentence either way, the seal."""

    approve_title: str
    deny_title: str
    approve: str
    deny: str
    seal: str


WORDINGS = {
    LICENSING: Wording(
        "准予行政许可决定书",
        "不予行政许可决定书",
        "经审查，你（单位）的申请符合法定条件、标准，根据《中华人民共和国行政许可法》第三十八条第一款的规定，"
        "决定准予行政许可。",
        "经审查，根据《中华人民共和国行政许可法》第三十八条第二款的规定，决定不予行政许可。",
        "行政许可专用章",
    ),
    BENEFIT: Wording(
        "办理结果通知书",
        "办理结果通知书",
        "经审核，你（单位）符合给付条件，决定予以给付。",
        "经审核，决定不予给付。",
        "业务专用章",
    ),
    CONFIRMATION: Wording(
        "办理结果通知书",
        "办理结果通知书",
        "经审核，你（单位）的申请符合条件，决定予以确认。",
        "经审核，决定不予确认。",
        "业务专用章",
    ),
}
SERVICE = Wording(
    "办理结果通知书",
    "办理结果通知书",
    "经审核，你（单位）的申请已办结。",
    "经审核，决定不予办理。",
    "业务专用章",
)


def wording_of(item_type: str) -> Wording:
    """The wording of an item type's result (公共服务 and any type without its own: 已办结 / 不予办理)."""
    return WORDINGS.get(item_type, SERVICE)


def issues_licence(item_type: str) -> bool:
    """Whether an approval of an item of this type issues an e-licence."""
    return item_type in LICENCE_ITEM_TYPES


def local_day(iso: str) -> date:
    """The China-time calendar day of an ISO timestamp (``…Z`` or with an offset)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(CST).date()


def _sentence(text: str) -> str:
    text = text.strip().rstrip("。.；;， ")
    return f"{text}。" if text else ""


def masked(cert_type: str, number: str) -> str:
    """A certificate number with the middle hidden, as on every document the applicant carries around."""
    if cert_type in ("111", "112") and len(number) == 18:
        return f"{number[:6]}********{number[14:]}"
    if len(number) > 8:
        return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}"
    return number


def decision_document(
    state: CaseState,
    *,
    item_type: str,
    county_name: str,
    number: str,
    licence: str = "",
    reconsideration_organ: str = "",
) -> OfficialDocument:
    """The result document of a decided case as a document for the shared engine: the decision worded by the
    item's type, the case's particulars, the e-licence identifier on an approval, the appeal rights on a
    denial."""
    assert state.decision is not None
    wording = wording_of(item_type)
    approve = state.decision.outcome == "approve"
    applicant = str(state.applicant.get("name", ""))
    reason = _sentence(state.decision.reason)
    decided_on = local_day(state.decision.decided_at)
    accepted = written_date(local_day(state.accepted_at)) if state.accepted_at else ""
    opening = f"你（单位）于{accepted}提出的“{state.item_name}”申请，本机关已依法受理。" if accepted else ""
    if approve:
        body = opening + wording.approve + (f"审查意见：{reason}" if reason else "")
    else:
        body = opening + wording.deny + (f"理由：{reason}" if reason else "")
    rows = [
        ("申请人", applicant),
        ("办件编号", state.case_number),
        ("申请事项", state.item_name),
        ("受理机构", state.centre_name),
        ("受理日期", accepted),
        ("决定机关", state.decision.department),
        ("决定日期", written_date(decided_on)),
    ]
    if licence:
        rows.append(("电子证照标识（GB/T 36904）", licence))
    blocks: list[Paragraph | Fields] = [
        Paragraph(body),
        Fields(rows=tuple((k, v or "—") for k, v in rows)),
    ]
    if not approve:
        organ = reconsideration_organ or f"{county_name}人民政府"
        blocks.append(Paragraph(APPEAL_RIGHTS.format(organ=organ)))
    return OfficialDocument(
        title=wording.approve_title if approve else wording.deny_title,
        number=number,
        issuer=state.decision.department,
        issued_on=decided_on,
        written_date=written_date(decided_on),
        blocks=tuple(blocks),
        addressee=f"{applicant}：",
        qr_payload=state.case_number,
        qr_caption=f"办件编号 {state.case_number}",
        seal=wording.seal,
    )


def licence_document(
    state: CaseState,
    *,
    identifier: str,
    licence_name: str,
    issuer: str,
    issued_on: date,
) -> OfficialDocument:
    """The e-licence (电子证照) of an approved case as a printable page: its GB/T 36904 identifier (also in the
    QR code, for checking), the holder and what it licenses."""
    applicant = state.applicant
    cert = masked(str(applicant.get("cert_type", "")), str(applicant.get("cert_number", "")))
    rows = (
        ("证照名称", licence_name),
        ("证照标识", identifier),
        ("持证人", str(applicant.get("name", ""))),
        ("持证人证件号码", cert or "—"),
        ("许可（确认）事项", state.item_name),
        ("办件编号", state.case_number),
        ("发证机关", issuer),
        ("发证日期", written_date(issued_on)),
    )
    return OfficialDocument(
        title="电子证照",
        number="",
        issuer=issuer,
        issued_on=issued_on,
        written_date=written_date(issued_on),
        blocks=(
            Fields(rows=rows),
            Paragraph("本证照由发证机关依法签发，与纸质证照具有同等法律效力；扫描二维码可核验证照标识。"),
        ),
        qr_payload=identifier,
        qr_caption="证照标识",
        seal="电子证照专用章",
    )
