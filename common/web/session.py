"""Who is logged in: the staff member a request's session names, checked against the roles a route allows."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from protocol.errors import AUTH_REQUIRED, FORBIDDEN, OneWindowError


def current_user(
    request: Request[Any, Any, State], *roles: str, refusal: str | None = None
) -> dict[str, str]:
    """The logged-in staff member; OW-1101 when nobody is, OW-1102 when the role may not do this (`refusal`
    says why in the page's own words)."""
    user = request.session.get("user") if request.scope.get("session") is not None else None
    if not user:
        raise OneWindowError(AUTH_REQUIRED, "请先登录")
    if roles and user["role"] not in roles:
        raise OneWindowError(FORBIDDEN, refusal or "您的岗位不能进行此操作", field="role")
    return dict(user)
