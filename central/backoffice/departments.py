"""Back-office departments (后台业务部门, DB22/T 2871.2 §7.2; SPEC R-BO-1): the catalogue's departments (an item
names the department(s) that handle it, the first leads), the back-office accounts placed in them as reviewer
(审核) or head (负责人), and each department's work queue of routed cases."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.models import (
    BackofficeCaseRecord,
    CaseRecord,
    CatalogueVersionRecord,
    CentralUser,
    DepartmentMemberRecord,
)
from protocol.catalogue import Catalogue, CatalogueItem, catalogue_from_dict
from protocol.errors import NOT_FOUND, VALIDATION, OneWindowError

POSITIONS = {"reviewer": "审核", "head": "负责人"}


def departments_of(catalogue: Catalogue) -> dict[str, str]:
    """Every department the catalogue names: credit code → name, in catalogue order."""
    found: dict[str, str] = {}
    for item in catalogue.items:
        for department in item.departments:
            found.setdefault(department.code, department.name)
    return found


def item_of(catalogue: Catalogue | None, code: str) -> CatalogueItem | None:
    if catalogue is None:
        return None
    try:
        return catalogue.by_code(code)
    except KeyError:
        return None


async def catalogue_version(session: AsyncSession, version: int, current: Catalogue) -> Catalogue | None:
    """That version of the catalogue: one central issued (``catalogue_version``), or the county file's own."""
    if version == current.version:
        return current
    row = await session.get(CatalogueVersionRecord, version)
    return catalogue_from_dict(json.loads(row.data)) if row is not None else None


# ---- members ---------------------------------------------------------------------------------------------------


async def assign_member(
    session: AsyncSession, *, username: str, department_code: str, position: str, catalogue: Catalogue
) -> DepartmentMemberRecord:
    """Place a back-office account in a department (replacing its previous place)."""
    departments = departments_of(catalogue)
    if department_code not in departments:
        raise OneWindowError(NOT_FOUND, f"目录中没有部门 {department_code}", field="department_code")
    if position not in POSITIONS:
        raise OneWindowError(VALIDATION, "岗位只能是审核或负责人", field="position")
    user = await session.get(CentralUser, username)
    if user is None or user.disabled:
        raise OneWindowError(NOT_FOUND, f"账号 {username} 不存在或已停用", field="username")
    row = await session.get(DepartmentMemberRecord, username)
    if row is None:
        row = DepartmentMemberRecord(
            username=username,
            department_code=department_code,
            department_name=departments[department_code],
            position=position,
        )
    else:
        row.department_code, row.department_name = department_code, departments[department_code]
        row.position = position
    session.add(row)
    return row


async def membership(session: AsyncSession, username: str) -> DepartmentMemberRecord | None:
    return await session.get(DepartmentMemberRecord, username)


async def members(session: AsyncSession) -> list[DepartmentMemberRecord]:
    query = select(DepartmentMemberRecord).order_by(
        col(DepartmentMemberRecord.department_code), col(DepartmentMemberRecord.username)
    )
    return list((await session.exec(query)).all())


async def own_department(session: AsyncSession, username: str) -> str | None:
    """The credit code of the department a back-office account is placed in, if any."""
    member = await membership(session, username)
    return member.department_code if member else None


async def reviewer_accounts(session: AsyncSession) -> list[CentralUser]:
    """The reviewer accounts an admin may place in a department, by username."""
    query = select(CentralUser).where(CentralUser.role == "reviewer").order_by(col(CentralUser.username))
    return list((await session.exec(query)).all())


# ---- work queues ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """One line of a department's work queue."""

    case: CaseRecord
    backoffice: BackofficeCaseRecord
    departments: list[dict[str, str]]


async def work_queue(
    session: AsyncSession,
    *,
    department: str | None = None,
    centre: str | None = None,
    item: str | None = None,
    due_before: str | None = None,
    level: str | None = None,
    status: str | None = None,
    limit: int = 300,
) -> list[QueueRow]:
    """Routed cases for a department (as lead or joint partner), filtered by centre, item, due date, level and
    status; the nearest due date first."""
    query = select(CaseRecord, BackofficeCaseRecord).join(
        BackofficeCaseRecord, col(BackofficeCaseRecord.case_id) == col(CaseRecord.case_id)
    )
    if department:
        query = query.where(col(BackofficeCaseRecord.departments).contains(f'"code": "{department}"'))
    if centre:
        query = query.where(CaseRecord.origin_node == centre)
    if item:
        query = query.where(CaseRecord.item_code == item)
    if due_before:
        query = query.where(col(BackofficeCaseRecord.due_on) <= due_before)
    if level:
        query = query.where(BackofficeCaseRecord.level == level)
    if status:
        query = query.where(CaseRecord.status == status)
    query = query.order_by(col(BackofficeCaseRecord.due_on), col(CaseRecord.case_number)).limit(limit)
    rows = (await session.exec(query)).all()
    return [QueueRow(case, bo, json.loads(bo.departments)) for case, bo in rows]
