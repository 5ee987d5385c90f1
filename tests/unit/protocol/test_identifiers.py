"""Identifier validation: what the window accepts, what it refuses, and what it tells the clerk."""

from __future__ import annotations

import pickle
from datetime import date
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.identifiers import (
    CERTIFICATE_TYPES,
    CREDIT_CODE_ALPHABET,
    REGISTRATION_AUTHORITIES,
    CreditCode,
    ResidentId,
    credit_code_check_char,
    gbt36904_check_char,
    implementation_code,
    licence_identifier,
    parse_basic_code,
    parse_credit_code,
    parse_division_code,
    parse_implementation_code,
    parse_licence_identifier,
    parse_resident_id,
    parse_tracking_number,
    resident_id_check_char,
    upu_s10_check_digit,
    validate_certificate,
)

TODAY = date(2026, 11, 22)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
first17_digits = st.text(alphabet="0123456789", min_size=17, max_size=17)
credit_chars = st.sampled_from(CREDIT_CODE_ALPHABET)


# --- resident ID (GB 11643-1999) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "division", "birth", "sex"),
    [
        ("11010519491231002X", "110105", date(1949, 12, 31), "female"),
        ("440524188001010014", "440524", date(1880, 1, 1), "male"),
        ("34052419800101001X", "340524", date(1980, 1, 1), "male"),
    ],
)
def test_known_valid_resident_ids_parse_into_their_parts(
    number: str, division: str, birth: date, sex: Literal["male", "female"]
) -> None:
    parsed = parse_resident_id(number, today=TODAY)
    assert parsed == ResidentId(number=number, division_code=division, birth_date=birth, sex=sex)
    assert resident_id_check_char(number[:17]) == number[17]


def test_lower_case_x_full_width_digits_and_spaces_are_normalised() -> None:
    assert parse_resident_id(" 11010519491231002x ", today=TODAY).number == "11010519491231002X"
    full_width = "１１０１０５１９４９１２３１００２Ｘ"
    assert parse_resident_id(full_width, today=TODAY).number == "11010519491231002X"


def test_resident_id_repr_hides_the_birth_date() -> None:
    parsed = parse_resident_id("11010519491231002X", today=TODAY)
    assert "19491231" not in repr(parsed)
    assert repr(parsed) == "ResidentId('110105********002X')"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194912310021", "校验位错误：应为 X"),
        ("11010519491231002", "应为18位，实际17位"),
        ("11010519491231002X1", "应为18位，实际19位"),
        ("1101051949123100AX", "前17位只能是数字"),
        ("11010519491231002Y", "第18位只能是数字或X"),
        ("11010519490231002X", "出生日期无效：19490231"),
        ("11010519491301002X", "出生日期无效：19491301"),
        ("11010517991231002X", "出生日期不合理"),
        ("11010520270101002X", "出生日期晚于今天：20270101"),
        ("01010519491231002X", "地址码无效"),
        ("", "应为18位，实际0位"),
    ],
)
def test_invalid_resident_ids_say_what_to_fix(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_resident_id(number, today=TODAY)


def test_birth_date_today_is_allowed_and_tomorrow_is_not() -> None:
    first17 = "110105" + "20261122" + "001"
    assert parse_resident_id(first17 + resident_id_check_char(first17), today=TODAY).birth_date == TODAY
    with pytest.raises(ValueError, match="晚于今天"):
        parse_resident_id(first17 + resident_id_check_char(first17), today=date(2026, 11, 21))


def test_check_char_refuses_anything_but_17_digits() -> None:
    for bad in ("1101051949123100", "110105194912310021", "1101051949123100X"):
        with pytest.raises(ValueError, match="前17位"):
            resident_id_check_char(bad)


@given(
    division=st.integers(min_value=110000, max_value=829999),
    birth=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.integers(min_value=0, max_value=999),
)
def test_a_computed_check_char_always_validates(division: int, birth: date, sequence: int) -> None:
    first17 = f"{division}{birth:%Y%m%d}{sequence:03d}"
    parsed = parse_resident_id(first17 + resident_id_check_char(first17), today=TODAY)
    assert parsed.birth_date == birth
    assert parsed.division_code == str(division)
    assert parsed.sex == ("male" if sequence % 2 else "female")


@given(first17=first17_digits, position=st.integers(min_value=0, max_value=16), replacement=digits)
def test_every_single_digit_substitution_is_detected(first17: str, position: int, replacement: str) -> None:
    mutated = first17[:position] + replacement + first17[position + 1 :]
    if mutated != first17:
        assert resident_id_check_char(mutated) != resident_id_check_char(first17)


@given(first17=first17_digits, position=st.integers(min_value=0, max_value=15))
def test_every_adjacent_transposition_is_detected(first17: str, position: int) -> None:
    a, b = first17[position], first17[position + 1]
    swapped = first17[:position] + b + a + first17[position + 2 :]
    if swapped != first17:
        assert resident_id_check_char(swapped) != resident_id_check_char(first17)


# --- unified social credit code (GB 32100-2015) ----------------------------------------------------------------

REAL_CREDIT_CODES = [
    "91350100M000100Y43",
    "91110000600037341L",
    "11100000000013338W",
    "11430000006122244L",
    "114507210081153718",
    "12441500196720244T",
    "11370800MB28559184",
    "121200004013590816",
    "91620105L015101280",
    "92340602MA2PBMEM24",
]


@pytest.mark.parametrize("code", REAL_CREDIT_CODES)
def test_real_credit_codes_validate(code: str) -> None:
    assert parse_credit_code(code).code == code
    assert credit_code_check_char(code[:17]) == code[17]


def test_credit_code_parts() -> None:
    assert parse_credit_code("11370800mb28559184") == CreditCode(
        code="11370800MB28559184",
        registration_authority="1",
        institution_type="1",
        division_code="370800",
        organisation_code="MB2855918",
    )
    assert REGISTRATION_AUTHORITIES["9"].startswith("工商")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000600037341N", "校验位错误：应为 L"),
        ("91110000600037341", "应为18位，实际17位"),
        ("9111000060003734IL", "非法字符“I”"),
        ("91110000600037341O", "非法字符“O”"),
        ("9111000060003734SL", "非法字符“S”"),
        ("911A0000600037341L", "第3至8位应为行政区划码"),
        ("91110000-00037341L", "非法字符“-”"),
    ],
)
def test_invalid_credit_codes_say_what_to_fix(code: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_credit_code(code)


@given(
    head=st.lists(credit_chars, min_size=2, max_size=2),
    division=st.text(alphabet="0123456789", min_size=6, max_size=6),
    organisation=st.lists(credit_chars, min_size=9, max_size=9),
)
def test_a_computed_credit_check_char_always_validates(
    head: list[str], division: str, organisation: list[str]
) -> None:
    first17 = "".join(head) + division + "".join(organisation)
    assert parse_credit_code(first17 + credit_code_check_char(first17)).division_code == division


@given(
    first17=st.lists(credit_chars, min_size=17, max_size=17).map("".join),
    position=st.integers(min_value=0, max_value=16),
    replacement=credit_chars,
)
def test_every_single_credit_code_substitution_is_detected(
    first17: str, position: int, replacement: str
) -> None:
    mutated = first17[:position] + replacement + first17[position + 1 :]
    if mutated != first17:
        assert credit_code_check_char(mutated) != credit_code_check_char(first17)


# --- division codes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "length"),
    [("220581", 6), ("220581000000", 12), ("220581102001", 12), ("220581102200", 12), ("441900101000", 12)],
)
def test_valid_division_codes(code: str, length: int) -> None:
    assert parse_division_code(code, length) == code


@pytest.mark.parametrize(
    ("code", "length", "reason"),
    [
        ("22058", 6, "应为6位，实际5位"),
        ("220581", 12, "应为12位，实际6位"),
        ("22058110200A", 12, "只能包含数字"),
        ("220581600000", 12, "乡级代码超出范围（000–599）：600"),
        ("220581102400", 12, "村级代码超出范围（000–399）：400"),
        ("220581000200", 12, "乡级代码为000时村级代码也应为000"),
        ("000581", 6, "省级代码无效"),
    ],
)
def test_invalid_division_codes(code: str, length: int, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_division_code(code, length)


def test_division_code_length_must_be_6_or_12() -> None:
    with pytest.raises(ValueError, match="6位或12位"):
        parse_division_code("220581102", 9)


# --- tracking numbers (UPU S10) ------------------------------------------------------------------------------


def test_s10_reference_vector() -> None:
    assert upu_s10_check_digit("12345678") == "5"
    parsed = parse_tracking_number("rr123456785cn")
    assert parsed.is_s10 and parsed.number == "RR123456785CN"
    assert (parsed.service_indicator, parsed.serial, parsed.check_digit, parsed.country) == (
        "RR",
        "12345678",
        "5",
        "CN",
    )


def test_s10_check_digit_special_remainders() -> None:
    assert upu_s10_check_digit("00000000") == "5"  # remainder 0: C = 11 -> 5
    assert upu_s10_check_digit("00004000") == "0"  # 4*3 = 12, remainder 1: C = 10 -> 0
    assert upu_s10_check_digit("00000001") == "4"  # 1*7 = 7: C = 4


def test_s10_with_wrong_check_digit_is_refused() -> None:
    with pytest.raises(ValueError, match="校验位错误：应为 5"):
        parse_tracking_number("RR123456784CN")


@pytest.mark.parametrize("number", ["1234567890123", "SF1234567890", "YT-2026-000123", "abc123"])
def test_other_couriers_numbers_are_accepted_as_given(number: str) -> None:
    parsed = parse_tracking_number(number)
    assert parsed.number == number and not parsed.is_s10


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("12345", "6至50位"),
        ("1" * 51, "6至50位"),
        ("SF 12345678", "字母、数字和连字符"),
        ("顺丰123456", "字母"),
    ],
)
def test_bad_tracking_numbers(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_tracking_number(number)


@given(serial=st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_a_computed_s10_number_always_validates(serial: str) -> None:
    number = f"EA{serial}{upu_s10_check_digit(serial)}CN"
    assert parse_tracking_number(number).is_s10


# --- basic and implementation codes ----------------------------------------------------------------------------


def test_implementation_code_composes_and_splits() -> None:
    code = implementation_code("11370800MB28559184", 3, "370117002011")
    assert code == "11370800MB285591843370117002011"
    assert len(code) == 31
    parsed = parse_implementation_code(code)
    assert (parsed.implementing_body_code, parsed.exercise_level, parsed.basic_code) == (
        "11370800MB28559184",
        3,
        "370117002011",
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("11370800MB28559185", 3, "370117002011"), "校验位错误"),
        (("11370800MB28559184", 8, "370117002011"), "行使层级应为1至7"),
        (("11370800MB28559184", 0, "370117002011"), "行使层级应为1至7"),
        (("11370800MB28559184", True, "370117002011"), "行使层级应为1至7"),
        (("11370800MB28559184", 3, "37011700201"), "基本编码应为12位"),
        (("11370800MB28559184", 3, "3701170020-1"), "基本编码只能包含数字和大写字母"),
    ],
)
def test_implementation_code_refuses_bad_parts(args: tuple[str, int, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        implementation_code(*args)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("11370800MB28559184337011700201", "应为31位"),
        ("11370800MB285591849370117002011", "行使层级应为1至7"),
        ("11370800MB285591853370117002011", "校验位错误"),
    ],
)
def test_parse_implementation_code_refuses(code: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_implementation_code(code)


def test_basic_code_is_normalised() -> None:
    assert parse_basic_code(" 452004020000 ") == "452004020000"


# --- e-licence identifier (GB/T 36904-2018) --------------------------------------------------------------------

DOMAIN_FACTS_LICENCE = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"


def test_domain_facts_example_licence_identifier_verifies() -> None:
    payload = "11100000000013338W011" + "11430000006122244L" + "20230000403" + "001"
    assert gbt36904_check_char(payload) == "U"
    parsed = parse_licence_identifier(DOMAIN_FACTS_LICENCE)
    assert (
        parsed.licence_type_code,
        parsed.issuer_code,
        parsed.serial,
        parsed.version,
        parsed.check_char,
    ) == (
        "11100000000013338W011",
        "11430000006122244L",
        "20230000403",
        "001",
        "U",
    )


def test_licence_identifier_composes_the_same_identifier() -> None:
    assert (
        licence_identifier("11100000000013338W011", "11430000006122244L", "20230000403")
        == DOMAIN_FACTS_LICENCE
    )


def test_licence_identifier_with_wrong_check_char_is_refused() -> None:
    with pytest.raises(ValueError, match="校验位错误：应为 U"):
        parse_licence_identifier(DOMAIN_FACTS_LICENCE[:-1] + "V")


@pytest.mark.parametrize(
    ("identifier", "reason"),
    [
        ("1.2.156.3005.3.11100000000013338W011.11430000006122244L.20230000403.001.U", "开头"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.001.U", "根代码"),
        ("1.2.156.3005.2.11100000000013338W01.11430000006122244L.20230000403.001.U", "证照类型代码"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.000.U", "版本号"),
    ],
)
def test_malformed_licence_identifiers(identifier: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_licence_identifier(identifier)


def test_gbt36904_refuses_lower_case_and_punctuation() -> None:
    for bad in ("", "abc", "AB-C"):
        with pytest.raises(ValueError, match="证照标识"):
            gbt36904_check_char(bad)


@given(
    payload=st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=60),
    data=st.data(),
)
def test_mod37_36_detects_every_single_substitution(payload: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    replacement = data.draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    mutated = payload[:position] + replacement + payload[position + 1 :]
    if mutated != payload:
        assert gbt36904_check_char(mutated) != gbt36904_check_char(payload)


# --- certificates (GA/T 2000.156) ------------------------------------------------------------------------------


def test_certificate_type_list() -> None:
    assert CERTIFICATE_TYPES["111"] == "居民身份证"
    assert CERTIFICATE_TYPES["990"] == "其他"
    assert set(CERTIFICATE_TYPES) >= {"111", "112", "113", "114", "117", "414", "511", "516", "553", "990"}


def test_resident_id_card_numbers_get_the_full_check() -> None:
    assert validate_certificate("111", "11010519491231002x", today=TODAY) == "11010519491231002X"
    with pytest.raises(ValueError, match="校验位错误"):
        validate_certificate("111", "110105194912310021", today=TODAY)
    with pytest.raises(ValueError, match="校验位错误"):
        validate_certificate("112", "110105194912310021", today=TODAY)


@pytest.mark.parametrize(
    ("cert_type", "number", "expected"),
    [
        ("414", " e12345678 ", "E12345678"),
        ("516", "H12345678(01)", "H12345678(01)"),
        ("553", "ABC220581010112", "ABC220581010112"),
        ("114", "南字第012345号", "南字第012345号"),
    ],
)
def test_other_certificates_get_a_shape_check(cert_type: str, number: str, expected: str) -> None:
    assert validate_certificate(cert_type, number) == expected


@pytest.mark.parametrize(
    ("cert_type", "number", "reason"),
    [
        ("999", "E12345678", "未知证件类型代码“999”"),
        ("414", "   ", "普通护照号码不能为空"),
        ("414", "E" * 51, "长度应为2至50位"),
        ("414", "E1234 5678", "非法字符“ ”"),
        ("414", "护照E123", "非法字符“护”"),
    ],
)
def test_bad_certificates(cert_type: str, number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_certificate(cert_type, number)


def test_values_are_immutable_and_picklable() -> None:
    parsed = parse_credit_code("91110000600037341L")
    with pytest.raises(AttributeError):
        parsed.code = "x"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(parsed)) == parsed
