"""Who applies (申请人) and who acts for them (代理人): the details typed at the window or read from the ID card,
and the rules they must meet before a case is received (certificate check digits, sex and birth date agreeing with
the ID number, a legal person's credit code and its 经办人)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from protocol.errors import ID_NUMBER_INVALID, REQUIRED_FIELD, VALIDATION, OneWindowError
from protocol.identifiers import (
    CERTIFICATE_TYPES,
    parse_credit_code,
    parse_resident_id,
    validate_certificate,
)
from protocol.limits import MAX_NAME, bounded

_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")

LEGAL_PERSON_CERT = "001"  # holder code type of a unified social credit code (e-licence catalogue)
APPLICANT_KINDS = {"natural_person": "自然人", "legal_person": "法人或其他组织"}
_SEX = {"1": "male", "2": "female", "男": "male", "女": "female", "male": "male", "female": "female"}


@dataclass(frozen=True)
class Applicant:
    """Applicant details as typed at the window or read from the ID card (validated by `receive_case`).

    A legal person (法人) applies under its unified social credit code (``cert_type`` "001"); a natural person
    under a GA/T 2000.156 certificate. ``sex`` and ``birth_date`` come from the card reader (or are typed) and
    must agree with the ID number.
    """

    name: str
    cert_type: str
    cert_number: str
    phone: str = ""
    kind: str = "natural_person"
    legal_representative: str = ""
    sex: str = ""
    birth_date: str = ""


@dataclass(frozen=True)
class Agent:
    """代理人: someone applying (and later collecting) on the applicant's behalf."""

    name: str
    cert_type: str
    cert_number: str
    phone: str = ""


def _name(value: str, field: str, what: str) -> str:
    name = value.strip()
    if not name:
        raise OneWindowError(REQUIRED_FIELD, f"请填写{what}", field=field)
    return bounded(name, MAX_NAME, field=field, label=what)


def _phone(value: str, field: str) -> str:
    phone = value.strip()
    if phone and not _PHONE.match(phone):
        raise OneWindowError(VALIDATION, "联系电话格式不对（11位手机号或带区号的固话）", field=field)
    return phone


def _person_certificate(cert_type: str, cert_number: str, field: str, today: date) -> str:
    if cert_type not in CERTIFICATE_TYPES:
        raise OneWindowError(VALIDATION, f"未知证件类型 {cert_type!r}", field=f"{field}.cert_type")
    number = cert_number.strip().upper()
    if not number:
        raise OneWindowError(REQUIRED_FIELD, "请填写证件号码", field=f"{field}.cert_number")
    try:
        return validate_certificate(cert_type, number, today=today)
    except ValueError as exc:
        raise OneWindowError(ID_NUMBER_INVALID, str(exc), field=f"{field}.cert_number") from exc


def validate_applicant(applicant: Applicant, *, today: date | None = None) -> dict[str, str]:
    """The applicant as stored on the case, or a clear error naming the field."""
    today = today or date.today()
    if applicant.kind not in APPLICANT_KINDS:
        raise OneWindowError(VALIDATION, f"未知申请人类型 {applicant.kind!r}", field="applicant.kind")
    phone = _phone(applicant.phone, "applicant.phone")
    if applicant.kind == "legal_person":
        name = _name(applicant.name, "applicant.name", "单位名称")
        try:
            code = parse_credit_code(applicant.cert_number).code
        except ValueError as exc:
            raise OneWindowError(ID_NUMBER_INVALID, str(exc), field="applicant.cert_number") from exc
        representative = bounded(
            applicant.legal_representative.strip(),
            MAX_NAME,
            field="applicant.legal_representative",
            label="法定代表人",
        )
        return {
            "kind": "legal_person",
            "name": name,
            "cert_type": LEGAL_PERSON_CERT,
            "cert_number": code,
            "legal_representative": representative,
            "phone": phone,
        }
    name = _name(applicant.name, "applicant.name", "申请人姓名")
    number = _person_certificate(applicant.cert_type, applicant.cert_number, "applicant", today)
    stored = {"kind": "natural_person", "name": name, "cert_type": applicant.cert_type, "cert_number": number}
    if applicant.cert_type in ("111", "112") and (applicant.sex or applicant.birth_date):
        resident = parse_resident_id(number, today=today)
        if applicant.sex:
            sex = _SEX.get(applicant.sex.strip())
            if sex is None:
                raise OneWindowError(VALIDATION, "性别应为“男”或“女”", field="applicant.sex")
            if sex != resident.sex:
                said = "男" if resident.sex == "male" else "女"
                raise OneWindowError(
                    ID_NUMBER_INVALID, f"性别与身份号码不符（号码第17位表示{said}）", field="applicant.sex"
                )
            stored["sex"] = "1" if sex == "male" else "2"
        if applicant.birth_date:
            digits = applicant.birth_date.strip().replace("-", "")
            if digits != resident.birth_date.strftime("%Y%m%d"):
                raise OneWindowError(
                    ID_NUMBER_INVALID,
                    f"出生日期与身份号码不符（号码中为{resident.birth_date:%Y年%m月%d日}）",
                    field="applicant.birth_date",
                )
            stored["birth_date"] = resident.birth_date.isoformat()
    stored["phone"] = phone
    return stored


def validate_agent(agent: Agent, *, today: date | None = None) -> dict[str, str]:
    name = _name(agent.name, "agent.name", "代理人姓名")
    number = _person_certificate(agent.cert_type, agent.cert_number, "agent", today or date.today())
    return {
        "name": name,
        "cert_type": agent.cert_type,
        "cert_number": number,
        "phone": _phone(agent.phone, "agent.phone"),
    }
