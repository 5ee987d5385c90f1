"""The service-item catalogue (事项目录): what a window may accept, with which materials, in how long.

This module owns the catalogue's wire schema (Zhejiang one-window spec §5.1, SPEC R-CAT-1, R-ACC-3): frozen value
types, their validation, conversion to and from JSON-compatible dicts, and the search the acceptance window uses
(by name, code or pinyin initials). It knows nothing of storage, signing or distribution.

Every type validates itself on construction. `catalogue_from_dict` also checks the JSON shape (types, missing
and unknown keys) and raises `CatalogueError` whose message names the field path, the item code when known,
and a Chinese reason, e.g. ``items[3].materials[1].formats: 未知格式 "doc"（事项 1122…）``.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn, TypeVar

from protocol.identifiers import (
    EXERCISE_LEVELS,
    implementation_code,
    parse_basic_code,
    parse_credit_code,
    parse_implementation_code,
)

__all__ = [
    "CASE_TYPES",
    "ITEM_TYPES",
    "MATERIAL_FORMATS",
    "RETENTION_PERIODS",
    "SERVICE_TARGETS",
    "SIX_MODES",
    "Catalogue",
    "CatalogueError",
    "CatalogueItem",
    "Department",
    "Material",
    "catalogue_from_dict",
    "catalogue_to_dict",
]

ITEM_TYPES: dict[str, str] = {
    "01": "行政许可",
    "02": "行政处罚",
    "03": "行政强制",
    "04": "行政征收",
    "05": "行政给付",
    "06": "行政检查",
    "07": "行政确认",
    "08": "行政奖励",
    "09": "行政裁决",
    "10": "其他",
    "20": "公共服务",
}
"""Item type (事项类型), GB/T 39046-2020 A.1."""

CASE_TYPES: dict[int, str] = {1: "即办件", 2: "承诺件", 9: "其他"}
"""Case type (办件类型), GB/T 39046-2020 A.6: 1 immediate, 2 promised-deadline, 9 other."""

SIX_MODES: tuple[str, ...] = ("自助办", "马上办", "容缺办", "全网办", "一证办", "就近办")
"""The Zhejiang "六办" handling-mode tags: self-service, immediate, accept with missing secondary materials,
fully online, one-ID, nearby."""

WAIVABLE_MODE = "容缺办"

MATERIAL_FORMATS: tuple[str, ...] = ("pdf", "jpg", "png", "tiff")
"""Electronic formats a captured material may come in."""

RETENTION_PERIODS: tuple[str, ...] = ("10y", "30y", "permanent")
"""Archive retention period of an item's case records."""

SERVICE_TARGETS: tuple[str, ...] = ("natural_person", "legal_person")

_SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_ITEM_CODE = re.compile(r"[0-9A-Za-z-]{1,50}")
_PINYIN_INITIALS = re.compile(r"[a-z0-9]+")
_ISSUED_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z")
_NAME_MAX = 200
#: How many aliases an item may have, and how long each may be.
_MAX_ALIASES = 10
_ALIAS_MAX = 20
_TEXT_MAX = 2000
_COUNT_MAX = 99
_DAYS_MAX = 3650


class CatalogueError(ValueError):
    """A catalogue that fails validation.

    ``path`` names the field at fault relative to the catalogue (``items[3].materials[1].formats``), ``reason``
    says what is wrong in words a county admin can act on, ``item_code`` is the item's code when it is known.
    """

    def __init__(self, path: str, reason: str, item_code: str = "") -> None:
        self.path = path
        self.reason = reason
        self.item_code = item_code
        message = f"{path}: {reason}" if path else reason
        super().__init__(f"{message}（事项 {item_code}）" if item_code else message)

    def within(self, prefix: str, item_code: str = "") -> CatalogueError:
        """The same error seen from the enclosing object, whose field ``prefix`` holds this one."""
        if not self.path:
            path = prefix
        elif self.path.startswith("["):
            path = prefix + self.path
        else:
            path = f"{prefix}.{self.path}"
        return CatalogueError(path, self.reason, self.item_code or item_code)

    def __reduce__(self) -> tuple[type[CatalogueError], tuple[str, str, str]]:
        return (type(self), (self.path, self.reason, self.item_code))


def _fail(path: str, reason: str) -> NoReturn:
    raise CatalogueError(path, reason)


def _check_text(value: object, path: str, *, max_len: int = _TEXT_MAX, optional: bool = False) -> None:
    if not isinstance(value, str):
        _fail(path, "应为文字")
    if value != value.strip():
        _fail(path, "首尾不能有空白")
    if not value and not optional:
        _fail(path, "不能为空")
    if len(value) > max_len:
        _fail(path, f"过长（最多{max_len}字）")


def _check_texts(values: object, path: str, *, at_least_one: bool = False) -> None:
    if not isinstance(values, tuple):
        _fail(path, "应为列表")
    if at_least_one and not values:
        _fail(path, "至少要有一项")
    for i, value in enumerate(values):
        _check_text(value, f"{path}[{i}]")
    if len(set(values)) != len(values):
        _fail(path, "有重复项")


def _check_count(value: object, path: str, *, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, "应为整数")
    if not 0 <= value <= maximum:
        _fail(path, f"应在0至{maximum}之间")


def _check_flag(value: object, path: str) -> None:
    if not isinstance(value, bool):
        _fail(path, "应为 true 或 false")


def _check_choices(values: object, path: str, allowed: Iterable[str], what: str) -> None:
    if not isinstance(values, tuple):
        _fail(path, "应为列表")
    permitted = frozenset(allowed)
    for value in values:
        if value not in permitted:
            _fail(path, f"未知{what} {_quote(value)}")
    if len(set(values)) != len(values):
        _fail(path, "有重复项")


def _quote(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


@dataclass(frozen=True, slots=True)
class Material:
    """One entry of an item's materials checklist (申请材料).

    ``waivable`` (容缺) means the material may be missing at acceptance under a signed commitment and supplied
    later; it is only for secondary materials, and a waivable material is still listed as ``mandatory``.
    """

    id: str
    """Slug, unique within the item; checklist slots and captured pages refer to it."""
    name: str
    mandatory: bool
    originals: int
    copies: int
    waivable: bool
    formats: tuple[str, ...]
    """Accepted electronic formats, a subset of `MATERIAL_FORMATS`."""
    note: str = ""

    def __post_init__(self) -> None:
        _check_text(self.id, "id", max_len=64)
        if not _SLUG.fullmatch(self.id):
            _fail("id", f"编号 {_quote(self.id)} 只能用小写字母、数字、- 和 _")
        _check_text(self.name, "name", max_len=_NAME_MAX)
        _check_flag(self.mandatory, "mandatory")
        _check_count(self.originals, "originals", maximum=_COUNT_MAX)
        _check_count(self.copies, "copies", maximum=_COUNT_MAX)
        _check_flag(self.waivable, "waivable")
        if self.waivable and not self.mandatory:
            _fail("waivable", "可容缺的材料必须同时标为必备（mandatory）")
        _check_choices(self.formats, "formats", MATERIAL_FORMATS, "格式")
        if self.originals == 0 and self.copies == 0 and not self.formats:
            _fail("formats", "既无原件、复印件份数，也无电子格式")
        _check_text(self.note, "note", optional=True)


@dataclass(frozen=True, slots=True)
class Department:
    """A department that handles the item; ``code`` is its unified social credit code."""

    code: str
    name: str

    def __post_init__(self) -> None:
        _check_credit_code(self.code, "code")
        _check_text(self.name, "name", max_len=_NAME_MAX)


def _check_credit_code(value: object, path: str) -> None:
    _check_text(value, path, max_len=18)
    assert isinstance(value, str)
    try:
        canonical = parse_credit_code(value).code
    except ValueError as exc:
        _fail(path, str(exc))
    if canonical != value:
        _fail(path, f"应写作规范形式 {canonical}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogueItem:
    """One service item as implemented by one body (实施清单事项), keyed by its implementation code."""

    code: str
    """Implementation code (实施编码), 31 chars = implementing body's credit code + exercise level + basic code."""
    basic_code: str
    """Basic code (基本编码), 12 chars."""
    name: str
    main_item_name: str
    main_item_code: str
    sub_item_name: str = ""
    sub_item_code: str = ""
    sub_sub_item_name: str = ""
    sub_sub_item_code: str = ""
    item_type: str
    """GB/T 39046 A.1 code, see `ITEM_TYPES`."""
    case_type: int
    """1 immediate (即办件), 2 promised-deadline (承诺件), 9 other."""
    is_joint: bool
    """Joint case (联办件): several departments give opinions, the first (lead) department decides."""
    exercise_level: int
    """GB/T 39046 A.2, 1 (national) … 7 (tiered); 4 county, 5 township, 6 village."""
    implementing_body: str
    implementing_body_code: str
    acceptance_conditions: tuple[str, ...]
    materials: tuple[Material, ...]
    review_points: tuple[str, ...]
    """Back-office substantive review points (后台实质审查要点)."""
    statutory_limit_days: int
    """Statutory time limit in working days."""
    promised_limit_days: int
    """Promised time limit in working days; 0 for an immediate case."""
    fees: str
    legal_basis: tuple[str, ...]
    departments: tuple[Department, ...]
    """The first is the lead department."""
    tags: tuple[str, ...]
    """Subset of `SIX_MODES`."""
    retention: str
    """One of `RETENTION_PERIODS`."""
    pinyin_initials: str
    """Lower-case pinyin initials of ``name``, precomputed so the node can search without a pinyin library."""
    service_target: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    """What people call the item at the window (低保, 残疾证, 高龄补贴 …), maintained with the catalogue at
    central; the item search finds the item by any of them. Left out of the JSON form when empty."""

    def __post_init__(self) -> None:
        self._check_codes()
        self._check_names()
        self._check_handling()
        self._check_content()

    def _check_codes(self) -> None:
        _check_text(self.code, "code", max_len=31)
        try:
            parsed = parse_implementation_code(self.code)
        except ValueError as exc:
            _fail("code", str(exc))
        if parsed.code != self.code:
            _fail("code", f"应写作规范形式 {parsed.code}")
        _check_text(self.basic_code, "basic_code", max_len=12)
        try:
            basic = parse_basic_code(self.basic_code)
        except ValueError as exc:
            _fail("basic_code", str(exc))
        if basic != self.basic_code:
            _fail("basic_code", f"应写作规范形式 {basic}")
        _check_credit_code(self.implementing_body_code, "implementing_body_code")
        if isinstance(self.exercise_level, bool) or self.exercise_level not in EXERCISE_LEVELS:
            _fail("exercise_level", f"应为1至7，收到 {self.exercise_level!r}")
        expected = implementation_code(self.implementing_body_code, self.exercise_level, self.basic_code)
        if self.code != expected:
            _fail("code", f"与实施主体代码、行使层级、基本编码不一致：应为 {expected}")

    def _check_names(self) -> None:
        _check_text(self.name, "name", max_len=_NAME_MAX)
        _check_text(self.main_item_name, "main_item_name", max_len=_NAME_MAX)
        _check_item_code(self.main_item_code, "main_item_code", optional=False)
        levels = (("sub_item_name", "sub_item_code"), ("sub_sub_item_name", "sub_sub_item_code"))
        for name_field, code_field in levels:
            name, code = getattr(self, name_field), getattr(self, code_field)
            _check_text(name, name_field, max_len=_NAME_MAX, optional=True)
            _check_item_code(code, code_field, optional=True)
            if bool(name) != bool(code):
                _fail(code_field if name else name_field, "名称与编码须同时填写或同时留空")
        if self.sub_sub_item_name and not self.sub_item_name:
            _fail("sub_sub_item_name", "有孙项时必须先有子项")
        _check_text(self.pinyin_initials, "pinyin_initials", max_len=_NAME_MAX)
        if not isinstance(self.aliases, tuple) or len(self.aliases) > _MAX_ALIASES:
            _fail("aliases", f"别名最多 {_MAX_ALIASES} 个")
        for i, alias in enumerate(self.aliases):
            _check_text(alias, f"aliases[{i}]", max_len=_ALIAS_MAX)
        if not _PINYIN_INITIALS.fullmatch(self.pinyin_initials):
            _fail("pinyin_initials", "只能是小写字母和数字")
        if len(self.pinyin_initials) > len(self.name):
            _fail("pinyin_initials", "比事项名称还长，不是名称的拼音首字母")

    def _check_handling(self) -> None:
        if self.item_type not in ITEM_TYPES:
            _fail("item_type", f"未知事项类型 {_quote(self.item_type)}")
        if isinstance(self.case_type, bool) or self.case_type not in CASE_TYPES:
            _fail("case_type", f"未知办件类型 {self.case_type!r}（1 即办件，2 承诺件，9 其他）")
        _check_flag(self.is_joint, "is_joint")
        _check_text(self.implementing_body, "implementing_body", max_len=_NAME_MAX)
        _check_count(self.statutory_limit_days, "statutory_limit_days", maximum=_DAYS_MAX)
        _check_count(self.promised_limit_days, "promised_limit_days", maximum=_DAYS_MAX)
        if self.promised_limit_days > self.statutory_limit_days:
            _fail(
                "promised_limit_days",
                f"承诺时限（{self.promised_limit_days}）不能超过法定时限（{self.statutory_limit_days}）",
            )
        if self.case_type == 1 and self.promised_limit_days != 0:
            _fail("promised_limit_days", "即办件的承诺时限应为0")
        if self.case_type == 2 and self.promised_limit_days == 0:
            _fail("promised_limit_days", "承诺件的承诺时限至少为1个工作日")
        if not isinstance(self.departments, tuple) or not self.departments:
            _fail("departments", "至少要有一个部门")
        for i, department in enumerate(self.departments):
            if not isinstance(department, Department):
                _fail(f"departments[{i}]", "应为部门")
        seen: dict[str, int] = {}
        for i, department in enumerate(self.departments):
            if department.code in seen:
                _fail(f"departments[{i}].code", f"部门重复：与 departments[{seen[department.code]}] 相同")
            seen[department.code] = i
        if self.is_joint and len(self.departments) < 2:
            _fail("departments", "联办事项至少要有两个部门（第一个为牵头部门）")
        if not self.is_joint and len(self.departments) != 1:
            _fail("departments", "非联办事项只能有一个部门")
        _check_choices(self.tags, "tags", SIX_MODES, "标签")
        if self.retention not in RETENTION_PERIODS:
            _fail("retention", f"未知保管期限 {_quote(self.retention)}（10y、30y、permanent）")
        _check_choices(self.service_target, "service_target", SERVICE_TARGETS, "服务对象")
        if not self.service_target:
            _fail("service_target", "至少要有一项")

    def _check_content(self) -> None:
        _check_texts(self.acceptance_conditions, "acceptance_conditions", at_least_one=True)
        _check_texts(self.review_points, "review_points", at_least_one=True)
        _check_texts(self.legal_basis, "legal_basis", at_least_one=True)
        _check_text(self.fees, "fees", max_len=_TEXT_MAX)
        if not isinstance(self.materials, tuple):
            _fail("materials", "应为列表")
        seen: dict[str, int] = {}
        for i, material in enumerate(self.materials):
            if not isinstance(material, Material):
                _fail(f"materials[{i}]", "应为材料")
            if material.id in seen:
                _fail(
                    f"materials[{i}].id",
                    f"材料编号重复 {_quote(material.id)}：与 materials[{seen[material.id]}] 相同",
                )
            seen[material.id] = i
        has_waivable = any(m.waivable for m in self.materials)
        if has_waivable and WAIVABLE_MODE not in self.tags:
            _fail("tags", f"有可容缺的材料，须标注“{WAIVABLE_MODE}”")
        if not has_waivable and WAIVABLE_MODE in self.tags:
            _fail("tags", f"标注了“{WAIVABLE_MODE}”，但没有可容缺的材料")

    @property
    def lead_department(self) -> Department:
        """The department that decides (the only one for a non-joint item)."""
        return self.departments[0]

    @property
    def waivable_materials(self) -> tuple[Material, ...]:
        return tuple(m for m in self.materials if m.waivable)


def _check_item_code(value: object, path: str, *, optional: bool) -> None:
    _check_text(value, path, max_len=50, optional=optional)
    if value and not _ITEM_CODE.fullmatch(str(value)):
        _fail(path, "只能包含字母、数字和连字符")


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One issued version of the county's item catalogue."""

    version: int
    issued_at: str
    """ISO 8601 UTC, ``YYYY-MM-DDTHH:MM:SSZ``."""
    items: tuple[CatalogueItem, ...]
    _by_code: dict[str, CatalogueItem] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            _fail("version", "应为正整数")
        _check_issued_at(self.issued_at)
        if not isinstance(self.items, tuple):
            _fail("items", "应为列表")
        index: dict[str, int] = {}
        for i, item in enumerate(self.items):
            if not isinstance(item, CatalogueItem):
                _fail(f"items[{i}]", "应为事项")
            if item.code in index:
                raise CatalogueError(
                    f"items[{i}].code", f"实施编码重复：与 items[{index[item.code]}] 相同", item.code
                )
            index[item.code] = i
        object.__setattr__(self, "_by_code", {item.code: item for item in self.items})

    def by_code(self, code: str) -> CatalogueItem:
        """The item with this implementation code; `KeyError` when the catalogue has none."""
        return self._by_code[code.strip().upper()]

    def search(self, query: str, limit: int = 20) -> list[CatalogueItem]:
        """Items whose name, code, pinyin initials or an alias contain ``query``, best matches first.

        Case-insensitive. Order: exact code; exact name, initials or alias; prefix of code, basic code, name or
        initials; substring anywhere in those or an alias. Ties keep catalogue order. A blank query finds nothing.
        """
        needle = unicodedata.normalize("NFKC", query).strip().casefold()
        if not needle or limit <= 0:
            return []
        ranked: list[tuple[int, int, CatalogueItem]] = []
        for position, item in enumerate(self.items):
            rank = _match_rank(item, needle)
            if rank is not None:
                ranked.append((rank, position, item))
        ranked.sort(key=lambda entry: entry[:2])
        return [item for _, _, item in ranked[:limit]]


def _match_rank(item: CatalogueItem, needle: str) -> int | None:
    code, name, initials = item.code.casefold(), item.name.casefold(), item.pinyin_initials
    if needle == code:
        return 0
    aliases = [alias.casefold() for alias in item.aliases]
    if needle in (name, initials) or needle in aliases:
        return 1
    if any(text.startswith(needle) for text in (code, item.basic_code.casefold(), name, initials)):
        return 2
    if any(needle in text for text in (code, name, initials, *aliases)):
        return 3
    return None


def _check_issued_at(value: object) -> None:
    _check_text(value, "issued_at", max_len=40)
    assert isinstance(value, str)
    if not _ISSUED_AT.fullmatch(value):
        _fail("issued_at", "应为 UTC 时间，如 2026-11-01T00:00:00Z")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        _fail("issued_at", f"不是有效的日期时间：{value}")


# --- to and from JSON-compatible dicts ---------------------------------------------------------------------------

_T = TypeVar("_T")
_REQUIRED = object()


def _field_names(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


class _Fields:
    """Typed reads from one JSON object; failures name the key (the caller adds the enclosing path)."""

    def __init__(self, raw: object, cls: type[Any]) -> None:
        if not isinstance(raw, Mapping):
            _fail("", "应为对象")
        known = _field_names(cls)
        for key in raw:
            if key not in known:
                _fail(str(key), "未知字段")
        self._raw: Mapping[str, object] = raw

    def _get(self, key: str, default: object) -> object:
        if key in self._raw:
            return self._raw[key]
        if default is _REQUIRED:
            _fail(key, "缺少此字段")
        return default

    def text(self, key: str, default: object = _REQUIRED) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            _fail(key, "应为文字")
        return value

    def integer(self, key: str) -> int:
        value = self._get(key, _REQUIRED)
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(key, "应为整数")
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key, _REQUIRED)
        if not isinstance(value, bool):
            _fail(key, "应为 true 或 false")
        return value

    def array(self, key: str) -> list[object]:
        value = self._get(key, _REQUIRED)
        if not isinstance(value, list):
            _fail(key, "应为列表")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        values = self.array(key)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                _fail(f"{key}[{i}]", "应为文字")
        return tuple(str(value) for value in values)

    def objects(self, key: str, build: Callable[[object], _T]) -> tuple[_T, ...]:
        built: list[_T] = []
        for i, raw in enumerate(self.array(key)):
            try:
                built.append(build(raw))
            except CatalogueError as exc:
                raise exc.within(f"{key}[{i}]") from None
        return tuple(built)


def _material_from_dict(raw: object) -> Material:
    f = _Fields(raw, Material)
    return Material(
        id=f.text("id"),
        name=f.text("name"),
        mandatory=f.flag("mandatory"),
        originals=f.integer("originals"),
        copies=f.integer("copies"),
        waivable=f.flag("waivable"),
        formats=f.texts("formats"),
        note=f.text("note", ""),
    )


def _department_from_dict(raw: object) -> Department:
    f = _Fields(raw, Department)
    return Department(code=f.text("code"), name=f.text("name"))


def _item_from_dict(raw: object) -> CatalogueItem:
    f = _Fields(raw, CatalogueItem)
    return CatalogueItem(
        code=f.text("code"),
        basic_code=f.text("basic_code"),
        name=f.text("name"),
        main_item_name=f.text("main_item_name"),
        main_item_code=f.text("main_item_code"),
        sub_item_name=f.text("sub_item_name", ""),
        sub_item_code=f.text("sub_item_code", ""),
        sub_sub_item_name=f.text("sub_sub_item_name", ""),
        sub_sub_item_code=f.text("sub_sub_item_code", ""),
        item_type=f.text("item_type"),
        case_type=f.integer("case_type"),
        is_joint=f.flag("is_joint"),
        exercise_level=f.integer("exercise_level"),
        implementing_body=f.text("implementing_body"),
        implementing_body_code=f.text("implementing_body_code"),
        acceptance_conditions=f.texts("acceptance_conditions"),
        materials=f.objects("materials", _material_from_dict),
        review_points=f.texts("review_points"),
        statutory_limit_days=f.integer("statutory_limit_days"),
        promised_limit_days=f.integer("promised_limit_days"),
        fees=f.text("fees"),
        legal_basis=f.texts("legal_basis"),
        departments=f.objects("departments", _department_from_dict),
        tags=f.texts("tags"),
        retention=f.text("retention"),
        pinyin_initials=f.text("pinyin_initials"),
        service_target=f.texts("service_target"),
        aliases=f.texts("aliases") if isinstance(raw, Mapping) and "aliases" in raw else (),
    )


def catalogue_from_dict(d: Mapping[str, object]) -> Catalogue:
    """Build and validate a catalogue from its JSON form; `CatalogueError` (a `ValueError`) names the field."""
    f = _Fields(d, Catalogue)
    version = f.integer("version")
    issued_at = f.text("issued_at")
    items: list[CatalogueItem] = []
    for i, raw in enumerate(f.array("items")):
        try:
            items.append(_item_from_dict(raw))
        except CatalogueError as exc:
            code = raw.get("code") if isinstance(raw, Mapping) else None
            raise exc.within(f"items[{i}]", code if isinstance(code, str) else "") from None
    return Catalogue(version=version, issued_at=issued_at, items=tuple(items))


def _to_json(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.init
            and not (f.name == "aliases" and not getattr(value, f.name))  # a catalogue without aliases
        }
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def catalogue_to_dict(c: Catalogue) -> dict[str, Any]:
    """The catalogue's JSON form (only dicts, lists, str, int, bool); `catalogue_from_dict` reverses it exactly."""
    result = _to_json(c)
    assert isinstance(result, dict)
    return result
