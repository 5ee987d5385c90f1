"""Tables of device capture: capture sessions (a window waiting for scanned pages), every file the scan folder
delivered (attached, duplicate or quarantined, with the reason), and ID card reads (no personal data kept in
the row: the number only as a keyed hash, the WLT photo as an encrypted blob)."""

from __future__ import annotations

from sqlalchemy import Column, Index
from sqlmodel import Field

from node.models import NodeTable
from node.trust.atrest import EncryptedString, EncryptedText


class CaptureSession(NodeTable, table=True):
    """扫描会话: a window waiting for scanned pages of one checklist material of one case."""

    __tablename__ = "capture_session"
    __table_args__ = (Index("ix_capture_active", "ended_at", "started_at"),)
    id: str = Field(primary_key=True)
    window: str
    case_id: str = Field(index=True)
    material_id: str
    staff: str
    role: str
    started_at: str
    ended_at: str | None = None
    pages: int = 0
    #: 逐项采集: after each page the session moves on to the next empty mandatory slot, and ends after the last.
    walk: bool = False


class ScanFile(NodeTable, table=True):
    """One complete file the scan folder delivered, and what became of it."""

    __tablename__ = "scan_file"
    id: str = Field(primary_key=True)
    sha256: str = Field(index=True)
    #: The scanner's file name (encrypted at rest: scanning software may name a file after the person).
    filename: str = Field(sa_column=Column(EncryptedString("scan_file.filename"), nullable=False))
    size: int
    status: str  # attached | duplicate | quarantined
    reason: str = Field(default="", sa_column=Column(EncryptedText("scan_file.reason"), nullable=False))
    session_id: str | None = None
    case_id: str | None = Field(default=None, index=True)
    material_id: str | None = None
    window: str = ""
    received_at: str
    #: File name in the processed or quarantine folder ("" when a processed file was deleted).
    moved_to: str = Field(default="", sa_column=Column(EncryptedString("scan_file.moved_to"), nullable=False))


class IdCardRead(NodeTable, table=True):
    """A card read at a window: when, by whom, the photo blob; the number only as a keyed hash."""

    __tablename__ = "idcard_read"
    id: str = Field(primary_key=True)
    read_at: str
    staff: str
    window: str = ""
    id_hash: str
    photo_blob: str = ""
    photo_decoded_blob: str = ""
    #: The card's image (both sides, drawn from what the chip holds), the ID material's page once a case is
    #: received with this read.
    card_blob: str = ""
