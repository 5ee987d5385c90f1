"""Staff accounts and roles as they travel from central to the nodes (hashes only, never passwords)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Roles on a node: 综合窗口 window clerk, 物料流转 logistics, 业务负责人 centre lead, 节点管理员 node admin.
NODE_ROLES = {
    "window": "综合窗口",
    "logistics": "物料流转窗口",
    "lead": "业务负责人",
    "node_admin": "节点管理员",
}
# Roles at central: 后台审核 reviewer, 县管理员 county admin, 督查 supervisor.
CENTRAL_ROLES = {"reviewer": "后台审核", "admin": "县管理员", "supervisor": "督查"}


@dataclass(frozen=True, slots=True)
class StaffAccount:
    """One staff member's login as distributed: username, name, role, scrypt hash."""

    username: str
    display_name: str
    role: str
    password_hash: str
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "password_hash": self.password_hash,
            "disabled": self.disabled,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StaffAccount:
        username = str(data["username"])
        if not username or not username.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"staff.username: invalid {username!r}")
        role = str(data["role"])
        if role not in NODE_ROLES and role not in CENTRAL_ROLES:
            raise ValueError(f"staff.role: unknown role {role!r}")
        return cls(
            username,
            str(data["display_name"]),
            role,
            str(data["password_hash"]),
            bool(data.get("disabled", False)),
        )
