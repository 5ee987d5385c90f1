"""The item catalogue: the shipped sample loads and round-trips, search finds items, bad catalogues say where."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.catalogue import (
    SIX_MODES,
    Catalogue,
    CatalogueError,
    CatalogueItem,
    Department,
    Material,
    catalogue_from_dict,
    catalogue_to_dict,
)
from protocol.identifiers import implementation_code, parse_credit_code

SAMPLE_PATH = Path(__file__).resolve().parents[3] / "provisioning" / "data" / "sample_catalogue.json"
SAMPLE_TEXT = SAMPLE_PATH.read_text("utf-8")
SAMPLE = catalogue_from_dict(json.loads(SAMPLE_TEXT))


def sample() -> dict[str, Any]:
    """A fresh, mutable copy of the sample catalogue's JSON form."""
    data: dict[str, Any] = json.loads(SAMPLE_TEXT)
    return data


def item_index(data: dict[str, Any], name: str) -> int:
    return next(i for i, item in enumerate(data["items"]) if item["name"] == name)


def rejects(data: dict[str, Any]) -> CatalogueError:
    with pytest.raises(CatalogueError) as caught:
        catalogue_from_dict(data)
    return caught.value


# --- the shipped sample ----------------------------------------------------------------------------------------


def test_sample_round_trips_exactly() -> None:
    data = sample()
    assert catalogue_to_dict(SAMPLE) == data
    assert catalogue_from_dict(catalogue_to_dict(SAMPLE)) == SAMPLE
    assert json.dumps(catalogue_to_dict(SAMPLE), ensure_ascii=False, indent=2) + "\n" == SAMPLE_TEXT


def test_sample_is_a_realistic_village_catalogue() -> None:
    items = SAMPLE.items
    assert SAMPLE.version == 1 and SAMPLE.issued_at == "2026-11-01T00:00:00Z"
    assert len(items) >= 12
    assert any(i.case_type == 1 and i.promised_limit_days == 0 for i in items)
    assert any(i.is_joint and 2 <= len(i.departments) <= 3 for i in items)
    assert sum(1 for i in items if i.waivable_materials) >= 3
    assert any("legal_person" in i.service_target for i in items)
    assert {i.exercise_level for i in items} <= {4, 5}
    for item in items:
        body = parse_credit_code(item.implementing_body_code)
        assert body.division_code == "220581"
        assert item.code == implementation_code(
            item.implementing_body_code, item.exercise_level, item.basic_code
        )
        assert item.basic_code[:2] == "00" and item.basic_code[2:4] == item.item_type
        assert item.promised_limit_days <= item.statutory_limit_days
        assert ("容缺办" in item.tags) == bool(item.waivable_materials)


def test_sample_items_are_pickled_and_hashed_as_values() -> None:
    assert pickle.loads(pickle.dumps(SAMPLE.items[0])) == SAMPLE.items[0]
    assert hash(SAMPLE) == hash(catalogue_from_dict(sample()))


# --- lookup and search -----------------------------------------------------------------------------------------


def test_by_code_finds_the_item_and_refuses_unknown_codes() -> None:
    item = SAMPLE.items[4]
    assert SAMPLE.by_code(item.code) is item
    assert SAMPLE.by_code(item.code.lower()) is item
    with pytest.raises(KeyError):
        SAMPLE.by_code("11220581MB0153015A4002000199000")


def test_search_by_pinyin_initials() -> None:
    found = SAMPLE.search("zdsh")
    assert found[0].name == "最低生活保障申请"
    assert SAMPLE.search("ZDSH")[0].name == "最低生活保障申请"
    assert [i.name for i in SAMPLE.search("nczjd")] == ["农村宅基地申请"]


def test_search_by_name_substring_and_prefix_ranks_prefix_first() -> None:
    assert [i.name for i in SAMPLE.search("宅基地")] == ["农村宅基地申请"]
    found = [i.name for i in SAMPLE.search("残疾人")]
    assert found[0] == "残疾人证申领"  # name prefix beats substring
    assert set(found) >= {"困难残疾人生活补贴申请", "重度残疾人护理补贴申请"}


def test_search_by_code_exact_prefix_and_substring() -> None:
    item = SAMPLE.items[5]
    assert SAMPLE.search(item.code) == [item]
    assert SAMPLE.search(item.code.lower())[0] is item
    by_body = SAMPLE.search(item.implementing_body_code)
    assert by_body and all(i.implementing_body_code == item.implementing_body_code for i in by_body)
    assert SAMPLE.search(item.basic_code) == [item]
    assert SAMPLE.search("000500201") == [i for i in SAMPLE.items if "000500201" in i.code]


def test_search_limit_and_blank_query() -> None:
    assert len(SAMPLE.search("申请", limit=3)) == 3
    assert SAMPLE.search("   ") == []
    assert SAMPLE.search("申请", limit=0) == []
    assert SAMPLE.search("没有这个事项") == []


@given(data=st.data())
def test_any_piece_of_a_name_finds_its_item(data: st.DataObject) -> None:
    item = data.draw(st.sampled_from(SAMPLE.items))
    start = data.draw(st.integers(min_value=0, max_value=len(item.name) - 1))
    end = data.draw(st.integers(min_value=start + 1, max_value=len(item.name)))
    assert item in SAMPLE.search(item.name[start:end], limit=len(SAMPLE.items))


# --- validation: every error names the field -------------------------------------------------------------------


def test_unknown_material_format_names_the_path_and_the_item() -> None:
    data = sample()
    data["items"][3]["materials"][1]["formats"] = ["pdf", "doc"]
    error = rejects(data)
    assert str(error).startswith('items[3].materials[1].formats: 未知格式 "doc"')
    assert data["items"][3]["code"] in str(error)
    assert error.path == "items[3].materials[1].formats"
    assert error.item_code == data["items"][3]["code"]
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("mutate", "path", "reason"),
    [
        (lambda item: item.update(colour="red"), "colour", "未知字段"),
        (lambda item: item.pop("fees"), "fees", "缺少此字段"),
        (lambda item: item.update(case_type="1"), "case_type", "应为整数"),
        (lambda item: item.update(is_joint=1), "is_joint", "应为 true 或 false"),
        (lambda item: item.update(item_type="11"), "item_type", '未知事项类型 "11"'),
        (lambda item: item.update(case_type=3), "case_type", "未知办件类型"),
        (lambda item: item.update(retention="5y"), "retention", "未知保管期限"),
        (lambda item: item.update(tags=["马上办", "快快办"]), "tags", '未知标签 "快快办"'),
        (lambda item: item.update(service_target=[]), "service_target", "至少要有一项"),
        (lambda item: item.update(pinyin_initials="CXJM"), "pinyin_initials", "小写字母"),
        (lambda item: item.update(basic_code="00200010100"), "basic_code", "基本编码应为12位"),
        (lambda item: item.update(basic_code="002000101001"), "code", "不一致"),
        (lambda item: item.update(exercise_level=5), "code", "不一致"),
        (lambda item: item.update(exercise_level=8), "exercise_level", "应为1至7"),
        (lambda item: item.update(code=item["code"][:30]), "code", "实施编码应为31位"),
        (
            lambda item: item.update(implementing_body_code=item["implementing_body_code"][:17] + "0"),
            "implementing_body_code",
            "校验位错误",
        ),
        (
            lambda item: item.update(statutory_limit_days=5, promised_limit_days=1),
            "promised_limit_days",
            "即办件的承诺时限应为0",
        ),
        (lambda item: item.update(legal_basis=[]), "legal_basis", "至少要有一项"),
        (
            lambda item: item.update(acceptance_conditions=["年满16周岁", ""]),
            "acceptance_conditions[1]",
            "不能为空",
        ),
        (lambda item: item.update(review_points="核对身份"), "review_points", "应为列表"),
        (lambda item: item.update(name=" 城乡居民基本养老保险参保登记"), "name", "首尾不能有空白"),
        (lambda item: item.update(sub_item_name="子项"), "sub_item_code", "同时填写或同时留空"),
        (
            lambda item: item.update(sub_sub_item_name="孙项", sub_sub_item_code="X1"),
            "sub_sub_item_name",
            "有孙项时必须先有子项",
        ),
        (lambda item: item["materials"][1].update(id="id-card"), "materials[1].id", '材料编号重复 "id-card"'),
        (lambda item: item["materials"][0].update(id="ID Card"), "materials[0].id", "只能用小写字母"),
        (lambda item: item["materials"][0].update(originals=-1), "materials[0].originals", "应在0至99之间"),
        (lambda item: item["materials"][0].update(copies=True), "materials[0].copies", "应为整数"),
        (
            lambda item: item["materials"][0].update(originals=0, copies=0, formats=[]),
            "materials[0].formats",
            "既无原件",
        ),
        (
            lambda item: item["materials"][0].update(formats=["pdf", "pdf"]),
            "materials[0].formats",
            "有重复项",
        ),
        (lambda item: item["materials"][0].update(waivable=True), "tags", "须标注“容缺办”"),
        (
            lambda item: item["materials"][0].update(mandatory=False, waivable=True),
            "materials[0].waivable",
            "必须同时标为必备",
        ),
        (
            lambda item: item["departments"].append(dict(item["departments"][0])),
            "departments[1].code",
            "部门重复",
        ),
        (
            lambda item: item["departments"].append({"code": "91110000600037341L", "name": "某公司"}),
            "departments",
            "非联办事项只能有一个部门",
        ),
        (lambda item: item.update(is_joint=True), "departments", "联办事项至少要有两个部门"),
        (lambda item: item.update(departments=[]), "departments", "至少要有一个部门"),
        (
            lambda item: item["departments"][0].update(code="11220581MB0153015B"),
            "departments[0].code",
            "校验位错误",
        ),
        (lambda item: item.update(materials={}), "materials", "应为列表"),
        (lambda item: item["materials"].append("身份证"), "materials[3]", "应为对象"),
    ],
)
def test_item_errors_name_the_field(mutate: Any, path: str, reason: str) -> None:
    data = sample()
    immediate = item_index(data, "城乡居民基本养老保险参保登记")
    mutate(data["items"][immediate])
    error = rejects(data)
    assert error.path == f"items[{immediate}].{path}"
    assert reason in error.reason
    assert str(error).startswith(f"items[{immediate}].{path}: ")


def test_promised_beyond_statutory_is_refused() -> None:
    data = sample()
    i = item_index(data, "最低生活保障申请")
    data["items"][i]["promised_limit_days"] = 31
    error = rejects(data)
    assert error.path == f"items[{i}].promised_limit_days"
    assert "承诺时限（31）不能超过法定时限（30）" in str(error)


def test_promised_item_needs_at_least_one_day() -> None:
    data = sample()
    i = item_index(data, "最低生活保障申请")
    data["items"][i]["promised_limit_days"] = 0
    assert "至少为1个工作日" in rejects(data).reason


def test_waivable_tag_without_waivable_material_is_refused() -> None:
    data = sample()
    i = item_index(data, "最低生活保障申请")
    for material in data["items"][i]["materials"]:
        material["waivable"] = False
    error = rejects(data)
    assert error.path == f"items[{i}].tags"
    assert "没有可容缺的材料" in error.reason


def test_duplicate_item_codes_are_refused() -> None:
    data = sample()
    data["items"].append(data["items"][2])
    error = rejects(data)
    assert error.path == f"items[{len(data['items']) - 1}].code"
    assert "实施编码重复：与 items[2] 相同" in str(error)
    assert data["items"][2]["code"] in str(error)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("version", 0, "应为正整数"),
        ("version", "1", "应为整数"),
        ("issued_at", "2026-11-01T08:00:00+08:00", "应为 UTC 时间"),
        ("issued_at", "2026-02-30T00:00:00Z", "不是有效的日期时间"),
        ("items", {}, "应为列表"),
    ],
)
def test_catalogue_level_errors(key: str, value: object, reason: str) -> None:
    data = sample()
    data[key] = value
    error = rejects(data)
    assert error.path == key and reason in error.reason


def test_top_level_must_be_an_object_without_unknown_keys() -> None:
    data = sample()
    data["signature"] = "…"
    assert rejects(data).path == "signature"
    with pytest.raises(CatalogueError, match="应为对象"):
        catalogue_from_dict([])  # type: ignore[arg-type]


def test_optional_fields_may_be_omitted() -> None:
    data = sample()
    item = data["items"][0]
    for key in ("sub_item_name", "sub_item_code", "sub_sub_item_name", "sub_sub_item_code"):
        del item[key]
    del item["materials"][0]["note"]
    loaded = catalogue_from_dict(data)
    assert loaded.items[0].sub_item_name == "" and loaded.items[0].materials[0].note == ""


# --- the types used directly -----------------------------------------------------------------------------------


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(CatalogueError, match='formats: 未知格式 "doc"'):
        Material("scan", "扫描件", True, 0, 0, False, ("doc",))
    with pytest.raises(CatalogueError, match="code: 校验位错误"):
        Department("91110000600037341N", "某部门")
    item = SAMPLE.items[0]
    with pytest.raises(CatalogueError) as caught:
        Catalogue(version=2, issued_at="2026-12-01T00:00:00Z", items=(item, item))
    assert caught.value.path == "items[1].code"


def test_values_are_frozen() -> None:
    item = SAMPLE.items[0]
    with pytest.raises(AttributeError):
        item.name = "改名"  # type: ignore[misc]
    assert isinstance(item, CatalogueItem)
    assert item.lead_department == item.departments[0]


def test_joint_item_lists_lead_department_first() -> None:
    homestead = next(i for i in SAMPLE.items if i.name == "农村宅基地申请")
    assert homestead.is_joint and homestead.exercise_level == 5
    assert homestead.lead_department.code == homestead.implementing_body_code
    assert [d.name for d in homestead.departments] == [
        "梅河口市山城镇人民政府",
        "梅河口市农业农村局",
        "梅河口市自然资源局",
    ]


def test_six_modes_are_the_zhejiang_list() -> None:
    assert SIX_MODES == ("自助办", "马上办", "容缺办", "全网办", "一证办", "就近办")


def test_catalogue_error_survives_pickling() -> None:
    error = CatalogueError("items[0].fees", "缺少此字段", "X")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason, copy.item_code, str(copy)) == (error.path, error.reason, "X", str(error))
