"""The node's shared tables: events and their case projection, the two logs, blobs, counters, staff, tickets.
One metadata for the node (central has its own); a domain with tables of its own (devices, logistics, the audit
trail) declares them beside it on `NodeTable`, and `node.schema` gathers them all. Rows never go over the wire —
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


class TicketCategory(NodeTable, table=True):
    """A business category of the hall's queue (排队叫号): a letter, a name, the catalogue items it covers."""

    __tablename__ = "ticket_category"
    code: str = Field(primary_key=True)  # one letter A–Z, the ticket number's prefix
    name: str
    item_codes: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list; [] = any item
    active: bool = True
    sort_order: int = 0


class Ticket(NodeTable, table=True):
    """One queue ticket (A001): taken at the kiosk, called to a window, linked to the case it starts."""

    __tablename__ = "ticket"
    __table_args__ = (Index("ix_ticket_day_status", "day", "status"),)
    id: str = Field(primary_key=True)
    number: str
    category: str
    day: str  # local (CST) date, YYYY-MM-DD
    priority: str = ""  # "" | elderly | disabled | military | green
    appointment_id: str | None = None
    id_hash: str | None = None  # SHA-256 hex of the ID number when taken by ID card; never the number
    status: str  # waiting | called | serving | done | missed | transferred
    issued_at: str
    queue_at: str  # the place in the queue: issue time, an appointment's slot, or the time kept by a transfer
    called_at: str | None = None  # first call
    last_called_at: str | None = None  # latest call (重呼)
    call_count: int = 0
    window: str = ""
    staff: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    case_id: str | None = None
    transferred_from: str | None = None


class Appointment(NodeTable, table=True):
    """A booked visit (预约): arriving issues its ticket, which goes ahead of tickets taken after the slot."""

    __tablename__ = "appointment"
    __table_args__ = (Index("ix_appointment_day", "day", "status"),)
    id: str = Field(primary_key=True)
    category: str
    day: str
    slot_start: str  # local "HH:MM"
    name: str = Field(sa_column=Column(EncryptedString("appointment.name"), nullable=False))
    phone: str = Field(sa_column=Column(EncryptedString("appointment.phone"), nullable=False))
    id_hash: str | None = None
    status: str  # booked | arrived | cancelled
    ticket_id: str | None = None
    booked_at: str
