"""The catalogue pages and API (事项调整): the current catalogue with its version history, the admin's change form
(cancel an item, or change its time limits), and the JSON API for every kind of change. Thin handlers over
`central.catalogue.service`."""

from __future__ import annotations

import json
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.response import Redirect, Template

from central.catalogue.schemas import CatalogueChangeRequest, CatalogueVersionAnswer
from central.catalogue.service import (
    ACTIONS,
    TRIGGERS,
    catalogue_versions,
    change_catalogue,
    item_with_limits,
    newest_catalogue,
)
from central.clock import utc_now
from central.web import central_of, current_user
from protocol.errors import OneWindowError


@post("/api/v1/catalogue/changes", media_type=MediaType.JSON, status_code=201)
async def api_catalogue_change(
    request: Request[Any, Any, State], data: JSONBody[CatalogueChangeRequest]
) -> CatalogueVersionAnswer:
    user = current_user(request, "admin")
    central = central_of(request)
    async with central.db.transaction() as session:
        current = await newest_catalogue(session, central.catalogue)
        catalogue = await change_catalogue(
            session,
            central.county,
            current=current,
            action=data.action,
            item_code=data.item_code,
            trigger=data.trigger,
            note=data.note,
            item=data.item,
            actor=user["username"],
            now=utc_now(),
        )
    central.catalogue = catalogue
    return CatalogueVersionAnswer(
        version=catalogue.version, issued_at=catalogue.issued_at, items=len(catalogue.items)
    )


@post("/catalogue", media_type=MediaType.HTML, status_code=200)
async def catalogue_change_form(request: Request[Any, Any, State]) -> Response[Any]:
    """The page's form: cancel an item, or change its time limits (other changes go through the API)."""
    user = current_user(request, "admin")
    central = central_of(request)
    form = await request.form()
    action, code = str(form.get("action", "")), str(form.get("item_code", ""))
    try:
        async with central.db.transaction() as session:
            current = await newest_catalogue(session, central.catalogue)
            limits = {
                name: str(form.get(name, "")) for name in ("promised_limit_days", "statutory_limit_days")
            }
            central.catalogue = await change_catalogue(
                session,
                central.county,
                current=current,
                action=action,
                item_code=code,
                trigger=str(form.get("trigger", "")),
                note=str(form.get("note", "")),
                item=item_with_limits(current, code, limits, str(form.get("aliases", "")))
                if action == "change"
                else None,
                actor=user["username"],
                now=utc_now(),
            )
    except OneWindowError as exc:
        context = await _catalogue_context(request, user)
        context["error"] = exc
        return Template(template_name="catalogue.html", context=context, status_code=exc.problem.status)
    return Redirect(path="/catalogue")


async def _catalogue_context(request: Request[Any, Any, State], user: dict[str, str]) -> dict[str, Any]:
    central = central_of(request)
    async with central.db.transaction() as session:
        central.catalogue = await newest_catalogue(session, central.catalogue)
        versions = await catalogue_versions(session)
    return {
        "user": user,
        "catalogue": central.catalogue,
        "versions": [(v, json.loads(v.change)) for v in versions],
        "actions": ACTIONS,
        "triggers": TRIGGERS,
        "error": None,
        "active": "catalogue",
    }


@get("/catalogue", media_type=MediaType.HTML)
async def catalogue_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request, "admin")
    return Template(template_name="catalogue.html", context=await _catalogue_context(request, user))


ROUTES = [api_catalogue_change, catalogue_page, catalogue_change_form]
