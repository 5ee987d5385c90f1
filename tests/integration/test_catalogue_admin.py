"""Catalogue management (R-CAT-2, Zhejiang §5.1.3; issue 8, acceptance 5): a change needs one of the §5.1.3
reasons and makes a new version, signed by the county and sent down to every enrolled node. Mid-case, the case
keeps the version it was accepted under (its limits and departments) at the node and at central; a new case at
the node uses the new version and is routed by it."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime

from sqlmodel import col, select

from central.backoffice.deadlines import case_clock, load_calendar
from central.backoffice.routing import route_pending
from central.cases.queries import load_case
from central.catalogue.service import newest_catalogue
from central.models import CatalogueVersionRecord, DownEntryRecord
from node.sync.client import sync_once
from protocol.catalogue import catalogue_to_dict
from tests.conftest import Stack, login_node
from tests.integration.test_backoffice import JOINT_QUERY, accept_item, central_of, cst
from tests.support import VALID_IDS


async def test_a_catalogue_change_mid_case_keeps_the_case_on_its_version(stack: Stack) -> None:
    central = central_of(stack)
    calendar = load_calendar(stack.setup.county_dir)
    stack.clock.set(cst("2026-11-02"))
    await login_node(stack)
    case = await accept_item(stack, JOINT_QUERY)
    assert case["promised_date"] == "2026-11-23"  # 15 working days under version 1
    await sync_once(stack.central, stack.runtime)
    login = await stack.central.post("/api/v1/login", json={"username": "admin", "password": "admin-pass-1"})
    assert login.status_code == 200

    item = next(i for i in catalogue_to_dict(central.catalogue)["items"] if i["name"] == "农村宅基地申请")
    # Version 2: a shorter promise, and 自然资源局 no longer takes part (承办机构调整).
    shorter = {**copy.deepcopy(item), "promised_limit_days": 10, "departments": item["departments"][:2]}
    body = {
        "action": "change",
        "item_code": item["code"],
        "trigger": "d2",
        "note": "承诺时限压缩至10个工作日",
    }
    # The reason must be one §5.1.3 gives for that kind of change; the item must still be a valid item.
    wrong = await stack.central.post(
        "/api/v1/catalogue/changes", json={**body, "trigger": "b1", "item": shorter}
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "trigger"
    broken = {**shorter, "promised_limit_days": 30}  # above the statutory 20
    bad = await stack.central.post("/api/v1/catalogue/changes", json={**body, "item": broken})
    assert bad.status_code == 422 and "承诺时限" in bad.json()["detail"]
    reviewer = await stack.central.post(
        "/api/v1/login", json={"username": "reviewer", "password": "reviewer-pass-1"}
    )
    assert reviewer.status_code == 200
    forbidden = await stack.central.post("/api/v1/catalogue/changes", json={**body, "item": shorter})
    assert forbidden.status_code == 403
    await stack.central.post("/api/v1/login", json={"username": "admin", "password": "admin-pass-1"})
    changed = await stack.central.post("/api/v1/catalogue/changes", json={**body, "item": shorter})
    assert changed.status_code == 201, changed.text
    assert changed.json()["version"] == 2

    async with central.db.transaction() as session:
        rows = (await session.exec(select(CatalogueVersionRecord))).all()
        down = (
            await session.exec(
                select(DownEntryRecord)
                .where(DownEntryRecord.kind == "catalogue")
                .order_by(col(DownEntryRecord.seq))
            )
        ).all()
        newest = await newest_catalogue(session, central.catalogue)
        _, state = await load_case(session, case["case_id"])
    assert sorted(r.version for r in rows) == [1, 2]  # the version replaced is kept beside the new one
    row = next(r for r in rows if r.version == 2)
    assert central.county.verify_key.verify(base64.b64decode(row.signature), row.data.encode("utf-8"))
    assert json.loads(row.change)["reason"].startswith("事项的名称、承办机构、法定时限")
    assert [d.node_id for d in down] == [stack.runtime.node_id]  # the only enrolled node
    assert newest.version == 2 and newest.by_code(item["code"]).promised_limit_days == 10

    # The case in progress keeps version 1's 15 days; the item now promises 10.
    assert state.catalogue_version == 1
    clock = case_clock(
        state, calendar, today=datetime(2026, 11, 3, tzinfo=UTC).date(), item=newest.by_code(item["code"])
    )
    assert clock is not None and clock.promised_days == 15 and clock.due_on.isoformat() == "2026-11-23"

    # Routed after the change, the case still goes to version 1's three departments.
    async with central.db.transaction() as session:
        routed = await route_pending(
            session, central.county, catalogue=central.catalogue, calendar=calendar, now=cst("2026-11-03")
        )
        _, state = await load_case(session, case["case_id"])
    assert routed == 1 and state.routing is not None
    assert [d["name"] for d in state.routing["departments"]] == [
        "梅河口市山城镇人民政府",
        "梅河口市农业农村局",
        "梅河口市自然资源局",
    ]

    # The node takes the entry in order (its log stays gap-free).
    report = await sync_once(stack.central, stack.runtime)
    assert report.pulled == 2  # the catalogue, then the routing

    # The node now holds both versions: the old case stays on version 1 (15 days), a new one uses version 2
    # (10 days) and is routed by version 2's two departments.
    assert sorted(stack.runtime.catalogues) == [1, 2]
    new = await accept_item(stack, JOINT_QUERY, VALID_IDS[1])
    assert (new["catalogue_version"], new["promised_days"], new["promised_date"]) == (2, 10, "2026-11-16")
    old = (await stack.node.get(f"/api/v1/cases/{case['case_id']}")).json()
    assert (old["catalogue_version"], old["promised_days"], old["promised_date"]) == (1, 15, "2026-11-23")
    await sync_once(stack.central, stack.runtime)
    async with central.db.transaction() as session:
        assert (
            await route_pending(
                session,
                central.county,
                catalogue=central.catalogue,
                calendar=calendar,
                now=cst("2026-11-02", 15),
            )
            == 1
        )
        _, routed_new = await load_case(session, new["case_id"])
    assert routed_new.routing is not None and len(routed_new.routing["departments"]) == 2
    assert routed_new.catalogue_version == 2
    page = await stack.central.get("/catalogue", headers={"accept": "text/html"})
    assert page.status_code == 200 and "第 2 版" in page.text and "承诺时限压缩至10个工作日" in page.text

    # The page's form: cancelling needs a §5.1.3 cancel reason; a change of limits is checked like any item.
    bad = await stack.central.post(
        "/catalogue",
        data={"action": "change", "item_code": item["code"], "trigger": "d2", "promised_limit_days": "25",
              "statutory_limit_days": "20"},
    )  # fmt: skip
    assert bad.status_code == 422 and "承诺时限（25）不能超过法定时限（20）" in bad.text
    wrong = await stack.central.post(
        "/catalogue", data={"action": "cancel", "item_code": item["code"], "trigger": "d2"}
    )
    assert wrong.status_code == 422
    cancelled = await stack.central.post(
        "/catalogue",
        data={"action": "cancel", "item_code": item["code"], "trigger": "b2", "note": "上级取消"},
    )
    assert cancelled.status_code in (200, 302, 303)
    page = await stack.central.get("/catalogue", headers={"accept": "text/html"})
    assert "第 3 版" in page.text and "上级政府和部门取消政务服务事项" in page.text
    async with central.db.transaction() as session:
        newest = await newest_catalogue(session, central.catalogue)
    assert newest.version == 3 and all(i.code != item["code"] for i in newest.items)
