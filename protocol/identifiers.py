"""Identifiers a window clerk types, scans or prints, and their check characters.

This module owns the syntax of:

- resident ID numbers (公民身份号码, GB 11643-1999; ISO 7064 MOD 11-2 check character);
- unified social credit codes (统一社会信用代码, GB 32100-2015; MOD 31 check character);
- administrative division codes (行政区划代码: 6-digit GB/T 2260, 12-digit with township and village parts);
- tracking numbers (物流单号), with the UPU S10 check digit when the number has that shape;
- service-item codes: the 12-char basic code (基本编码) and the 31-char implementation code (实施编码);
- the e-licence identifier (电子证照标识, GB/T 36904-2018) and its ISO/IEC 7064 MOD 37,36 check character;
- certificate-type codes (证件类型, GA/T 2000.156).

Everything here is a pure function over ``str`` (stdlib only, no tables of real divisions or organisations). Every
``parse_*`` function normalises what a person typed (NFKC, so full-width characters from a Chinese input method
work; surrounding whitespace dropped; letters upper-cased where the format has no lower case), raises `ValueError`
with a short Simplified-Chinese reason a window clerk can act on, and returns a frozen value object.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = [
    "CERTIFICATE_TYPES",
    "CREDIT_CODE_ALPHABET",
    "EXERCISE_LEVELS",
    "LICENCE_IDENTIFIER_ROOT",
    "REGISTRATION_AUTHORITIES",
    "CreditCode",
    "ImplementationCode",
    "LicenceIdentifier",
    "ResidentId",
    "TrackingNumber",
    "credit_code_check_char",
    "gbt36904_check_char",
    "implementation_code",
    "licence_identifier",
    "parse_basic_code",
    "parse_credit_code",
    "parse_division_code",
    "parse_implementation_code",
    "parse_licence_identifier",
    "parse_resident_id",
    "parse_tracking_number",
    "resident_id_check_char",
    "upu_s10_check_digit",
    "validate_certificate",
]

_DIGITS = frozenset("0123456789")


def _normalise(text: str) -> str:
    """What the person meant: full-width forms folded to ASCII, surrounding whitespace dropped."""
    return unicodedata.normalize("NFKC", text).strip()


def _is_digits(text: str) -> bool:
    # str.isdigit() also accepts superscripts and other scripts' digits; codes are ASCII only.
    return bool(text) and all(c in _DIGITS for c in text)


# --- resident ID number (公民身份号码, GB 11643-1999) ----------------------------------------------------------

_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"
_EARLIEST_BIRTH = date(1800, 1, 1)


@dataclass(frozen=True, slots=True, repr=False)
class ResidentId:
    """A valid resident ID number (公民身份号码) and what it says about its holder.

    The repr masks the birth date: ID numbers are sensitive personal information and end up in logs.
    """

    number: str
    division_code: str
    birth_date: date
    sex: Literal["male", "female"]

    @property
    def masked(self) -> str:
        """The number with the birth date hidden, for logs and screens that need no more."""
        return f"{self.number[:6]}********{self.number[14:]}"

    def __repr__(self) -> str:
        return f"ResidentId({self.masked!r})"


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') for the first 17 digits of an ID number."""
    if len(first17) != 17 or not _is_digits(first17):
        raise ValueError("身份号码前17位应为17个数字")
    total = sum(int(c) * w for c, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK[total % 11]


def parse_resident_id(text: str, *, today: date | None = None) -> ResidentId:
    """Validate an 18-character resident ID number (lower-case x accepted) and return its parts.

    The birth date must be a real calendar date, not after ``today`` (default: the local date).
    """
    number = _normalise(text).upper()
    if len(number) != 18:
        raise ValueError(f"身份号码应为18位，实际{len(number)}位")
    if not _is_digits(number[:17]):
        raise ValueError("身份号码前17位只能是数字")
    if number[17] not in _RESIDENT_ID_CHECK:
        raise ValueError("身份号码第18位只能是数字或X")
    if number[0] == "0":
        raise ValueError(f"地址码无效：{number[:6]}")
    birth = number[6:14]
    try:
        birth_date = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        raise ValueError(f"出生日期无效：{birth}") from None
    if birth_date < _EARLIEST_BIRTH:
        raise ValueError(f"出生日期不合理：{birth}")
    if birth_date > (today or date.today()):
        raise ValueError(f"出生日期晚于今天：{birth}")
    expected = resident_id_check_char(number[:17])
    if number[17] != expected:
        raise ValueError(f"校验位错误：应为 {expected}，请核对号码")
    sex: Literal["male", "female"] = "male" if int(number[14:17]) % 2 == 1 else "female"
    return ResidentId(number=number, division_code=number[:6], birth_date=birth_date, sex=sex)


# --- unified social credit code (统一社会信用代码, GB 32100-2015) ----------------------------------------------

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 code characters: digits and upper-case letters except I, O, Z, S, V."""
_CREDIT_CODE_VALUE = {c: i for i, c in enumerate(CREDIT_CODE_ALPHABET)}
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

REGISTRATION_AUTHORITIES: dict[str, str] = {
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "工商（市场监管）",
    "A": "中央军委改革和编制办公室",
    "N": "农业",
    "Y": "其他",
}
"""First character of a credit code: the registration authority (登记管理部门). Informative only: an unknown
character is not rejected, because authorities have been added since the standard was issued."""


@dataclass(frozen=True, slots=True)
class CreditCode:
    """A valid unified social credit code (统一社会信用代码) split into its parts."""

    code: str
    registration_authority: str
    """1 char, e.g. '1' 机构编制, '5' 民政, '9' 工商; see `REGISTRATION_AUTHORITIES`."""
    institution_type: str
    """1 char, meaning depends on the authority: '11' 机关, '12' 事业单位, '91' 企业, '92' 个体工商户 …"""
    division_code: str
    """6 digits: the registering authority's administrative division."""
    organisation_code: str
    """9 chars: the subject identifier (主体标识码, the old organisation code)."""


def _credit_code_unknown_char(text: str) -> str | None:
    return next((c for c in text if c not in _CREDIT_CODE_VALUE), None)


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a credit code."""
    bad = _credit_code_unknown_char(first17)
    if len(first17) != 17 or bad is not None:
        raise ValueError("信用代码前17位应为17个代码字符（数字或除I、O、Z、S、V外的大写字母）")
    total = sum(_CREDIT_CODE_VALUE[c] * w for c, w in zip(first17, _CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def parse_credit_code(text: str) -> CreditCode:
    """Validate an 18-character unified social credit code and return its parts."""
    code = _normalise(text).upper()
    if len(code) != 18:
        raise ValueError(f"统一社会信用代码应为18位，实际{len(code)}位")
    bad = _credit_code_unknown_char(code)
    if bad is not None:
        raise ValueError(f"统一社会信用代码含非法字符“{bad}”（不使用I、O、Z、S、V）")
    if not _is_digits(code[2:8]):
        raise ValueError("统一社会信用代码第3至8位应为行政区划码（数字）")
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise ValueError(f"校验位错误：应为 {expected}，请核对代码")
    return CreditCode(
        code=code,
        registration_authority=code[0],
        institution_type=code[1],
        division_code=code[2:8],
        organisation_code=code[8:17],
    )


# --- administrative division code (行政区划代码) ---------------------------------------------------------------


def parse_division_code(text: str, length: int = 12) -> str:
    """Validate a 6-digit (county) or 12-digit (county + township + village) division code.

    Only the shape is checked: township part 000-599 (GB/T 10114), village part 000-399 (NBS statistical codes),
    and a zero township with a non-zero village is refused. Whether the code exists needs the versioned table.
    """
    if length not in (6, 12):
        raise ValueError("行政区划代码只能是6位或12位")
    code = _normalise(text)
    if not _is_digits(code):
        raise ValueError("行政区划代码只能包含数字")
    if len(code) != length:
        raise ValueError(f"行政区划代码应为{length}位，实际{len(code)}位")
    if code[:2] == "00":
        raise ValueError(f"省级代码无效：{code[:2]}")
    if length == 12:
        township, village = code[6:9], code[9:]
        if int(township) > 599:
            raise ValueError(f"乡级代码超出范围（000–599）：{township}")
        if int(village) > 399:
            raise ValueError(f"村级代码超出范围（000–399）：{village}")
        if township == "000" and village != "000":
            raise ValueError("乡级代码为000时村级代码也应为000")
    return code


# --- tracking number (物流单号), UPU S10 ---------------------------------------------------------------------

_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
_S10_PATTERN = re.compile(r"[A-Z]{2}[0-9]{8}[0-9][A-Z]{2}")
_TRACKING_PATTERN = re.compile(r"[A-Za-z0-9-]+")


@dataclass(frozen=True, slots=True)
class TrackingNumber:
    """A courier tracking number; the S10 parts are filled only when ``is_s10``."""

    number: str
    is_s10: bool
    service_indicator: str = ""
    serial: str = ""
    check_digit: str = ""
    country: str = ""


def upu_s10_check_digit(serial8: str) -> str:
    """The UPU S10 check digit for an 8-digit serial number."""
    if len(serial8) != 8 or not _is_digits(serial8):
        raise ValueError("邮件号序号应为8个数字")
    check = 11 - sum(int(c) * w for c, w in zip(serial8, _S10_WEIGHTS, strict=True)) % 11
    return str({10: 0, 11: 5}.get(check, check))


def parse_tracking_number(text: str) -> TrackingNumber:
    """Validate a tracking number.

    A number shaped like UPU S10 (``RR123456785CN``) must carry the right check digit; any other 6-50 character
    string of letters, digits and hyphens is accepted as given (domestic couriers use their own formats).
    """
    number = _normalise(text)
    upper = number.upper()
    if _S10_PATTERN.fullmatch(upper):
        expected = upu_s10_check_digit(upper[2:10])
        if upper[10] != expected:
            raise ValueError(f"邮件号校验位错误：应为 {expected}，请核对单号")
        return TrackingNumber(
            number=upper,
            is_s10=True,
            service_indicator=upper[:2],
            serial=upper[2:10],
            check_digit=upper[10],
            country=upper[11:],
        )
    if not 6 <= len(number) <= 50:
        raise ValueError(f"单号长度应为6至50位，实际{len(number)}位")
    if not _TRACKING_PATTERN.fullmatch(number):
        raise ValueError("单号只能包含字母、数字和连字符")
    return TrackingNumber(number=number, is_s10=False)


# --- service-item codes (基本编码, 实施编码) --------------------------------------------------------------------

EXERCISE_LEVELS: dict[int, str] = {
    1: "国家级",
    2: "省级",
    3: "市级",
    4: "县级",
    5: "镇（乡、街道）级",
    6: "村（社区）级",
    7: "分级管理",
}
"""GB/T 39046-2020 A.2 exercise level (行使层级)."""

_BASIC_CODE_PATTERN = re.compile(r"[0-9A-Z]{12}")


@dataclass(frozen=True, slots=True)
class ImplementationCode:
    """A 31-char implementation code (实施编码) = implementing body's credit code + exercise level + basic code."""

    code: str
    implementing_body_code: str
    exercise_level: int
    basic_code: str


def parse_basic_code(text: str) -> str:
    """Validate a 12-character basic catalogue code (基本编码, national form ``PP TT MMMMM SSS``).

    Digits and upper-case letters are accepted (some provinces' local codes use letters); the split into
    province, item type, main and sub item is not enforced because provinces differ.
    """
    code = _normalise(text).upper()
    if len(code) != 12:
        raise ValueError(f"基本编码应为12位，实际{len(code)}位")
    if not _BASIC_CODE_PATTERN.fullmatch(code):
        raise ValueError("基本编码只能包含数字和大写字母")
    return code


def _exercise_level(level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or level not in EXERCISE_LEVELS:
        raise ValueError(f"行使层级应为1至7，收到 {level!r}")
    return level


def implementation_code(credit_code: str, level: int, basic_code: str) -> str:
    """Compose the 31-char implementation code; each part is validated first."""
    body = parse_credit_code(credit_code).code
    return f"{body}{_exercise_level(level)}{parse_basic_code(basic_code)}"


def parse_implementation_code(text: str) -> ImplementationCode:
    """Validate a 31-char implementation code and split it into its parts."""
    code = _normalise(text).upper()
    if len(code) != 31:
        raise ValueError(f"实施编码应为31位（18位信用代码+1位行使层级+12位基本编码），实际{len(code)}位")
    body = parse_credit_code(code[:18]).code
    if code[18] not in "1234567":
        raise ValueError(f"实施编码第19位行使层级应为1至7，收到“{code[18]}”")
    return ImplementationCode(
        code=code,
        implementing_body_code=body,
        exercise_level=int(code[18]),
        basic_code=parse_basic_code(code[19:]),
    )


# --- e-licence identifier (电子证照标识, GB/T 36904-2018) ------------------------------------------------------

LICENCE_IDENTIFIER_ROOT = "1.2.156.3005.2"
"""The root OID every e-licence identifier starts with."""
_MOD36_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MOD36_VALUE = {c: i for i, c in enumerate(_MOD36_ALPHABET)}
_LICENCE_SERIAL_PATTERN = re.compile(r"[0-9A-Z]{1,64}")


@dataclass(frozen=True, slots=True)
class LicenceIdentifier:
    """An e-licence identifier: ``1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>``."""

    identifier: str
    licence_type_code: str
    """21 chars: the defining authority's credit code + a 3-digit sequence."""
    issuer_code: str
    """The issuing organ's credit code."""
    serial: str
    version: str
    """3 digits, ``001`` first."""
    check_char: str


def gbt36904_check_char(payload: str) -> str:
    """ISO/IEC 7064 MOD 37,36 (hybrid) check character over ``0-9A-Z``.

    For an e-licence identifier the payload is licence type code + issuer code + serial + version, concatenated.
    """
    if not payload:
        raise ValueError("证照标识校验内容不能为空")
    bad = next((c for c in payload if c not in _MOD36_VALUE), None)
    if bad is not None:
        raise ValueError(f"证照标识含非法字符“{bad}”（只能用数字和大写字母）")
    product = 36
    for c in payload:
        total = (product + _MOD36_VALUE[c]) % 36 or 36
        product = (total * 2) % 37
    return _MOD36_ALPHABET[(37 - product) % 36]


def _licence_parts(type_code: str, issuer_code: str, serial: str, version: str) -> tuple[str, str, str, str]:
    if len(type_code) != 21 or not _is_digits(type_code[18:]):
        raise ValueError("证照类型代码应为18位信用代码加3位数字")
    type_authority = parse_credit_code(type_code[:18]).code
    issuer = parse_credit_code(issuer_code).code
    if not _LICENCE_SERIAL_PATTERN.fullmatch(serial):
        raise ValueError("证照流水号应为1至64位数字或大写字母")
    if len(version) != 3 or not _is_digits(version) or version == "000":
        raise ValueError(f"证照版本号应为3位数字（从001起），收到“{version}”")
    return type_authority + type_code[18:], issuer, serial, version


def licence_identifier(licence_type_code: str, issuer_code: str, serial: str, version: int = 1) -> str:
    """Compose an e-licence identifier with its check character."""
    if not 1 <= version <= 999:
        raise ValueError("证照版本号应为1至999")
    parts = _licence_parts(
        _normalise(licence_type_code).upper(), issuer_code, _normalise(serial).upper(), f"{version:03d}"
    )
    return ".".join((LICENCE_IDENTIFIER_ROOT, *parts, gbt36904_check_char("".join(parts))))


def parse_licence_identifier(text: str) -> LicenceIdentifier:
    """Validate an e-licence identifier, including its check character, and split it into its parts."""
    identifier = _normalise(text).upper()
    root = LICENCE_IDENTIFIER_ROOT + "."
    if not identifier.startswith(root):
        raise ValueError(f"电子证照标识应以 {LICENCE_IDENTIFIER_ROOT} 开头")
    fields = identifier[len(root) :].split(".")
    if len(fields) != 5:
        raise ValueError("电子证照标识应为：根代码.证照类型代码.颁发机构代码.流水号.版本号.校验位")
    type_code, issuer, serial, version = _licence_parts(*fields[:4])
    expected = gbt36904_check_char(type_code + issuer + serial + version)
    if fields[4] != expected:
        raise ValueError(f"校验位错误：应为 {expected}，请核对证照标识")
    return LicenceIdentifier(
        identifier=identifier,
        licence_type_code=type_code,
        issuer_code=issuer,
        serial=serial,
        version=version,
        check_char=expected,
    )


# --- certificate types (证件类型, GA/T 2000.156) ----------------------------------------------------------------

CERTIFICATE_TYPES: dict[str, str] = {
    "111": "居民身份证",
    "112": "临时居民身份证",
    "113": "户口簿",
    "114": "军官证",
    "117": "出生医学证明",
    "414": "普通护照",
    "511": "台湾居民来往大陆通行证",
    "516": "港澳同胞回乡证",
    "553": "外国人永久居留身份证",
    "990": "其他",
}
"""GA/T 2000.156 certificate-type codes used by GB/T 39046 and the provincial platforms."""

_RESIDENT_NUMBER_TYPES = frozenset({"111", "112"})
_CJK_ALLOWED_TYPES = frozenset({"114", "990"})
_CERTIFICATE_PUNCTUATION = frozenset("-()")


def _certificate_char_ok(c: str, *, cjk: bool) -> bool:
    if c.isascii():
        return c.isalnum() or c in _CERTIFICATE_PUNCTUATION
    return cjk and "\u4e00" <= c <= "\u9fff"


def validate_certificate(cert_type: str, number: str, *, today: date | None = None) -> str:
    """Validate a certificate number for its GA/T 2000.156 type and return it normalised.

    Resident and temporary resident ID cards (111, 112) carry the citizen ID number and get its full check.
    Other types get a shape check only: 2-50 characters of letters, digits, ``-``, ``(`` and ``)`` (and Chinese
    characters for military officer's IDs and "other", whose numbers often read like 南字第012345号).
    """
    if cert_type not in CERTIFICATE_TYPES:
        raise ValueError(f"未知证件类型代码“{cert_type}”")
    if cert_type in _RESIDENT_NUMBER_TYPES:
        return parse_resident_id(number, today=today).number
    value = _normalise(number).upper()
    name = CERTIFICATE_TYPES[cert_type]
    if not value:
        raise ValueError(f"{name}号码不能为空")
    if not 2 <= len(value) <= 50:
        raise ValueError(f"{name}号码长度应为2至50位，实际{len(value)}位")
    cjk = cert_type in _CJK_ALLOWED_TYPES
    bad = next((c for c in value if not _certificate_char_ok(c, cjk=cjk)), None)
    if bad is not None:
        raise ValueError(f"{name}号码含非法字符“{bad}”")
    return value
