"""Node staff accounts managed by the county (R-PROV-3; 节点工作人员账号): window clerks, logistics, leads with
their 即办件 authority list, node admins.

Central holds every node's accounts (hashes only) in ``node_staff``, seeded from provisioning (the accounts
written into the enrolment bundle). The county admin creates, disables, enables and resets accounts and edits a
lead's authorities; each change raises the account's `version` and goes down to its node as a ``staff`` down
entry (signed by the county and encrypted to the node, like every down entry), where it is applied only when
newer than what the node holds. A new or reset password is returned once, to be shown once, and never stored.
(The accounts of a node's enrolment bundle are taken in by `central.registry.seed_node_staff`.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.clock import iso
from central.downlog import append_down, lock_node
from central.keys import CountyKeys
from central.models import NodeRecord, NodeStaffRecord
from protocol.catalogue import Catalogue, CatalogueItem
from protocol.errors import INVALID_TRANSITION, NOT_FOUND, REQUIRED_FIELD, VALIDATION, OneWindowError
from protocol.passwords import hash_password, temporary_password
from protocol.staff import NODE_ROLES, StaffAccount


def account_of(record: NodeStaffRecord) -> StaffAccount:
    """The wire form of an account (what the node receives)."""
    return StaffAccount(
        record.username,
        record.display_name,
        record.role,
        record.password_hash,
        record.disabled,
        tuple(authorities_of(record)),
        record.version,
    )


def authorities_of(record: NodeStaffRecord) -> list[str]:
    codes = json.loads(record.authorities or "[]")
    return [str(code) for code in codes] if isinstance(codes, list) else []


def on_spot_items(catalogue: Catalogue) -> list[CatalogueItem]:
    """The catalogue's 即办件 (case_type 1): the only items a lead may be authorised to decide on the spot."""
    return [item for item in catalogue.items if item.case_type == 1]


def new_password() -> str:
    """A temporary password to read out or hand over once (12 characters, no look-alike characters)."""
    return temporary_password()


async def node_staff(session: AsyncSession, node_id: str) -> list[NodeStaffRecord]:
    query = (
        select(NodeStaffRecord)
        .where(NodeStaffRecord.node_id == node_id)
        .order_by(col(NodeStaffRecord.role), col(NodeStaffRecord.username))
    )
    return list((await session.exec(query)).all())


async def _node_for_change(session: AsyncSession, node_id: str) -> NodeRecord:
    """The node an account change is for, locked for its down log; refused when the change cannot reach it."""
    node = await lock_node(session, node_id)
    if node is None:
        raise OneWindowError(NOT_FOUND, f"没有节点 {node_id}", field="node_id")
    if node.status == "revoked":
        raise OneWindowError(
            INVALID_TRANSITION, f"节点「{node.name}」已吊销，不再下发账号变更", field="node_id"
        )
    if node.age_recipient is None:
        raise OneWindowError(
            INVALID_TRANSITION,
            f"节点「{node.name}」尚未完成注册（首次同步），账号变更无法下发；请待节点上线后再修改",
            field="node_id",
        )
    return node


async def _account(session: AsyncSession, node_id: str, username: str) -> NodeStaffRecord:
    record = await session.get(NodeStaffRecord, (node_id, username))
    if record is None:
        raise OneWindowError(NOT_FOUND, f"该节点没有账号 {username}", field="username")
    return record


async def _deliver(
    session: AsyncSession,
    county: CountyKeys,
    node: NodeRecord,
    record: NodeStaffRecord,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Raise the account's version and send it down to its node (inside the caller's transaction)."""
    record.version += 1
    record.updated_at, record.updated_by = iso(now), actor
    session.add(record)
    await append_down(session, county, node, {"staff": [account_of(record).to_dict()]}, kind="staff")


def _checked_authorities(role: str, codes: Sequence[str], catalogue: Catalogue) -> list[str]:
    codes = list(dict.fromkeys(code.strip() for code in codes if code.strip()))
    if codes and role != "lead":
        raise OneWindowError(VALIDATION, "只有业务负责人可以授权当场办结即办件", field="authorities")
    allowed = {item.code for item in on_spot_items(catalogue)}
    for code in codes:
        if code not in allowed:
            raise OneWindowError(
                VALIDATION, f"事项 {code} 不是目录中的即办件，不能授权当场办结", field="authorities"
            )
    return codes


async def create_account(
    session: AsyncSession,
    county: CountyKeys,
    *,
    node_id: str,
    username: str,
    display_name: str,
    role: str,
    authorities: Sequence[str],
    catalogue: Catalogue,
    actor: str,
    now: datetime,
) -> tuple[NodeStaffRecord, str]:
    """Create an account on a node; returns it and its temporary password (to show once)."""
    username, display_name = username.strip(), display_name.strip()
    if not username:
        raise OneWindowError(REQUIRED_FIELD, "请填写用户名", field="username")
    if (
        not username.replace("_", "").replace("-", "").isalnum()
        or not username.isascii()
        or len(username) > 32
    ):
        raise OneWindowError(
            VALIDATION, "用户名只能用英文字母、数字、下划线和连字符（最多32位）", field="username"
        )
    if not display_name:
        raise OneWindowError(REQUIRED_FIELD, "请填写姓名", field="display_name")
    if role not in NODE_ROLES:
        raise OneWindowError(VALIDATION, f"请选择岗位：{'、'.join(NODE_ROLES.values())}", field="role")
    codes = _checked_authorities(role, authorities, catalogue)
    node = await _node_for_change(session, node_id)
    if await session.get(NodeStaffRecord, (node_id, username)) is not None:
        raise OneWindowError(VALIDATION, f"该节点已有账号 {username}", field="username")
    password = new_password()
    record = NodeStaffRecord(
        node_id=node_id,
        username=username,
        display_name=display_name,
        role=role,
        password_hash=hash_password(password),
        authorities=json.dumps(codes, ensure_ascii=False),
        version=0,  # `_deliver` makes it 1
        updated_at=iso(now),
        updated_by=actor,
    )
    await _deliver(session, county, node, record, actor=actor, now=now)
    return record, password


async def set_disabled(
    session: AsyncSession,
    county: CountyKeys,
    *,
    node_id: str,
    username: str,
    disabled: bool,
    actor: str,
    now: datetime,
) -> NodeStaffRecord:
    """Disable (停用) or enable (启用) an account; the node refuses its logins and open sessions once it has
    the change."""
    node = await _node_for_change(session, node_id)
    record = await _account(session, node_id, username)
    if record.disabled == disabled:
        raise OneWindowError(
            INVALID_TRANSITION,
            f"账号 {username} 已经是{'停用' if disabled else '启用'}状态",
            field="username",
        )
    record.disabled = disabled
    await _deliver(session, county, node, record, actor=actor, now=now)
    return record


async def reset_password(
    session: AsyncSession, county: CountyKeys, *, node_id: str, username: str, actor: str, now: datetime
) -> tuple[NodeStaffRecord, str]:
    """A new temporary password (to show once); on the node it also lifts a lockout and ends open sessions."""
    node = await _node_for_change(session, node_id)
    record = await _account(session, node_id, username)
    password = new_password()
    record.password_hash = hash_password(password)
    await _deliver(session, county, node, record, actor=actor, now=now)
    return record, password


async def set_authorities(
    session: AsyncSession,
    county: CountyKeys,
    *,
    node_id: str,
    username: str,
    authorities: Sequence[str],
    catalogue: Catalogue,
    actor: str,
    now: datetime,
) -> NodeStaffRecord:
    """Replace a lead's 即办件 authority list (item codes of the catalogue's case_type 1 items)."""
    node = await _node_for_change(session, node_id)
    record = await _account(session, node_id, username)
    codes = _checked_authorities(record.role, authorities, catalogue)
    record.authorities = json.dumps(codes, ensure_ascii=False)
    await _deliver(session, county, node, record, actor=actor, now=now)
    return record


async def staff_counts(session: AsyncSession) -> dict[str, int]:
    """Node id → how many accounts central holds for it (the staff index page)."""
    query = select(NodeStaffRecord.node_id, func.count()).group_by(col(NodeStaffRecord.node_id))
    return {node_id: int(count) for node_id, count in (await session.exec(query)).all()}
