"""The county admin's department members page (部门人员): placing back-office accounts in the catalogue's
departments as reviewer (审核) or head (负责人). Thin handlers over `central.backoffice.departments`."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from central.backoffice.departments import (
    POSITIONS,
    assign_member,
    departments_of,
    members,
    reviewer_accounts,
)
from central.registry import people_names
from central.web import central_of, current_user
from protocol.errors import OneWindowError


@get("/departments", media_type=MediaType.HTML)
async def departments_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request, "admin")
    return Template(template_name="departments.html", context=await _departments_context(request, user, None))


async def _departments_context(
    request: Request[Any, Any, State], user: dict[str, str], error: OneWindowError | None
) -> dict[str, Any]:
    central = central_of(request)
    async with central.db.transaction() as session:
        rows = await members(session)
        accounts = await reviewer_accounts(session)
        people = await people_names(session)
    return {
        "user": user,
        "people": people,
        "members": rows,
        "accounts": accounts,
        "departments": departments_of(central.catalogue),
        "positions": POSITIONS,
        "error": error,
        "active": "departments",
    }


@post("/departments", media_type=MediaType.HTML, status_code=200)
async def departments_assign(request: Request[Any, Any, State]) -> Response[Any]:
    user = current_user(request, "admin")
    form = await request.form()
    central = central_of(request)
    try:
        async with central.db.transaction() as session:
            await assign_member(
                session,
                username=str(form.get("username", "")),
                department_code=str(form.get("department_code", "")),
                position=str(form.get("position", "")),
                catalogue=central.catalogue,
            )
    except OneWindowError as exc:
        return Template(
            template_name="departments.html",
            context=await _departments_context(request, user, exc),
            status_code=exc.problem.status,
        )
    return Redirect(path="/departments")


ROUTES = [departments_page, departments_assign]
