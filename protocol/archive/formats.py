"""Structural parsers of the formats an archive package may hold (PDF, JPEG, PNG, TIFF), on the standard library.

Usability (可用性) means a file opens in the format it declares: here, that its structure parses end to end and
its compressed data inflates, as a viewer would need. The same module says when a parsable file still hides its
content (encryption, non-public compression) and when a file is of a type that can carry code.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping

FORMAT_LABELS = {"pdf": "PDF", "jpg": "JPEG", "png": "PNG", "tiff": "TIFF"}
FORMATS = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png", "tiff": "image/tiff"}
EXTENSIONS = {"pdf": ("pdf",), "jpg": ("jpg", "jpeg"), "png": ("png",), "tiff": ("tif", "tiff")}


def sniff(data: bytes) -> str | None:
    """The format a file claims by its magic bytes (pdf, jpg, png, tiff), or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    return None


class FormatError(ValueError):
    """A file does not parse as the format it declares; the message says where (Chinese)."""


PDF_PUBLIC_FILTERS = frozenset(
    {
        "FlateDecode",
        "LZWDecode",
        "ASCIIHexDecode",
        "ASCII85Decode",
        "RunLengthDecode",
        "CCITTFaxDecode",
        "JBIG2Decode",
        "DCTDecode",
        "JPXDecode",
        "Fl",
        "LZW",
        "AHx",
        "A85",
        "RL",
        "CCF",
        "DCT",
    }
)
_PDF_OBJ = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj\b")
_PDF_FILTER = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[A-Za-z0-9]+)")
_PDF_NAME = re.compile(rb"/([A-Za-z0-9]+)")


def _pdf_objects(data: bytes) -> dict[tuple[int, int], int]:
    """Object offsets from the cross-reference table(s) the trailer points to (classic tables are parsed and
    every in-use entry must point at its object; a cross-reference stream must at least be an object)."""
    tail = data[-2048:]
    found = list(re.finditer(rb"startxref\s+(\d+)\s+%%EOF", tail))
    if not found:
        raise FormatError("PDF 结尾缺少 startxref / %%EOF")
    offset = int(found[-1].group(1))
    if offset >= len(data):
        raise FormatError("startxref 指向文件之外")
    objects: dict[tuple[int, int], int] = {}
    seen: set[int] = set()
    while offset not in seen:
        seen.add(offset)
        if data.startswith(b"xref", offset):
            pos = offset + 4
            section = re.compile(rb"(\d+)\s+(\d+)[ \t]*(?:\r\n|\r|\n)")
            while True:
                while pos < len(data) and data[pos : pos + 1] in b" \r\n\t":
                    pos += 1
                if pos >= len(data) or data.startswith(b"trailer", pos):
                    break
                head = section.match(data, pos)
                if head is None:
                    raise FormatError("交叉引用表格式错误")
                start, count = int(head.group(1)), int(head.group(2))
                pos = head.end()
                for k in range(count):
                    entry = data[pos : pos + 20]
                    if len(entry) < 18 or entry[17:18] not in (b"n", b"f") or not entry[:10].isdigit():
                        raise FormatError(f"交叉引用表第 {start + k} 项损坏")
                    if entry[17:18] == b"n":
                        objects[(start + k, int(entry[11:16]))] = int(entry[:10])
                    pos += 20
            trailer_at = data.find(b"trailer", pos)
            if trailer_at < 0:
                raise FormatError("缺少 trailer 字典")
            trailer_end = data.find(b"startxref", trailer_at)
            trailer = data[trailer_at : trailer_end if trailer_end > 0 else len(data)]
            prev = re.search(rb"/Prev\s+(\d+)", trailer)
            if prev is None:
                break
            offset = int(prev.group(1))
            if offset >= len(data):
                raise FormatError("/Prev 指向文件之外")
        elif _PDF_OBJ.match(data, offset) and b"/XRef" in data[offset : offset + 512]:
            break  # a cross-reference stream (PDF 1.5+): the object is there; its entries are not decoded here
        else:
            raise FormatError("startxref 没有指向交叉引用表")
    for (number, generation), at in objects.items():
        head = _PDF_OBJ.match(data, at)
        if head is None or (int(head.group(1)), int(head.group(2))) != (number, generation):
            raise FormatError(f"对象 {number} {generation} 不在交叉引用表所指的位置")
    return objects


def _pdf_streams(data: bytes, objects: Mapping[tuple[int, int], int]) -> Iterable[tuple[bytes, bytes]]:
    """(dictionary, raw stream bytes) of every stream object the cross-reference table lists."""
    for at in sorted(objects.values()):
        end = data.find(b"endobj", at)
        if end < 0:
            raise FormatError("对象缺少 endobj")
        body = data[at:end]
        marker = re.search(rb"\bstream(\r\n|\n|\r)", body)
        if marker is None:
            continue
        stop = body.rfind(b"endstream")
        if stop < marker.end():
            raise FormatError("流对象缺少 endstream")
        raw = body[marker.end() : stop]
        yield body[: marker.start()], raw.rstrip(b"\r\n")


def pdf_filters(data: bytes) -> set[str]:
    names: set[str] = set()
    for match in _PDF_FILTER.finditer(data):
        names.update(n.decode("ascii") for n in _PDF_NAME.findall(match.group(1)))
    return names


def check_pdf(data: bytes) -> None:
    """Raise FormatError unless `data` is a PDF whose header, cross-reference table, objects and Flate streams
    all parse."""
    if re.match(rb"%PDF-(1\.[0-7]|2\.0)", data) is None:
        raise FormatError("缺少 PDF 文件头 %PDF-1.x")
    if b"%%EOF" not in data[-1024:]:
        raise FormatError("文件被截断：结尾缺少 %%EOF")
    objects = _pdf_objects(data)
    if not objects and b"/XRef" not in data:
        raise FormatError("PDF 中没有任何对象")
    if not re.search(rb"/Type\s*/Pages?\b", data) and b"/ObjStm" not in data:
        raise FormatError("PDF 中没有页面")
    for dictionary, raw in _pdf_streams(data, objects):
        names = [
            n.decode("ascii") for m in _PDF_FILTER.finditer(dictionary) for n in _PDF_NAME.findall(m.group(1))
        ]
        if names[:1] in (["FlateDecode"], ["Fl"]):
            try:
                zlib.decompressobj().decompress(raw)
            except zlib.error as exc:
                raise FormatError(f"压缩流无法解压（{exc}）") from exc


_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def check_jpeg(data: bytes) -> None:
    """Raise FormatError unless `data` is a JPEG whose marker segments, frame header, scans and end marker all
    parse (a truncated or garbled file fails here, as it fails in a viewer)."""
    if not data.startswith(b"\xff\xd8"):
        raise FormatError("缺少 JPEG 起始标记 SOI")
    i, size = 2, len(data)
    frame = tables = scan = False
    while True:
        if i >= size:
            raise FormatError("文件被截断：缺少结束标记 EOI")
        if data[i] != 0xFF:
            raise FormatError(f"第 {i} 字节处应为段标记")
        while i < size and data[i] == 0xFF:
            i += 1
        if i >= size:
            raise FormatError("文件被截断：缺少结束标记 EOI")
        marker = data[i]
        i += 1
        if marker == 0xD9:
            if not scan:
                raise FormatError("在图像数据之前遇到结束标记")
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if i + 2 > size:
            raise FormatError("文件被截断：段长度缺失")
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > size:
            raise FormatError(f"段 0x{marker:02X} 长度超出文件")
        segment = data[i + 2 : i + length]
        if marker in _JPEG_SOF:
            if len(segment) < 6:
                raise FormatError("帧头（SOF）过短")
            height, width, components = struct.unpack(">HHB", segment[1:6])
            if width == 0 or height == 0 or components not in (1, 2, 3, 4):
                raise FormatError(f"帧头（SOF）无效：{width}×{height}，{components} 个分量")
            if len(segment) < 6 + 3 * components:
                raise FormatError("帧头（SOF）分量表不完整")
            frame = True
        elif marker == 0xDB:
            tables = True
        i += length
        if marker == 0xDA:
            if not frame:
                raise FormatError("扫描（SOS）出现在帧头之前")
            scan = True
            # Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart marker.
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= size:
                    raise FormatError("文件被截断：图像数据未结束")
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    i = j + 1 if following == 0xFF else j + 2
                    continue
                i = j
                break
    if not frame or not tables:
        raise FormatError("缺少帧头或量化表")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_KNOWN_CRITICAL = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})


def check_png(data: bytes) -> None:
    """Raise FormatError unless `data` is a PNG whose chunks (with their CRCs), header and image data parse, and
    whose image data inflates to exactly the size the header implies."""
    if not data.startswith(_PNG_SIGNATURE):
        raise FormatError("缺少 PNG 文件签名")
    i, size = 8, len(data)
    header: tuple[int, int, int, int, int, int, int] | None = None
    idat = bytearray()
    palette = ended = False
    while i < size:
        if i + 12 > size:
            raise FormatError("文件被截断：数据块不完整")
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        body = data[i + 8 : i + 8 + length]
        if len(body) != length or i + 12 + length > size:
            raise FormatError(f"文件被截断：{kind.decode('latin-1')} 块不完整")
        crc = int.from_bytes(data[i + 8 + length : i + 12 + length], "big")
        if zlib.crc32(kind + body) != crc:
            raise FormatError(f"{kind.decode('latin-1')} 块校验码（CRC）错误")
        if header is None and kind != b"IHDR":
            raise FormatError("第一个数据块应为 IHDR")
        if kind == b"IHDR":
            if len(body) != 13:
                raise FormatError("IHDR 长度错误")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = True
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            ended = True
            i += 12 + length
            break
        elif kind[0:1].isupper() and kind not in _PNG_KNOWN_CRITICAL:
            raise FormatError(f"含有非公开的关键数据块 {kind.decode('latin-1')}")
        i += 12 + length
    if header is None or not ended:
        raise FormatError("文件被截断：缺少 IEND")
    if i != size:
        raise FormatError("IEND 之后还有多余数据")
    width, height, depth, color, compression, filtering, interlace = header
    if width == 0 or height == 0 or color not in _PNG_DEPTHS or depth not in _PNG_DEPTHS[color]:
        raise FormatError("IHDR 中的尺寸、位深或颜色类型无效")
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise FormatError("IHDR 声明了非标准的压缩或滤波方法")
    if color == 3 and not palette:
        raise FormatError("调色板图像缺少 PLTE")
    if not idat:
        raise FormatError("缺少图像数据 IDAT")
    try:
        pixels = zlib.decompress(bytes(idat))
    except zlib.error as exc:
        raise FormatError(f"图像数据无法解压（{exc}）") from exc
    if interlace == 0:
        row = (width * depth * _PNG_CHANNELS[color] + 7) // 8
        if len(pixels) != height * (row + 1):
            raise FormatError(f"图像数据长度 {len(pixels)} 与尺寸 {width}×{height} 不符")


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
TIFF_PUBLIC_COMPRESSIONS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 32773, 32946})


def _tiff_values(data: bytes, order: str, kind: int, count: int, raw: bytes) -> list[int]:
    width = _TIFF_TYPE_SIZES.get(kind)
    if width is None:
        raise FormatError(f"未知的 TIFF 字段类型 {kind}")
    total = width * count
    if total <= 4:
        block = raw[:total]
    else:
        at = struct.unpack(order + "I", raw)[0]
        if at + total > len(data):
            raise FormatError("TIFF 字段值指向文件之外")
        block = data[at : at + total]
    if kind in (3, 8):
        return list(struct.unpack(f"{order}{count}H", block))
    if kind in (4, 9):
        return list(struct.unpack(f"{order}{count}I", block))
    if kind in (1, 6, 7, 2):
        return list(block)
    return []


def tiff_compressions(data: bytes) -> set[int]:
    """The compression schemes the TIFF's directories declare (after `check_tiff` passed)."""
    return set(_tiff_directories(data))


def _tiff_directories(data: bytes) -> list[int]:
    order = "<" if data.startswith(b"II") else ">"
    if data[:4] not in (b"II*\x00", b"MM\x00*") or len(data) < 8:
        raise FormatError("缺少 TIFF 文件头")
    offset = struct.unpack(order + "I", data[4:8])[0]
    compressions: list[int] = []
    seen: set[int] = set()
    while offset:
        if offset in seen or len(seen) > 1000:
            raise FormatError("TIFF 目录（IFD）循环引用")
        seen.add(offset)
        if offset + 2 > len(data):
            raise FormatError("TIFF 目录（IFD）指向文件之外")
        count = struct.unpack(order + "H", data[offset : offset + 2])[0]
        end = offset + 2 + 12 * count
        if end + 4 > len(data):
            raise FormatError("文件被截断：TIFF 目录不完整")
        tags: dict[int, list[int]] = {}
        for k in range(count):
            at = offset + 2 + 12 * k
            tag, kind, n = struct.unpack(order + "HHI", data[at : at + 8])
            if tag in (256, 257, 259, 273, 279, 324, 325):
                tags[tag] = _tiff_values(data, order, kind, n, data[at + 8 : at + 12])
        if not tags.get(256) or not tags.get(257) or tags[256][0] == 0 or tags[257][0] == 0:
            raise FormatError("TIFF 缺少图像宽度或高度")
        compressions.append(tags.get(259, [1])[0])
        offsets, counts = tags.get(273) or tags.get(324), tags.get(279) or tags.get(325)
        if not offsets or not counts or len(offsets) != len(counts):
            raise FormatError("TIFF 缺少图像条带（或分块）的位置与长度")
        for start, length in zip(offsets, counts, strict=True):
            if start + length > len(data):
                raise FormatError("文件被截断：TIFF 图像数据超出文件")
        offset = struct.unpack(order + "I", data[end : end + 4])[0]
    return compressions


def check_tiff(data: bytes) -> None:
    """Raise FormatError unless every image directory of the TIFF parses and its image data lies in the file."""
    _tiff_directories(data)


PARSERS: dict[str, Callable[[bytes], None]] = {
    "pdf": check_pdf,
    "jpg": check_jpeg,
    "png": check_png,
    "tiff": check_tiff,
}


def hidden_encryption_or_compression(fmt: str, data: bytes) -> str | None:
    """Why a (parsable) file hides its content behind encryption or a non-public compression, or None."""
    if fmt == "pdf":
        if re.search(rb"/Encrypt\b", data):
            return "PDF 已加密（/Encrypt）"
        odd = sorted(pdf_filters(data) - PDF_PUBLIC_FILTERS)
        if odd:
            return f"PDF 使用了非公开的编码 {', '.join(odd)}"
    if fmt == "tiff":
        odd_tiff = sorted(tiff_compressions(data) - TIFF_PUBLIC_COMPRESSIONS)
        if odd_tiff:
            return f"TIFF 使用了非公开的压缩方式 {odd_tiff}"
    return None


# Signatures of content that can carry code: nothing of this kind belongs in an archive package.
_DISALLOWED_MAGIC = (
    (b"MZ", "Windows 可执行文件"),
    (b"\x7fELF", "ELF 可执行文件"),
    (b"\xca\xfe\xba\xbe", "Mach-O/Java 类文件"),
    (b"#!", "脚本"),
    (b"PK\x03\x04", "压缩包（ZIP/Office）"),
    (b"Rar!", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    (b"\x1f\x8b", "gzip 压缩文件"),
    (b"\xd0\xcf\x11\xe0", "OLE 文档（可含宏）"),
)
_PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA|SubmitForm|ImportData)\b")


def disallowed_content(data: bytes, fmt: str | None) -> str | None:
    """Why a payload file is of a type the archive refuses (it could carry code), or None."""
    head = data[:16]
    for magic, what in _DISALLOWED_MAGIC:
        if head.startswith(magic):
            return f"不允许的文件类型：{what}"
    if re.match(rb"\s*<(\?xml|!DOCTYPE|html|script|svg)", data[:256], re.IGNORECASE):
        return "不允许的文件类型：标记语言文档（可含脚本）"
    if fmt == "pdf":
        found = _PDF_ACTIVE.search(data)
        if found:
            return f"PDF 含有可执行内容 /{found.group(1).decode()}"
    return None
