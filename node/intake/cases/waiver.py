"""容缺受理 (acceptance with materials owed): the one place that decides which missing materials may be waived.

The rule: the item must be open to 容缺受理 in the catalogue (its `WAIVABLE_MODE` tag); only materials marked
waivable there (次要材料) may be owed, and every missing mandatory material must be either brought or waived; the
applicant commits to supply the waived ones by a date after today and no later than the promised completion date.

`waiver_offer` is what the case page offers for a case as it stands (the route only shows it); `check_waiver`
applies the same rule to what the clerk chose, refusing with the field at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from node.intake.cases.clocks import promised_date
from node.intake.cases.materials import missing_materials
from node.runtime import NodeRuntime
from protocol.catalogue import WAIVABLE_MODE, CatalogueItem, Material
from protocol.errors import (
    DEADLINE_INVALID,
    MATERIAL_NOT_WAIVABLE,
    MATERIALS_INCOMPLETE,
    REQUIRED_FIELD,
    VALIDATION,
    OneWindowError,
)
from protocol.events import CaseState


@dataclass(frozen=True)
class WaiverOffer:
    """What 容缺受理 can do for a case now."""

    #: Missing mandatory materials that may be owed (次要材料).
    waivable: tuple[Material, ...]
    #: Missing mandatory materials that must be brought before any acceptance (主要材料).
    fixed: tuple[Material, ...]
    #: Whether the case can be accepted with a waiver as it stands: something is missing, the item allows 容缺
    #: and every missing material may be owed.
    possible: bool
    #: The latest supply date the applicant may commit to: the promised completion date if accepted today.
    latest_supply: date


def latest_supply_date(runtime: NodeRuntime, item: CatalogueItem) -> date:
    """The promised completion date of a case accepted today: no waived material may be owed past it."""
    return promised_date(runtime, runtime.today(), item.promised_limit_days)


def waiver_offer(runtime: NodeRuntime, item: CatalogueItem, state: CaseState) -> WaiverOffer:
    """What the case page offers for 容缺受理 (see the module docstring for the rule)."""
    missing = missing_materials(item, state)
    return WaiverOffer(
        waivable=tuple(m for m in missing if m.waivable),
        fixed=tuple(m for m in missing if not m.waivable),
        possible=bool(missing) and WAIVABLE_MODE in item.tags and all(m.waivable for m in missing),
        latest_supply=latest_supply_date(runtime, item),
    )


def check_waiver(
    runtime: NodeRuntime,
    item: CatalogueItem,
    state: CaseState,
    *,
    waived: Sequence[str],
    supply_by: date,
) -> tuple[list[str], date]:
    """The materials to owe (ids, in the clerk's order, once each) and the promised completion date, or the
    catalogued refusal naming the field at fault."""
    if WAIVABLE_MODE not in item.tags:
        raise OneWindowError(MATERIAL_NOT_WAIVABLE, f"「{item.name}」不适用容缺受理", field="waived")
    by_id = {m.id: m for m in item.materials}
    missing = {m.id: m for m in missing_materials(item, state)}
    chosen = list(dict.fromkeys(waived))
    if not chosen:
        raise OneWindowError(REQUIRED_FIELD, "请选择容缺的材料", field="waived")
    for material_id in chosen:
        material = by_id.get(material_id)
        if material is None:
            raise OneWindowError(VALIDATION, f"该事项没有材料项 {material_id!r}", field="waived")
        if not material.waivable:
            raise OneWindowError(
                MATERIAL_NOT_WAIVABLE,
                f"「{material.name}」是主要材料，不能容缺，必须当场提交",
                field="waived",
                material_id=material.id,
            )
        if material_id not in missing:
            raise OneWindowError(
                VALIDATION,
                f"「{material.name}」已经提交，无需容缺",
                field="waived",
                material_id=material_id,
            )
    unwaived = [m.name for m_id, m in missing.items() if m_id not in chosen]
    if unwaived:
        raise OneWindowError(
            MATERIALS_INCOMPLETE,
            f"以下必备材料既未提交也未容缺：{'、'.join(unwaived)}",
            field="materials",
            missing=unwaived,
        )
    today = runtime.today()
    due = latest_supply_date(runtime, item)
    if not today < supply_by <= due:
        raise OneWindowError(
            DEADLINE_INVALID,
            f"补齐期限应在今天之后、承诺办结日期（{due:%Y年%m月%d日}）之前",
            field="supply_by",
            latest=due.isoformat(),
        )
    return chosen, due
