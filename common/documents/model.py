"""The official document model: what a notice or result document says, block by block, without the PDF engine.

Composers (the node's notices, central's result documents) build an `OfficialDocument` from these; the layout and
fonts are `common.documents.pdf`, loaded only where a document is rendered (the worker process), so importing
the model costs a server nothing at start-up (issue 20).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Paragraph:
    """Body text. Indented two characters (公文 style) unless `indent=False`; every `\\n` starts a new line,
    indented again. `bold` renders it in the sans face (no bold weight is shipped) for emphasis lines."""

    text: str
    indent: bool = True
    bold: bool = False


@dataclass(frozen=True)
class Heading:
    """A section heading inside the body in the sans face, e.g. "一、申请材料"."""

    text: str


@dataclass(frozen=True)
class Fields:
    """A bordered label/value grid; the label column is shaded and sized to the labels, values wrap."""

    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    """A bordered table with a shaded header row that repeats on every page the table reaches."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...] | None = None  # relative column widths; None → equal


@dataclass(frozen=True)
class Signatures:
    """Signature lines, two to a row, e.g. ("申请人（签字）", "受理人（签字）").

    `images` holds an optional PNG per label (a signature captured on the tablet), drawn on its line; a
    signed label is dated with the document's date, an unsigned one gets "日期：　年　月　日" to fill in."""

    labels: tuple[str, ...]
    images: tuple[bytes | None, ...] = ()
    dated: bool = True


Block = Paragraph | Heading | Fields | Table | Signatures


@dataclass(frozen=True)
class OfficialDocument:
    """One notice, ready to lay out."""

    title: str  # "受理通知书"
    number: str  # 文号, e.g. "红梅便民受字〔2026〕第10001号"; may be "" (a service guide has none)
    issuer: str  # printed in the page header and, with the date, at the end
    issued_on: date
    blocks: tuple[Block, ...]
    addressee: str = ""  # salutation line before the body, e.g. "张三："
    qr_payload: str = ""  # QR code (error level M) in the top-right corner of page 1
    qr_caption: str = ""  # small text under the QR, e.g. the 43-digit case number
    seal: str = ""  # e.g. "受理专用章": a dashed circle marks where the seal goes, over the issuer and date
    closing: tuple[str, ...] = ()  # small print at the very end, e.g. "本通知书一式两份……"
    #: The date as printed under the issuer when not in figures, e.g. "二〇二六年十二月五日" on a 决定书.
    written_date: str = ""


class NoticeFontMissing(RuntimeError):
    """The CJK fonts notices are set in cannot be found or read."""


def chinese_date(d: date) -> str:
    """The date as a notice prints it, without leading zeros: 2026年2月5日."""
    return f"{d.year}年{d.month}月{d.day}日"


_DIGITS = "〇一二三四五六七八九"


def written_date(d: date) -> str:
    """The date in Chinese numerals, as a decision (决定书) is dated: 二〇二六年十二月五日."""

    def number(n: int) -> str:  # 1 … 31
        tens, units = divmod(n, 10)
        return (("" if tens == 1 else _DIGITS[tens]) + "十" if tens else "") + (
            _DIGITS[units] if units else ""
        )

    return f"{''.join(_DIGITS[int(c)] for c in str(d.year))}年{number(d.month)}月{number(d.day)}日"
