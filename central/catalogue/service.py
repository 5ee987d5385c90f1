"""Catalogue management at central (事项调整, Zhejiang §5.1.3; SPEC R-CAT-2): add, cancel, delegate (下放) and
change items, each with one of the §5.1.3 reasons. Every change makes a new catalogue version: validated by
`protocol.catalogue`, signed by the county, kept in the ``catalogue_version`` table and written to every
enrolled node's down log (kind ``catalogue``). A case keeps the version it was accepted under (its events carry
``catalogue_version`` and the promised limit), so a change never moves a case in progress.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.clock import iso
from central.downlog import append_down
from central.keys import CountyKeys
from central.models import CatalogueVersionRecord, NodeRecord
from protocol.canonical import canonical_json
from protocol.catalogue import Catalogue, CatalogueError, catalogue_from_dict, catalogue_to_dict
from protocol.errors import NOT_FOUND, REQUIRED_FIELD, VALIDATION, OneWindowError

ACTIONS = {"add": "增加", "cancel": "取消", "delegate": "下放", "change": "变更"}
#: The reasons §5.1.3 allows for each action (a–d), by code.
TRIGGERS: dict[str, dict[str, str]] = {
    "add": {
        "a1": "法律法规规章颁布、修订、解释需增加行政权力",
        "a2": "上级政府和部门下放行政权力，按要求需承接",
        "a3": "因机构、职能调整，需相应增加行政权力",
        "a4": "因合理原因需收回行政权力",
    },
    "cancel": {
        "b1": "法律、法规、规章颁布、修订、废止、解释，导致原实施依据失效",
        "b2": "上级政府和部门取消政务服务事项",
        "b3": "机构、职能调整，相关行政权力不再实施",
        "b4": "市场机制能够有效调节，公民、法人或其他组织能够自主决定",
        "b5": "行业组织或中介机构能够自律管理",
    },
    "delegate": {
        "c1": "法律、法规、规章颁布、修订调整下放实施层级",
        "c2": "国务院及省、市政府决定下放管理层级",
        "c3": "直接面向基层和群众、量大面广、由下级管理更方便有效",
    },
    "change": {
        "d1": "实施依据发生变化",
        "d2": "事项的名称、承办机构、法定时限、收费依据及标准等相关要素需进行调整",
        "d3": "事项（含子项）合并及分设",
        "d4": "运行流程发生变化",
    },
}


@dataclass(frozen=True)
class CatalogueChange:
    """What one version changed, and why."""

    action: str
    item_code: str
    trigger: str
    note: str

    def to_dict(self) -> dict[str, str]:
        return {
            "action": self.action,
            "action_label": ACTIONS[self.action],
            "item_code": self.item_code,
            "trigger": self.trigger,
            "reason": TRIGGERS[self.action][self.trigger],
            "note": self.note,
        }


async def newest_catalogue(session: AsyncSession, fallback: Catalogue) -> Catalogue:
    """The newest version central issued, or `fallback` (the county file's) when none is newer."""
    row = (
        await session.exec(
            select(CatalogueVersionRecord).order_by(col(CatalogueVersionRecord.version).desc())
        )
    ).first()
    if row is None or row.version <= fallback.version:
        return fallback
    return catalogue_from_dict(json.loads(row.data))


async def catalogue_versions(session: AsyncSession) -> list[CatalogueVersionRecord]:
    query = select(CatalogueVersionRecord).order_by(col(CatalogueVersionRecord.version).desc())
    return list((await session.exec(query)).all())


def _apply(current: dict[str, Any], change: CatalogueChange, item: dict[str, Any] | None) -> list[Any]:
    items: list[Any] = list(current["items"])
    index = next((i for i, it in enumerate(items) if it["code"] == change.item_code), None)
    if change.action == "add":
        if item is None:
            raise OneWindowError(REQUIRED_FIELD, "增加事项须提供事项内容", field="item")
        if index is not None or any(it["code"] == item.get("code") for it in items):
            raise OneWindowError(VALIDATION, f"事项 {item.get('code')} 已在目录中", field="item")
        return [*items, item]
    if index is None:
        raise OneWindowError(NOT_FOUND, f"目录中没有事项 {change.item_code}", field="item_code")
    if change.action == "cancel":
        return items[:index] + items[index + 1 :]
    if item is None:
        raise OneWindowError(REQUIRED_FIELD, "须提供调整后的事项内容", field="item")
    if change.action == "change" and item.get("code") != change.item_code:
        raise OneWindowError(
            VALIDATION, "变更不能改动实施编码；改变实施主体或层级请用下放或取消后增加", field="item"
        )
    # delegate: the new implementing body/level gives a new implementation code replacing the old entry
    return [*items[:index], item, *items[index + 1 :]]


async def change_catalogue(
    session: AsyncSession,
    county: CountyKeys,
    *,
    current: Catalogue,
    action: str,
    item_code: str,
    trigger: str,
    note: str,
    item: dict[str, Any] | None,
    actor: str,
    now: datetime,
) -> Catalogue:
    """Make, sign, keep and send down the next catalogue version; returns it."""
    if action not in ACTIONS:
        raise OneWindowError(VALIDATION, "调整类型只能是增加、取消、下放或变更", field="action")
    if trigger not in TRIGGERS[action]:
        raise OneWindowError(VALIDATION, f"请选择第 5.1.3 条规定的{ACTIONS[action]}情形", field="trigger")
    change = CatalogueChange(
        action, (item or {}).get("code", item_code) if action == "add" else item_code, trigger, note.strip()
    )
    data = catalogue_to_dict(current)
    data["items"] = _apply(data, change, item)
    data["version"] = current.version + 1
    data["issued_at"] = iso(now)
    try:
        catalogue = catalogue_from_dict(data)
    except CatalogueError as exc:
        raise OneWindowError(VALIDATION, f"事项内容有误：{exc}", field="item") from exc
    if await session.get(CatalogueVersionRecord, current.version) is None:
        # Keep the version being replaced too: cases accepted under it are routed by it (its departments).
        base = canonical_json(catalogue_to_dict(current))
        session.add(
            CatalogueVersionRecord(
                version=current.version,
                issued_at=current.issued_at,
                data=base.decode("utf-8"),
                change=json.dumps(
                    {
                        "action": "initial",
                        "action_label": "初始目录",
                        "item_code": "",
                        "trigger": "",
                        "reason": "县级初始目录",
                        "note": "",
                    },
                    ensure_ascii=False,
                ),
                signature=base64.b64encode(county.signing_key.sign(base)).decode("ascii"),
                published_by=actor,
            )
        )
    body = canonical_json(data)
    signature = base64.b64encode(county.signing_key.sign(body)).decode("ascii")
    session.add(
        CatalogueVersionRecord(
            version=catalogue.version,
            issued_at=catalogue.issued_at,
            data=body.decode("utf-8"),
            change=json.dumps(change.to_dict(), ensure_ascii=False),
            signature=signature,
            published_by=actor,
        )
    )
    nodes = (
        await session.exec(
            select(NodeRecord)
            .where(col(NodeRecord.age_recipient).is_not(None), NodeRecord.status != "revoked")
            .order_by(col(NodeRecord.node_id))
            .with_for_update()
        )
    ).all()
    for node in nodes:
        await append_down(
            session,
            county,
            node,
            {"catalogue": data, "catalogue_signature": signature, "change": change.to_dict()},
            kind="catalogue",
        )
    return catalogue


def item_with_limits(
    current: Catalogue, item_code: str, limits: Mapping[str, str], aliases: str | None = None
) -> dict[str, Any] | None:
    """The item `item_code` of `current` with new time limits (the catalogue page's 变更 form: working days as
    typed) and, when `aliases` is given, the names people call it by (separated by 、，, or spaces; blank keeps
    the item's aliases, 「无」 clears them); None when the catalogue has no such item (`change_catalogue` then
    says so). With aliases given, a blank limit keeps the item's current one."""
    item = next((i for i in catalogue_to_dict(current)["items"] if i["code"] == item_code), None)
    if item is None:
        return None
    typed = (aliases or "").strip()
    for name in ("promised_limit_days", "statutory_limit_days"):
        value = str(limits.get(name, "")).strip()
        if not value and typed:
            continue
        if not value.isdigit():
            raise OneWindowError(VALIDATION, "时限应为工作日数（整数）", field=name)
        item[name] = int(value)
    if typed:
        names = [] if typed == "无" else re.split(r"[、，,;；\s]+", typed)
        item["aliases"] = [name for name in dict.fromkeys(names) if name]
    return dict(item)
