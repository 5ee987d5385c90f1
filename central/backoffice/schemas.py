"""The JSON bodies and answers of the back-office API as typed structs: what `/schema` documents and the framework
checks (a wrong type is refused with the field named). A per-field bound, when one is declared, goes on the
field as ``Annotated[…, msgspec.Meta(…)]``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from protocol.limits import MAX_CODE, MAX_LIST, MAX_TEXT

Code = Annotated[str, msgspec.Meta(max_length=MAX_CODE)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]


class DecisionRequest(msgspec.Struct):
    """``POST /api/v1/cases/{case_id}/decision``: the county's 准予 / 不予 on an accepted case."""

    #: approve (准予) | deny (不予).
    outcome: Code = ""
    #: Required for a denial (printed on the decision with the appeal rights).
    reason: Text = ""


class DecisionAnswer(msgspec.Struct):
    case_id: str
    status: str | None


class WorkStep(msgspec.Struct):
    """``POST /api/v1/work/{case_id}/{action}`` (and the workbench's forms): one step on a routed case. Which
    fields count depends on the action: opinion (agree, comment), pause (kind, reason), resume, extend (reason),
    decide (outcome, reason), dispatch (to_node)."""

    #: opinion: true, or one of "true", "1", "agree" (a form's checkbox), to agree.
    agree: bool | Code = ""
    comment: Text = ""
    #: pause: correction | hearing | survey | expert_review | testing (`central.backoffice.deadlines`).
    kind: Code = ""
    reason: Text = ""
    #: decide: approve | deny.
    outcome: Code = ""
    #: dispatch: the centre where the result is issued (就近办), by node id; empty for the origin centre.
    to_node: Code | None = None

    @property
    def agrees(self) -> bool:
        return str(self.agree) in ("true", "1", "agree", "True")


class WorkStepAnswer(msgspec.Struct):
    """The routed case after a step: status, opinions, pauses, extension, e-licence and its clock."""

    case_id: str
    status: str | None
    opinions: list[dict[str, Any]]
    pauses: list[dict[str, Any]]
    extension: dict[str, Any] | None
    licence: dict[str, Any] | None
    clock: dict[str, Any] | None


class Annotation(msgspec.Struct):
    """A note on a scan of the window's question: which scan (by blob), which page, what it says."""

    blob: Code = ""
    note: Text = ""
    page: Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)] = 1


class ConsultAnswerRequest(msgspec.Struct):
    """``POST /api/v1/consults/{case_id}/{consult_id}/answer``: a department's answer to a window (帮办答复)."""

    answer: Text = ""
    annotations: Annotated[list[Annotation], msgspec.Meta(max_length=MAX_LIST)] | None = None


class ConsultAnswer(msgspec.Struct):
    case_id: str
    consults: list[dict[str, Any]]
