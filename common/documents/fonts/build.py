"""Build the notice fonts shipped in this folder (issue 20): Noto Serif SC and Noto Sans SC cut down ahead of time
to the characters official documents need — GB 2312 (its 7,445 graphic characters), printable ASCII, and every
other character in the project's own text (wording of notices and results, the catalogue, the calendar) — so no
process parses the 20 MB full fonts at run time.

    .venv/bin/python -m common.documents.fonts.build      # after changing the wording; commit the .otf files

A document with a character outside the subset (a rare name) is rendered with the full fonts instead
(`common.documents.pdf`), so the cut never costs a character. The fonts are under the SIL Open Font License 1.1
(`OFL.txt`), which allows modified versions to be redistributed under the same licence; Noto has no Reserved
Font Name.

A build-time tool only: it needs fontTools (already installed with fpdf2) and the `pylopdf-fonts-zh-cn` wheel.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
FONTS = (
    ("NotoSerifSC-Regular.otf", "NotoSerifSC-GB2312.otf"),
    ("NotoSansSC-Regular.otf", "NotoSansSC-GB2312.otf"),
)
#: Where the project's own strings are: every text file of these packages.
SOURCES = ("common", "node", "central", "protocol", "provisioning")
SUFFIXES = {".py", ".html", ".json", ".toml", ".txt", ".csv", ".js", ".css"}


def gb2312() -> set[str]:
    chars = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def project_characters(root: Path = ROOT) -> set[str]:
    chars: set[str] = set()
    for package in SOURCES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
                try:
                    chars.update(c for c in path.read_text("utf-8") if ord(c) > 0x7E)
                except UnicodeDecodeError:
                    continue
    return chars


def characters() -> str:
    wanted = gb2312() | project_characters() | {chr(c) for c in range(0x20, 0x7F)}
    wanted |= set("　〇〔〕（）《》“”‘’…—·℃％")
    return "".join(sorted(c for c in wanted if c.isprintable() or c == "\u3000"))


def main() -> int:
    import pylopdf_fonts_zh_cn
    from fontTools import subset  # type: ignore[import-untyped]  # fontTools ships no type hints
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    source = Path(pylopdf_fonts_zh_cn.__file__).parent
    text = characters()
    for full, cut in FONTS:
        options = subset.Options()
        options.layout_features = []  # fpdf2 embeds the CFF outlines alone: no shaping tables needed
        options.drop_tables += [
            "GSUB",
            "GPOS",
            "GDEF",
            "BASE",
            "DSIG",
            "VORG",
            "vhea",
            "vmtx",
            "JSTF",
            "MATH",
        ]
        options.name_IDs = ["*"]
        options.name_languages = ["*"]
        options.notdef_outline = True
        options.recalc_timestamp = False
        font = TTFont(source / full)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(font)
        font.save(HERE / cut)
        print(f"{cut}: {len(text)} characters, {(HERE / cut).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
