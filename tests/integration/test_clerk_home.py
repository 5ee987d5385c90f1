"""The clerk's home (今日) and its search (issue 19, acceptance 3): 「低保」 finds 最低生活保障申请 by its alias,
「张伟」 finds the case by the applicant's name, the last six digits of the 办件编号 and the full ID number find
it too — the number through its keyed hash, never stored in the case list. Also the four lists (待受理 …) and a
case received with an ID card read: the card's image is the ID material's page."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from node.app import create_app
from node.enrolment import enroll
from node.settings import NodeSettings
from tests.support import CLERK, VALID_IDS, CountySetup

ELDERLY = "11220581MB015288084000500104000"  # 80周岁以上老年人高龄补贴申请
OTHER = "11220581MB0153015A4002000101000"  # 城乡居民基本养老保险参保登记


@pytest.fixture
async def node(county: CountySetup, tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient[Litestar], Path]]:
    node_dir = tmp_path / "node1"
    await enroll(
        county.bundles[0].bundle_path, node_dir, expected_county=county.bundles[0].county_fingerprint
    )
    app = create_app(
        NodeSettings(
            data_dir=node_dir,
            sync_enabled=False,
            clock_interval_s=0,
            simulate_devices=True,
            scan_folder=tmp_path / "scans",
            device_poll_s=0.1,
        )
    )
    async with AsyncTestClient(app=app, base_url="http://node.test") as client:
        response = await client.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]})
        assert response.status_code == 200
        yield client, node_dir


async def _receive(client: AsyncTestClient[Litestar], item: str, name: str, number: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/cases",
        json={"item_code": item, "applicant": {"name": name, "cert_type": "111", "cert_number": number}},
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def _found(page: str) -> list[str]:
    """The case ids a search result lists."""
    if 'id="search-results"' not in page:
        return []
    return re.findall(r'data-href="/cases/([0-9a-f-]{36})"', page.split('id="search-results"', 1)[1])


async def test_the_search_finds_the_case_by_name_number_tail_and_id_number_and_the_item_by_alias(
    node: tuple[AsyncTestClient[Litestar], Path],
) -> None:
    client, node_dir = node
    zhang = await _receive(client, ELDERLY, "张伟", VALID_IDS[0])
    other = await _receive(client, OTHER, "李四", VALID_IDS[1])

    # 「低保」: the item, by the alias the county keeps in the catalogue (not in its name)
    items = (await client.get("/api/v1/items", params={"q": "低保"})).json()["items"]
    assert [i["name"] for i in items] == ["最低生活保障申请"]
    page = (await client.get("/items", params={"q": "低保"})).text
    assert "最低生活保障申请" in page and "又称：低保" in page
    for alias, name in (("残疾证", "残疾人证申领"), ("高龄补贴", "80周岁以上老年人高龄补贴申请")):
        assert name in [
            i["name"] for i in (await client.get("/api/v1/items", params={"q": alias})).json()["items"]
        ]

    # 「张伟」, the full ID number, the whole 办件编号: the case, only it; the last six digits (the day's serial,
    # which the other item's first case shares) and any other part: the case among those that have it
    for query in ("张伟", VALID_IDS[0], VALID_IDS[0].lower(), zhang["case_number"]):
        response = await client.get("/cases", params={"q": query})
        assert response.status_code == 200
        assert _found(response.text) == [zhang["case_id"]], query
    for query in (zhang["case_number"][-6:], zhang["case_number"][10:20]):
        assert zhang["case_id"] in _found((await client.get("/cases", params={"q": query})).text), query
    assert other["case_id"] in _found(
        (await client.get("/cases", params={"q": zhang["case_number"][-6:]})).text
    )
    assert _found((await client.get("/cases", params={"q": "李四"})).text) == [other["case_id"]]
    # a part of an ID number is not enough, and a name not on any case finds nothing
    assert _found((await client.get("/cases", params={"q": VALID_IDS[0][:10]})).text) == []
    assert _found((await client.get("/cases", params={"q": "王五"})).text) == []
    # the whole number is shown, wrapped in two parts (the last twelve digits apart)
    home = (await client.get("/cases")).text
    assert zhang["case_number"][:-12] in home and zhang["case_number"][-12:] in home

    # the case list keeps the ID number only as its keyed hash
    with sqlite3.connect(node_dir / "node.db") as db:
        stored = db.execute('SELECT applicant_id_hash FROM "case"').fetchall()
        dump = "\n".join(db.iterdump())
    assert all(len(h) == 64 for (h,) in stored)
    assert VALID_IDS[0] not in dump and VALID_IDS[1] not in dump


async def test_the_home_lists_what_waits_and_a_card_read_becomes_the_id_material(
    node: tuple[AsyncTestClient[Litestar], Path],
) -> None:
    client, _ = node
    await client.post("/devices/sim/card", data={"card": "0"})
    card = (await client.post("/api/v1/devices/idcard/read")).json()
    assert card["read_id"]
    response = await client.post(
        "/cases",
        data={
            "item_code": ELDERLY,
            "name": card["name"],
            "cert_type": card["cert_type"],
            "cert_number": card["cert_number"],
            "card_read": card["read_id"],
        },
        follow_redirects=False,
    )
    assert response.status_code in (302, 303), response.text
    case_id = response.headers["location"].rsplit("/", 1)[1]
    case = (await client.get(f"/api/v1/cases/{case_id}")).json()
    assert [(m["material_id"], m["media_type"]) for m in case["materials"]] == [("id-card", "image/jpeg")]
    # the page's thumbnail is served, only for a page on this case
    blob = case["materials"][0]["blob"]
    thumb = await client.get(f"/cases/{case_id}/pages/id-card/{blob}")
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
    assert (await client.get(f"/cases/{case_id}/pages/household-register/{blob}")).status_code == 404

    # a read of another person's card does not become this applicant's ID material
    other = await _receive(client, ELDERLY, "李四", VALID_IDS[1])
    response = await client.post(
        "/cases",
        data={
            "item_code": ELDERLY,
            "name": "李四",
            "cert_type": "111",
            "cert_number": VALID_IDS[1],
            "card_read": card["read_id"],
        },
        follow_redirects=False,
    )
    stranger = response.headers["location"].rsplit("/", 1)[1]
    assert (await client.get(f"/api/v1/cases/{stranger}")).json()["materials"] == []

    home = (await client.get("/cases")).text
    assert re.search(r'id="count-received">\s*3\s*<', home), home
    assert re.search(r'id="count-results">\s*0\s*<', home)
    assert other["case_id"] in home.split('id="received"', 1)[1]

    # 删除 a page: the slot is empty again, the case page offers 逐项采集 from it
    removed = await client.post(
        f"/cases/{case_id}/pages/remove",
        data={"material_id": "id-card", "blob": blob},
        follow_redirects=False,
    )
    assert removed.status_code in (302, 303)
    assert (await client.get(f"/api/v1/cases/{case_id}")).json()["materials"] == []
    box = (await client.get(f"/cases/{case_id}/capture")).text
    assert "逐项采集（从「申请人居民身份证」开始）" in box


async def test_a_failed_login_keeps_the_user_name(node: tuple[AsyncTestClient[Litestar], Path]) -> None:
    client, _ = node
    response = await client.post("/login", data={"username": CLERK[0], "password": "wrong-password"})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert f'name="username" type="text" autocomplete="username" value="{CLERK[0]}"' in response.text
