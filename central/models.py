"""Central's tables, all of them (its own metadata, separate from the node's): the one module Alembic's environment
and every domain read the schema from."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, MetaData, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from common.audit import AUDIT_INDEXES, AuditColumns


class CentralTable(SQLModel):
    metadata = MetaData()


class NodeRecord(CentralTable, table=True):
    """A node of the county: registered at provisioning, active after its enrolment entry arrives."""

    __tablename__ = "node"
    node_id: str = Field(primary_key=True)
    name: str
    division: str
    number: int
    status: str = "pending"  # pending | active | revoked
    secret_digest: str
    expires_at: str
    sign_key: str | None = None
    age_recipient: str | None = None
    up_seq: int = 0
    up_hash: str = "0" * 64
    down_seq: int = 0
    down_hash: str = "0" * 64
    down_acked: int = 0
    enrolled_at: str | None = None
    last_contact_at: str | None = None
    last_node_time: str | None = None
    #: The one-time challenge the node's next reconcile must carry back to count as contact (replay rule).
    contact_challenge: str | None = None
    #: The node's clock minus central's, measured at its last contact (milliseconds).
    skew_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    #: What the node said of itself at its last reconcile (queue, oldest unsent, version, devices …), JSON.
    reported: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: The node's number counters as its entries last stated them (JSON): handed back to a node restored
    #: from an older backup so it never issues a case or notice number twice.
    counters: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: Fingerprint of the newest county signing key the node trusts (what central answers it in).
    county_key: str | None = None
    #: The newest county key generation announced in the node's down log (1: none needed).
    county_keys_sent: int = 1
    #: Revocation (R-PROV-4): when, why, and the up head at that moment: entries after it are quarantined.
    revoked_at: str | None = None
    revoked_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    revoked_after_seq: int | None = None
    #: The node's earlier public keys (JSON list of {sign_key, age_recipient, until_seq, replaced_at}) after it
    #: rotated its own keys: what older entries and archive packages were signed with.
    key_history: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class UpEntryRecord(CentralTable, table=True):
    """Every up entry received, exactly as signed (kept as proof and for re-reading)."""

    __tablename__ = "up_entry"
    node_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    prev_hash: str
    entry_hash: str
    kind: str
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: str


class DownEntryRecord(CentralTable, table=True):
    """Every down entry written for a node."""

    __tablename__ = "down_entry"
    node_id: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    prev_hash: str
    entry_hash: str
    kind: str
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: str


class EventRecord(CentralTable, table=True):
    """Every case event central knows, from nodes and its own back office. Unique by id."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_central_event_case", "case_id", "hlc"),)
    id: str = Field(primary_key=True)
    case_id: str
    type: str
    authority: str
    actor: str
    hlc: int = Field(sa_column=Column(BigInteger, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    schema_version: int = 1
    content_hash: str
    node_id: str | None = None
    up_seq: int | None = None


class CaseRecord(CentralTable, table=True):
    """Projection of each case for the back office's lists."""

    __tablename__ = "case"
    __table_args__ = (UniqueConstraint("case_number", name="uq_case_number"),)
    case_id: str = Field(primary_key=True)
    case_number: str
    origin_node: str = Field(index=True)
    centre_name: str
    item_code: str = Field(index=True)
    item_name: str
    applicant_name: str
    status: str = Field(index=True)
    received_at: str
    accepted_at: str = ""
    decision: str = ""
    decided_at: str = ""
    promised_date: str = ""
    supply_by: str = ""
    deemed_accepted: bool = False
    anomalies: int = 0


class QuarantineRecord(CentralTable, table=True):
    """Entries (or their payloads) that could not be applied: kept with the reason, never silently dropped."""

    __tablename__ = "quarantine"
    id: int | None = Field(default=None, primary_key=True)
    node_id: str = Field(index=True)
    seq: int
    entry_hash: str
    code: str
    reason: str = Field(sa_column=Column(Text, nullable=False))
    received_at: str
    wire: str = Field(sa_column=Column(Text, nullable=False))
    #: The county's review: "" (waiting), "released" (applied after review) or "rejected" (kept, not applied).
    resolution: str = ""
    resolved_by: str | None = None
    resolved_at: str | None = None
    resolution_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class CentralUser(CentralTable, table=True):
    """Back-office accounts (reviewers, county admins, supervisors)."""

    __tablename__ = "central_user"
    username: str = Field(primary_key=True)
    display_name: str
    role: str
    password_hash: str
    disabled: bool = False


class NodeStaffRecord(CentralTable, table=True):
    """A node's staff account as the county manages it (R-PROV-3): seeded from provisioning, changed on the
    staff page, each change sent down to the node with the next `version`. Hashes only, never passwords."""

    __tablename__ = "node_staff"
    node_id: str = Field(primary_key=True)
    username: str = Field(primary_key=True)
    display_name: str
    role: str
    password_hash: str
    disabled: bool = False
    authorities: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list of item codes
    version: int = 1
    updated_at: str
    updated_by: str


class LoginAttemptRecord(CentralTable, table=True):
    """Failed back-office logins by username: five in a row lock the name for fifteen minutes."""

    __tablename__ = "login_attempt"
    username: str = Field(primary_key=True)
    failures: int = 0
    last_failed_at: str
    locked_until: str | None = None


class StaffSessionRecord(CentralTable, table=True):
    """Open back-office logins, by the digest of their session id: a logout ends one for good."""

    __tablename__ = "staff_session"
    sid_digest: str = Field(primary_key=True)
    username: str = Field(index=True)
    issued_at: str
    ended_at: str | None = None


class RatingRecord(CentralTable, table=True):
    """Projection of each rating (好差评) and its follow-up, for supervision."""

    __tablename__ = "rating"
    rating_id: str = Field(primary_key=True)
    origin_node: str = Field(index=True)
    level: int = Field(index=True)
    channel: str
    rated_at: str = Field(index=True)
    case_number: str = ""
    item_name: str = ""
    staff: str = ""
    window: str = ""
    comment: str = ""
    reason: str = ""  # 差评原因类别 (protocol.hall.RATING_REASONS key)
    followup_due: str = ""
    called_back_at: str = ""
    closed_at: str = ""
    rectification: str = ""


class ComplaintRecord(CentralTable, table=True):
    """Projection of each complaint (投诉) registered at a centre."""

    __tablename__ = "complaint"
    complaint_id: str = Field(primary_key=True)
    origin_node: str = Field(index=True)
    channel: str
    complainant: str
    content: str
    case_number: str = ""
    registered_at: str = Field(index=True)
    assignee: str = ""
    due: str = ""
    resolution: str = ""
    resolved_at: str = ""


class BlobRecord(CentralTable, table=True):
    """An attachment that arrived whole: its plaintext hash verified after decryption, the bytes in the store."""

    __tablename__ = "blob"
    sha256: str = Field(primary_key=True)
    node_id: str = Field(index=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    media_type: str
    filename: str
    received_at: str


class ExpectedBlobRecord(CentralTable, table=True):
    """A blob some event refers to: central knows a case is complete when all of these arrived."""

    __tablename__ = "expected_blob"
    sha256: str = Field(primary_key=True)
    node_id: str = Field(index=True)
    case_id: str = Field(index=True)
    first_seen_at: str


class UploadRecord(CentralTable, table=True):
    """A tus upload in progress (or finished): the bytes so far sit in ``uploads/<upload_id>.part``."""

    __tablename__ = "upload"
    upload_id: str = Field(primary_key=True)
    node_id: str = Field(index=True)
    sha256: str  # the plaintext's hash, as the node declared it
    length: int = Field(sa_column=Column(BigInteger, nullable=False))
    media_type: str
    filename: str
    compression: str = ""
    created_at: str
    completed_at: str | None = None
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ArchiveRecord(CentralTable, table=True):
    """An archive package (归档信息包) received from a node, with the four-property check central ran on it
    (移交接收检测) and the event that told the node: confirmed, or refused with the failed items."""

    __tablename__ = "archive_package"
    sha256: str = Field(primary_key=True)
    node_id: str = Field(index=True)
    case_id: str = Field(index=True)
    case_number: str
    archival_number: str = Field(index=True)
    retention: str
    passed: bool
    failed_items: int = 0
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    report: str = Field(sa_column=Column(Text, nullable=False))  # the full report, JSON
    received_at: str = Field(index=True)
    answer_event: str = ""  # id of the case.archive_confirmed event sent down ("" when no case to answer)


# ---- back office (issue 8): departments, work queue, deadlines, e-licences --------------------------------------


class DepartmentMemberRecord(CentralTable, table=True):
    """A back-office account's place in a department (后台业务部门): reviewer (审核) or head (负责人, who approves
    extensions). Departments themselves are the catalogue's (by unified social credit code)."""

    __tablename__ = "department_member"
    username: str = Field(primary_key=True)
    department_code: str = Field(index=True)
    department_name: str
    position: str = "reviewer"  # reviewer | head


class BackofficeCaseRecord(CentralTable, table=True):
    """A case routed to the back office: its departments and its clock as last computed (work queues, alerts).
    Rebuilt from the case's events; the routing job claims unrouted cases with ``FOR UPDATE SKIP LOCKED``."""

    __tablename__ = "backoffice_case"
    case_id: str = Field(primary_key=True)
    lead_department: str = Field(index=True)
    departments: str = Field(sa_column=Column(Text, nullable=False))  # JSON [{code, name}]
    joint: bool = False
    routed_at: str
    due_on: str = Field(default="", index=True)  # YYYY-MM-DD, promised limit + pauses + extension
    statutory_due_on: str = ""
    level: str = Field(default="ok", index=True)  # ok | warning | due | overdue | paused | done
    remaining_days: int = 0
    updated_at: str = ""


class DeadlineAlertRecord(CentralTable, table=True):
    """A warning (临期预警) or an alert (超期告警) raised once per case, level and due date."""

    __tablename__ = "deadline_alert"
    __table_args__ = (UniqueConstraint("case_id", "level", "due_on", name="uq_deadline_alert"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True)
    level: str  # warning | overdue
    due_on: str
    raised_on: str
    raised_at: str
    raised_by: str = ""  # which central instance's job raised it


class LicenceSerialRecord(CentralTable, table=True):
    """Per issuer and year, the last e-licence serial used (row-locked while a licence is numbered)."""

    __tablename__ = "licence_serial"
    issuer_code: str = Field(primary_key=True)
    year: int = Field(primary_key=True)
    last: int = 0


class LicenceRecord(CentralTable, table=True):
    """An e-licence (电子证照) issued for an approved case, with its GB/T 36904 identifier and result PDF."""

    __tablename__ = "licence"
    identifier: str = Field(primary_key=True)
    case_id: str = Field(index=True, unique=True)
    licence_name: str
    holder: str
    holder_code: str
    issuer_code: str
    issuer_name: str
    issued_at: str


class ResultDocumentRecord(CentralTable, table=True):
    """The result document of a decided case (准予/不予许可决定书) as a PDF, made once at the decision."""

    __tablename__ = "result_document"
    case_id: str = Field(primary_key=True)
    kind: str  # approval | denial
    number: str
    created_at: str
    pdf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CatalogueVersionRecord(CentralTable, table=True):
    """A catalogue version central issued (事项调整, Zhejiang §5.1.3): the whole catalogue as signed, and the change
    that made it (action, item, the §5.1.3 reason)."""

    __tablename__ = "catalogue_version"
    version: int = Field(primary_key=True)
    issued_at: str
    data: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON, as signed
    change: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    signature: str  # base64 Ed25519 by the county key over `data`
    published_by: str


# ---- the audit trail (R-SEC-2): rules in protocol.audit, appends and checks in central.audit.service -------


class AuditEntry(AuditColumns, CentralTable, table=True):
    """One audited request (columns: `common.audit.AuditColumns`)."""

    __tablename__ = "audit_entry"
    __table_args__ = tuple(Index(name, *columns) for name, columns in AUDIT_INDEXES)
