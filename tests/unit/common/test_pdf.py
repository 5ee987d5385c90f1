"""Official notice PDFs: Chinese line breaking (禁则), every block type on the page, embedded subset fonts, tables
across pages, signatures and the QR code, checked with poppler's own tools on the real output.

A sample notice and its page images land in /tmp/onewindow-shots/ for a human to look at.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import unicodedata
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw

from common.documents import pdf as notice_pdf
from common.documents.pdf import (
    Fields,
    Heading,
    NoticeFontMissing,
    OfficialDocument,
    Paragraph,
    Signatures,
    Table,
    chinese_date,
    font_paths,
    full_font_paths,
    render_pdf,
    wrap_text,
)
from tests.support import require_tool

SHOTS = Path("/tmp/onewindow-shots")
CLOSING = "，。、；：？！）》」』〕】”’％…"
OPENING = "（《「『〔【“‘"
CASE_NUMBER = "2205811010000000000000000000000" + "20261122" + "0101"  # 43 digits
ISSUED = date(2026, 11, 22)


def cells(s: str) -> float:
    """Width in half-width cells: CJK and full-width marks 2, everything else 1 (additive, like fpdf2's)."""
    return sum(2.0 if unicodedata.east_asian_width(c) in "WF" else 1.0 for c in s)


# ---------------------------------------------------------------------------------------------------------
# wrap_text


def test_closing_punctuation_never_starts_a_line() -> None:
    # "五" fills the line; "，" may not start the next one, so "五" goes down with it.
    assert wrap_text("一二三四五，六七八", cells, 10) == ["一二三四", "五，六七八"]
    # Two closing marks in a row travel together with the character before them.
    assert wrap_text("一二三四五”。六七", cells, 10) == ["一二三四", "五”。六七"]
    assert wrap_text("甲乙丙丁……戊己", cells, 9) == ["甲乙丙", "丁……戊己"]  # "…" is one cell here
    # A space before the mark is no excuse to break there.
    assert wrap_text("件" * 15 + " ……", cells, 16) == ["件" * 8, "件" * 6, "件 ……"]


def test_opening_punctuation_never_ends_a_line() -> None:
    assert wrap_text("一二三四（五六七八", cells, 10) == ["一二三四", "（五六七八"]
    assert wrap_text("他说：“你好。”她说", cells, 8) == ["他说：", "“你好。”", "她说"]
    assert wrap_text("件" * 7 + " （附", cells, 16) == ["件" * 7, "（附"]


def test_latin_runs_stay_whole() -> None:
    # The telephone number would fit after "电话", its full stop would not: both go down together.
    lines = wrap_text("请于 2026-12-01 前补交材料，联系电话0435-4222222。", cells, 20)
    assert lines == ["请于 2026-12-01 前补", "交材料，联系电话", "0435-4222222。"]
    # A case number fitting on a line is never cut, whatever precedes it.
    text = f"办件编号为{CASE_NUMBER}，请妥善保管。"
    for width in range(44, 80, 3):
        assert any(CASE_NUMBER in line for line in wrap_text(text, cells, width)), width


def test_a_run_longer_than_a_line_is_cut() -> None:
    lines = wrap_text(f"办件编号{CASE_NUMBER}，请保管", cells, 20)
    assert lines == ["办件编号", CASE_NUMBER[:20], CASE_NUMBER[20:40], CASE_NUMBER[40:] + "，请保管"]
    # A long address is cut after a slash rather than mid-word when that keeps most of the line.
    assert wrap_text("http://example.com/a/b/c/d/e", cells, 12) == ["http://", "example.com/", "a/b/c/d/e"]


def test_explicit_newlines_and_spaces() -> None:
    assert wrap_text("甲乙\n丙丁戊己庚辛壬癸子丑", cells, 8) == ["甲乙", "丙丁戊己", "庚辛壬癸", "子丑"]
    assert wrap_text("a\n\nb", cells, 8) == ["a", "", "b"]
    assert wrap_text("", cells, 8) == [""]
    # Spaces inside a line are kept, at a break they vanish.
    assert wrap_text("one two three", cells, 8) == ["one two", "three"]
    assert wrap_text("  前导 空格", cells, 20) == ["  前导 空格"]


def test_only_an_unbreakable_unit_overflows() -> None:
    # A run filling the whole line keeps its comma (hanging) rather than starting the next line with it.
    assert wrap_text("ABCDEFGHIJ，甲", cells, 10) == ["ABCDEFGHIJ，", "甲"]


# Text the way notices are written: CJK words, a closing mark after a character, an opening mark before one,
# Latin runs (numbers, codes), spaces and line breaks.
_WORD = st.one_of(
    st.text(alphabet="受理申请材料办件编号镇村户口", min_size=1, max_size=6),
    st.builds(lambda c, p: c + p, st.sampled_from("字号日"), st.sampled_from(CLOSING)),
    st.builds(lambda p, c: p + c, st.sampled_from(OPENING), st.sampled_from("附见第")),
    st.text(alphabet="0123456789ABCxyz-/.", min_size=1, max_size=7),
    st.sampled_from([" ", "\n", "——", "……"]),
)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(_WORD, max_size=40), width=st.integers(min_value=16, max_value=60))
def test_wrapping_rules_hold_for_any_text(words: list[str], width: int) -> None:
    text = "".join(words)
    lines = wrap_text(text, cells, width)
    # Nothing lost but the spaces where lines were broken.
    assert "".join(lines).replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert len(lines) >= text.count("\n") + 1
    segment_starts = {0}
    consumed = 0
    for segment in text.split("\n")[:-1]:
        consumed += len(wrap_text(segment, cells, width))
        segment_starts.add(consumed)
    for i, line in enumerate(lines):
        # Only a Latin run filling a whole line may overflow, by the closing mark hanging after it.
        assert cells(line.rstrip(CLOSING)) <= width, (line, width)
        assert line == line.rstrip(" ")
        if i not in segment_starts:
            assert not line or line[0] not in CLOSING, lines
            assert not line.startswith(" "), lines
        if i + 1 < len(lines) and i + 1 not in segment_starts:
            assert not line or line[-1] not in OPENING, lines


def test_chinese_date() -> None:
    assert chinese_date(date(2026, 2, 5)) == "2026年2月5日"
    assert chinese_date(date(2026, 11, 22)) == "2026年11月22日"


# ---------------------------------------------------------------------------------------------------------
# Rendering


def signature_png(width: int = 300, height: int = 110) -> bytes:
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    pen = ImageDraw.Draw(image)
    pen.line(
        [(10, 80), (60, 20), (90, 90), (140, 30), (190, 85), (250, 25), (290, 70)],
        fill=(10, 10, 60, 255),
        width=5,
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


MATERIALS = (
    ("1", "居民身份证", "1", "原件核验，复印件留存"),
    ("2", "户口簿（首页及本人页）", "1", "复印件"),
    ("3", "城乡居民基本养老保险参保登记表（一式两份，需本人签字确认）", "2", "原件"),
)
FIELDS = (
    ("办件编号", CASE_NUMBER),
    ("申请事项", "城乡居民基本养老保险参保登记"),
    ("承诺办结时限", "5个工作日（自受理之日起计算，不含公示、鉴定等所需时间）"),
    ("联系电话", "0435-4222222"),
)
BODY = (
    "你于2026年11月22日提交的《城乡居民基本养老保险参保登记》申请，经审查，申请材料齐全、符合法定形式，"
    "根据《中华人民共和国行政许可法》第三十二条第一款第（五）项的规定，决定予以受理。办件编号为"
    f"{CASE_NUMBER}，请妥善保管本通知书，凭办件编号可在“吉事办”小程序或本中心窗口查询办理进度。"
)


def acceptance(**changes: Any) -> OfficialDocument:
    doc = OfficialDocument(
        title="受理通知书",
        number="红梅便民受字〔2026〕第10001号",
        issuer="梅河口市红梅镇便民服务中心",
        issued_on=ISSUED,
        addressee="张三：",
        qr_payload=f"https://onewindow.example/q/{CASE_NUMBER}",
        qr_caption=CASE_NUMBER,
        seal="受理专用章",
        blocks=(
            Paragraph(BODY),
            Heading("一、申请材料"),
            Table(("序号", "材料名称", "份数", "形式"), MATERIALS, widths=(1, 6, 1.2, 3)),
            Heading("二、办理信息"),
            Fields(FIELDS),
            Paragraph("特别提示：如需补充材料，本中心将一次性告知，请保持电话畅通。", bold=True),
            Signatures(("申请人（签字）", "受理人（签字）"), images=(signature_png(), None)),
        ),
        closing=(
            "本通知书一式两份，申请人、受理机关各执一份。",
            "如对本决定不服，可在收到本通知书之日起六十日内依法申请行政复议，或者在六个月内依法提起行政诉讼。",
        ),
    )
    return replace(doc, **changes)


def run(*args: object) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


def text_of(path: Path, *pages: int) -> str:
    """The PDF's text in content order (`-raw`), whitespace removed, so wrapped and justified lines read whole."""
    tool = require_tool("pdftotext")
    first_last = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    out = run(tool, "-raw", *first_last, path, "-")
    return "".join(out.split())


def body_text(path: Path, *furniture: str) -> str:
    """`text_of` without what repeats on every page (issuer header, "— n —"), nor the given table headers."""
    text = re.sub(r"—\d+—", "", text_of(path))
    for repeated in (acceptance().issuer, *furniture):
        text = text.replace(repeated, "")
    return text


def page_count(path: Path) -> int:
    info = run(require_tool("pdfinfo"), path)
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "acceptance.pdf"
    path.write_bytes(render_pdf(acceptance()))
    return path


def test_every_block_renders_with_its_text(sample: Path) -> None:
    text = text_of(sample)
    doc = acceptance()
    expected = [doc.title, doc.number, "张三：", chinese_date(ISSUED), doc.issuer, "（受理专用章）"]
    expected += [cell for row in MATERIALS for cell in row] + ["序号", "材料名称", "份数", "形式"]
    expected += [part for row in FIELDS for part in row] + ["一、申请材料", "二、办理信息"]
    expected += [BODY, "特别提示：如需补充材料", "申请人（签字）：", "受理人（签字）：", *doc.closing]
    for item in expected:
        assert "".join(item.split()) in text, item
    assert sample.read_bytes().startswith(b"%PDF-1.")


def test_fonts_are_embedded_as_subsets(sample: Path) -> None:
    rows = run(require_tool("pdffonts"), sample).splitlines()[2:]
    assert len(rows) == 2, rows
    for row in rows:
        # name type... encoding emb sub uni: every font embedded and subset, none left to the reader's machine.
        emb, sub = row.split()[-5:-3]
        assert (emb, sub) == ("yes", "yes"), row
        assert "+Noto" in row.split()[0]


def test_metadata_and_deterministic_output(sample: Path) -> None:
    info = run(require_tool("pdfinfo"), "-isodates", sample)
    assert "Title:           受理通知书 红梅便民受字〔2026〕第10001号" in info
    assert "Creator:         OneWindow Edge" in info
    assert "CreationDate:    2026-11-22T00:00:00+08" in info
    assert "(A4)" in info
    # The same notice is the same bytes, so a re-print can be compared with what the applicant holds.
    assert render_pdf(acceptance()) == sample.read_bytes()


def test_signature_image_is_embedded(sample: Path) -> None:
    listing = run(require_tool("pdfimages"), "-list", sample).splitlines()[2:]
    kinds = [(row.split()[2], row.split()[3], row.split()[4]) for row in listing]
    # The PNG with its transparency: the picture and its soft mask, at the captured resolution.
    assert ("image", "300", "110") in kinds
    assert ("smask", "300", "110") in kinds


def test_qr_code_on_page_one_is_the_payload(sample: Path, tmp_path: Path) -> None:
    """Read the QR's modules back from the rendered page and compare them with segno's own matrix."""
    dpi = 300
    run(require_tool("pdftoppm"), "-r", dpi, "-f", 1, "-l", 1, "-gray", "-png", sample, tmp_path / "p")
    page = Image.open(next(tmp_path.glob("p*.png"))).convert("L")
    matrix = segno.make(acceptance().qr_payload, error="m", micro=False, boost_error=False).matrix
    module = notice_pdf._QR_SIZE / len(matrix)
    left = notice_pdf._RIGHT_X - notice_pdf._QR_SIZE
    px = dpi / 25.4

    def dark(x_mm: float, y_mm: float) -> bool:
        level = page.getpixel((round(x_mm * px), round(y_mm * px)))
        assert isinstance(level, int)
        return level < 128

    size = len(matrix)
    seen = [
        [dark(left + (c + 0.5) * module, notice_pdf._QR_TOP + (r + 0.5) * module) for c in range(size)]
        for r in range(size)
    ]
    assert seen == [[bool(v) for v in row] for row in matrix]


def test_no_rendered_line_starts_with_closing_punctuation(tmp_path: Path) -> None:
    text = "，".join(f"第{i}项材料需提交原件（复印件无效）" for i in range(1, 40)) + "。"
    path = tmp_path / "kinsoku.pdf"
    path.write_bytes(
        render_pdf(acceptance(blocks=(Paragraph(text), Paragraph(text, indent=False, bold=True))))
    )
    out = run(require_tool("pdftotext"), "-raw", path, "-")
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    body = [line for line in lines if "项材料" in line or "复印件无效" in line]
    assert len(body) > 10
    for line in body:
        assert line[0] not in CLOSING, line
        assert line[-1] not in OPENING, line
    assert "".join(text.split()) * 2 in body_text(path)


def test_long_table_repeats_its_header_on_every_page(tmp_path: Path) -> None:
    rows = tuple((f"{i:02d}", f"第{i:02d}号材料：营业执照副本复印件（加盖公章）", "1") for i in range(1, 81))
    doc = acceptance(
        blocks=(Heading("附：材料清单"), Table(("序号", "材料名称", "份数"), rows, widths=(1, 8, 1)))
    )
    path = tmp_path / "long.pdf"
    path.write_bytes(render_pdf(doc))
    pages = page_count(path)
    assert pages >= 3
    for page in range(2, pages + 1):
        text = text_of(path, page)
        if "号材料" in text:
            assert text.startswith(f"{doc.issuer}序号材料名称份数"), text[:60]
    whole = text_of(path)
    for i in range(1, 81):
        assert whole.count(f"第{i:02d}号材料") == 1


def test_a_row_taller_than_a_page_is_split(tmp_path: Path) -> None:
    huge = "很长的说明文字。" * 400
    path = tmp_path / "tall.pdf"
    path.write_bytes(render_pdf(acceptance(blocks=(Table(("事项", "说明"), (("甲", huge), ("乙", "短"))),))))
    assert page_count(path) >= 3
    assert "".join(huge.split()) in body_text(path, "事项说明")


def test_ending_never_stands_alone_on_a_page(tmp_path: Path) -> None:
    """Body that fills page 1 to the brim: the signatures move over with issuer, date and seal."""
    filler = tuple(Paragraph(BODY) for _ in range(5))
    signatures = Signatures(("申请人（签字）", "受理人（签字）"))
    path = tmp_path / "ending.pdf"
    path.write_bytes(render_pdf(acceptance(blocks=(*filler, signatures))))
    assert page_count(path) == 2  # it does not fit on page 1: the case this test is about
    last = text_of(path, 2)
    assert "申请人（签字）" in last and chinese_date(ISSUED) in last


def test_short_notice_is_one_page(tmp_path: Path) -> None:
    path = tmp_path / "short.pdf"
    doc = acceptance(blocks=(Paragraph(BODY), Signatures(("申请人（签字）",), dated=False)), qr_payload="")
    path.write_bytes(render_pdf(doc))
    assert page_count(path) == 1
    assert "日期：" not in text_of(path)  # an undated signature line


@pytest.mark.slow  # parses the full fonts again
def test_cached_fonts_render_like_fresh_ones(tmp_path: Path) -> None:
    """The per-process font cache shares parsed tables between documents: nothing of one notice may leak
    into the next, and the page must look exactly as with fpdf2's own `add_font`."""
    other = acceptance(title="不予受理决定书", blocks=(Paragraph("鑫森淼焱垚，龘靐齉。"),), seal="")
    notice_pdf._font_templates.clear()
    first = render_pdf(acceptance())
    render_pdf(other)
    assert render_pdf(acceptance()) == first
    cached, fresh = tmp_path / "cached.pdf", tmp_path / "fresh.pdf"
    cached.write_bytes(first)
    fresh.write_bytes(notice_pdf._render(acceptance(), None, reuse_fonts=False))
    # Every glyph at the same place ...
    pdftotext = require_tool("pdftotext")
    assert run(pdftotext, "-bbox", cached, "-") == run(pdftotext, "-bbox", fresh, "-")
    # ... and drawn the same. (The embedded CFF keeps the whole face's FontBBox instead of the subset's,
    # which moves poppler's anti-aliasing of a few title pixels, nothing more.)
    pdftoppm = require_tool("pdftoppm")
    for path in (cached, fresh):
        run(pdftoppm, "-r", 60, "-gray", "-png", path, path.with_suffix(""))
    pages = sorted(tmp_path.glob("cached-*.png"))
    assert pages
    for page in pages:
        ours = Image.open(page).convert("L")
        theirs = Image.open(tmp_path / page.name.replace("cached", "fresh")).convert("L")
        histogram = ImageChops.difference(ours, theirs).histogram()
        assert sum(histogram[1:]) < 0.005 * ours.width * ours.height


def test_bad_blocks_are_refused() -> None:
    with pytest.raises(ValueError, match="3 cells"):
        render_pdf(acceptance(blocks=(Table(("a", "b"), (("1", "2", "3"),)),)))
    with pytest.raises(ValueError, match="widths"):
        render_pdf(acceptance(blocks=(Table(("a", "b"), (), widths=(1.0,)),)))
    with pytest.raises(ValueError, match="2 signature images"):
        render_pdf(acceptance(blocks=(Signatures(("申请人",), images=(None, None)),)))


def test_missing_fonts_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NoticeFontMissing, match="找不到文书字体文件"):
        render_pdf(acceptance(), fonts=(tmp_path / "serif.otf", tmp_path / "sans.otf"))
    broken = tmp_path / "broken.otf"
    broken.write_bytes(b"not a font")
    with pytest.raises(NoticeFontMissing, match="cannot be read"):
        render_pdf(acceptance(), fonts=(broken, broken))
    monkeypatch.setitem(sys.modules, "pylopdf_fonts_zh_cn", None)  # as if the wheel were not installed
    with pytest.raises(NoticeFontMissing, match="pylopdf-fonts-zh-cn"):
        full_font_paths()


def test_notices_are_set_in_the_shipped_subset_fonts_and_rare_characters_still_print(tmp_path: Path) -> None:
    """Issue 20: the package ships Noto Serif/Sans SC cut to GB 2312 and the project's strings, so a render
    parses 4 MB, not 20 MB; a name with a character outside the cut (龘) is set in the full fonts instead."""
    assert font_paths() == notice_pdf.SUBSET_FONTS
    assert all(p.stat().st_size < 3_000_000 for p in notice_pdf.SUBSET_FONTS)
    pdftotext = require_tool("pdftotext")
    common = tmp_path / "common.pdf"
    common.write_bytes(render_pdf(acceptance(addressee="王晓梅：")))
    assert "王晓梅" in run(pdftotext, common, "-")
    rare = tmp_path / "rare.pdf"
    rare.write_bytes(render_pdf(acceptance(addressee="王龘：")))
    assert "王龘" in run(pdftotext, rare, "-")


def test_explicit_fonts_are_used(tmp_path: Path) -> None:
    serif, sans = font_paths()
    path = tmp_path / "swapped.pdf"
    path.write_bytes(render_pdf(acceptance(), fonts=(sans, sans)))
    fonts = run(require_tool("pdffonts"), path)
    assert sans.stem.split("-")[0] in fonts  # NotoSansSC
    assert serif.stem.split("-")[0] not in fonts


def test_sample_renders_to_page_images_kept_for_human_eyes(sample: Path, tmp_path: Path) -> None:
    """Every page of the sample renders with poppler; copies land in /tmp/onewindow-shots/ when it is writable."""
    pdftoppm = require_tool("pdftoppm")
    run(pdftoppm, "-r", 80, "-png", sample, tmp_path / "pdf-sample")
    pages = sorted(tmp_path.glob("pdf-sample-*.png"))
    assert len(pages) >= 2 and all(p.read_bytes().startswith(b"\x89PNG") for p in pages)
    with contextlib.suppress(OSError):  # the copies are for people; the test has already checked the render
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob("pdf-sample-*.png"):
            old.unlink()
        (SHOTS / "pdf-sample.pdf").write_bytes(sample.read_bytes())
        for page in pages:
            (SHOTS / page.name).write_bytes(page.read_bytes())
