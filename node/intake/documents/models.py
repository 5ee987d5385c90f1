"""The documents' own table: every notice as first issued, so a reprint hands out the same bytes."""

from __future__ import annotations

from sqlmodel import Field

from node.models import NodeTable


class IssuedDocument(NodeTable, table=True):
    """The PDF of one notice of a case as first issued (printed, or put into the archive package): its bytes are
    kept in the blob store (encrypted with the data key like every blob) and every reprint is exactly them."""

    __tablename__ = "issued_document"
    case_id: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)  # the notice's kind: receipt, acceptance, …
    number: str = Field(primary_key=True)  # its document number (文号)
    sha256: str  # the blob holding the PDF
    size: int
    issued_at: str  # when the PDF was made (UTC ISO 8601)
