"""The words of the official documents a case produces (domain-facts §3.2), laid out by the PDF engine
(`common.documents.pdf`) and rendered only through `common.documents.render`, off the event loop.

Each notice is worded from the case's events alone (its number, date and, for a promised date counted without a
year's holidays, that it is provisional were fixed when the event was recorded), and `issued.issued_pdf` keeps
the PDF made the first time it is printed: a reprint hands out those bytes, never a new rendering. 收件凭证, 受理通知书, 容缺受理承诺书 and 通知书, 一次性告知书, 不予受理决定书 and 领取签收单
belong to a case; the 服务指南 belongs to a catalogue item.
"""

from __future__ import annotations

from datetime import date, datetime

from common.documents.model import (
    Block,
    Fields,
    Heading,
    OfficialDocument,
    Paragraph,
    Signatures,
    Table,
    chinese_date,
)
from node.intake.cases.outcomes import COLLECTION_METHODS, OTHER_CORRECTION
from node.runtime import CST, NodeRuntime, local_date
from protocol.calendar import provisional_warning
from protocol.catalogue import CASE_TYPES, ITEM_TYPES, CatalogueItem
from protocol.errors import NOT_FOUND, OneWindowError
from protocol.events import NOTICE_TITLES, CaseState, Notice
from protocol.identifiers import CERTIFICATE_TYPES

LICENSING = "01"  # 行政许可: the Administrative Licensing Law's articles apply and are cited
SEALS = {
    "receipt": "",
    "acceptance": "受理专用章",
    "waiver_notice": "受理专用章",
    "waiver_commitment": "",
    "correction": "受理专用章",
    "refusal": "受理专用章",
    "pickup": "",
}
DUPLICATE = "本文书一式两份，申请人、受理机关各执一份。"


def masked(cert_type: str, number: str) -> str:
    """A certificate number with the middle hidden, as printed on documents the applicant carries around."""
    if cert_type in ("111", "112") and len(number) == 18:
        return f"{number[:6]}********{number[14:]}"
    if len(number) > 8:
        return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}"
    return number


#: Marks that end a sentence as the clerk may type them (full and half width).
_SENTENCE_END = "。！？；.!?;"
_TRAILING = "，、,:： \t\r\n"
_CLOSERS = "」』）)”’"
_FINAL_MARKS = {".": "。", ";": "。", "；": "。", "!": "！", "?": "？"}


def sentence(text: str) -> str:
    """The clerk's words as one complete sentence, whatever they typed: trailing commas and colons go, a final
    「。」 is added when no sentence mark ends it, so the next sentence (the legal basis) never runs into it."""
    text = text.strip().rstrip(_TRAILING).strip()
    if not text:
        return ""
    # A half-width mark in Chinese text becomes the full-width one; a final semicolon ends the sentence.
    text = text[:-1] + _FINAL_MARKS.get(text[-1], text[-1])
    closed = text.rstrip(_CLOSERS)  # 「……」 or （……） closing a complete sentence
    return text if closed and closed[-1] in _SENTENCE_END else text + "。"


def cited(basis: str) -> str:
    """A legal basis as cited inside 「根据……的规定」: without the clerk's own closing punctuation, a leading
    「根据」 or a trailing 「的规定」."""
    basis = basis.strip().rstrip(_SENTENCE_END + _TRAILING).strip()
    basis = basis.removeprefix("根据").strip()
    return basis.removesuffix("的规定").removesuffix("规定").strip()


def _provisional_note(state: CaseState) -> tuple[Block, ...]:
    """The notice's statement that its promised date is provisional (counted without a year's holidays)."""
    warning = provisional_warning(state.promised_provisional)
    if not warning:
        return ()
    return (
        Paragraph(
            f"注：{warning}（暂按周一至周五计算）。节假日安排发布后，本中心将按其重新计算办结日期，"
            "可凭办件编号查询。",
            bold=True,
        ),
    )


def local_time(iso: str) -> str:
    moment = datetime.fromisoformat(iso).astimezone(CST)
    return f"{chinese_date(moment.date())} {moment:%H:%M}"


def _certificate(person: object) -> str:
    if not isinstance(person, dict):
        return ""
    kind = person.get("cert_type", "")
    name = "统一社会信用代码" if kind == "001" else CERTIFICATE_TYPES.get(kind, kind)
    return f"{name} {masked(kind, str(person.get('cert_number', '')))}"


def issuer_name(runtime: NodeRuntime) -> str:
    """The centre's full name as it signs documents: county name first (梅河口市红梅镇便民服务中心)."""
    name, county = runtime.identity.name, runtime.identity.county_name
    return name if name.startswith(county) else f"{county}{name}"


def _material_rows(item: CatalogueItem, state: CaseState) -> tuple[tuple[str, ...], ...]:
    counts: dict[str, int] = {}
    for attached in state.materials:
        counts[str(attached["material_id"])] = counts.get(str(attached["material_id"]), 0) + 1
    waived = {str(m["id"]) for m in (state.waiver or {}).get("materials", [])}
    rows = []
    for i, material in enumerate(item.materials, start=1):
        if counts.get(material.id):
            present = f"已提交（{counts[material.id]}个文件）"
        elif material.id in waived:
            present = "容缺，待补齐"
        else:
            present = "未提交" if material.mandatory else "未提交（非必备）"
        rows.append(
            (
                str(i),
                material.name,
                f"原件{material.originals}份 复印件{material.copies}份",
                present,
            )
        )
    return tuple(rows)


def _materials_table(item: CatalogueItem, state: CaseState, *, title: str = "材料名称") -> Table:
    return Table(
        columns=("序号", title, "份数", "提交情况"),
        rows=_material_rows(item, state),
        widths=(0.8, 4.2, 2.6, 2.4),
    )


def _case_fields(state: CaseState, *extra: tuple[str, str], phone: bool = True) -> Fields:
    """The case's facts at the head of a notice; `phone=False` leaves the applicant's phone off a notice only
    the applicant keeps (the acceptance notices: the receipt has it, for the centre to call)."""
    applicant = state.applicant
    # The applicant's certificate on the applicant's own row, as the agent's is: one row less keeps an ordinary
    # receipt or acceptance notice on one A4 page.
    rows: list[tuple[str, str]] = [
        ("办件编号", state.case_number),
        ("申请事项", state.item_name),
        ("申请人", f"{applicant.get('name', '')}（{_certificate(dict(applicant))}）"),
    ]
    if phone and applicant.get("phone"):
        rows.append(("联系电话", str(applicant["phone"])))
    if state.agent:
        rows.append(("代理人", f"{state.agent.get('name', '')}（{_certificate(dict(state.agent))}）"))
    rows.extend(extra)
    return Fields(rows=tuple(rows))


def _article(item: CatalogueItem, clause: str) -> str:
    if item.item_type == LICENSING:
        return f"根据《中华人民共和国行政许可法》第三十二条第一款第（{clause}）项的规定"
    return "根据有关规定"


def _the_applicant(state: CaseState) -> str:
    return "你单位" if state.applicant.get("kind") == "legal_person" else "你"


def compose_notice(
    runtime: NodeRuntime,
    state: CaseState,
    item: CatalogueItem,
    notice: Notice,
    *,
    staff_names: dict[str, str] | None = None,
    images: dict[str, bytes] | None = None,
) -> OfficialDocument:
    """The document for one of the case's notices. `images` maps blob hashes to signature PNGs."""
    names = staff_names or {}
    images = images or {}
    issued_on = local_date(notice.issued_at)
    received = chinese_date(local_date(state.received_at))
    you = _the_applicant(state)
    name = str(state.applicant.get("name", ""))
    blocks: list[Block] = []
    addressee = f"{name}："
    closing: tuple[str, ...] = (DUPLICATE,)
    promised = (
        f"{state.promised_days}个工作日（预计{chinese_date(date.fromisoformat(state.promised_date))}前办结"
        f"{'，暂定' if state.promised_provisional else ''}）"
        if state.promised_date and state.promised_days
        else "即办件，当场办结"
    )
    provisional = _provisional_note(state)
    accepted_on = chinese_date(local_date(state.accepted_at)) if state.accepted_at else ""
    collection = COLLECTION_METHODS.get(state.collection, "窗口领取")

    if notice.kind == "receipt":
        addressee = ""
        blocks = [
            _case_fields(
                state,
                (
                    "收件",
                    f"{local_time(state.received_at)}　收件人：{names.get(state.received_by, state.received_by)}",
                ),
            ),
            Heading("收到的申请材料"),
            _materials_table(item, state),
            Paragraph(
                "本中心已收到上述申请材料。本中心将当场或者自收到申请材料之日起五个工作日内，"
                "作出受理、一次性告知补正或者不予受理的决定；逾期未告知补正的，自收到申请材料之日起即为受理。"
                "可凭办件编号或扫描右上角二维码查询办理进度。"
            ),
            Signatures(labels=("申请人（签字）", "收件人（签字）")),
        ]
        closing = ("本凭证由申请人留存，请妥善保管。",)
    elif notice.kind == "acceptance":
        blocks = [
            Paragraph(
                f"{you}于{received}提交的「{state.item_name}」申请材料已收悉。经审查，申请材料齐全、符合法定形式，"
                f"{_article(item, '五')}，决定予以受理。"
            ),
            _case_fields(
                state,
                ("受理", f"{accepted_on}　受理人：{names.get(state.accepted_by, state.accepted_by)}"),
                ("承诺办结时限", promised),
                ("结果领取方式", collection),
                phone=False,
            ),
            *provisional,
            # The table says what it lists in its own header (no heading above it): one page for six materials.
            _materials_table(item, state, title="已收材料"),
            Paragraph(
                "办结后本中心将把办理结果邮寄送达。"
                if state.collection == "mail"
                else "办结后本中心将通知您领取结果。领取时请携带本人身份证件；委托他人领取的，代理人须携带本人身份证件。"
            ),
        ]
    elif notice.kind in ("waiver_notice", "waiver_commitment"):
        waiver = state.waiver or {}
        supply_by = chinese_date(date.fromisoformat(str(waiver.get("supply_by"))))
        owed = tuple(
            (str(i), str(m["name"]), supply_by) for i, m in enumerate(waiver.get("materials", []), start=1)
        )
        owed_table = Table(columns=("序号", "暂缺材料", "补齐期限"), rows=owed, widths=(0.8, 5.4, 2.8))
        if notice.kind == "waiver_commitment":
            addressee = f"{issuer_name(runtime)}："
            signature = images.get(str(waiver.get("commitment_signature", "")))
            blocks = [
                Paragraph(
                    f"本人（单位）{name}，{_certificate(dict(state.applicant))}，申请办理「{state.item_name}」"
                    f"（办件编号 {state.case_number}）。下列次要材料暂缺，现申请容缺受理。"
                ),
                owed_table,
                Paragraph(
                    f"本人（单位）郑重承诺：于{supply_by}前补齐上述材料，并对所提交全部材料的真实性负责。"
                    "如未按期补齐，同意终止办理，由此产生的后果由本人（单位）承担；如有虚假承诺，"
                    "愿意承担相应法律责任，并接受失信记录。"
                ),
                Signatures(labels=("承诺人（签字）",), images=(signature,)),
            ]
            closing = ("本承诺书一式两份，承诺人、受理机关各执一份。",)
        else:
            blocks = [
                Paragraph(
                    f"{you}于{received}提交的「{state.item_name}」申请，主要材料齐全、符合法定形式，"
                    "次要材料暂缺，经审查并根据你（单位）签署的容缺受理承诺书，决定予以容缺受理。"
                ),
                _case_fields(
                    state,
                    ("受理日期", accepted_on),
                    ("承诺办结时限", promised),
                    ("补齐期限", supply_by),
                    ("结果领取方式", collection),
                    phone=False,
                ),
                *provisional,
                Heading("须补齐的材料"),
                owed_table,
                Paragraph(
                    f"请于{supply_by}前将上述材料提交至本中心（原件及复印件份数见服务指南）。"
                    "逾期未补齐的，本中心将终止办理。"
                ),
            ]
    elif notice.kind == "correction":
        rows = tuple(
            (
                str(i),
                str(c["material_name"]) if c.get("material_id") else OTHER_CORRECTION,
                str(c["problem"]),
                str(c.get("requirement") or "按要求补正"),
            )
            for i, c in enumerate(state.corrections, start=1)
        )
        blocks = [
            Paragraph(
                f"{you}于{received}提交的「{state.item_name}」申请材料，经审查，存在下列需要补正的内容。"
                f"{_article(item, '四')}，现将需要补正的全部内容一次性告知如下："
            ),
            Table(columns=("序号", "材料", "存在的问题", "补正要求"), rows=rows, widths=(0.8, 2.6, 3.2, 3.4)),
            Paragraph(
                "请按上述要求补正后，携带本告知书到本中心提交。补正材料齐全、符合法定形式的，本中心将予以受理。"
            ),
            _case_fields(state, ("收件日期", received)),
            Signatures(labels=("申请人（签收）",)),
        ]
    elif notice.kind == "refusal":
        refusal = state.refusal or {}
        organ = str(refusal.get("competent_organ") or "")
        blocks = [
            Paragraph(
                f"{you}于{received}提交的「{state.item_name}」申请，经审查：{sentence(str(refusal.get('reasons', '')))}"
                f"根据{cited(str(refusal.get('legal_basis', '')))}的规定，决定不予受理。"
            ),
        ]
        if organ:
            blocks.append(Paragraph(f"该申请事项依法不属于本机关职权范围，请向{organ}申请。"))
        blocks += [
            Paragraph(
                f"如不服本决定，可以自收到本决定书之日起六十日内向{refusal.get('reconsideration_organ', '')}"
                f"申请行政复议，或者自收到本决定书之日起六个月内依法向{refusal.get('court', '')}提起行政诉讼。"
            ),
            _case_fields(state, ("收件日期", received)),
            Heading("送达回证"),
            Signatures(labels=("受送达人（签字）", "送达人（签字）")),
        ]
    elif notice.kind == "pickup":
        issue = state.issue or {}
        collector = issue.get("collector") or {}
        decision = state.decision
        result = "准予" if decision and decision.outcome == "approve" else "不予"
        if decision and decision.reason:
            result += f"（{decision.reason}）"
        blocks = [
            _case_fields(
                state,
                ("办理结果", result),
                ("办理部门", decision.department if decision else ""),
                ("办结时间", local_time(decision.decided_at) if decision else ""),
                (
                    "领取人",
                    f"{collector.get('name', '')}（{'申请人本人' if collector.get('role') == 'applicant' else '代理人'}）",
                ),
                ("领取人证件", _certificate(dict(collector))),
                ("身份核验", "读取身份证" if collector.get("verified_by") == "card" else "核对证件号码"),
                ("领取时间", local_time(str(issue.get("issued_at", notice.issued_at)))),
            ),
            Paragraph("本人已核对并领取上述办理结果。"),
            Signatures(
                labels=("领取人（签字）", "发件人（签字）"),
                images=(images.get(str(issue.get("signature", ""))), None),
            ),
        ]
        addressee = ""
        closing = ("本签收单由受理机关存档。",)
    else:
        raise OneWindowError(NOT_FOUND, f"未知文书类型 {notice.kind!r}", field="kind")

    return OfficialDocument(
        title=NOTICE_TITLES[notice.kind],
        number=notice.number,
        issuer=issuer_name(runtime),
        issued_on=issued_on,
        blocks=tuple(blocks),
        addressee=addressee,
        qr_payload=state.case_number,
        qr_caption=f"办件编号 {state.case_number}",
        seal=SEALS.get(notice.kind, ""),
        closing=closing,
    )


def notice_document(
    runtime: NodeRuntime,
    state: CaseState,
    item: CatalogueItem,
    kind: str,
    *,
    staff_names: dict[str, str] | None = None,
) -> OfficialDocument:
    """The document of the case's newest notice of `kind`, ready to render (quick: the PDF is the slow part)."""
    notice = newest_notice(state, kind)
    return compose_notice(
        runtime, state, item, notice, staff_names=staff_names, images=notice_images(runtime, state)
    )


def newest_notice(state: CaseState, kind: str) -> Notice:
    """The case's newest notice of `kind` (OW-1003 naming ``kind`` when it has none)."""
    notice = state.notice(kind)
    if notice is None:
        title = NOTICE_TITLES.get(kind, kind)
        raise OneWindowError(NOT_FOUND, f"该办件没有{title}", field="kind")
    return notice


def notice_images(runtime: NodeRuntime, state: CaseState) -> dict[str, bytes]:
    """The signature images the case's notices show, by blob hash (those still in the blob store)."""
    images: dict[str, bytes] = {}
    for digest in (
        str((state.waiver or {}).get("commitment_signature", "")),
        str((state.issue or {}).get("signature", "")),
    ):
        if digest and runtime.blobs.exists(digest):
            images[digest] = runtime.blobs.get(digest)
    return images


def guide_document(runtime: NodeRuntime, item: CatalogueItem) -> OfficialDocument:
    """服务指南: everything an applicant needs to come once (R-HALL-5), with the full materials checklist."""
    departments = "、".join(d.name for d in item.departments)
    names = [("事项名称", item.name), ("实施编码", item.code), ("基本编码", item.basic_code)]
    names.append(("主项", f"{item.main_item_name}（{item.main_item_code}）"))
    if item.sub_item_name:
        names.append(("子项", f"{item.sub_item_name}（{item.sub_item_code}）"))
    if item.sub_sub_item_name:
        names.append(("孙项", f"{item.sub_sub_item_name}（{item.sub_sub_item_code}）"))
    promised = "当场办结" if item.case_type == 1 else f"{item.promised_limit_days}个工作日"
    fields = Fields(
        rows=(
            *names,
            ("事项类型", ITEM_TYPES.get(item.item_type, item.item_type)),
            (
                "办件类型",
                CASE_TYPES.get(item.case_type, str(item.case_type)) + ("（联办）" if item.is_joint else ""),
            ),
            ("实施主体", item.implementing_body),
            ("办理部门", departments),
            ("法定办结时限", f"{item.statutory_limit_days}个工作日"),
            ("承诺办结时限", promised),
            ("收费", item.fees),
            (
                "服务对象",
                "、".join(
                    {"natural_person": "自然人", "legal_person": "法人"}[t] for t in item.service_target
                ),
            ),
            ("办理方式", "、".join(item.tags) or "窗口办理"),
            ("受理地点", issuer_name(runtime)),
        )
    )
    materials = tuple(
        (
            str(i),
            m.name + (f"（{m.note}）" if m.note else ""),
            "是" if m.mandatory else "否",
            f"原件{m.originals} / 复印件{m.copies}",
            "可容缺" if m.waivable else "—",
            "、".join(f.upper() for f in m.formats),
        )
        for i, m in enumerate(item.materials, start=1)
    )
    blocks: list[Block] = [
        Heading("一、基本信息"),
        fields,
        Heading("二、受理条件"),
        *(Paragraph(f"{i}. {c}", indent=False) for i, c in enumerate(item.acceptance_conditions, start=1)),
        Heading("三、申请材料（一次性告知）"),
        Table(
            columns=("序号", "材料名称", "必备", "份数", "容缺", "电子格式"),
            rows=materials,
            widths=(0.7, 4.0, 0.8, 2.0, 1.2, 1.5),
        ),
        Heading("四、设定依据"),
        *(Paragraph(basis, indent=False) for basis in item.legal_basis),
        Paragraph(
            "以上为办理本事项所需的全部材料。材料齐全、符合法定形式的，窗口当场受理；"
            "标明“可容缺”的次要材料，经申请人书面承诺后可容缺受理，并在承诺期限内补齐。",
            bold=True,
        ),
    ]
    document = OfficialDocument(
        title=f"{item.name}服务指南",
        number="",
        issuer=issuer_name(runtime),
        issued_on=runtime.today(),
        blocks=tuple(blocks),
        qr_payload=item.code,
        qr_caption=f"实施编码 {item.code}",
        closing=(f"目录版本 {runtime.catalogue.version}，打印日期 {chinese_date(runtime.today())}。",),
    )
    return document
