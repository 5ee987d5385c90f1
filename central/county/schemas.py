"""The JSON bodies and answers of the county's API (login, fleet, node staff) as typed structs: what `/schema`
documents and the framework checks. A per-field bound, when one is declared, goes on the field as
``Annotated[…, msgspec.Meta(…)]``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from protocol.limits import MAX_CODE, MAX_NAME


class LoginRequest(msgspec.Struct):
    """``POST /api/v1/login``: a back-office account's credentials."""

    username: Annotated[str, msgspec.Meta(max_length=MAX_CODE)] = ""
    password: Annotated[str, msgspec.Meta(max_length=MAX_NAME)] = ""


class LoggedInUser(msgspec.Struct):
    """The account a session belongs to."""

    username: str
    display_name: str
    role: str
    #: The role as staff read it (审核, 县管理员, 督查).
    role_label: str


class LoginAnswer(msgspec.Struct):
    user: LoggedInUser


class NodeStaffView(msgspec.Struct):
    """A node's staff account as central holds it (never its password hash)."""

    username: str
    display_name: str
    role: str
    disabled: bool
    #: Item codes of the 即办件 a lead may decide on the spot.
    authorities: list[str]
    version: int
    updated_at: str
    updated_by: str


class NodeStaffAnswer(msgspec.Struct):
    staff: list[NodeStaffView]


class FleetAnswer(msgspec.Struct):
    """``GET /api/v1/nodes``: every node with what needs attention (see `central.county.fleet.FleetRow`)."""

    nodes: list[dict[str, Any]]
