"""The node's shared tables: events and their case projection, the two logs, blobs, counters, staff, catalogue
versions, key/value notes. One metadata for the node (central has its own); a domain with tables of its own (the
hall's tickets, devices, logistics, the audit trail) declares them beside it on `NodeTable`, and `node.schema`
gathers them all. Rows never go over the wire —
services convert them to `protocol` types at the edge."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, Text, text
from sqlmodel import Field, SQLModel

from node.trust.atrest import EncryptedString, EncryptedText


class NodeTable(SQLModel):
    metadata = MetaData()


class Meta(NodeTable, table=True):
    """Small key/value state: down-log head, last sync attempt, clock readings."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class Staff(NodeTable, table=True):
    """Staff accounts distributed by central (hashes only)."""

    __tablename__ = "staff"
    username: str = Field(primary_key=True)
    display_name: str
    role: str
    password_hash: str
    disabled: bool = False
    #: JSON list of the item codes a lead may decide on the spot as 即办件 (empty for other roles).
    authorities: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    #: Central's version of this account: a down entry applies only when it is newer.
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))


class LoginAttempt(NodeTable, table=True):
    """Failed logins by username, kept locally: five in a row lock the name for fifteen minutes."""

    __tablename__ = "login_attempt"
    username: str = Field(primary_key=True)
    failures: int = 0
    last_failed_at: str
    locked_until: str | None = None


class StaffSession(NodeTable, table=True):
    """Open tablet logins, by the digest of their session id: a logout ends one for good (the cookie alone is
    not enough), and each login starts a new one."""

    __tablename__ = "staff_session"
    sid_digest: str = Field(primary_key=True)
    username: str = Field(index=True)
    issued_at: str
    ended_at: str | None = None


class CatalogueVersion(NodeTable, table=True):
    """Every catalogue version the node has received; a case keeps the version it was accepted under."""

    __tablename__ = "catalogue_version"
    version: int = Field(primary_key=True)
    issued_at: str
    data: str = Field(sa_column=Column(Text, nullable=False))


class CaseEvent(NodeTable, table=True):
    """Every event the node knows: its own (origin 'local') and central's (origin 'down')."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_case", "case_id", "hlc"),
        Index("ix_event_unsealed", "origin", "up_seq"),
    )
    id: str = Field(primary_key=True)
    case_id: str
    type: str
    authority: str
    actor: str
    hlc: int = Field(sa_column=Column(BigInteger, nullable=False))
    #: The event's JSON payload, encrypted at rest (applicants' ID numbers, phones and addresses are in it).
    payload: str = Field(sa_column=Column(EncryptedText("event.payload"), nullable=False))
    schema_version: int = 1
    content_hash: str
    origin: str  # local | down
    up_seq: int | None = None  # the up entry that carried it (local events)


class Case(NodeTable, table=True):
    """Projection of a case's fold for lists and search; rebuilt from events at any time."""

    __tablename__ = "case"
    case_id: str = Field(primary_key=True)
    case_number: str = Field(unique=True)
    item_code: str = Field(index=True)
    item_name: str
    applicant_name: str = Field(sa_column=Column(EncryptedString("case.applicant_name"), nullable=False))
    #: The applicant's certificate number as the node's keyed hash (`node.trust.atrest.id_number_hash`), never
    #: the number: the clerk's search by ID number matches it.
    applicant_id_hash: str = Field(default="", index=True)
    status: str = Field(index=True)
    received_at: str = Field(index=True)
    accepted_at: str = ""
    decision: str = ""
    promised_date: str = ""
    supply_by: str = Field(default="", index=True)
    deemed_accepted: bool = False
    last_hlc: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    anomalies: int = 0


class UpEntry(NodeTable, table=True):
    """The up log (node → central): hash-chained, encrypted to the county, signed by this node."""

    __tablename__ = "up_entry"
    __table_args__ = (
        # The queue (unreceipted entries) and central's quarantine verdicts are found without reading the
        # whole log: a node keeps millions of receipted entries (issue 11: in-sync check ≤ 50 ms at 1,000,000).
        Index("ix_up_entry_unreceipted", "seq", sqlite_where=text("receipt IS NULL")),
        Index("ix_up_entry_quarantined", "seq", sqlite_where=text("central_status = 'quarantined'")),
    )
    seq: int = Field(primary_key=True)
    prev_hash: str
    entry_hash: str = Field(unique=True)
    kind: str
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: str
    receipt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    receipted_at: str | None = None
    #: What central did with it: "" until receipted, then accepted | quarantined (with central's reason).
    central_status: str = ""
    central_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: A receipt central no longer honours (central was restored from an older backup): kept as proof while
    #: the entry is sent again.
    lost_receipt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class DownEntry(NodeTable, table=True):
    """The down log (central → node), kept as received after its payload was applied."""

    __tablename__ = "down_entry"
    seq: int = Field(primary_key=True)
    prev_hash: str
    entry_hash: str = Field(unique=True)
    kind: str
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    applied_at: str


class Blob(NodeTable, table=True):
    """A captured file, addressed by the SHA-256 of its plaintext, stored encrypted beside the database."""

    __tablename__ = "blob"
    __table_args__ = (Index("ix_blob_upload", "uploaded_at", "size"),)
    sha256: str = Field(primary_key=True)
    size: int
    media_type: str
    filename: str = Field(sa_column=Column(EncryptedString("blob.filename"), nullable=False))
    created_at: str
    #: Upload to central (tus): the spool is the age file encrypted to the county, made once and kept until
    #: central confirms, so a resumed upload always continues the same bytes.
    upload_url: str | None = None
    spool_sha256: str | None = None
    spool_size: int | None = None
    compression: str = ""  # "" | "zlib": compressed before encrypting (never for JPEG/PNG/…)
    uploaded_at: str | None = None  # central confirmed it has the plaintext with this hash


class Counter(NodeTable, table=True):
    """Gap-free counters owned by this node (case serials per item and day)."""

    __tablename__ = "counter"
    name: str = Field(primary_key=True)
    value: int = 0
