"""Unified issuing (统一出件, R-ISS-1): hand the result over at the window, or pass it to the logistics window.

A result is ready when the case is decided (by the county's department, or on the spot for a 即办件) and its
result documents (决定书, e-licence) are at this centre: made here on the spot, or come down from central
(`node.sync.down_blobs`). A result central sent to another centre (就近办) is handed over there, not here. At the
window the collector proves who they are — the ID number read from the card or typed — and it must be the
applicant's or the registered agent's; they sign on the tablet, and the signature goes onto the 领取签收单. A
mailed result goes to the logistics window with its documents, which go into the outbound parcel.
"""

from __future__ import annotations

from node.events import load_case
from node.intake.cases.materials import store_blob
from node.intake.cases.numbers import next_notice_number
from node.intake.cases.outcomes import expect_status, record_event, signature_png
from node.runtime import NodeRuntime
from node.staff import FRONT_DESK, Actor
from protocol.errors import (
    FORBIDDEN,
    ID_NUMBER_INVALID,
    IDENTITY_MISMATCH,
    INVALID_TRANSITION,
    NOT_FOUND,
    REQUIRED_FIELD,
    VALIDATION,
    OneWindowError,
)
from protocol.events import CASE_HANDED_TO_LOGISTICS, CASE_ISSUED, RESULT_READY, CaseState
from protocol.identifiers import CERTIFICATE_TYPES, validate_certificate

ISSUING_ROLES = (*FRONT_DESK, "logistics")


def _require(actor: Actor) -> None:
    if actor.role not in ISSUING_ROLES:
        raise OneWindowError(FORBIDDEN, "您的岗位不能出件", field="role")


def documents_here(runtime: NodeRuntime, state: CaseState) -> bool:
    """Whether every result document of the case is in this centre's blob store (True when it has none: a
    result decided before documents travelled)."""
    return all(runtime.blobs.exists(str(d["blob"])) for d in state.documents)


def result_document(runtime: NodeRuntime, state: CaseState, blob: str) -> tuple[str, bytes]:
    """(title, PDF) of one of the case's result documents held here; OW NOT_FOUND else."""
    found = next((d for d in state.documents if d["blob"] == blob), None)
    if found is None or not runtime.blobs.exists(blob):
        raise OneWindowError(NOT_FOUND, "本中心还没有这份结果文书", field="blob")
    return str(found["title"]), runtime.blobs.get(blob)


def require_result_here(runtime: NodeRuntime, state: CaseState, what: str) -> None:
    """Refuse handing over a result this centre does not issue (就近办 elsewhere) or whose documents have not
    arrived yet."""
    expect_status(state, tuple(RESULT_READY), what)
    dispatch = state.dispatch
    if dispatch is not None and dispatch.get("to_node") != runtime.node_id:
        raise OneWindowError(
            INVALID_TRANSITION,
            f"申请人选择在{dispatch.get('centre_name', '其他中心')}就近领取，本中心不能{what}",
            field="case_id",
        )
    if not documents_here(runtime, state):
        raise OneWindowError(
            INVALID_TRANSITION, "结果文书还在从县中心传来，到达后才能出件；请稍后刷新", field="case_id"
        )


def collector_role(state: CaseState, cert_type: str, cert_number: str) -> str:
    """ "applicant" or "agent" when the certificate is theirs; IDENTITY_MISMATCH otherwise."""
    applicant, agent = state.applicant, state.agent or {}
    if applicant.get("kind", "natural_person") == "natural_person" and (
        applicant.get("cert_type"),
        applicant.get("cert_number"),
    ) == (cert_type, cert_number):
        return "applicant"
    if agent and (agent.get("cert_type"), agent.get("cert_number")) == (cert_type, cert_number):
        return "agent"
    who = "申请人" if not agent else "申请人或登记的代理人"
    raise OneWindowError(
        IDENTITY_MISMATCH,
        f"证件号码与本办件的{who}不一致，不能领取；请核对证件，或由{who}本人持证领取",
        field="collector.cert_number",
    )


async def issue_at_window(
    runtime: NodeRuntime,
    *,
    actor: Actor,
    case_id: str,
    cert_type: str,
    cert_number: str,
    signature: bytes | None,
    read_from_card: bool = False,
) -> CaseState:
    """窗口领取: verify the collector, record the hand-over with their signature, issue the 领取签收单."""
    _require(actor)
    if cert_type not in CERTIFICATE_TYPES:
        raise OneWindowError(VALIDATION, f"未知证件类型 {cert_type!r}", field="collector.cert_type")
    if not cert_number.strip():
        raise OneWindowError(
            REQUIRED_FIELD, "请读取身份证或输入领取人证件号码", field="collector.cert_number"
        )
    try:
        number = validate_certificate(cert_type, cert_number.strip().upper(), today=runtime.today())
    except ValueError as exc:
        raise OneWindowError(ID_NUMBER_INVALID, str(exc), field="collector.cert_number") from exc
    signed = signature_png(signature, "signature", "领取人")
    async with runtime.db.write() as session:
        state = await load_case(session, case_id)
        require_result_here(runtime, state, "出件")
        role = collector_role(state, cert_type, number)
        person = state.applicant if role == "applicant" else (state.agent or {})
        signature_blob = await store_blob(
            session, runtime, signed, media_type="image/png", filename="pickup-signature.png"
        )
        payload = {
            "method": "pickup",
            "receipt_no": await next_notice_number(
                session,
                node_number=runtime.identity.number,
                prefix=runtime.notice_prefix,
                kind="pickup",
                year=runtime.today().year,
            ),
            "issued_at": runtime.now_iso(),
            "collector": {
                "role": role,
                "name": str(person.get("name", "")),
                "cert_type": cert_type,
                "cert_number": number,
                "verified_by": "card" if read_from_card else "typed",
            },
            "signature": signature_blob,
        }
        return await record_event(session, runtime, actor, case_id, CASE_ISSUED, payload)


async def hand_to_logistics(
    runtime: NodeRuntime, *, actor: Actor, case_id: str, recipient: str, phone: str, address: str
) -> CaseState:
    """邮寄送达: pass the result to the logistics window with the address; the parcel is recorded there."""
    _require(actor)
    recipient, phone, address = recipient.strip(), phone.strip(), address.strip()
    for value, field, what in (
        (recipient, "recipient", "收件人"),
        (phone, "phone", "收件人电话"),
        (address, "address", "邮寄地址"),
    ):
        if not value:
            raise OneWindowError(REQUIRED_FIELD, f"请填写{what}", field=field)
    if len(address) < 6:
        raise OneWindowError(VALIDATION, "邮寄地址太短，请写到门牌号", field="address")
    async with runtime.db.write() as session:
        state = await load_case(session, case_id)
        require_result_here(runtime, state, "交寄")
        payload = {
            "method": "mail",
            "handed_at": runtime.now_iso(),
            "recipient": recipient[:100],
            "phone": phone[:30],
            "address": address[:300],
        }
        return await record_event(session, runtime, actor, case_id, CASE_HANDED_TO_LOGISTICS, payload)
