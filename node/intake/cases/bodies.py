"""The JSON request bodies of the case API, typed so `/schema` documents every field and a value of the wrong
type is refused by the framework with the field named (OW-1002).

Fields keep the defaults the services expect, so a field left out is refused by the service with its own
catalogued reason (OW-1006 naming the field), exactly as on the forms. Each kind of value is one annotated type
below: a bound on it (length, pattern) is added there, once for every body that carries it.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from protocol.limits import MAX_CODE, MAX_LINE, MAX_LIST, MAX_NAME, MAX_SIGNATURE_FIELD, MAX_TEXT

ItemCode = Annotated[str, Meta(description="事项实施编码（目录中的 31 位编码）", max_length=MAX_CODE)]
MaterialId = Annotated[str, Meta(description="材料项编号（目录中该事项的材料 id）", max_length=MAX_CODE)]
PersonName = Annotated[str, Meta(description="姓名；法人申请时为单位名称", max_length=MAX_NAME)]
CertType = Annotated[
    str,
    Meta(
        description="证件类型代码（GA/T 2000.156，如 111 居民身份证；001 统一社会信用代码）",
        max_length=MAX_CODE,
    ),
]
CertNumber = Annotated[str, Meta(description="证件号码", max_length=MAX_CODE)]
Phone = Annotated[str, Meta(description="联系电话：11 位手机号或带区号的固话", max_length=MAX_CODE)]
Text = Annotated[str, Meta(description="窗口填写的文字", max_length=MAX_TEXT)]
Day = Annotated[str, Meta(description="日期，年-月-日，如 2026-12-01", max_length=MAX_CODE)]
Collection = Annotated[
    str, Meta(description="结果领取方式：window 窗口领取 或 mail 邮寄送达", max_length=MAX_CODE)
]
Png = Annotated[
    str,
    Meta(
        description="平板上手写的签名：PNG 的 base64，或 data:image/png;base64,… 形式",
        max_length=MAX_SIGNATURE_FIELD,
    ),
]
Id = Annotated[str, Meta(description="记录编号（UUID）", max_length=MAX_CODE)]


class ApplicantBody(Struct, kw_only=True):
    """申请人."""

    name: PersonName = ""
    cert_type: CertType = ""
    cert_number: CertNumber = ""
    phone: Phone = ""
    kind: Annotated[
        str, Meta(description="natural_person 自然人 或 legal_person 法人或其他组织", max_length=MAX_CODE)
    ] = ""
    legal_representative: Annotated[PersonName, Meta(description="法定代表人（法人申请）")] = ""
    sex: Annotated[
        str, Meta(description="性别：男/女（读卡时填入，须与身份号码相符）", max_length=MAX_CODE)
    ] = ""
    birth_date: Annotated[Day, Meta(description="出生日期（读卡时填入，须与身份号码相符）")] = ""


class AgentBody(Struct, kw_only=True):
    """代理人 (for a legal person: its 经办人)."""

    name: PersonName = ""
    cert_type: CertType = ""
    cert_number: CertNumber = ""
    phone: Phone = ""


class NewCase(Struct, kw_only=True):
    """收件: open a case."""

    item_code: ItemCode = ""
    applicant: ApplicantBody | None = None
    agent: AgentBody | None = None
    ticket_id: Annotated[Id | None, Meta(description="叫号的号票编号（由叫号开始的办件）")] = None


class Acceptance(Struct, kw_only=True):
    """受理."""

    collection: Collection = "window"


class WaiverAcceptance(Struct, kw_only=True):
    """容缺受理: the materials owed, the supply deadline, the applicant's signed commitment."""

    waived: Annotated[list[MaterialId], Meta(max_length=MAX_LIST)] = []
    supply_by: Day = ""
    commitment_signature: Png | None = None
    collection: Collection = "window"


class CorrectionItem(Struct, kw_only=True):
    """One item of a 一次性告知书."""

    material_id: Annotated[MaterialId, Meta(description="需补正的材料项；空为申请事项整体")] = ""
    problem: Annotated[Text, Meta(description="存在的问题")] = ""
    requirement: Annotated[Text, Meta(description="补正要求")] = ""


class CorrectionRequest(Struct, kw_only=True):
    """一次性告知: every correction at once."""

    corrections: Annotated[list[CorrectionItem], Meta(max_length=MAX_LIST)] = []


class Refusal(Struct, kw_only=True):
    """不予受理."""

    reasons: Annotated[Text, Meta(description="不予受理的理由")] = ""
    legal_basis: Annotated[Text, Meta(description="法律依据（条款）")] = ""
    competent_organ: Annotated[Text, Meta(description="有权机关（告知申请人向其申请）")] = ""


class OnSpotDecision(Struct, kw_only=True):
    """即办件当场办结."""

    outcome: Annotated[str, Meta(description="approve 准予 或 deny 不予", max_length=MAX_CODE)] = ""
    reason: Annotated[Text, Meta(description="理由（不予时必填）")] = ""


class Issue(Struct, kw_only=True):
    """统一出件 at the window: who collects, and their signature."""

    cert_type: CertType = "111"
    cert_number: CertNumber = ""
    signature: Png | None = None
    read_from_card: Annotated[bool, Meta(description="证件号码由读卡器读取（而非手工输入）")] = False


class Mailing(Struct, kw_only=True):
    """交物流窗口寄递: where the result is mailed."""

    recipient: PersonName = ""
    phone: Phone = ""
    address: Annotated[str, Meta(description="收件地址", max_length=MAX_LINE)] = ""
