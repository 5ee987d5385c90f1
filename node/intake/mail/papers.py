"""The logistics window's papers: the courier manifest (交接清单), a parcel's label (面单) and the letter announcing
a pre-acceptance result (告知函). Their wording is composed here from the parcels and cases; they are rendered
through `common.documents.render` like every official document, off the event loop.
"""

from __future__ import annotations

from common.documents.model import Fields, OfficialDocument, Paragraph, Signatures, Table
from common.documents.render import render_document
from node.events import case_state
from node.intake.documents.notices import issuer_name, local_time
from node.intake.mail.manifests import manifest_parcels
from node.intake.mail.messages import message_with_case
from node.intake.mail.models import Manifest
from node.intake.mail.parcels import OUT_KINDS, get_row, parcel_view
from node.intake.mail.pre_review import PRE_RESULTS
from node.runtime import NodeRuntime
from protocol.errors import (
    INVALID_TRANSITION,
    OneWindowError,
)


async def manifest_pdf(runtime: NodeRuntime, manifest_id: str) -> bytes:
    """交接清单 PDF: every parcel of the pickup with its tracking number, and the courier's signature."""
    async with runtime.db.read() as session:
        manifest = await get_row(session, Manifest, manifest_id, "交接清单")
        parcels = await manifest_parcels(session, manifest_id)
        cases = {p.case_id: (await case_state(session, p.case_id)).case_number for p in parcels if p.case_id}
    rows = tuple(
        (
            str(i),
            p.tracking_number,
            f"{OUT_KINDS.get(p.kind, p.kind)}",
            p.party,
            p.contents,
            cases.get(p.case_id or "", ""),
        )
        for i, p in enumerate(parcels, 1)
    )
    signature = runtime.blobs.get(manifest.signature_blob) if manifest.signature_blob else None
    handed = local_time(manifest.handed_at) if manifest.handed_at else "（未交寄）"
    blocks = (
        Fields(
            (
                ("寄件单位", issuer_name(runtime)),
                ("快递公司", manifest.courier_company or "—"),
                ("快递员", f"{manifest.courier_name or '—'}  {manifest.courier_phone}"),
                ("交寄时间", handed),
                ("邮件数量", f"{len(parcels)} 件"),
                (
                    "签收期限",
                    f"交寄后 {manifest.confirm_days} 日内（至 {manifest.due_by}）"
                    if manifest.due_by
                    else "—",
                ),
            )
        ),
        Table(
            ("序号", "物流单号", "类别", "收件人", "内件", "办件编号"),
            rows,
            (0.45, 2.6, 1.4, 2.0, 1.8, 2.6),
        ),
        Paragraph("以上邮件已清点无误，由快递员签字确认后交寄。逾期未签收的邮件由寄件单位跟踪查询。"),
        Signatures(("快递员（签字）", "物料流转窗口（签字）"), (signature, None)),
    )
    document = OfficialDocument(
        title="邮件交接清单",
        number=manifest.number,
        issuer=issuer_name(runtime),
        issued_on=runtime.today(),
        blocks=blocks,
        qr_payload=manifest.number,
        qr_caption="交接清单编号",
    )
    return await render_document(document)  # in the worker process: the tablets keep being answered


async def label_pdf(runtime: NodeRuntime, parcel_id: str) -> bytes:
    """邮件面单: recipient, sender and contents, with the tracking number as a QR code."""
    parcel, state = await parcel_view(runtime, parcel_id)
    if parcel.direction != "out":
        raise OneWindowError(INVALID_TRANSITION, "只有寄出的邮件需要打印面单", field="parcel_id")
    blocks = (
        Fields(
            (
                ("物流单号", parcel.tracking_number + ("（UPU S10）" if parcel.is_s10 else "")),
                ("收件人", parcel.party),
                ("联系电话", parcel.phone or "—"),
                ("收件地址", parcel.address),
                ("寄件单位", issuer_name(runtime)),
                ("内件", parcel.contents),
                ("办件编号", state.case_number if state else ""),
                ("类别", OUT_KINDS.get(parcel.kind, parcel.kind)),
            )
        ),
        Paragraph("政务专递，请妥投本人或单位收发室；无法投递请退回寄件单位。"),
    )
    document = OfficialDocument(
        title="政务邮件面单",
        number="",
        issuer=issuer_name(runtime),
        issued_on=runtime.today(),
        blocks=blocks,
        qr_payload=parcel.tracking_number,
        qr_caption=f"单号 {parcel.tracking_number}",
    )
    return await render_document(document)  # in the worker process: the tablets keep being answered


async def letter_pdf(runtime: NodeRuntime, message_id: str) -> bytes:
    """预受理结果告知函: the letter version of a queued message, to print and post."""
    message, state = await message_with_case(runtime, message_id)
    document = OfficialDocument(
        title="邮寄申请预受理结果告知函",
        number="",  # a cover letter: the notice it announces carries the document number
        issuer=issuer_name(runtime),
        issued_on=runtime.today(),
        addressee=f"{message.recipient}：",
        blocks=(
            Paragraph(message.text),
            Fields(
                (
                    ("办件编号", state.case_number),
                    ("申请事项", state.item_name),
                    ("预受理结论", PRE_RESULTS.get(str((state.pre_acceptance or {}).get("result", "")), "")),
                    ("随寄文书", str((state.pre_acceptance or {}).get("notice_no", "")) or "—"),
                    ("邮寄地址", message.address or "—"),
                )
            ),
        ),
        qr_payload=state.case_number,
        qr_caption=f"办件编号 {state.case_number}",
    )
    return await render_document(document)  # in the worker process: the tablets keep being answered
