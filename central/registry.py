"""Central's view of its county directory (written by `onewindow provision …`): the node registry and the
back-office accounts, loaded into the database at start-up and again whenever provisioning changes them; a
node's staff accounts as its enrolment bundle carried them; a revocation made from the fleet page; and the
nodes as registered, which every page names."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from central.models import CentralUser, DepartmentMemberRecord, NodeRecord, NodeStaffRecord
from protocol.keys import write_file_atomic
from protocol.staff import StaffAccount


def registry_stamp(county_dir: Path) -> tuple[int, ...]:
    """Changes whenever provisioning writes the county (a key rotation, a node added or revoked). Every such
    write is temp file → rename inside its directory, which changes the directory's modification time, so three
    stats per request tell: county.json, keys/ and nodes/ (not one per node)."""
    return tuple(
        p.stat().st_mtime_ns if p.exists() else 0
        for p in (county_dir / "county.json", county_dir / "keys", county_dir / "nodes")
    )


async def import_registry(session: AsyncSession, county_dir: Path) -> int:
    """Add nodes registered by provisioning and refresh back-office accounts; returns new nodes."""
    added = 0
    for path in sorted((county_dir / "nodes").glob("*.json")):
        record: dict[str, Any] = json.loads(path.read_text("utf-8"))
        if await session.get(NodeRecord, record["id"]) is None:
            session.add(
                NodeRecord(
                    node_id=record["id"],
                    name=record["name"],
                    division=record["division"],
                    number=int(record["number"]),
                    secret_digest=record["secret_digest"],
                    expires_at=record["expires_at"],
                    county_key=record.get("county_key"),
                )
            )
            added += 1
        if isinstance(record.get("staff"), list):
            # The node's accounts as provisioning wrote them into its bundle; central's later changes win.
            await seed_node_staff(session, record["id"], record["staff"], now=record.get("created_at", ""))
        node = await session.get(NodeRecord, record["id"])
        if node is not None and record.get("status") == "revoked" and node.status != "revoked":
            # The registry is where a county admin revokes (`provision revoke-node` or the fleet page): from
            # now on the node's new entries are quarantined. What it sent before stays as it is.
            node.status = "revoked"
            node.revoked_at = record.get("revoked_at")
            node.revoked_reason = record.get("revoked_reason")
            node.revoked_after_seq = node.up_seq
            session.add(node)
    users_path = county_dir / "central-users.json"
    if users_path.exists():
        for user in json.loads(users_path.read_text("utf-8")):
            row = await session.get(CentralUser, user["username"])
            if row is None:
                session.add(
                    CentralUser(**{k: user[k] for k in ("username", "display_name", "role", "password_hash")})
                )
            else:
                row.display_name, row.role, row.password_hash = (
                    user["display_name"],
                    user["role"],
                    user["password_hash"],
                )
                session.add(row)
            place = user.get("department")
            if place and await session.get(DepartmentMemberRecord, user["username"]) is None:
                # Provisioning's first placement (the demo's reviewers); an admin's later change wins.
                session.add(
                    DepartmentMemberRecord(
                        username=user["username"],
                        department_code=place["code"],
                        department_name=place["name"],
                        position=place.get("position", "reviewer"),
                    )
                )
    return added


def revoke_in_registry(county_dir: Path, node_id: str, *, reason: str, now: str) -> dict[str, Any]:
    """Revoke a node from central's fleet page: the same mark `provision revoke-node` writes in the county
    registry (the registry stays the record, so a central restored from a backup revokes it again)."""
    path = county_dir / "nodes" / f"{node_id}.json"
    record: dict[str, Any] = json.loads(path.read_text("utf-8"))
    if record.get("status") != "revoked":
        record.update(status="revoked", revoked_at=now, revoked_reason=reason[:500])
        write_file_atomic(
            path, json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8") + b"\n", mode=0o600
        )  # the record holds the node's staff password hashes
    return record


async def seed_node_staff(
    session: AsyncSession, node_id: str, accounts: Iterable[Mapping[str, Any]], *, now: str
) -> int:
    """Take the accounts provisioning put into a node's bundle, once: an account central already holds is left
    as it is (central's later changes win). Returns how many were added."""
    added = 0
    for raw in accounts:
        account = StaffAccount.from_dict(raw)
        if await session.get(NodeStaffRecord, (node_id, account.username)) is not None:
            continue
        session.add(
            NodeStaffRecord(
                node_id=node_id, **account.stored_columns(), updated_at=now, updated_by="provisioning"
            )
        )
        added += 1
    return added


async def list_nodes(session: AsyncSession) -> list[NodeRecord]:
    """Every registered node, by number."""
    return list((await session.exec(select(NodeRecord).order_by(col(NodeRecord.number)))).all())


async def node_names(session: AsyncSession) -> dict[str, str]:
    """Node id → centre name, for pages that name the centre a row came from."""
    return {node.node_id: node.name for node in await list_nodes(session)}


async def people_names(session: AsyncSession) -> dict[str, str]:
    """Account → display name, for pages that name who did something (common.web.names): the back office's
    accounts by user name, each centre's staff by ``<node id>/<user name>`` (and by user name alone when no
    back-office account has it)."""
    names = {u.username: u.display_name for u in (await session.exec(select(CentralUser))).all()}
    for staff in (await session.exec(select(NodeStaffRecord))).all():
        names[f"{staff.node_id}/{staff.username}"] = staff.display_name
        names.setdefault(staff.username, staff.display_name)  # a record that names no centre
    return names


async def get_node(session: AsyncSession, node_id: str) -> NodeRecord | None:
    """One registered node, or None."""
    return await session.get(NodeRecord, node_id)
