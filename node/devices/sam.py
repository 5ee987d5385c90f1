"""The GA/T 467 SAM frame codec (居民身份证验证安全控制模块接口) and the ID card's text block.

Frames, both directions (domain-facts §7.2)::

    host -> SAM : AA AA AA 96 69 | LEN_H LEN_L | CMD PARA | DATA… | CHK
    SAM  -> host: AA AA AA 96 69 | LEN_H LEN_L | SW1 SW2 SW3 | DATA… | CHK

LEN counts the bytes after the length field; CHK is the XOR of LEN_H … the last data byte. Checksums are always
computed here, never copied from a table. Replies are parsed by their own length (a failure reply is 11 bytes,
a full read 1295), never by the size the command was expected to return.

The 256-byte text block is UCS-2 little-endian, space padded, with fixed field widths; the 1024-byte photo is
WLT (licensed format, see `node.devices.photo`) and is kept raw.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from protocol.identifiers import parse_resident_id

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
HEADER_SIZE = 7  # preamble + length: enough to know how long the whole frame is

# (CMD, PARA) of the commands the node sends.
RESET = (0x10, 0xFF)
SAM_STATUS = (0x11, 0xFF)
SAM_ID = (0x12, 0xFF)
FIND_CARD = (0x20, 0x01)
SELECT_CARD = (0x20, 0x02)
READ_BASE = (0x30, 0x01)
READ_BASE_FP = (0x30, 0x10)

# SW3 status bytes (SW1 = SW2 = 00). The sentences say what the clerk should do.
OK = 0x90
NO_CONTENT = 0x91
FIND_OK = 0x9F
FIND_FAILED = 0x80
SELECT_FAILED = 0x81
STATUS_MESSAGES: dict[int, str] = {
    0x90: "操作成功",
    0x91: "证件上没有此项内容",
    0x9F: "找到身份证",
    0x10: "读卡器收到的命令校验和错误，请重试",
    0x11: "读卡器收到的命令长度错误，请重试",
    0x21: "读卡器不支持此命令（型号不符？）",
    0x23: "越权操作，读卡器拒绝执行",
    0x24: "读卡器内部未知错误，请重新插拔读卡器",
    0x31: "身份证认证安全模块失败，请重新放卡",
    0x32: "安全模块认证身份证失败，证件可能有问题",
    0x33: "证件信息验证错误，证件可能有问题",
    0x37: "指纹信息验证错误",
    0x3F: "证件信息长度错误，请重新放卡",
    0x40: "无法识别的卡类型（不是二代身份证？）",
    0x41: "读证件失败，请把身份证放平后重试",
    0x47: "取随机数失败，请重新放卡",
    0x60: "读卡器安全模块自检失败，请联系维修",
    0x66: "读卡器安全模块未经授权，请联系供应商",
    0x80: "没有找到身份证，请把身份证放在读卡区",
    0x81: "选卡失败，请拿起身份证再放一次",
}

TEXT_SIZE = 256
PHOTO_SIZE = 1024
# (field, offset, width in bytes) inside the text block.
TEXT_LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("name", 0, 30),
    ("sex", 30, 2),
    ("nation", 32, 4),
    ("birth", 36, 16),
    ("address", 52, 70),
    ("number", 122, 36),
    ("authority", 158, 30),
    ("valid_from", 188, 16),
    ("valid_to", 204, 16),
    ("reserved", 220, 36),
)
SEX_LABELS = {"0": "未知", "1": "男", "2": "女", "9": "未说明"}
#: GB/T 3304 民族 codes.
NATIONS = dict(
    enumerate(
        "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 水 东乡 纳西 "
        "景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 "
        "保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺".split(),
        start=1,
    )
)
NATION_LABELS = {f"{k:02d}": f"{v}族" for k, v in NATIONS.items()}
NATION_LABELS.update({"97": "其他", "98": "外国血统中国籍人士"})
LONG_TERM = "长期"


class FrameError(ValueError):
    """Bytes that are not a well-formed SAM frame (bad preamble, length or checksum)."""


def checksum(body: bytes) -> int:
    """XOR of every byte from LEN_H to the last data byte."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def command_frame(command: tuple[int, int], data: bytes = b"") -> bytes:
    """A host → SAM frame for (CMD, PARA) with optional data."""
    body = (len(data) + 3).to_bytes(2, "big") + bytes(command) + data
    return PREAMBLE + body + bytes([checksum(body)])


def reply_frame(sw3: int, data: bytes = b"", *, sw1: int = 0, sw2: int = 0) -> bytes:
    """A SAM → host frame (what a reader sends; the simulator builds its replies with it)."""
    body = (len(data) + 4).to_bytes(2, "big") + bytes([sw1, sw2, sw3]) + data
    return PREAMBLE + body + bytes([checksum(body)])


def frame_size(header: bytes) -> int:
    """The whole frame's size from its first seven bytes."""
    if len(header) < HEADER_SIZE:
        raise FrameError(f"帧头不足 {HEADER_SIZE} 字节")
    if header[:5] != PREAMBLE:
        raise FrameError(f"帧头不是 AA AA AA 96 69：{header[:5].hex(' ')}")
    length = int.from_bytes(header[5:7], "big")
    if length < 2:
        raise FrameError(f"长度字段太小：{length}")
    return HEADER_SIZE + length


@dataclass(frozen=True)
class SamReply:
    """A parsed SAM reply: the three status bytes and the data between them and the checksum."""

    sw1: int
    sw2: int
    sw3: int
    data: bytes

    @property
    def ok(self) -> bool:
        return self.sw1 == 0 and self.sw2 == 0 and self.sw3 in (OK, FIND_OK)

    @property
    def message(self) -> str:
        return status_message(self.sw3)


def status_message(sw3: int) -> str:
    return STATUS_MESSAGES.get(sw3, f"读卡器返回未知状态 0x{sw3:02X}")


def parse_reply(frame: bytes) -> SamReply:
    """Check a whole SAM → host frame and split it."""
    size = frame_size(frame)
    if len(frame) != size:
        raise FrameError(f"帧长度不符：长度字段表示 {size} 字节，收到 {len(frame)} 字节")
    if size < HEADER_SIZE + 4:
        raise FrameError("应答帧太短，缺少状态字节")
    body = frame[5:-1]
    if checksum(body) != frame[-1]:
        raise FrameError(f"校验和错误：应为 0x{checksum(body):02X}，收到 0x{frame[-1]:02X}")
    return SamReply(frame[7], frame[8], frame[9], bytes(frame[10:-1]))


def parse_command(frame: bytes) -> tuple[tuple[int, int], bytes]:
    """Check a host → SAM frame and return ((CMD, PARA), data). Used by the reader simulator."""
    size = frame_size(frame)
    if len(frame) != size or size < HEADER_SIZE + 3:
        raise FrameError("命令帧长度不符")
    body = frame[5:-1]
    if checksum(body) != frame[-1]:
        raise FrameError("命令帧校验和错误")
    return (frame[7], frame[8]), bytes(frame[9:-1])


# ---- the card's contents ------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class IdCard:
    """What a second-generation resident ID card holds, as read. The repr hides the person (PIPL)."""

    name: str
    sex: str  # GB/T 2261.1 code: 1 male, 2 female
    nation: str  # GB/T 3304 code
    birth: str  # YYYYMMDD
    address: str
    number: str
    authority: str
    valid_from: str  # YYYYMMDD
    valid_to: str  # YYYYMMDD or 长期
    photo_wlt: bytes = b""
    fingerprint: bytes = b""
    card_type: str = ""  # '' resident card; 'I' / 'J' per vendor docs (unverified)
    number_valid: bool = field(default=False)
    number_problem: str = ""

    @property
    def sex_label(self) -> str:
        return SEX_LABELS.get(self.sex, self.sex)

    @property
    def nation_label(self) -> str:
        return NATION_LABELS.get(self.nation, self.nation)

    @property
    def birth_iso(self) -> str:
        b = self.birth
        return f"{b[:4]}-{b[4:6]}-{b[6:8]}" if len(b) == 8 and b.isdigit() else b

    @property
    def masked_number(self) -> str:
        return f"{self.number[:6]}********{self.number[14:]}" if len(self.number) == 18 else "****"

    def __repr__(self) -> str:
        return f"IdCard({self.masked_number!r})"


def _field(block: bytes, offset: int, width: int) -> str:
    raw = block[offset : offset + width]
    # UCS-2 little-endian; a NUL or an unpaired surrogate is damage, shown rather than hidden.
    return raw.decode("utf-16-le", errors="replace").rstrip(" \x00")


def decode_text(block: bytes, *, today: date | None = None) -> IdCard:
    """The 256-byte text block as an `IdCard` (photo not included); the number is checked (GB 11643)."""
    if len(block) != TEXT_SIZE:
        raise FrameError(f"文字信息应为 {TEXT_SIZE} 字节，收到 {len(block)} 字节")
    values = {name: _field(block, offset, width) for name, offset, width in TEXT_LAYOUT}
    reserved = values.pop("reserved")
    problem = ""
    try:
        parse_resident_id(values["number"], today=today)
    except ValueError as exc:
        problem = str(exc)
    # Vendor documents (unverified) put a card-type letter at byte 248: I = 外国人永久居留身份证,
    # J = 港澳台居民居住证. Those cards use other layouts; the letter is kept so they can be told apart.
    marker = reserved[14:15]
    return IdCard(
        name=values["name"],
        sex=values["sex"],
        nation=values["nation"],
        birth=values["birth"],
        address=values["address"],
        number=values["number"],
        authority=values["authority"],
        valid_from=values["valid_from"],
        valid_to=values["valid_to"],
        card_type=marker if marker in ("I", "J") else "",
        number_valid=not problem,
        number_problem=problem,
    )


def encode_text(card: IdCard) -> bytes:
    """The card's text block (what the SAM sends); the simulator and tests build cards with it."""
    block = bytearray(b" \x00" * (TEXT_SIZE // 2))
    for name, offset, width in TEXT_LAYOUT:
        if name == "reserved":
            continue
        raw = str(getattr(card, name)).encode("utf-16-le")
        if len(raw) > width:
            raise ValueError(f"{name} 超过 {width // 2} 个字")
        block[offset : offset + len(raw)] = raw
    return bytes(block)


def read_payload(card: IdCard, *, with_fingerprint: bool = False) -> bytes:
    """The data of a successful `30 01` (or `30 10`) reply: lengths, text, photo (and fingerprint)."""
    text = encode_text(card)
    photo = card.photo_wlt.ljust(PHOTO_SIZE, b"\x00")[:PHOTO_SIZE]
    if with_fingerprint:
        fp = card.fingerprint
        return (
            len(text).to_bytes(2, "big")
            + len(photo).to_bytes(2, "big")
            + len(fp).to_bytes(2, "big")
            + text
            + photo
            + fp
        )
    return len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text + photo


def decode_read(data: bytes, *, with_fingerprint: bool = False, today: date | None = None) -> IdCard:
    """The data of a successful read reply as an `IdCard` with its raw WLT photo (and fingerprint)."""
    heads = 3 if with_fingerprint else 2
    if len(data) < 2 * heads:
        raise FrameError("读卡应答缺少长度字段")
    lengths = [int.from_bytes(data[i * 2 : i * 2 + 2], "big") for i in range(heads)]
    text_len, photo_len = lengths[0], lengths[1]
    fp_len = lengths[2] if with_fingerprint else 0
    start = 2 * heads
    if len(data) != start + text_len + photo_len + fp_len:
        raise FrameError(
            f"读卡应答长度不符：文字 {text_len} + 照片 {photo_len} + 指纹 {fp_len}，实际 {len(data) - start}"
        )
    card = decode_text(data[start : start + text_len], today=today)
    photo = data[start + text_len : start + text_len + photo_len]
    fingerprint = data[start + text_len + photo_len :]
    return replace(card, photo_wlt=bytes(photo), fingerprint=bytes(fingerprint))
