"""Case events and the deterministic fold that turns them into a case's state.

A case (办件) is the fold of its events. Events are immutable and carry their authority: the node authors intake
events (收件, 材料, 受理), central authors back-office events (办理决定). The fold sorts by (hlc, id), never raises,
and records an event that does not fit the state it meets as an anomaly, so node and central, folding the same
set of events, always reach the same state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from protocol.canonical import canonical_json
from protocol.ids import is_uuid

EVENT_SCHEMA = 1

# Event types, with who may author them.
CASE_RECEIVED = "case.received"  # 收件: materials and application received at the window
MATERIAL_ATTACHED = "case.material_attached"  # 材料: a captured file attached to a checklist slot
CASE_ACCEPTED = "case.accepted"  # 受理
CASE_DECIDED = "case.decided"  # 办理决定 (central: approve / deny)

NODE_EVENT_TYPES = frozenset({CASE_RECEIVED, MATERIAL_ATTACHED, CASE_ACCEPTED})
CENTRAL_EVENT_TYPES = frozenset({CASE_DECIDED})
EVENT_TYPES = NODE_EVENT_TYPES | CENTRAL_EVENT_TYPES

# Case statuses, in workflow order.
RECEIVED = "received"  # 已收件
ACCEPTED = "accepted"  # 已受理
APPROVED = "approved"  # 准予
DENIED = "denied"  # 不予
STATUS_LABELS = {RECEIVED: "已收件", ACCEPTED: "已受理", APPROVED: "已办结（准予）", DENIED: "已办结（不予）"}


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
    """The back office's decision as the case knows it."""

    outcome: str  # "approve" | "deny"
    reason: str
    department: str
    decided_by: str
    decided_at: str


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
    received_at: str = ""
    accepted_at: str = ""
    promised_days: int = 0
    materials: tuple[Mapping[str, Any], ...] = ()
    decision: Decision | None = None
    received_by: str = ""
    accepted_by: str = ""
    event_count: int = 0
    last_hlc: int = 0
    anomalies: tuple[str, ...] = ()

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status or "", "未知")


def _anomaly(state: CaseState, event: Event, reason: str) -> CaseState:
    return replace(state, anomalies=(*state.anomalies, f"{event.type} {event.id}: {reason}"))


def apply_event(state: CaseState, event: Event) -> CaseState:
    """One step of the fold. Total: an event that does not fit becomes an anomaly, never an exception."""
    state = replace(state, event_count=state.event_count + 1, last_hlc=max(state.last_hlc, event.hlc))
    p = event.payload
    try:
        if event.type == CASE_RECEIVED:
            if state.status is not None:
                return _anomaly(state, event, "case already received")
            return replace(
                state,
                status=RECEIVED,
                case_number=str(p["case_number"]),
                origin_node=event.authority,
                centre_name=str(p.get("centre_name", "")),
                item_code=str(p["item_code"]),
                item_name=str(p.get("item_name", "")),
                catalogue_version=int(p.get("catalogue_version", 0)),
                applicant=dict(p["applicant"]),
                received_at=str(p["received_at"]),
                received_by=event.actor,
            )
        if event.type == MATERIAL_ATTACHED:
            if state.status is None:
                return _anomaly(state, event, "material before the case was received")
            material = {k: p[k] for k in ("material_id", "blob", "filename", "size", "media_type")}
            if any(
                m["blob"] == material["blob"] and m["material_id"] == material["material_id"]
                for m in state.materials
            ):
                return state
            return replace(state, materials=(*state.materials, material))
        if event.type == CASE_ACCEPTED:
            if state.status != RECEIVED:
                return _anomaly(state, event, f"accept in status {state.status}")
            return replace(
                state,
                status=ACCEPTED,
                accepted_at=str(p["accepted_at"]),
                promised_days=int(p.get("promised_days", 0)),
                accepted_by=event.actor,
            )
        if event.type == CASE_DECIDED:
            if state.status != ACCEPTED:
                return _anomaly(state, event, f"decision in status {state.status}")
            outcome = str(p["outcome"])
            if outcome not in ("approve", "deny"):
                return _anomaly(state, event, f"unknown outcome {outcome}")
            decision = Decision(
                outcome, str(p.get("reason", "")), str(p["department"]), event.actor, str(p["decided_at"])
            )
            return replace(state, status=APPROVED if outcome == "approve" else DENIED, decision=decision)
    except (KeyError, TypeError, ValueError) as exc:
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
    """An event as the flat columns both sides store it in (payload as canonical JSON text)."""
    return {
        "id": event.id,
        "case_id": event.case_id,
        "type": event.type,
        "authority": event.authority,
        "actor": event.actor,
        "hlc": event.hlc,
        "payload": canonical_json(dict(event.payload)).decode("utf-8"),
        "schema_version": event.schema,
        "content_hash": event.content_hash,
    }


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
        "anomalies": len(state.anomalies),
    }
