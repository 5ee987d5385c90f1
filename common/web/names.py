"""Words for people (issue 19): who did something, as a person reads it, never a raw account or process id.

Events and records name their actor by account (``clerk``), by process (``system:pid30714``, ``system:clock``)
or by authority (``central:county``). Pages show the staff member's display name, 「系统（…）」 for the
system's own jobs and 「县中心」 for the county. A page passes `people`: account → display name; at central a
node's staff are keyed ``<node id>/<account>`` (two centres may both have a ``clerk``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

#: The system's own jobs by the name they record; any other ``system:…`` (a routing job's process) is the
#: automatic routing of cases to departments.
SYSTEM_JOBS = {
    "system:archive": "系统（电子归档）",
    "system:clock": "系统（办理时限）",
    "system:sync": "系统（同步）",
}
SYSTEM_DEFAULT = "系统（自动分办）"
COUNTY = "县中心"
#: Accounts imported when the centre was set up (the county's provisioning tool).
PROVISIONING = "开通时导入"


def actor_label(actor: str | None, people: Mapping[str, str] | None = None, authority: str = "") -> str:
    """The display name of whoever `actor` is."""
    if not actor:
        return "—"
    if actor == "system" or actor.startswith("system:"):
        return SYSTEM_JOBS.get(actor, SYSTEM_DEFAULT)
    if actor.startswith("central:"):
        return COUNTY
    if actor == "provisioning":
        return PROVISIONING
    people = people or {}
    if authority and not authority.startswith("central:"):
        named = people.get(f"{authority}/{actor}")
        if named:
            return named
    return people.get(actor, actor)


def authority_label(authority: str | None, nodes: Mapping[str, str] | None = None) -> str:
    """Where a record was written: 「县中心」, or the centre's name."""
    if not authority:
        return "—"
    if authority.startswith("central:"):
        return COUNTY
    return (nodes or {}).get(authority, "便民服务中心")


@pass_context
def who(context: Context, actor: str | None, authority: str = "") -> str:
    """Jinja: ``{{ e.actor | who(e.authority) }}``, with the page's `people` (or the node's `names`)."""
    people: Any = context.get("people") or context.get("names")
    return actor_label(actor, people if isinstance(people, Mapping) else None, authority)


@pass_context
def source(context: Context, authority: str | None) -> str:
    """Jinja: ``{{ e.authority | source }}``, with the page's `node_names` or `nodes` (node id → centre name)."""
    nodes: Any = context.get("node_names") or context.get("nodes")
    return authority_label(authority, nodes if isinstance(nodes, Mapping) else None)


FILTERS = {"who": who, "source": source}
