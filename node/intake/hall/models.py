"""The hall's tables: ticket categories, tickets and appointments (R-HALL-1). Encrypted columns hold what
identifies a person (an appointment's name and phone); an ID number is kept only as its keyed hash."""

from __future__ import annotations

from sqlalchemy import Column, Index, Text
from sqlmodel import Field

from node.models import NodeTable
from node.trust.atrest import EncryptedString


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
