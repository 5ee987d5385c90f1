"""Staff login on the node, verified offline against hashes distributed by central."""

from __future__ import annotations

from node.models import Staff
from node.runtime import NodeRuntime
from protocol.errors import LOGIN_FAILED, OneWindowError
from protocol.passwords import verify_password


async def authenticate(runtime: NodeRuntime, *, username: str, password: str) -> Staff:
    """The staff member with these credentials, or OW-1103 (the same message whichever part was wrong)."""
    async with runtime.db.read() as session:
        staff = await session.get(Staff, username.strip())
    if staff is None or staff.disabled or not verify_password(password, staff.password_hash):
        raise OneWindowError(LOGIN_FAILED, "用户名或密码错误", field="password")
    return staff
