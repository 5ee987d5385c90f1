"""Staff accounts and roles as they travel from central to the nodes (hashes only, never passwords), and the
login policy both sides apply: lockout after repeated failures, sessions that expire."""

from __future__ import annotations

import hashlib
import json
import secrets
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

#: Consecutive failed logins (per username) that lock the account, and for how long (seconds).
MAX_FAILED_LOGINS = 5
LOCKOUT_S = 15 * 60


@dataclass(frozen=True, slots=True)
class StaffAccount:
    """One staff member's login as distributed: username, name, role, scrypt hash.

    `authorities` are the catalogue item codes a lead may decide on the spot as 即办件 (empty for every other
    role); `version` grows with each change made at central, so a node never lets an older state of an
    account overwrite a newer one (down entries can be replayed, a courier file can arrive late)."""

    username: str
    display_name: str
    role: str
    password_hash: str
    disabled: bool = False
    authorities: tuple[str, ...] = ()
    version: int = 1

    def stored_columns(self) -> dict[str, Any]:
        """The columns an account row holds at either end (the node's staff table, central's node accounts):
        the authorities as a JSON list of item codes."""
        return {
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "password_hash": self.password_hash,
            "disabled": self.disabled,
            "authorities": json.dumps(list(self.authorities), ensure_ascii=False),
            "version": self.version,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "password_hash": self.password_hash,
            "disabled": self.disabled,
            "authorities": list(self.authorities),
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StaffAccount:
        username = str(data["username"])
        if not username or not username.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"staff.username: invalid {username!r}")
        role = str(data["role"])
        if role not in NODE_ROLES and role not in CENTRAL_ROLES:
            raise ValueError(f"staff.role: unknown role {role!r}")
        raw = data.get("authorities") or []
        if not isinstance(raw, list | tuple) or not all(isinstance(code, str) and code for code in raw):
            raise ValueError("staff.authorities: must be a list of item codes")
        if raw and role != "lead":
            raise ValueError(f"staff.authorities: only a lead holds 即办件 authority, not {role!r}")
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"staff.version: must be a positive integer, got {version!r}")
        return cls(
            username,
            str(data["display_name"]),
            role,
            str(data["password_hash"]),
            bool(data.get("disabled", False)),
            tuple(dict.fromkeys(str(code) for code in raw)),
            version,
        )


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a login lasts: `idle_s` without a request, `max_s` at most from the login."""

    idle_s: float = 30 * 60
    max_s: float = 12 * 3600

    def refusal(self, *, issued_at: float, last_seen: float, now: float) -> str | None:
        """Why a session of these times is no longer valid at `now` (``idle`` / ``lifetime``), or None."""
        if now - issued_at >= self.max_s or now < issued_at - 300:
            return "lifetime"
        if now - last_seen >= self.idle_s:
            return "idle"
        return None


#: What a refused session tells the person at the login page, by reason.
SESSION_REFUSALS = {
    "idle": "长时间未操作，登录已超时，请重新登录",
    "lifetime": "登录时间已到上限，请重新登录",
    "disabled": "该账号已被县中心停用，请联系县管理员",
    "changed": "账号信息已变更（密码重置或岗位调整），请重新登录",
    "ended": "已退出登录，请重新登录",
}


def new_session_id() -> tuple[str, str]:
    """A fresh session id for a login (kept in the signed cookie) and the digest the server keeps of it: the
    server-side record that makes a logout, or a login that replaced it, end the session for good."""
    sid = secrets.token_urlsafe(32)
    return sid, session_digest(sid)


def session_digest(sid: object) -> str:
    """What the session table holds for a session id (never the id itself)."""
    return hashlib.sha256(f"onewindow/session\x00{sid}".encode()).hexdigest()
