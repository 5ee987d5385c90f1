"""Central's web plumbing shared by every route module: the app's shared state (`central_of`), the logged-in
back-office user and the role each handler requires (`current_user`), the problem responses of the error
catalogue (``application/problem+json``, or the login page for a browser that lost its session), and the
template filters the pages use. `current_user` and the problem responses are both apps' (`common.web`).

The login itself, and the guard that refuses stale sessions before any handler runs, are the county's
(`central.county.auth_routes`)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.plugins.jinja import JinjaTemplateEngine

from central.runtime import Central
from common.web.names import FILTERS as NAME_FILTERS
from common.web.problems import ProblemResponses
from common.web.session import current_user
from protocol.events import EVENT_LABELS
from protocol.hall import HALL_EVENT_LABELS
from protocol.hlc import local_display, to_datetime


def central_of(request: Request[Any, Any, State]) -> Central:
    """What the handlers share (set up by the app's lifespan)."""
    central: Central = request.app.state.central
    return central


#: The problem responses of central: `/api/` and the nodes' `/sync/` are API clients, never sent to the login page.
PROBLEMS = ProblemResponses(api_prefixes=("/api/", "/sync/"))


def template_setup(engine: JinjaTemplateEngine) -> None:
    """The filters and labels every page uses: China time for UTC stamps and HLC stamps, event labels."""
    engine.engine.filters.update(
        local=local_display,
        hlc_local=lambda stamp: local_display(to_datetime(stamp).isoformat(), seconds=True),
        **NAME_FILTERS,  # who / source: display names, never raw accounts (issue 19)
    )
    engine.engine.globals.update(event_labels={**EVENT_LABELS, **HALL_EVENT_LABELS})


__all__ = ["PROBLEMS", "central_of", "current_user", "template_setup"]
