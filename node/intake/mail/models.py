"""The logistics window's tables (物料流转窗口): parcels in and out, courier manifests, the applicant message queue.

A parcel row holds what the window typed and where the parcel stands locally; once a parcel belongs to a case,
each of its steps is also a case event (the chain of custody travels to the county with the case). Whether the
county signed for an outgoing parcel is read from the case's events, never from these rows: central's
confirmation comes down the log as a case event.
"""

from __future__ import annotations

from sqlalchemy import Column, Index
from sqlmodel import Field

from node.models import NodeTable
from node.trust.atrest import EncryptedString, EncryptedText


class Parcel(NodeTable, table=True):
    """One parcel: incoming (an application by mail) or outgoing (notices, results, originals for a department)."""

    __tablename__ = "mail_parcel"
    __table_args__ = (Index("ix_mail_parcel_state", "direction", "status"),)
    id: str = Field(primary_key=True)
    direction: str  # in | out
    kind: str  # in: application; out: notice | result | original
    tracking_number: str = Field(index=True)
    is_s10: bool = False
    #: The other party: for an incoming parcel its sender, for an outgoing one its recipient. The party, phone,
    #: address and contents are encrypted at rest (`node.trust.atrest`).
    party: str = Field(sa_column=Column(EncryptedString("mail_parcel.party"), nullable=False))
    phone: str = Field(default="", sa_column=Column(EncryptedString("mail_parcel.phone"), nullable=False))
    address: str = Field(default="", sa_column=Column(EncryptedText("mail_parcel.address"), nullable=False))
    contents: str = Field(default="", sa_column=Column(EncryptedText("mail_parcel.contents"), nullable=False))
    destination: str = ""  # out: applicant | county (a county department: its hall's logistics desk signs)
    photo_blob: str = ""  # in: the envelope photo
    status: str  # registered | opened | packed | handed | delivered | returned
    case_id: str | None = Field(default=None, index=True)
    manifest_id: str | None = Field(default=None, index=True)
    registered_at: str
    registered_by: str
    #: in: who signed for it at the window (签收人).
    signed_by: str = Field(
        default="", sa_column=Column(EncryptedString("mail_parcel.signed_by"), nullable=False)
    )
    updated_at: str


class Manifest(NodeTable, table=True):
    """A courier manifest (交接清单): the parcels one pickup takes, signed by the courier on the tablet."""

    __tablename__ = "mail_manifest"
    id: str = Field(primary_key=True)
    number: str = Field(unique=True)  # e.g. 红梅物流〔2026〕第0001号
    courier_name: str = Field(
        default="", sa_column=Column(EncryptedString("mail_manifest.courier_name"), nullable=False)
    )
    courier_phone: str = Field(
        default="", sa_column=Column(EncryptedString("mail_manifest.courier_phone"), nullable=False)
    )
    courier_company: str = ""
    created_at: str
    created_by: str
    handed_at: str | None = None
    signature_blob: str = ""
    confirm_days: int = 0  # a parcel not confirmed within this many days of the handover is flagged
    due_by: str = ""  # YYYY-MM-DD (CST): the last day a confirmation is expected


class ApplicantMessage(NodeTable, table=True):
    """A message to the applicant waiting to go out: an SMS for the gateway, or a letter to print and post."""

    __tablename__ = "mail_message"
    __table_args__ = (Index("ix_mail_message_status", "status", "queued_at"),)
    id: str = Field(primary_key=True)
    case_id: str = Field(index=True)
    channel: str  # sms | letter
    #: The recipient, phone, address and text are encrypted at rest (`node.trust.atrest`).
    recipient: str = Field(sa_column=Column(EncryptedString("mail_message.recipient"), nullable=False))
    phone: str = Field(default="", sa_column=Column(EncryptedString("mail_message.phone"), nullable=False))
    address: str = Field(default="", sa_column=Column(EncryptedText("mail_message.address"), nullable=False))
    subject: str
    text: str = Field(sa_column=Column(EncryptedText("mail_message.text"), nullable=False))
    status: str  # queued | sent
    queued_at: str
    sent_at: str | None = None
    sent_by: str = ""
