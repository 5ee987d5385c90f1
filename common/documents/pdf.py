"""Official documents as A4 PDFs with an embedded, subset CJK font: the one engine of both ends.

The node's notices (受理通知书, 一次性告知书, 收件凭证 …) and central's result documents (决定书, 办理结果通知书)
are laid out here; their wording lives with the side that issues them (`node.intake…notices`,
`central.backoffice…results`), and both render through `common.documents.render` off the event loop.
This module owns the generic document model and the layout. The page follows GB/T 9704 公文 proportions: 28/26 mm side margins, a centred title, body
text in a serif face with a two-character first-line indent, the issuer and date bottom right with room for
the seal, and "— n —" page numbers. Line breaking is our own (`wrap_text`): fpdf2 wraps Chinese text without
the 禁则 a printed notice must respect (no line starting with "，", none ending with "（").
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time
from io import BytesIO
from pathlib import Path
from typing import Literal

import segno
from fontTools import ttLib  # type: ignore[import-untyped]  # fontTools ships no type hints
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

from common.documents.model import (  # re-exported: the model's long-standing home
    Block,
    Fields,
    Heading,
    NoticeFontMissing,
    OfficialDocument,
    Paragraph,
    Signatures,
    Table,
    chinese_date,
    written_date,
)
from protocol.calendar import CST

__all__ = [
    "Block",
    "Fields",
    "Heading",
    "NoticeFontMissing",
    "OfficialDocument",
    "Paragraph",
    "Signatures",
    "Table",
    "chinese_date",
    "font_paths",
    "full_font_paths",
    "render_pdf",
    "wrap_text",
    "written_date",
]


# ---------------------------------------------------------------------------------------------------------
# Chinese line breaking (禁则)

# May not start a line: closing brackets and quotes, sentence punctuation, and marks that follow a number.
_NO_LINE_START = frozenset("，。、；：？！）》」』〕】”’％…〉〗〙］｝．·・°℃‰")
# May not end a line: opening brackets and quotes, and currency signs that precede a number.
_NO_LINE_END = frozenset("（《「『〔【“‘〈〖〘［｛￥¥")
# Where a Latin run longer than a whole line is best cut (after these), before falling back to any character.
_RUN_BREAK_AFTER = frozenset("-/_.,;:?&=")
_SPACES = frozenset(" \t")
_REPEATED = frozenset("—…")  # "——" and "……" are one mark each and never split


def _is_run_char(c: str) -> bool:
    """Characters that stick together like a Western word: ASCII, and letters/digits of Latin-like scripts."""
    if "!" <= c <= "~":
        return True
    return c.isalnum() and ord(c) < 0x2000


def _tokens(segment: str) -> Iterator[str]:
    """Split one line of text into spaces runs, Latin runs, "——"/"……" runs and single CJK characters."""
    i, n = 0, len(segment)
    while i < n:
        c = segment[i]
        j = i + 1
        if c in _SPACES:
            while j < n and segment[j] in _SPACES:
                j += 1
        elif _is_run_char(c):
            while j < n and _is_run_char(segment[j]):
                j += 1
        elif c in _REPEATED:
            while j < n and segment[j] == c:
                j += 1
        yield segment[i:j]
        i = j


def _may_break(tokens: list[str], k: int) -> bool:
    """Whether a line may end before `tokens[k]`. Spaces between do not help: "附 ）" keeps "）" off the
    next line's start and "（ 附" keeps "（" off this one's end (as Unicode line breaking rules LB13/14)."""
    before = next((t for t in reversed(tokens[:k]) if t[0] not in _SPACES), None)
    after = next((t for t in tokens[k:] if t[0] not in _SPACES), None)
    if before is None or after is None:
        return True
    return after[0] not in _NO_LINE_START and before[-1] not in _NO_LINE_END


def _split_run(run: str, width_of: Callable[[str], float], room: float) -> tuple[str, str]:
    """Cut a Latin run that cannot fit: the longest head within `room` (at least one character), preferring
    a cut after a hyphen or slash when that keeps most of the line."""
    fit, used = 0, 0.0
    for c in run:
        used += width_of(c)
        if used > room + 1e-6:
            break
        fit += 1
    fit = max(fit, 1)
    for k in range(fit, fit // 2, -1):
        if run[k - 1] in _RUN_BREAK_AFTER and k < len(run):
            return run[:k], run[k:]
    return run[:fit], run[fit:]


def _wrap_segment(segment: str, width_of: Callable[[str], float], max_width: float) -> list[str]:
    lines: list[str] = []
    line: list[str] = []
    line_width = 0.0
    pending = list(_tokens(segment))
    pending.reverse()  # a stack: carried-back tokens are pushed onto it again

    def has_content(tokens: list[str]) -> bool:
        return any(t[0] not in _SPACES for t in tokens)

    def flush(tokens: list[str]) -> None:
        while tokens and tokens[-1][0] in _SPACES:
            tokens.pop()
        lines.append("".join(tokens))

    while pending:
        token = pending.pop()
        width = width_of(token)
        if token[0] in _SPACES:
            # Spaces are break opportunities: kept inside a line, dropped where a wrapped line starts.
            if line or not lines:
                line.append(token)
                line_width += width
            continue
        if line_width + width <= max_width + 1e-6:
            line.append(token)
            line_width += width
            continue
        if not has_content(line):
            # Alone on its line and still too wide: an over-long Latin run is cut, anything else overflows.
            if len(token) > 1 and _is_run_char(token[0]):
                head, tail = _split_run(token, width_of, max_width - line_width)
                flush([*line, head])
                pending.append(tail)
            else:
                flush([*line, token])
            line, line_width = [], 0.0
            continue
        # Break before `token` if 禁则 allows it, else further back: the characters carried to the next line
        # keep "，" off its start and "（" off the end of this one.
        k = len(line)
        candidates = [*line, token]
        while k > 0 and not _may_break(candidates, k):
            k -= 1
        if k > 0 and has_content(line[:k]):
            flush(line[:k])
            pending.append(token)
            pending.extend(reversed(line[k:]))  # leading spaces among them are dropped when re-placed
            line, line_width = [], 0.0
            continue
        # No legal break in the whole line (one Latin run fills it): treat run + mark as unbreakable. A
        # closing mark hangs past the edge; a run after an opening mark is cut to the room left.
        if len(token) > 1 and _is_run_char(token[0]):
            head, tail = _split_run(token, width_of, max_width - line_width)
            flush([*line, head])
            pending.append(tail)
        else:
            flush([*line, token])
        line, line_width = [], 0.0
    if line or not lines:
        flush(line)
    return lines


def wrap_text(text: str, width_of: Callable[[str], float], max_width: float) -> list[str]:
    """Break `text` into lines no wider than `max_width` by Chinese rules (禁则).

    CJK text breaks between any two characters, Latin runs (words, numbers, case numbers) only at spaces or
    when longer than a whole line. No line starts with closing punctuation (，。）”…) or ends with opening
    punctuation (（“《); characters are carried to the next line instead. Every `\\n` starts a new line.
    Only a mark stuck to a run that fills a whole line, or a single character wider than the line, exceeds
    `max_width`. `width_of` must be additive (width of a string = sum over its characters), as fpdf2's is.
    """
    widths: dict[str, float] = {}

    def measure(s: str) -> float:
        w = widths.get(s)
        if w is None:
            w = widths[s] = width_of(s)
        return w

    lines: list[str] = []
    for segment in text.split("\n"):
        lines.extend(_wrap_segment(segment, measure, max_width))
    return lines


# ---------------------------------------------------------------------------------------------------------
# Fonts

_font_lock = threading.Lock()
_font_templates: dict[tuple[str, int, int], TTFFont] = {}
_REQUIRED_TABLES = frozenset({"head", "hhea", "hmtx", "maxp", "cmap", "name", "post", "OS/2"})
_UNEMBEDDED_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "DSIG", "VORG", "vhea", "vmtx")


#: The fonts shipped with the package (issue 20): Noto Serif SC / Sans SC cut to GB 2312 and the project's own
#: characters ahead of time (`common/documents/fonts/build.py`), 4 MB instead of 20 MB to parse.
SUBSET_FONTS = (
    Path(__file__).parent / "fonts" / "NotoSerifSC-GB2312.otf",
    Path(__file__).parent / "fonts" / "NotoSansSC-GB2312.otf",
)


def font_paths() -> tuple[Path, Path]:
    """(serif, sans) notices are set in: the shipped subset fonts, or the full ones when they are missing."""
    if all(p.is_file() for p in SUBSET_FONTS):
        return SUBSET_FONTS
    return full_font_paths()


def full_font_paths() -> tuple[Path, Path]:
    """(serif, sans): the full Noto Serif SC and Noto Sans SC from the `pylopdf_fonts_zh_cn` wheel (a document
    with a character outside the subset fonts is set in these)."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError as exc:
        raise NoticeFontMissing(
            "找不到文书字体：未安装 pylopdf-fonts-zh-cn（思源宋体/黑体）。"
            " Notice fonts missing: the pylopdf-fonts-zh-cn package is not installed."
        ) from exc
    base = Path(pylopdf_fonts_zh_cn.__file__).parent
    paths = (base / "NotoSerifSC-Regular.otf", base / "NotoSansSC-Regular.otf")
    _check_fonts(paths)
    return paths


def _check_fonts(paths: tuple[Path, Path]) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise NoticeFontMissing(
            f"找不到文书字体文件：{'、'.join(missing)}。Notice font file(s) not found: {', '.join(missing)}"
        )


def _template(path: Path) -> TTFFont:
    """The parsed font (cmap, widths, descriptor), once per process and font file.

    Parsing a Noto SC face costs ~0.15 s; a notice is rendered while the applicant waits at the window."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _font_lock:
        template = _font_templates.get(key)
        if template is None:
            try:
                # Look at the table directory through a handle we close: fontTools leaks its own when a
                # file is not a font at all.
                with path.open("rb") as handle:
                    missing = _REQUIRED_TABLES - set(ttLib.TTFont(handle, lazy=True).keys())
                if missing:
                    raise ValueError(f"no {', '.join(sorted(missing))} table")
                template = TTFFont(FPDF(), path, "template", "")
            except Exception as exc:  # fontTools raises many kinds for a damaged file
                raise NoticeFontMissing(
                    f"文书字体无法读取：{path}。Notice font cannot be read: {path} ({exc})"
                ) from exc
            # Its tables are read; clones open the file afresh, so the handle need not stay open.
            template.close()
            _font_templates[key] = template
        return template


def _attach_font(pdf: FPDF, family: str, path: Path) -> None:
    """Give `pdf` its own copy of a cached font: the read-only tables are shared, everything fpdf2 changes
    while writing one document is fresh, including the fontTools object it subsets in place on output."""
    template = _template(path)
    font = TTFFont.__new__(TTFFont)
    for name in TTFFont.__slots__:
        if hasattr(template, name):
            setattr(font, name, getattr(template, name))
    font.i = len(pdf.fonts) + 1
    font.fontkey = family
    font.ttfont = ttLib.TTFont(
        path,
        recalcTimestamp=False,
        recalcBBoxes=False,
        lazy=True,
        fontNumber=template.collection_font_number,
    )
    if font.is_cff and font.is_cid_keyed:
        # Of a CID-keyed CFF font fpdf2 embeds the CFF table alone; the subsetter would still parse these
        # layout and vertical-metrics tables first (~0.15 s a face) only for them to be dropped.
        for tag in _UNEMBEDDED_TABLES:
            if tag in font.ttfont:
                del font.ttfont[tag]
    font.desc = copy.copy(template.desc)  # output names it and hangs the font stream on it
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font._hbfont = None
    font.subset = SubsetMap(font)
    pdf.fonts[family] = font
    if font.is_cff and font.is_cid_keyed:
        pdf.pdf_version = max(pdf.pdf_version, "1.6")  # what add_font sets for CID-keyed CFF


# ---------------------------------------------------------------------------------------------------------
# Layout

_PT = 25.4 / 72  # mm per point
_PAGE_W, _PAGE_H = 210.0, 297.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 28.0, 26.0, 30.0, 30.0  # GB/T 9704 版心: 156 × 225 mm (ours 156 × 237)
_WIDTH = _PAGE_W - _LEFT - _RIGHT
_RIGHT_X = _PAGE_W - _RIGHT
_BOTTOM_Y = _PAGE_H - _BOTTOM

_SERIF, _SANS = "serif", "sans"
_BODY_PT = 12.0
_LINE, _TIGHT_LINE = 1.6, 1.4  # body line height in font sizes; tight when the ending would stand alone
_HEADING_PT = 12.5
_TITLE_PT, _TITLE_MIN_PT = 22.0, 18.0
_CELL_PT, _CELL_LINE, _CELL_PAD = 10.5, 1.45, 1.5
_SMALL_PT, _SMALL_LINE, _CLOSING_GAP = 9.0, 1.5, 4.0
_RULE = 0.3 * _PT  # table borders
_SHADE = 232
_QR_SIZE, _QR_TOP, _QR_CAPTION_PT = 24.0, 11.0, 6.5
_QR_CAPTION_W = _QR_SIZE + 8.0
_SEAL_R = 21.0

_Align = Literal["L", "C"]


@dataclass
class _Cell:
    x: float
    w: float
    lines: list[str]
    family: str
    fill: bool
    align: _Align


class _NoticePdf(FPDF):
    """FPDF with the notice's running header (issuer, rule) and footer ("— n —")."""

    def __init__(self, doc: OfficialDocument) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc = doc

    def header(self) -> None:
        qr_on_page = self.page == 1 and bool(self.doc.qr_payload)
        self.set_font(_SANS, size=9)
        self.set_text_color(90)
        self.text(_LEFT, 19.0, self.doc.issuer)
        self.set_text_color(0)
        self.set_draw_color(120)
        self.set_line_width(0.4 * _PT)
        # On page 1 the rule stops short of the QR code so it keeps its quiet zone.
        self.line(_LEFT, 22.0, _RIGHT_X - _QR_SIZE - 5.0 if qr_on_page else _RIGHT_X, 22.0)
        self.set_draw_color(0)

    def footer(self) -> None:
        self.set_font(_SERIF, size=10.5)
        self.set_text_color(0)
        label = f"— {self.page_no()} —"
        self.text(_LEFT + (_WIDTH - self.get_string_width(label)) / 2, _BOTTOM_Y + 11.5, label)


class _Layout:
    def __init__(self, pdf: _NoticePdf, doc: OfficialDocument, line: float = _LINE) -> None:
        self.pdf = pdf
        self.doc = doc
        self.line = line
        self.y = _TOP
        self.ending_alone = False  # the issuer, date and seal had to start a page of their own
        self._char_widths: dict[tuple[str, float], dict[str, float]] = {}

    # -- measuring and drawing text ------------------------------------------------------------------------

    def width_of(self, family: str, size: float) -> Callable[[str], float]:
        """An additive width function (mm) for one face and size; measuring never changes the page state."""
        font = self.pdf.fonts[family]
        memo = self._char_widths.setdefault((family, size), {})

        def width(s: str) -> float:
            total = 0.0
            for c in s:
                w = memo.get(c)
                if w is None:
                    w = memo[c] = font.get_text_width(c, size, None)[1] * _PT
                total += w
            return total

        return width

    def wrap(self, text: str, family: str, size: float, max_width: float) -> list[str]:
        return wrap_text(text, self.width_of(family, size), max_width)

    def text(self, x: float, top: float, height: float, s: str, family: str, size: float) -> None:
        """Draw one line vertically centred in the band [top, top + height] (CJK glyphs sit 0.38 em above
        the baseline's centre)."""
        if not s:
            return
        self.pdf.set_font(family, size=size)
        self.pdf.text(x, top + height / 2 + 0.38 * size * _PT, s)

    def justified(
        self, x: float, top: float, height: float, s: str, family: str, size: float, width: float
    ) -> None:
        """Draw a full line stretched to `width`, as Chinese body text is set; a line left short by a long
        Latin run is not stretched, since wide gaps between characters read worse than a ragged edge."""
        measure = self.width_of(family, size)
        indent = len(s) - len(s.lstrip("\u3000"))
        x += measure(s[:indent])
        body = s[indent:]
        gaps = len(body) - 1
        extra = width - measure(s)
        if gaps <= 0 or extra <= 0 or extra / gaps > 0.25 * size * _PT:
            self.text(x, top, height, body, family, size)
            return
        self.pdf.set_char_spacing(extra / gaps / _PT)  # fpdf2 takes the PDF Tc operand: points
        self.text(x, top, height, body, family, size)
        self.pdf.set_char_spacing(0)

    # -- pages -----------------------------------------------------------------------------------------------

    def new_page(self) -> None:
        self.pdf.add_page()
        self.y = _TOP

    def room(self) -> float:
        return _BOTTOM_Y - self.y

    def ensure(self, height: float) -> None:
        if self.y + height > _BOTTOM_Y + 1e-6 and self.y > _TOP + 1e-6:
            self.new_page()

    # -- the parts of a notice -------------------------------------------------------------------------------

    def first_page(self) -> None:
        doc = self.doc
        self.new_page()
        qr_bottom = self.qr() if doc.qr_payload else 0.0
        # The title is centred on the text block; with a QR code it must stay clear of it on both sides.
        room = _WIDTH - 2 * (_QR_SIZE + 6.0) if doc.qr_payload else _WIDTH
        size = _TITLE_PT
        measure = self.width_of(_SERIF, size)
        if measure(doc.title) > room:
            size = max(_TITLE_MIN_PT, _TITLE_PT * room / measure(doc.title))
            measure = self.width_of(_SERIF, size)
        y = _TOP
        line_h = size * _PT * 1.35
        for line in wrap_text(doc.title, measure, room):
            self.text(_LEFT + (_WIDTH - measure(line)) / 2, y, line_h, line, _SERIF, size)
            y += line_h
        if doc.number:
            measure = self.width_of(_SERIF, _BODY_PT)
            line_h = _BODY_PT * _PT * self.line
            y += 1.5
            for line in wrap_text(doc.number, measure, room):
                self.text(_LEFT + (_WIDTH - measure(line)) / 2, y, line_h, line, _SERIF, _BODY_PT)
                y += line_h
        self.y = max(y + 6.0, qr_bottom + 4.0)
        if doc.addressee:
            self.paragraph(Paragraph(doc.addressee, indent=False))

    def qr(self) -> float:
        """Draw the QR code as vector modules (crisp at any printer resolution); return the caption's bottom."""
        qr = segno.make(self.doc.qr_payload, error="m", micro=False, boost_error=False)
        matrix = qr.matrix
        module = _QR_SIZE / len(matrix)
        x0 = _RIGHT_X - _QR_SIZE
        self.pdf.set_fill_color(0)
        for r, row in enumerate(matrix):
            c = 0
            while c < len(row):
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < len(row) and row[c]:
                    c += 1
                # A hair of overlap downwards so anti-aliased viewers show no seams between module rows.
                self.pdf.rect(
                    x0 + start * module, _QR_TOP + r * module, (c - start) * module, module + 0.02, "F"
                )
        bottom = _QR_TOP + _QR_SIZE
        if self.doc.qr_caption:
            measure = self.width_of(_SANS, _QR_CAPTION_PT)
            lines = _balanced(self.doc.qr_caption, measure, _QR_CAPTION_W)
            line_h = _QR_CAPTION_PT * _PT * 1.3
            centre = x0 + _QR_SIZE / 2
            bottom += 1.2
            self.pdf.set_text_color(60)
            for line in lines:
                self.text(centre - measure(line) / 2, bottom, line_h, line, _SANS, _QR_CAPTION_PT)
                bottom += line_h
            self.pdf.set_text_color(0)
        return bottom

    def paragraph(self, block: Paragraph, carry: int = 0) -> None:
        """Set a paragraph justified; with `carry`, its last lines start a new page (to go with the ending)."""
        family = _SANS if block.bold else _SERIF
        measure = self.width_of(family, _BODY_PT)
        indent = "\u3000\u3000" if block.indent else ""
        # (line, is the last of its paragraph): last lines are not stretched.
        lines: list[tuple[str, bool]] = []
        for segment in block.text.split("\n"):
            wrapped = wrap_text(indent + segment, measure, _WIDTH)
            lines.extend((line, i == len(wrapped) - 1) for i, line in enumerate(wrapped))
        if carry:
            head = lines[:-carry]
            self.flow(head, family)
            if self.y > _TOP:
                self.new_page()
            lines = lines[len(head) :]
        self.flow(lines, family)

    def flow(self, lines: list[tuple[str, bool]], family: str) -> None:
        line_h = _BODY_PT * _PT * self.line
        i = 0
        while i < len(lines):
            fit = int((self.room() + 1e-6) // line_h)
            left = len(lines) - i
            if fit < left:
                # No lone first line at a page's foot, no lone last line at the next page's head.
                if fit == 1 and i == 0 and self.y > _TOP:
                    fit = 0
                elif left - fit == 1 and fit >= 2:
                    fit -= 1
            if fit <= 0:
                self.new_page()
                continue
            for line, last in lines[i : i + fit]:
                if last:
                    self.text(_LEFT, self.y, line_h, line, family, _BODY_PT)
                else:
                    self.justified(_LEFT, self.y, line_h, line, family, _BODY_PT, _WIDTH)
                self.y += line_h
            i += fit

    def heading(self, block: Heading) -> None:
        size = _HEADING_PT
        line_h = size * _PT * self.line
        indent = 2 * _BODY_PT * _PT  # the body's two-character indent, so headings line up with paragraphs
        lines = self.wrap(block.text, _SANS, size, _WIDTH - indent)
        space = 0.35 * line_h if self.y > _TOP else 0.0
        # Keep the heading with at least two lines of what follows it.
        self.ensure(space + len(lines) * line_h + 2 * _BODY_PT * _PT * self.line)
        if self.y > _TOP:
            self.y += space
        for line in lines:
            self.text(_LEFT + indent, self.y, line_h, line, _SANS, size)
            self.y += line_h

    def fields(self, block: Fields) -> None:
        if not block.rows:
            return
        measure = self.width_of(_SANS, _CELL_PT)
        widest = max(measure(label) for label, _ in block.rows) + 2 * _CELL_PAD + 0.5
        label_w = min(max(widest, 28.0), 0.4 * _WIDTH)
        self.y += 2.0
        for label, value in block.rows:
            self.row(
                [
                    self.cell(_LEFT, label_w, label, _SANS, True, "C"),
                    self.cell(_LEFT + label_w, _WIDTH - label_w, value, _SERIF, False, "L"),
                ]
            )
        self.y += 3.0

    def table(self, block: Table) -> None:
        n = len(block.columns)
        weights = block.widths if block.widths is not None else (1.0,) * n
        if len(weights) != n or any(w <= 0 for w in weights):
            raise ValueError(f"table widths {block.widths!r} do not fit its {n} columns")
        for row in block.rows:
            if len(row) != n:
                raise ValueError(f"table row {row!r} has {len(row)} cells, the table has {n} columns")
        xs = [_LEFT]
        for w in weights:
            xs.append(xs[-1] + _WIDTH * w / sum(weights))

        def cells(texts: tuple[str, ...], header: bool) -> list[_Cell]:
            return [
                self.cell(
                    xs[i], xs[i + 1] - xs[i], t, _SANS if header else _SERIF, header, "C" if header else "L"
                )
                for i, t in enumerate(texts)
            ]

        head = cells(block.columns, True)
        head_h = self.row_height(head)
        first_h = self.row_height(cells(block.rows[0], False)) if block.rows else 0.0
        self.y += 2.0
        # The header never stands alone at a page's foot.
        self.ensure(head_h + min(first_h, 3 * _CELL_PT * _PT * _CELL_LINE + 2 * _CELL_PAD))

        self.row(head)
        for row in block.rows:
            self.row(cells(row, False), head)
        self.y += 3.0

    def cell(self, x: float, w: float, text: str, family: str, fill: bool, align: _Align) -> _Cell:
        return _Cell(x, w, self.wrap(text, family, _CELL_PT, w - 2 * _CELL_PAD), family, fill, align)

    @staticmethod
    def row_height(cells: list[_Cell]) -> float:
        return max(len(c.lines) for c in cells) * _CELL_PT * _PT * _CELL_LINE + 2 * _CELL_PAD

    def row(self, cells: list[_Cell], header: list[_Cell] | None = None) -> None:
        """One bordered row as tall as its tallest cell. It moves whole to the next page, after the repeated
        table `header`, when it does not fit; a row taller than a page is split, starting where it is."""
        line_h = _CELL_PT * _PT * _CELL_LINE
        height = self.row_height(cells)
        total = max(len(c.lines) for c in cells)
        fresh_room = _BOTTOM_Y - _TOP - (self.row_height(header) if header else 0.0)
        if height > self.room() + 1e-6 and (height <= fresh_room or self.room() < 2 * _CELL_PAD + 3 * line_h):
            self.continue_table(header)
        if height <= self.room() + 1e-6:
            self.row_slice(cells, 0, total, height, centred=True)
            self.y += height
            return
        start = 0
        while start < total:
            fit = max(1, int((self.room() - 2 * _CELL_PAD + 1e-6) // line_h))
            end = min(total, start + fit)
            slice_h = (end - start) * line_h + 2 * _CELL_PAD
            self.row_slice(cells, start, end, slice_h, centred=False)
            self.y += slice_h
            start = end
            if start < total:
                self.continue_table(header)

    def continue_table(self, header: list[_Cell] | None) -> None:
        self.new_page()
        if header:
            self.row_slice(header, 0, max(len(c.lines) for c in header), self.row_height(header), True)
            self.y += self.row_height(header)

    def row_slice(self, cells: list[_Cell], start: int, end: int, height: float, centred: bool) -> None:
        pdf = self.pdf
        line_h = _CELL_PT * _PT * _CELL_LINE
        pdf.set_line_width(_RULE)
        pdf.set_draw_color(0)
        pdf.set_fill_color(_SHADE)
        for c in cells:
            pdf.rect(c.x, self.y, c.w, height, "DF" if c.fill else "D")
        for c in cells:
            lines = c.lines[start:end]
            # A short cell sits in the middle of a taller row, as on a printed form.
            top = self.y + _CELL_PAD + ((height - 2 * _CELL_PAD - len(lines) * line_h) / 2 if centred else 0)
            measure = self.width_of(c.family, _CELL_PT)
            for line in lines:
                x = c.x + _CELL_PAD
                if c.align == "C":
                    x = c.x + (c.w - measure(line)) / 2
                self.text(x, top, line_h, line, c.family, _CELL_PT)
                top += line_h

    def signatures(self, block: Signatures) -> None:
        if len(block.images) > len(block.labels):
            raise ValueError(f"{len(block.images)} signature images for {len(block.labels)} labels")
        images = list(block.images) + [None] * (len(block.labels) - len(block.images))
        per_row = min(2, len(block.labels))
        if not per_row:
            return
        gap = 12.0
        col_w = (_WIDTH - gap * (per_row - 1)) / per_row
        size = _BODY_PT
        line_h = size * _PT * self.line
        measure = self.width_of(_SERIF, size)
        above = 14.0  # room above the line for a signature written or drawn on it
        self.y += 6.0
        for start in range(0, len(block.labels), per_row):
            labels = block.labels[start : start + per_row]
            wrapped = [
                self.wrap(label if label.endswith(("：", ":")) else label + "：", _SERIF, size, col_w - 24.0)
                for label in labels
            ]
            label_h = max(len(w) for w in wrapped) * line_h
            height = max(above, label_h) + (line_h + 2.0 if block.dated else 2.0)
            self.ensure(height)
            line_top = self.y + max(above, label_h) - line_h  # the band of the line signed on
            for col, (lines, image) in enumerate(zip(wrapped, images[start : start + per_row], strict=True)):
                x = _LEFT + col * (col_w + gap)
                top = line_top - (len(lines) - 1) * line_h
                for line in lines:
                    self.text(x, top, line_h, line, _SERIF, size)
                    top += line_h
                rule_x = x + measure(lines[-1]) + 1.0
                rule_y = line_top + line_h / 2 + 0.38 * size * _PT + 1.2
                self.pdf.set_line_width(0.4 * _PT)
                self.pdf.line(rule_x, rule_y, x + col_w, rule_y)
                if image is not None:
                    self.pdf.image(
                        BytesIO(image),
                        x=rule_x + 1.0,
                        y=rule_y - above + 1.0,
                        w=x + col_w - rule_x - 2.0,
                        h=above,
                        keep_aspect_ratio=True,
                    )
                if block.dated:
                    when = (
                        chinese_date(self.doc.issued_on)
                        if image is not None
                        else "\u3000\u3000\u3000\u3000年\u3000\u3000月\u3000\u3000日"
                    )
                    self.text(x, line_top + line_h + 1.5, line_h, "日期：" + when, _SERIF, size)
            self.y += height + 4.0

    def ending(self) -> None:
        """Issuer over the date, bottom right, then the closing small print at the foot of the page.

        The seal's circle presses on issuer and date, which sit just below its centre (GB/T 9704); its top
        stays clear of the body above. Issuer, date, seal and closing never part: if they do not fit under
        the body, they start a page (and `render_pdf` tries a tighter layout first)."""
        doc = self.doc
        size = _BODY_PT
        line_h = size * _PT * self.line
        measure = self.width_of(_SERIF, size)
        when = doc.written_date or chinese_date(doc.issued_on)
        block_w = max(measure(doc.issuer), measure(when))
        centre = _RIGHT_X - 2 * size * _PT - block_w / 2  # 右空二字
        closing = self.closing_lines()
        closing_h = len(closing) * _SMALL_PT * _PT * _SMALL_LINE + (_CLOSING_GAP if closing else 0.0)
        floor = _BOTTOM_Y - closing_h
        seal_dy = line_h - 2.0  # circle centre below the issuer line's top: the pair sits 2 mm under it
        above = _SEAL_R - seal_dy + 1.0 if doc.seal else 2 * line_h
        top = self.y + above
        if top + 2 * line_h > floor or (doc.seal and top + seal_dy + _SEAL_R > floor - 1.0):
            self.ending_alone = self.y > _TOP
            self.new_page()
            top = self.y + (above - 1.0 if doc.seal else 0.0)
        self.text(centre - measure(doc.issuer) / 2, top, line_h, doc.issuer, _SERIF, size)
        self.text(centre - measure(when) / 2, top + line_h, line_h, when, _SERIF, size)
        if doc.seal:
            self.seal(centre, top + seal_dy)
        self.y = max(top + 2 * line_h, top + seal_dy + _SEAL_R if doc.seal else 0.0)
        if closing:
            self.closing(closing, _BOTTOM_Y - closing_h + _CLOSING_GAP)

    def seal(self, cx: float, cy: float) -> None:
        pdf = self.pdf
        pdf.set_draw_color(150)
        pdf.set_line_width(0.35)
        pdf.set_dash_pattern(dash=1.6, gap=1.2)
        pdf.circle(cx, cy, _SEAL_R)
        pdf.set_dash_pattern()
        pdf.set_draw_color(0)
        name = self.doc.seal if self.doc.seal.startswith("（") else f"（{self.doc.seal}）"
        size = 9.0
        measure = self.width_of(_SANS, size)
        pdf.set_text_color(175)
        line_h = size * _PT * 1.3
        lines = wrap_text(name, measure, 2 * _SEAL_R - 10.0)
        top = cy - 9.0 - len(lines) * line_h
        for line in lines:
            self.text(cx - measure(line) / 2, top, line_h, line, _SANS, size)
            top += line_h
        pdf.set_text_color(0)

    def closing_lines(self) -> list[str]:
        measure = self.width_of(_SERIF, _SMALL_PT)
        return [line for text in self.doc.closing for line in wrap_text(text, measure, _WIDTH)]

    def closing(self, lines: list[str], top: float) -> None:
        """The small print at the foot of the last page, under a thin rule, where 公文 put their 版记."""
        line_h = _SMALL_PT * _PT * _SMALL_LINE
        self.pdf.set_draw_color(0)
        self.pdf.set_line_width(0.25)
        self.pdf.line(_LEFT, top - 1.5, _RIGHT_X, top - 1.5)
        for line in lines:
            self.text(_LEFT, top, line_h, line, _SERIF, _SMALL_PT)
            top += line_h
        self.y = top

    def render(self, break_before_last: bool = False) -> None:
        """Lay out the whole notice; `break_before_last` starts a page before the last block (a paragraph
        keeps all but its last two lines), so the ending does not stand alone."""
        self.first_page()
        for n, block in enumerate(self.doc.blocks):
            last = break_before_last and n == len(self.doc.blocks) - 1
            if isinstance(block, Paragraph):
                self.paragraph(block, carry=2 if last else 0)
                continue
            if last and self.y > _TOP:
                self.new_page()
            if isinstance(block, Heading):
                self.heading(block)
            elif isinstance(block, Fields):
                self.fields(block)
            elif isinstance(block, Table):
                self.table(block)
            elif isinstance(block, Signatures):
                self.signatures(block)
            else:
                raise TypeError(f"not a notice block: {block!r}")
        self.ending()


def _balanced(text: str, width_of: Callable[[str], float], max_width: float) -> list[str]:
    """Wrap into as few lines as `max_width` allows, but of even length (a case number in two halves, not
    a full line and a stub)."""
    lines = wrap_text(text, width_of, max_width)
    if len(lines) < 2:
        return lines
    low, high = max_width / len(lines), max_width
    for _ in range(16):
        mid = (low + high) / 2
        if len(wrap_text(text, width_of, mid)) > len(lines):
            low = mid
        else:
            high = mid
    return wrap_text(text, width_of, high)


def _render(
    doc: OfficialDocument,
    fonts: tuple[Path, Path] | None,
    *,
    reuse_fonts: bool = True,
    missing_glyphs_raise: bool = False,
) -> bytes:
    serif, sans = fonts if fonts is not None else font_paths()
    _check_fonts((serif, sans))
    # GB/T 9704 allows no page holding only the seal and date: "调整行距" first, else carry the last block
    # over to the ending's page.
    made: list[_NoticePdf] = []
    try:
        for line, break_last in ((_LINE, False), (_TIGHT_LINE, False), (_LINE, True)):
            made.append(_new_pdf(doc, serif, sans, reuse_fonts))
            layout = _Layout(made[-1], doc, line)
            layout.render(break_before_last=break_last)
            if not layout.ending_alone:
                chosen = made[-1]
                break
        else:
            chosen = made[0]
        if missing_glyphs_raise and any(
            getattr(font, "missing_glyphs", None) for font in chosen.fonts.values()
        ):
            raise _GlyphMissing
        return bytes(chosen.output())
    finally:
        for pdf in made:  # output closes the fonts of the one written; a discarded layout must too
            for font in pdf.fonts.values():
                if isinstance(font, TTFFont):
                    font.close()


def _new_pdf(doc: OfficialDocument, serif: Path, sans: Path, reuse_fonts: bool) -> _NoticePdf:
    pdf = _NoticePdf(doc)
    for family, path in ((_SERIF, serif), (_SANS, sans)):
        if reuse_fonts:
            _attach_font(pdf, family, path)
        else:
            pdf.add_font(family, fname=path)
    pdf.set_margins(_LEFT, _TOP, _RIGHT)
    pdf.set_auto_page_break(False)  # every break is placed by the layout, to respect rows and 禁则
    pdf.set_title(f"{doc.title} {doc.number}".strip())
    pdf.set_creator("OneWindow Edge")
    pdf.set_author(doc.issuer)
    pdf.set_lang("zh-CN")
    # The date on the notice, not the wall clock: the same notice renders to the same bytes.
    pdf.set_creation_date(datetime.combine(doc.issued_on, time(0, 0), tzinfo=CST))
    return pdf


def render_pdf(doc: OfficialDocument, fonts: tuple[Path, Path] | None = None) -> bytes:
    """The notice as an A4 PDF with subset-embedded Noto Serif SC / Sans SC (or the given (serif, sans)).

    Set in the shipped subset fonts; a document holding a character they lack (a rare character in a name) is
    set again in the full fonts, so the subset never costs a glyph."""
    if fonts is not None or font_paths() != SUBSET_FONTS:
        return _render(doc, fonts)
    try:
        return _render(doc, None, missing_glyphs_raise=True)
    except _GlyphMissing:
        return _render(doc, full_font_paths())


class _GlyphMissing(Exception):
    """A character of the document is not in the subset fonts."""
