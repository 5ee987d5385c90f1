"""The fleet page and API (节点, R-PROV-5): where every node stands with the county, revoking a node (吊销), and
the review of what a revoked node sent after its revocation (复核隔离条目). Thin handlers over
`central.county.fleet` and `central.county.review`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, PathParameter
from litestar.response import Redirect, Template

from central.catalogue.calendar import missing_calendar
from central.clock import cst_date, utc_iso, utc_now
from central.county import review
from central.county.fleet import fleet, quarantine_list, revoke_node
from central.county.schemas import FleetAnswer
from central.sync.versions import protocol_refusals
from central.web import central_of, current_user
from protocol.errors import NOT_FOUND, OneWindowError
from protocol.limits import MAX_ROW_ID


@get("/api/v1/nodes", media_type=MediaType.JSON)
async def api_nodes(request: Request[Any, Any, State]) -> FleetAnswer:
    current_user(request, "admin", "supervisor", "reviewer")
    async with central_of(request).db.transaction() as session:
        rows = await fleet(session, refusals=protocol_refusals(central_of(request)))
    return FleetAnswer(nodes=[row.to_dict() for row in rows])


@get("/fleet", media_type=MediaType.HTML)
async def fleet_page(request: Request[Any, Any, State]) -> Template:
    user = current_user(request)
    central = central_of(request)
    async with central.db.transaction() as session:
        rows = await fleet(
            session, county_key=central.county.fingerprint, refusals=protocol_refusals(central)
        )
        quarantined = await quarantine_list(session)
    names = {row.node.node_id: row.node.name for row in rows}
    return Template(
        template_name="fleet.html",
        context={
            "user": user,
            "rows": rows,
            "quarantined": quarantined,
            "names": names,
            "active": "fleet",
            "county_fingerprint": central.county.fingerprint,
            # The county admin publishes the calendar; nobody else can act on the warning.
            "calendar_warning": missing_calendar(
                central.settings.county_dir, cst_date(request.app.state.get("now", utc_now)())
            )
            if user["role"] == "admin"
            else "",
        },
    )


@post("/fleet/{node_id:str}/revoke", media_type=MediaType.HTML, status_code=200)
async def fleet_revoke(request: Request[Any, Any, State], node_id: FromPath[str]) -> Response[Any]:
    """吊销节点 (R-PROV-4): its new entries are quarantined from its next contact; nothing is deleted."""
    current_user(request, "admin")
    central = central_of(request)
    form = await request.form()
    async with central.db.transaction() as session:
        await revoke_node(
            session,
            central.settings.county_dir,
            node_id,
            reason=str(form.get("reason", "")),
            now=utc_now().isoformat(),
        )
    await central.refresh_registry()
    return Redirect(path="/fleet")


@post("/fleet/quarantine/{quarantine_id:int}/{verdict:str}", media_type=MediaType.HTML, status_code=200)
async def fleet_review(
    request: Request[Any, Any, State],
    quarantine_id: Annotated[int, PathParameter(ge=0, le=MAX_ROW_ID)],
    verdict: FromPath[str],
) -> Response[Any]:
    """复核隔离条目: release (apply) or reject what a revoked node sent after its revocation."""
    user = current_user(request, "admin")
    central = central_of(request)
    note = str((await request.form()).get("note", ""))
    now = utc_iso()
    async with central.db.transaction() as session:
        if verdict == "release":
            await review.release(
                session, central.county, quarantine_id, actor=user["username"], note=note, now=now
            )
        elif verdict == "reject":
            await review.reject(session, quarantine_id, actor=user["username"], note=note, now=now)
        else:
            raise OneWindowError(NOT_FOUND, f"未知的复核结论 {verdict}", field="verdict")
    return Redirect(path="/fleet#quarantine")


ROUTES = [api_nodes, fleet_page, fleet_revoke, fleet_review]
