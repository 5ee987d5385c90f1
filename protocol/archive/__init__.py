"""Archive packages of closed cases (归档信息包) and the four-property check (四性检测) both sides run on them.

- `protocol.archive.package`: the BagIt (RFC 8493) layout in one ZIP, sealed by the node's Ed25519 signature of
  the tag manifest, and `build_package`.
- `protocol.archive.check`: `check_package`, the DA/T 70-2018 items of authenticity, integrity, usability and
  security, at archiving (GD, the node) or at receipt (YJ, central).
- `protocol.archive.report`: the report, per item pass/fail with a Chinese reason and a stable code, as JSON/text.
- `protocol.archive.formats`: stdlib structural parsers of PDF, JPEG, PNG and TIFF ("opens in its format").
"""

from protocol.archive.check import MAX_PACKAGE_BYTES, REQUIRED_BAG_INFO, REQUIRED_METADATA, check_package
from protocol.archive.formats import (
    EXTENSIONS,
    FORMAT_LABELS,
    FORMATS,
    PARSERS,
    FormatError,
    check_jpeg,
    check_pdf,
    check_png,
    check_tiff,
    disallowed_content,
    hidden_encryption_or_compression,
    sniff,
)
from protocol.archive.package import (
    ARCHIVAL_NUMBER,
    ARCHIVE_MEDIA_TYPE,
    CASE_METADATA,
    EVENT_HISTORY,
    PACKAGE_SCHEMA,
    RETENTION_CODES,
    RETENTION_LABELS,
    ROLE_DIRS,
    ROLE_FORMATS,
    SIGNATURE_FILE,
    ArchiveFile,
    build_package,
    kept_until,
    safe_name,
    sha256,
    signed_message,
)
from protocol.archive.report import PROPERTIES, STAGES, CheckItem, CheckReport, render_text

__all__ = [
    "ARCHIVAL_NUMBER",
    "ARCHIVE_MEDIA_TYPE",
    "CASE_METADATA",
    "EVENT_HISTORY",
    "EXTENSIONS",
    "FORMATS",
    "FORMAT_LABELS",
    "MAX_PACKAGE_BYTES",
    "PACKAGE_SCHEMA",
    "PARSERS",
    "PROPERTIES",
    "REQUIRED_BAG_INFO",
    "REQUIRED_METADATA",
    "RETENTION_CODES",
    "RETENTION_LABELS",
    "ROLE_DIRS",
    "ROLE_FORMATS",
    "SIGNATURE_FILE",
    "STAGES",
    "ArchiveFile",
    "CheckItem",
    "CheckReport",
    "FormatError",
    "build_package",
    "check_jpeg",
    "check_package",
    "check_pdf",
    "check_png",
    "check_tiff",
    "disallowed_content",
    "hidden_encryption_or_compression",
    "kept_until",
    "render_text",
    "safe_name",
    "sha256",
    "signed_message",
    "sniff",
]
