"""The protocol compatibility rule at central (`protocol.version`): every node's sync request states its version;
one outside what central accepts is refused with OW-1222 (HTTP 426) and a Chinese reason the node shows on its
sync page, and kept in memory for the 节点 page until that node next talks in a version central accepts.

The refusal comes before the request's signature is checked (a node too old may sign in a way central no longer
reads). So a stranger could make a node *look* too old on the 节点 page: only for a node the registry knows, and
only until that node's next round (every few seconds when it is online) clears it. Nothing is refused for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from central.models import NodeRecord
from central.runtime import Central
from protocol import version as wire
from protocol.errors import NODE_PROTOCOL_REFUSED, OneWindowError
from protocol.requests import HEADER_NODE
from protocol.version import HEADER_PROTOCOL, HEADER_SOFTWARE, PROTOCOL_VERSION, node_too_old, stated_version

#: The most refusals kept (one per node; a county has at most 99 nodes by its numbering).
MAX_REFUSALS = 1000


@dataclass(frozen=True)
class ProtocolRefusal:
    """A node central last refused for its version: what it stated, when, and what it was told."""

    version: int | None
    software: str
    at: str
    reason: str

    @property
    def short(self) -> str:
        """What the 节点 page's attention badge says (the whole reason is what the node was told)."""
        if self.version is None:
            return "协议版本无法识别，需升级节点软件"
        if self.version < wire.MIN_NODE_PROTOCOL:  # read now: a release (or a test) may move it
            return f"需升级节点软件（节点协议 v{self.version}）"
        return f"需先升级县中心（节点协议 v{self.version}）"


async def check_node_protocol(central: Central, headers: Mapping[str, str], now_iso: str) -> None:
    """Raise OW-1222 for a sync request whose stated protocol version central does not talk; remember the
    refusal (or forget an earlier one) for the node named in the request, when the registry knows it."""
    refusals: dict[str, Any] = central.protocol_refusals
    node_id = headers.get(HEADER_NODE, "")
    software = headers.get(HEADER_SOFTWARE, "")[:40]
    version = stated_version(headers.get(HEADER_PROTOCOL))
    reason = node_too_old(version, software)
    if reason is None:
        refusals.pop(node_id, None)
        return
    if node_id and (node_id in refusals or len(refusals) < MAX_REFUSALS):
        async with central.db.transaction() as session:
            known = await session.get(NodeRecord, node_id) is not None
        if known:
            refusals[node_id] = ProtocolRefusal(version, software, now_iso, reason)
    raise OneWindowError(NODE_PROTOCOL_REFUSED, reason, field=HEADER_PROTOCOL)


def protocol_refusals(central: Central) -> dict[str, ProtocolRefusal]:
    """The nodes central refused for their version since it started (node id → refusal), for the 节点 page."""
    return dict(central.protocol_refusals)


PROTOCOL_HEADER = (HEADER_PROTOCOL.encode("ascii"), str(PROTOCOL_VERSION).encode("ascii"))
