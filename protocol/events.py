"""Case events and the deterministic fold that turns them into a case's state.

A case (办件) is the fold of its events. Events are immutable and carry their authority: the node authors intake
events (收件, 材料, 受理), central authors back-office events (办理决定). The fold sorts by (hlc, id), never raises,
and records an event that does not fit the state it meets as an anomaly, so node and central, folding the same
set of events, always reach the same state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from protocol.canonical import canonical_json
from protocol.ids import is_uuid

EVENT_SCHEMA = 1

# Event types, with who may author them.
CASE_RECEIVED = "case.received"  # 收件: application received; the receipt time starts the art. 32 clock
MATERIAL_ATTACHED = "case.material_attached"  # 材料: a captured file attached to a checklist slot
MATERIAL_REMOVED = "case.material_removed"  # 删除/重拍: a page taken off its slot before the window decides
CASE_CORRECTION_REQUESTED = "case.correction_requested"  # 一次性告知: every correction, in one notice
CASE_CORRECTED = "case.corrected"  # 补正到件: corrections handed in, the case resumes
CASE_ACCEPTED = "case.accepted"  # 受理
CASE_ACCEPTED_WITH_WAIVER = (
    "case.accepted_with_waiver"  # 容缺受理: secondary materials owed under a commitment
)
CASE_WAIVER_SUPPLIED = "case.waiver_supplied"  # 容缺材料补齐
CASE_TERMINATED = "case.terminated"  # 终止办理: the commitment's deadline passed unsupplied
CASE_REFUSED = "case.refused"  # 不予受理
CASE_DEEMED_ACCEPTED = "case.deemed_accepted"  # 视为受理: no notice within 5 working days of receipt
CASE_DECIDED_ON_SPOT = "case.decided_on_spot"  # 即办件当场办结, by a lead with delegated authority
CASE_ISSUED = "case.issued"  # 出件: result handed over at the window, the collector signed
CASE_HANDED_TO_LOGISTICS = (
    "case.handed_to_logistics"  # 出件: result handed to the logistics window for mailing
)
CASE_DECIDED = "case.decided"  # 办理决定 (central: approve / deny)
CASE_ARCHIVED = "case.archived"  # 归档: the node sealed the closed case into an archive package
CASE_ARCHIVE_CONFIRMED = "case.archive_confirmed"  # 接收检测: central re-checked the package (pass or fail)
# Back-office processing (后台办理, central): routing, joint opinions, clock pauses, extension, e-licence, dispatch.
CASE_ROUTED = "case.routed"  # 分办: to the item's department(s); a joint case fans out, the first leads
CASE_OPINION_GIVEN = "case.opinion_given"  # 联办意见: one department's opinion on a joint case
CASE_CLOCK_PAUSED = "case.clock_paused"  # 计时暂停: 补正, hearing, site survey (踏勘), expert review
CASE_CLOCK_RESUMED = "case.clock_resumed"  # 计时恢复: the paused step ended
CASE_EXTENDED = "case.extended"  # 延期: +10 / +15 working days, approved by the department head with a reason
CASE_LICENCE_ISSUED = "case.licence_issued"  # 电子证照: identifier per GB/T 36904 for an approved case
CASE_RESULT_DISPATCHED = "case.result_dispatched"  # 结果下发: to the issuing centre (origin, or 就近办)
CASE_RESULT_DOCUMENTS = (
    "case.result_documents"  # 结果文书: the 决定书 (and e-licence) rendered at central, as blobs
)
CASE_RESULT_ARRIVED = (
    "case.result_arrived"  # 结果到窗: the issuing centre holds the result documents, ready to hand
)
# Remote support (远程帮办, Zhejiang §6.2.3.2): a window asks a department about a case, with scans; it answers.
CASE_CONSULT_REQUESTED = "case.consult_requested"  # 帮办请求 (node): question + scans (blobs)
CASE_CONSULT_ANSWERED = "case.consult_answered"  # 帮办答复 (central): answer + annotations on the scans
CASE_PRE_REVIEWED = "case.pre_reviewed"  # 预受理结果: mailed materials reviewed, the applicant told (§7.1.4)
# Chain of custody (物料流转): every step of a parcel that carries the case's paper, in or out.
PARCEL_REGISTERED = (
    "case.parcel_registered"  # 邮件登记签收: the logistics window signed for an incoming parcel
)
PARCEL_OPENED = "case.parcel_opened"  # 拆封: opened and its materials scanned into the case
PARCEL_PACKED = "case.parcel_packed"  # 封装: an outgoing parcel made up with its tracking number
PARCEL_HANDED_TO_COURIER = "case.parcel_handed_to_courier"  # 交寄: the courier signed the manifest
PARCEL_RECEIVED = "case.parcel_received"  # 签收 (central): the county hall's logistics desk confirmed it
PARCEL_DELIVERED = "case.parcel_delivered"  # 妥投: the courier reports it delivered
PARCEL_RETURNED = "case.parcel_returned"  # 退回: the courier brought it back undelivered

NODE_EVENT_TYPES = frozenset(
    {
        CASE_RECEIVED,
        MATERIAL_ATTACHED,
        MATERIAL_REMOVED,
        CASE_CORRECTION_REQUESTED,
        CASE_CORRECTED,
        CASE_ACCEPTED,
        CASE_ACCEPTED_WITH_WAIVER,
        CASE_WAIVER_SUPPLIED,
        CASE_TERMINATED,
        CASE_REFUSED,
        CASE_DEEMED_ACCEPTED,
        CASE_DECIDED_ON_SPOT,
        CASE_ISSUED,
        CASE_HANDED_TO_LOGISTICS,
        CASE_ARCHIVED,
        CASE_PRE_REVIEWED,
        PARCEL_REGISTERED,
        PARCEL_OPENED,
        PARCEL_PACKED,
        PARCEL_HANDED_TO_COURIER,
        PARCEL_DELIVERED,
        PARCEL_RETURNED,
        CASE_CONSULT_REQUESTED,
        CASE_RESULT_ARRIVED,
    }
)
CENTRAL_EVENT_TYPES = frozenset(
    {
        CASE_DECIDED,
        CASE_ARCHIVE_CONFIRMED,
        PARCEL_RECEIVED,
        CASE_ROUTED,
        CASE_OPINION_GIVEN,
        CASE_CLOCK_PAUSED,
        CASE_CLOCK_RESUMED,
        CASE_EXTENDED,
        CASE_LICENCE_ISSUED,
        CASE_RESULT_DISPATCHED,
        CASE_RESULT_DOCUMENTS,
        CASE_CONSULT_ANSWERED,
    }
)
EVENT_TYPES = NODE_EVENT_TYPES | CENTRAL_EVENT_TYPES
#: Custody event type → the step it records; the case and parcel pages show the steps with these labels.
CUSTODY_STEPS = {
    PARCEL_REGISTERED: "registered",
    PARCEL_OPENED: "opened",
    PARCEL_PACKED: "packed",
    PARCEL_HANDED_TO_COURIER: "handed_to_courier",
    PARCEL_RECEIVED: "received",
    PARCEL_DELIVERED: "delivered",
    PARCEL_RETURNED: "returned",
}
CUSTODY_LABELS = {
    "registered": "登记签收",
    "opened": "拆封扫描",
    "packed": "封装",
    "handed_to_courier": "交寄（快递员签字）",
    "received": "县级签收",
    "delivered": "妥投",
    "returned": "退回",
}

EVENT_LABELS = {
    CASE_RECEIVED: "收件",
    MATERIAL_ATTACHED: "上传材料",
    MATERIAL_REMOVED: "删除材料页",
    CASE_CORRECTION_REQUESTED: "一次性告知补正",
    CASE_CORRECTED: "补正到件",
    CASE_ACCEPTED: "受理",
    CASE_ACCEPTED_WITH_WAIVER: "容缺受理",
    CASE_WAIVER_SUPPLIED: "容缺材料补齐",
    CASE_TERMINATED: "终止办理",
    CASE_REFUSED: "不予受理",
    CASE_DEEMED_ACCEPTED: "视为受理",
    CASE_DECIDED_ON_SPOT: "即办件当场办结",
    CASE_ISSUED: "窗口出件",
    CASE_HANDED_TO_LOGISTICS: "交物流窗口寄递",
    CASE_DECIDED: "办理决定",
    CASE_ARCHIVED: "归档",
    CASE_ARCHIVE_CONFIRMED: "县级接收检测",
    CASE_ROUTED: "分办",
    CASE_OPINION_GIVEN: "联办意见",
    CASE_CLOCK_PAUSED: "计时暂停",
    CASE_CLOCK_RESUMED: "计时恢复",
    CASE_EXTENDED: "延期",
    CASE_LICENCE_ISSUED: "电子证照",
    CASE_RESULT_DISPATCHED: "结果下发",
    CASE_RESULT_DOCUMENTS: "结果文书",
    CASE_RESULT_ARRIVED: "结果到窗",
    CASE_CONSULT_REQUESTED: "帮办请求",
    CASE_CONSULT_ANSWERED: "帮办答复",
    CASE_PRE_REVIEWED: "邮寄预受理结果",
    **{type_: f"邮件{CUSTODY_LABELS[step]}" for type_, step in CUSTODY_STEPS.items()},
}

# Case statuses, in workflow order.
RECEIVED = "received"  # 已收件
CORRECTION_REQUESTED = "correction_requested"  # 待补正
ACCEPTED = "accepted"  # 已受理 (also 容缺受理: see CaseState.waiver)
REFUSED = "refused"  # 不予受理
TERMINATED = "terminated"  # 终止办理
APPROVED = "approved"  # 准予 — result ready for issuing
DENIED = "denied"  # 不予 — result ready for issuing
ISSUED = "issued"  # 已出件（窗口领取）
MAILING = "mailing"  # 已交物流窗口寄递
STATUS_LABELS = {
    RECEIVED: "已收件",
    CORRECTION_REQUESTED: "待补正",
    ACCEPTED: "已受理",
    REFUSED: "不予受理",
    TERMINATED: "终止办理",
    APPROVED: "已办结（准予），待出件",
    DENIED: "已办结（不予），待出件",
    ISSUED: "已出件",
    MAILING: "已交寄递",
}
DECIDABLE = frozenset({ACCEPTED})
RESULT_READY = frozenset({APPROVED, DENIED})
OPEN_FOR_MATERIALS = frozenset({RECEIVED, CORRECTION_REQUESTED, ACCEPTED})
# Closed for good, so archivable: nothing more happens at the window. A mailed result is not closed yet (its
# delivery result still comes back to the case), nor is a decided result the applicant has not collected.
ARCHIVABLE = frozenset({ISSUED, REFUSED, TERMINATED})

# Notice kinds (the official documents a case produces), with their titles.
NOTICE_TITLES = {
    "receipt": "收件凭证",
    "acceptance": "受理通知书",
    "waiver_commitment": "容缺受理承诺书",
    "waiver_notice": "容缺受理通知书",
    "correction": "一次性告知书",
    "refusal": "不予受理决定书",
    "pickup": "领取签收单",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable fact about a case."""

    id: str
    case_id: str
    type: str
    authority: str
    actor: str
    hlc: int
    payload: Mapping[str, Any]
    schema: int = EVENT_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "type": self.type,
            "authority": self.authority,
            "actor": self.actor,
            "hlc": self.hlc,
            "payload": dict(self.payload),
            "schema": self.schema,
        }

    @property
    def content_hash(self) -> str:
        """Hash of everything but nothing else: same id + different hash is a conflict, never an overwrite."""
        return hashlib.sha256(canonical_json(self.to_dict())).hexdigest()

    @classmethod
    def from_dict(cls, data: Any) -> Event:
        """Parse an event, raising ValueError naming the field at fault."""
        if not isinstance(data, Mapping):
            raise ValueError("event: must be an object")
        for name in ("id", "case_id", "type", "authority", "actor"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise ValueError(f"event.{name}: required text")
        if not is_uuid(data["id"]) or not is_uuid(data["case_id"]):
            raise ValueError("event.id: must be a UUID")
        hlc, schema, payload = data.get("hlc"), data.get("schema", EVENT_SCHEMA), data.get("payload")
        if not isinstance(hlc, int) or isinstance(hlc, bool) or hlc < 0:
            raise ValueError("event.hlc: must be a non-negative integer")
        if not isinstance(schema, int) or schema < 1:
            raise ValueError("event.schema: must be a positive integer")
        if not isinstance(payload, Mapping):
            raise ValueError("event.payload: must be an object")
        return cls(
            data["id"], data["case_id"], data["type"], data["authority"], data["actor"], hlc, payload, schema
        )


def sort_key(event: Event) -> tuple[int, str]:
    return (event.hlc, event.id)


@dataclass(frozen=True, slots=True)
class Decision:
    """The decision as the case knows it: the back office's, or a lead's on the spot (即办件)."""

    outcome: str  # "approve" | "deny"
    reason: str
    department: str
    decided_by: str
    decided_at: str
    on_spot: bool = False

    def summary(self) -> dict[str, Any]:
        """What a case's JSON shows of its decision, at the node and at central alike."""
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "department": self.department,
            "decided_at": self.decided_at,
            "on_spot": self.on_spot,
        }


@dataclass(frozen=True, slots=True)
class Notice:
    """An official document the case produced: its kind, number and when it was issued."""

    kind: str
    number: str
    issued_at: str
    event_id: str

    @property
    def title(self) -> str:
        return NOTICE_TITLES.get(self.kind, self.kind)


@dataclass(frozen=True, slots=True)
class CaseState:
    """What the fold of a case's events says about it."""

    case_id: str
    status: str | None = None
    case_number: str = ""
    origin_node: str = ""
    centre_name: str = ""
    item_code: str = ""
    item_name: str = ""
    catalogue_version: int = 0
    applicant: Mapping[str, Any] = field(default_factory=dict)
    agent: Mapping[str, Any] | None = None
    received_at: str = ""
    clock_from: str = ""  # receipt, or the latest 补正: the art. 32 five-day clock runs from here
    accepted_at: str = ""
    promised_days: int = 0
    promised_date: str = ""  # YYYY-MM-DD, working days after acceptance on the county calendar
    #: Years the promised date was counted through without their holiday arrangement (the notice states it as
    #: provisional); the date on the notice never changes, pages recount it on the calendar in hand.
    promised_provisional: tuple[int, ...] = ()
    collection: str = ""  # window | mail: how the applicant takes the result
    materials: tuple[Mapping[str, Any], ...] = ()
    corrections: tuple[Mapping[str, Any], ...] = ()
    corrected_at: str = ""
    waiver: Mapping[str, Any] | None = None  # {materials, supply_by, supplied_at}
    refusal: Mapping[str, Any] | None = None
    deemed_accepted_at: str = ""
    termination: Mapping[str, Any] | None = None
    decision: Decision | None = None
    issue: Mapping[str, Any] | None = None
    notices: tuple[Notice, ...] = ()
    received_by: str = ""
    accepted_by: str = ""
    archive: Mapping[str, Any] | None = None  # the newest case.archived: {package, archival_number, …}
    archive_checks: tuple[Mapping[str, Any], ...] = ()  # central's receipt checks: {package, passed, …}
    routing: Mapping[str, Any] | None = None  # {departments: [{code, name}], lead, joint, routed_at}
    opinions: tuple[Mapping[str, Any], ...] = ()  # joint case: {department, agree, comment, given_at, by}
    pauses: tuple[Mapping[str, Any], ...] = ()  # {pause_id, kind, reason, started_at, ended_at}
    extension: Mapping[str, Any] | None = None  # {days, reason, approved_by, approved_at}
    licence: Mapping[str, Any] | None = None  # {identifier, licence_name, issuer, …}
    dispatch: Mapping[str, Any] | None = None  # {to_node, centre_name, nearby, dispatched_at}
    #: The result documents (决定书, e-licence): {kind, title, number, blob, media_type, size, made_at}.
    documents: tuple[Mapping[str, Any], ...] = ()
    result_arrived: Mapping[str, Any] | None = None  # 结果到窗: {at, node} where the documents arrived
    consults: tuple[Mapping[str, Any], ...] = ()  # {consult_id, question, scans, asked_at, answer, …}
    pre_acceptance: Mapping[str, Any] | None = None  # 预受理结果 of a mailed application: {result, …}
    custody: tuple[Mapping[str, Any], ...] = ()  # every parcel step: {step, parcel_id, at, actor, …}
    event_count: int = 0
    last_hlc: int = 0
    anomalies: tuple[str, ...] = ()

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status or "", "未知")

    @property
    def deemed_accepted(self) -> bool:
        return bool(self.deemed_accepted_at)

    @property
    def waiver_pending(self) -> bool:
        return self.waiver is not None and not self.waiver.get("supplied_at")

    @property
    def archive_confirmed(self) -> bool:
        """Central confirmed (its check passed) the very package the newest case.archived names."""
        return self.archive is not None and any(
            c.get("passed") is True and c.get("package") == self.archive.get("package")
            for c in self.archive_checks
        )

    @property
    def open_pause(self) -> Mapping[str, Any] | None:
        """The clock pause still running, if any (at most one at a time)."""
        return next((p for p in self.pauses if not p.get("ended_at")), None)

    def notice(self, kind: str) -> Notice | None:
        """The newest notice of that kind (a second correction notice replaces the first)."""
        found = [n for n in self.notices if n.kind == kind]
        return found[-1] if found else None


def _anomaly(state: CaseState, event: Event, reason: str) -> CaseState:
    return replace(state, anomalies=(*state.anomalies, f"{event.type} {event.id}: {reason}"))


def _notice(state: CaseState, event: Event, kind: str, number: object, at: object) -> tuple[Notice, ...]:
    return (*state.notices, Notice(kind, str(number), str(at), event.id))


def _received(state: CaseState, event: Event, p: Mapping[str, Any]) -> CaseState:
    if state.status is not None:
        return _anomaly(state, event, "case already received (the receipt time never changes)")
    agent = p.get("agent")
    state = replace(
        state,
        status=RECEIVED,
        case_number=str(p["case_number"]),
        origin_node=event.authority,
        centre_name=str(p.get("centre_name", "")),
        item_code=str(p["item_code"]),
        item_name=str(p.get("item_name", "")),
        catalogue_version=int(p.get("catalogue_version", 0)),
        applicant=dict(p["applicant"]),
        agent=dict(agent) if isinstance(agent, Mapping) else None,
        received_at=str(p["received_at"]),
        clock_from=str(p["received_at"]),
        received_by=event.actor,
    )
    if p.get("receipt_no"):
        state = replace(state, notices=_notice(state, event, "receipt", p["receipt_no"], p["received_at"]))
    return state


def _material(state: CaseState, event: Event, p: Mapping[str, Any]) -> CaseState:
    if state.status not in OPEN_FOR_MATERIALS:
        return _anomaly(state, event, f"material in status {state.status}")
    material = {k: p[k] for k in ("material_id", "blob", "filename", "size", "media_type")}
    if any(
        m["blob"] == material["blob"] and m["material_id"] == material["material_id"] for m in state.materials
    ):
        return state
    return replace(state, materials=(*state.materials, material))


def _material_removed(state: CaseState, event: Event, p: Mapping[str, Any]) -> CaseState:
    """A page taken off its slot (删除, or 重拍 before a new one): only while the case is still before the
    window's decision or awaiting corrections; an accepted case keeps what it was accepted with."""
    if state.status not in (RECEIVED, CORRECTION_REQUESTED):
        return _anomaly(state, event, f"material removed in status {state.status}")
    kept = tuple(
        m for m in state.materials if not (m["blob"] == p["blob"] and m["material_id"] == p["material_id"])
    )
    if len(kept) == len(state.materials):
        return _anomaly(state, event, "no such page on the case")
    return replace(state, materials=kept)


def _accepted(state: CaseState, event: Event, p: Mapping[str, Any], *, waiver: bool) -> CaseState:
    if state.status != RECEIVED:
        return _anomaly(state, event, f"accept in status {state.status}")
    state = replace(
        state,
        status=ACCEPTED,
        accepted_at=str(p["accepted_at"]),
        promised_days=int(p.get("promised_days", 0)),
        promised_date=str(p.get("promised_date", "")),
        promised_provisional=tuple(int(y) for y in p.get("promised_provisional", ())),
        collection=str(p.get("collection", "window")),
        accepted_by=event.actor,
    )
    if not waiver:
        if p.get("notice_no"):
            state = replace(
                state, notices=_notice(state, event, "acceptance", p["notice_no"], p["accepted_at"])
            )
        return state
    waived = [dict(m) for m in p["waived"]]
    if not waived:
        return _anomaly(state, event, "容缺受理 without a waived material")
    notices = _notice(state, event, "waiver_commitment", p["commitment_no"], p["accepted_at"])
    state = replace(state, notices=notices)
    notices = _notice(state, event, "waiver_notice", p["notice_no"], p["accepted_at"])
    return replace(
        state,
        notices=notices,
        waiver={
            "materials": waived,
            "supply_by": str(p["supply_by"]),
            "commitment_signature": str(p.get("commitment_signature", "")),
            "supplied_at": "",
        },
    )


def _decided(state: CaseState, event: Event, p: Mapping[str, Any], *, on_spot: bool) -> CaseState:
    if state.status not in DECIDABLE:
        return _anomaly(state, event, f"decision in status {state.status}")
    outcome = str(p["outcome"])
    if outcome not in ("approve", "deny"):
        return _anomaly(state, event, f"unknown outcome {outcome}")
    decision = Decision(
        outcome,
        str(p.get("reason", "")),
        str(p["department"]),
        event.actor,
        str(p["decided_at"]),
        on_spot=on_spot,
    )
    state = replace(state, status=APPROVED if outcome == "approve" else DENIED, decision=decision)
    if on_spot and p.get("documents"):
        # 即办件: the node renders the result document at the decision; it is at the window at once.
        state = replace(state, documents=_documents(p["documents"]))
        state = replace(state, result_arrived={"at": str(p["decided_at"]), "node": event.authority})
    return state


def _documents(raw: Any) -> tuple[Mapping[str, Any], ...]:
    """Result documents as an event lists them (each names its blob by the plaintext's SHA-256)."""
    documents = []
    for d in raw:
        if not _is_digest(d["blob"]):
            raise ValueError(f"document blob {d['blob']!r} is not a SHA-256")
        documents.append(
            {
                "kind": str(d["kind"]),
                "title": str(d["title"]),
                "number": str(d.get("number", "")),
                "blob": str(d["blob"]),
                "media_type": str(d.get("media_type", "application/pdf")),
                "size": int(d.get("size", 0)),
            }
        )
    if not documents:
        raise ValueError("no documents")
    return tuple(documents)


def _backoffice(state: CaseState, event: Event, p: Mapping[str, Any]) -> CaseState:
    """Routing, opinions, pauses and extension: only while the case is with the back office (受理后、决定前)."""
    if state.status != ACCEPTED:
        return _anomaly(state, event, f"{EVENT_LABELS[event.type]} in status {state.status}")
    if event.type == CASE_ROUTED:
        if state.routing is not None:
            return _anomaly(state, event, "case already routed")
        departments = [{"code": str(d["code"]), "name": str(d["name"])} for d in p["departments"]]
        if not departments:
            return _anomaly(state, event, "routed to no department")
        routing = {
            "departments": departments,
            "lead": departments[0]["code"],
            "joint": bool(p.get("joint", False)),
            "routed_at": str(p["routed_at"]),
        }
        return replace(state, routing=routing)
    if event.type == CASE_OPINION_GIVEN:
        if state.routing is None or not any(
            d["code"] == p["department"] for d in state.routing["departments"]
        ):
            return _anomaly(
                state, event, f"opinion from a department the case is not routed to ({p['department']})"
            )
        if any(o["department"] == p["department"] for o in state.opinions):
            return _anomaly(state, event, f"second opinion from {p['department']}")
        opinion = {
            "department": str(p["department"]),
            "department_name": str(p.get("department_name", "")),
            "agree": p["agree"] is True,
            "comment": str(p.get("comment", "")),
            "given_at": str(p["given_at"]),
            "by": event.actor,
        }
        return replace(state, opinions=(*state.opinions, opinion))
    if event.type == CASE_CLOCK_PAUSED:
        if state.open_pause is not None:
            return _anomaly(state, event, "the clock is already paused")
        pause = {
            "pause_id": str(p["pause_id"]),
            "kind": str(p["kind"]),
            "reason": str(p.get("reason", "")),
            "started_at": str(p["started_at"]),
            "ended_at": "",
        }
        return replace(state, pauses=(*state.pauses, pause))
    if event.type == CASE_CLOCK_RESUMED:
        current = state.open_pause
        if current is None or current["pause_id"] != p["pause_id"]:
            return _anomaly(state, event, f"resume of a pause not running ({p['pause_id']})")
        ended = {**current, "ended_at": str(p["ended_at"])}
        return replace(state, pauses=tuple(ended if x is current else x for x in state.pauses))
    if state.extension is not None:  # CASE_EXTENDED: art. 42 allows one extension
        return _anomaly(state, event, "case already extended")
    extension = {
        "days": int(p["days"]),
        "reason": str(p["reason"]),
        "approved_by": str(p["approved_by"]),
        "approved_at": str(p["approved_at"]),
    }
    return replace(state, extension=extension)


def _custody(state: CaseState, event: Event, p: Mapping[str, Any]) -> CaseState:
    """A parcel step joins the case's chain of custody. The courier's 妥投 of the mailed result is its
    出件: the case is then issued (closed) as if collected at the window."""
    step = {
        **dict(p),
        "step": CUSTODY_STEPS[event.type],
        "parcel_id": str(p["parcel_id"]),
        "at": str(p["at"]),
        "actor": event.actor,
        "authority": event.authority,
        "event_id": event.id,
    }
    state = replace(state, custody=(*state.custody, step))
    if event.type == PARCEL_DELIVERED and p.get("kind") == "result":
        if state.status != MAILING:
            return _anomaly(state, event, f"mailed result delivered in status {state.status}")
        issue = {**dict(state.issue or {}), "issued_at": step["at"], "delivered": True}
        issue.update(parcel_id=step["parcel_id"], tracking_number=str(p.get("tracking_number", "")))
        return replace(state, status=ISSUED, issue=issue)
    return state


def _consult(state: CaseState, event: Event, p: Mapping[str, Any]) -> CaseState:
    """远程帮办: a window's question with scans, and the department's answer with annotations (one each)."""
    consult_id = str(p["consult_id"])
    found = next((c for c in state.consults if c["consult_id"] == consult_id), None)
    if event.type == CASE_CONSULT_REQUESTED:
        if found is not None:
            return _anomaly(state, event, f"consult {consult_id} asked twice")
        scans = [{k: str(s[k]) for k in ("blob", "filename", "media_type")} for s in p.get("scans", [])]
        consult = {
            "consult_id": consult_id,
            "question": str(p["question"]),
            "department": str(p.get("department", "")),
            "scans": scans,
            "asked_at": str(p["asked_at"]),
            "asked_by": event.actor,
            "answer": "",
            "annotations": [],
            "answered_at": "",
            "answered_by": "",
        }
        return replace(state, consults=(*state.consults, consult))
    if found is None or found["answered_at"]:
        return _anomaly(state, event, f"answer to a consult not open ({consult_id})")
    answered = {
        **found,
        "answer": str(p["answer"]),
        "annotations": [dict(a) for a in p.get("annotations", [])],
        "answered_at": str(p["answered_at"]),
        "answered_by": event.actor,
        "answered_department": str(p.get("department_name", "")),
    }
    return replace(state, consults=tuple(answered if c is found else c for c in state.consults))


def apply_event(state: CaseState, event: Event) -> CaseState:
    """One step of the fold. Total: an event that does not fit becomes an anomaly, never an exception."""
    state = replace(state, event_count=state.event_count + 1, last_hlc=max(state.last_hlc, event.hlc))
    p = event.payload
    try:
        if event.type == CASE_RECEIVED:
            return _received(state, event, p)
        if state.status is None:
            return _anomaly(state, event, "event before the case was received")
        if event.type == MATERIAL_ATTACHED:
            return _material(state, event, p)
        if event.type == MATERIAL_REMOVED:
            return _material_removed(state, event, p)
        if event.type == CASE_ACCEPTED:
            return _accepted(state, event, p, waiver=False)
        if event.type == CASE_ACCEPTED_WITH_WAIVER:
            return _accepted(state, event, p, waiver=True)
        if event.type == CASE_CORRECTION_REQUESTED:
            if state.status != RECEIVED:  # art. 32: all corrections at once, so one notice per submission
                return _anomaly(state, event, f"correction notice in status {state.status}")
            corrections = tuple(dict(c) for c in p["corrections"])
            if not corrections:
                return _anomaly(state, event, "correction notice without corrections")
            notices = _notice(state, event, "correction", p["notice_no"], p["issued_at"])
            return replace(state, status=CORRECTION_REQUESTED, corrections=corrections, notices=notices)
        if event.type == CASE_CORRECTED:
            if state.status != CORRECTION_REQUESTED:
                return _anomaly(state, event, f"补正 in status {state.status}")
            at = str(p["corrected_at"])
            return replace(state, status=RECEIVED, corrected_at=at, clock_from=at)
        if event.type == CASE_REFUSED:
            if state.status not in (RECEIVED, CORRECTION_REQUESTED):
                return _anomaly(state, event, f"refusal in status {state.status}")
            refusal = {
                k: p.get(k, "")
                for k in ("reasons", "legal_basis", "competent_organ", "reconsideration_organ", "court")
            }
            refusal["refused_at"] = str(p["refused_at"])
            notices = _notice(state, event, "refusal", p["notice_no"], p["refused_at"])
            return replace(state, status=REFUSED, refusal=refusal, notices=notices)
        if event.type == CASE_DEEMED_ACCEPTED:
            if state.status not in (RECEIVED, CORRECTION_REQUESTED) or state.deemed_accepted:
                return _anomaly(state, event, f"deemed acceptance in status {state.status}")
            return replace(state, deemed_accepted_at=str(p["deemed_at"]))
        if event.type == CASE_WAIVER_SUPPLIED:
            if state.status != ACCEPTED or not state.waiver_pending:
                return _anomaly(state, event, f"容缺补齐 in status {state.status}")
            assert state.waiver is not None
            return replace(state, waiver={**state.waiver, "supplied_at": str(p["supplied_at"])})
        if event.type == CASE_TERMINATED:
            if state.status != ACCEPTED or not state.waiver_pending:
                return _anomaly(state, event, f"termination in status {state.status}")
            termination = {"reason": str(p["reason"]), "terminated_at": str(p["terminated_at"])}
            return replace(state, status=TERMINATED, termination=termination)
        if event.type == CASE_DECIDED_ON_SPOT:
            return _decided(state, event, p, on_spot=True)
        if event.type == CASE_DECIDED:
            return _decided(state, event, p, on_spot=False)
        if event.type == CASE_ARCHIVED:
            if state.status not in ARCHIVABLE:
                return _anomaly(state, event, f"archived in status {state.status}")
            archive = {**dict(p), "package": str(p["package_blob"]), "event_id": event.id}
            return replace(state, archive=archive)
        if event.type == CASE_ARCHIVE_CONFIRMED:
            check = {**dict(p), "package": str(p["package"]), "passed": p["passed"] is True}
            return replace(state, archive_checks=(*state.archive_checks, check))
        if event.type in (
            CASE_ROUTED,
            CASE_OPINION_GIVEN,
            CASE_CLOCK_PAUSED,
            CASE_CLOCK_RESUMED,
            CASE_EXTENDED,
        ):
            return _backoffice(state, event, p)
        if event.type == CASE_LICENCE_ISSUED:
            if state.status not in (APPROVED, ISSUED, MAILING) or state.decision is None:
                return _anomaly(state, event, f"licence in status {state.status}")
            if state.decision.outcome != "approve":
                return _anomaly(state, event, "licence for a denied case")
            return replace(state, licence={**dict(p), "identifier": str(p["identifier"])})
        if event.type == CASE_RESULT_DISPATCHED:
            if state.status not in RESULT_READY:
                return _anomaly(state, event, f"dispatch in status {state.status}")
            return replace(state, dispatch={**dict(p), "to_node": str(p["to_node"])})
        if event.type == CASE_RESULT_DOCUMENTS:
            if state.status not in RESULT_READY or state.decision is None or state.decision.on_spot:
                return _anomaly(state, event, f"result documents in status {state.status}")
            if state.documents:
                return _anomaly(state, event, "result documents made twice")
            return replace(state, documents=_documents(p["documents"]))
        if event.type == CASE_RESULT_ARRIVED:
            if not state.documents or state.result_arrived is not None:
                return _anomaly(state, event, "result arrived without documents, or twice")
            return replace(state, result_arrived={"at": str(p["arrived_at"]), "node": event.authority})
        if event.type in (CASE_CONSULT_REQUESTED, CASE_CONSULT_ANSWERED):
            return _consult(state, event, p)
        if event.type in CUSTODY_STEPS:
            return _custody(state, event, p)
        if event.type == CASE_PRE_REVIEWED:
            pre = {**dict(p), "result": str(p["result"]), "reviewed_at": str(p["reviewed_at"])}
            return replace(state, pre_acceptance=pre)
        if event.type in (CASE_ISSUED, CASE_HANDED_TO_LOGISTICS):
            if state.status not in RESULT_READY:
                return _anomaly(state, event, f"issuing in status {state.status}")
            issue = dict(p)
            if event.type == CASE_ISSUED:
                notices = _notice(state, event, "pickup", p["receipt_no"], p["issued_at"])
                return replace(state, status=ISSUED, issue=issue, notices=notices)
            return replace(state, status=MAILING, issue=issue)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return _anomaly(state, event, f"malformed payload ({exc})")
    return _anomaly(state, event, "unknown event type")


def fold(case_id: str, events: Iterable[Event]) -> CaseState:
    """The state of a case from its events, in (hlc, id) order, duplicates by id counted once."""
    seen: set[str] = set()
    state = CaseState(case_id=case_id)
    for event in sorted(events, key=sort_key):
        if event.id in seen or event.case_id != case_id:
            continue
        seen.add(event.id)
        state = apply_event(state, event)
    return state


def event_columns(event: Event) -> dict[str, Any]:
    """An event as the flat columns both sides store it in (payload as canonical JSON text).

    The payload is encoded once and the content hash is taken over the canonical form of the whole event built
    around it (the keys of `Event.to_dict` in sorted order: the same bytes as `canonical_json(to_dict())`), not
    encoded a second time: ingest stores tens of thousands of events a second (issue 20)."""
    payload = canonical_json(dict(event.payload))
    head = canonical_json(
        {
            "actor": event.actor,
            "authority": event.authority,
            "case_id": event.case_id,
            "hlc": event.hlc,
            "id": event.id,
        }
    )
    tail = canonical_json({"schema": event.schema, "type": event.type})
    whole = head[:-1] + b',"payload":' + payload + b"," + tail[1:]
    return {
        "id": event.id,
        "case_id": event.case_id,
        "type": event.type,
        "authority": event.authority,
        "actor": event.actor,
        "hlc": event.hlc,
        "payload": payload.decode("utf-8"),
        "schema_version": event.schema,
        "content_hash": hashlib.sha256(whole).hexdigest(),
    }


def event_from_columns(
    *,
    id: str,
    case_id: str,
    type: str,
    authority: str,
    actor: str,
    hlc: int,
    payload: str,
    schema_version: int,
) -> Event:
    """An event from the columns `event_columns` stored it in (payload as JSON text): the one way back from a
    stored row, at both ends."""
    return Event(id, case_id, type, authority, actor, hlc, json.loads(payload), schema_version)


def projection_columns(state: CaseState) -> dict[str, Any]:
    """The columns of a case's list row that node and central both keep (rebuilt from the fold)."""
    return {
        "case_number": state.case_number,
        "item_code": state.item_code,
        "item_name": state.item_name,
        "applicant_name": str(state.applicant.get("name", "")),
        "status": state.status or "",
        "received_at": state.received_at,
        "accepted_at": state.accepted_at,
        "decision": state.decision.outcome if state.decision else "",
        "promised_date": state.promised_date,
        "supply_by": str(state.waiver["supply_by"]) if state.waiver_pending and state.waiver else "",
        "deemed_accepted": state.deemed_accepted,
        "anomalies": len(state.anomalies),
    }


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and not value.strip("0123456789abcdef")


def blob_refs(event: Event) -> set[str]:
    """The SHA-256 names of the attachments an event refers to: any payload field called ``blob`` or
    ``signature``, or ending in ``_blob`` / ``_signature``, at any depth, whose value is a digest."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                name = str(key)
                if name in ("blob", "signature") or name.endswith(("_blob", "_signature")):
                    if _is_digest(inner):
                        found.add(inner)
                walk(inner)
        elif isinstance(value, list | tuple):
            for inner in value:
                walk(inner)

    walk(event.payload)
    return found


@dataclass(frozen=True, slots=True)
class TripStep:
    """One step of a case's round trip (一窗受理 → 部门决定 → 结果到窗 → 领取): when it happened ("" not yet)."""

    key: str  # accepted | decided | at_window | collected
    label: str
    at: str
    detail: str = ""
    took: str = ""  # the time since the step before, as staff read it ("2天3小时"); "" when not known


def duration_text(start: str, end: str) -> str:
    """The time between two ISO stamps in days, hours and minutes ("" when either is missing)."""
    if not start or not end:
        return ""
    seconds = int((_instant(end) - _instant(start)).total_seconds())
    if seconds < 0:
        return ""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}天{hours}小时"
    if hours:
        return f"{hours}小时{minutes}分"
    return f"{minutes}分钟" if minutes else "不到1分钟"


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def round_trip(state: CaseState) -> tuple[TripStep, ...]:
    """The round trip of a case as both ends show it and supervision counts it: acceptance, decision, the
    result at the window (its documents arrived at the issuing centre), pickup (or mailing)."""
    decision = state.decision
    issue = state.issue or {}
    collected = str(issue.get("issued_at") or issue.get("handed_at") or "")
    how = ""
    if issue:
        how = "窗口领取" if issue.get("method") == "pickup" else "邮寄送达"
    arrived = state.result_arrived or {}
    at_window = str(arrived.get("at", ""))
    where = state.centre_name
    if state.dispatch is not None and state.dispatch.get("nearby"):
        where = str(state.dispatch.get("centre_name", ""))
    if not at_window and decision is not None and not state.documents and collected:
        at_window = decision.decided_at  # a result decided before documents travelled: at the window at once
    steps = (
        TripStep("accepted", "受理", state.accepted_at, state.centre_name),
        TripStep(
            "decided",
            "办理决定",
            decision.decided_at if decision else "",
            (decision.department + ("（当场办结）" if decision.on_spot else "")) if decision else "",
        ),
        TripStep("at_window", "结果到窗", at_window, where if at_window else ""),
        TripStep("collected", "领取", collected, how),
    )
    timed: list[TripStep] = []
    previous = ""
    for step in steps:
        timed.append(replace(step, took=duration_text(previous, step.at)))
        previous = step.at or previous
    return tuple(timed)
