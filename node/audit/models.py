"""The node's audit table (审计日志): one row per request by a logged-in staff member, plus every login attempt.

Rows are only ever inserted: the migration adds SQLite triggers that refuse UPDATE and DELETE, and each row's
``entry_hash`` chains it to the one before (rules in `protocol.audit`; columns, append, search and the chain
check in `common.audit`), so a row removed or edited behind the triggers' back shows up in `verify`."""

from __future__ import annotations

from sqlalchemy import Index

from common.audit import AUDIT_INDEXES, AuditColumns
from node.models import NodeTable


class AuditEntry(AuditColumns, NodeTable, table=True):
    """One audited request (columns: `common.audit.AuditColumns`)."""

    __tablename__ = "audit_entry"
    __table_args__ = tuple(Index(name, *columns) for name, columns in AUDIT_INDEXES)
