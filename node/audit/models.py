"""The node's audit table (审计日志): one row per request by a logged-in staff member, plus every login attempt.

Rows are only ever inserted: the migration adds SQLite triggers that refuse UPDATE and DELETE, and each row's
``entry_hash`` chains it to the one before (rules in `protocol.audit`), so a row removed or edited behind the
triggers' back shows up in `verify_chain`."""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field

from node.models import NodeTable


class AuditEntry(NodeTable, table=True):
    """One audited request: who (actor, role), what (action, method, path, route, object), outcome (status)."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_actor", "actor", "id"),
        Index("ix_audit_object", "object_id", "id"),
        Index("ix_audit_action", "action", "id"),
    )
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # gap-free from 1
    at: str  # runtime clock, UTC ISO with milliseconds
    actor: str  # username; for a failed login, the username that was tried
    role: str
    action: str  # protocol.audit.ACTION_LABELS
    method: str
    path: str
    route: str  # the route template, e.g. /cases/{case_id}/accept
    query: str  # parameter names only, never values
    object_type: str
    object_id: str
    status: int
    client: str
    prev_hash: str
    entry_hash: str
