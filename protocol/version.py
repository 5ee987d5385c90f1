"""Protocol version and its dated history: what changed on the wire between node, central and provisioning; and
the compatibility rule between a node and central of different releases.

**The rule** (README, "Backups and upgrades"):

* Every sync request of a node carries ``X-OW-Protocol: <its PROTOCOL_VERSION>``; every answer of central
  carries its own. A node from before the header existed (release 763f937 and older) is version 1.
* Central talks to every node whose version lies in ``[MIN_NODE_PROTOCOL, PROTOCOL_VERSION]``. A release that
  changes the wire raises PROTOCOL_VERSION and keeps reading the versions before it; MIN_NODE_PROTOCOL rises
  only when the county has upgraded every node past it — nodes stay offline for weeks and come back on the
  version they left with. Central refuses any other node's request with OW-1222 (HTTP 426) naming both
  versions; the node shows it on its sync page and central's 节点 page lists the node as needing an upgrade.
  Nothing the node holds is lost: its queue waits, untouched, for the upgrade.
* A node talks to central whose version is at least ``MIN_CENTRAL_PROTOCOL``: upgrade central first. A node
  that finds central older stops its round and says so on its sync page, sending nothing central cannot read.
"""

from __future__ import annotations

PROTOCOL_VERSION = 1
#: The oldest node version central talks to.
MIN_NODE_PROTOCOL = 1
#: The oldest central version a node talks to.
MIN_CENTRAL_PROTOCOL = 1
#: Request and answer header naming the sender's protocol version.
HEADER_PROTOCOL = "x-ow-protocol"
#: Request header naming the node's software release (shown on the 节点 page; no rule depends on it).
HEADER_SOFTWARE = "x-ow-software"
#: What a peer that sends no header speaks: the version before the header was introduced.
UNSTATED_VERSION = 1

#: (version, date, change). Append only; a node and central refuse entries from a version they do not know.
HISTORY: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "2026-11-22",
        "First version: age v1 (X25519) entry ciphertext, Ed25519 entry and receipt signatures, "
        "SHA-256 hash chain over canonical JSON headers, UUIDv7 event ids, 64-bit hybrid logical clocks. "
        "(2026-12-06: the X-OW-Protocol header on sync requests and answers, optional; absent means 1.)",
    ),
)


def stated_version(header: str | None) -> int | None:
    """The version a peer states in its header (`UNSTATED_VERSION` when it sends none); None when malformed."""
    if header is None or header == "":
        return UNSTATED_VERSION
    text = header.strip()
    if not text.isdigit() or len(text) > 6:
        return None
    return int(text)


def node_too_old(node_version: int | None, software: str = "") -> str | None:
    """Central's refusal of a node's version (Chinese, shown on both ends), or None when central talks to it."""
    if node_version is not None and MIN_NODE_PROTOCOL <= node_version <= PROTOCOL_VERSION:
        return None
    release = f"（软件 {software}）" if software else ""
    if node_version is None:
        return f"节点声明的协议版本无法识别{release}：请按县里的说明升级节点软件"
    if node_version < MIN_NODE_PROTOCOL:
        return (
            f"节点软件版本过旧{release}：节点协议 v{node_version}，县中心只接受 v{MIN_NODE_PROTOCOL}–"
            f"v{PROTOCOL_VERSION}。请升级节点软件；本机数据全部保留，升级后自动上传。"
        )
    return (
        f"节点软件比县中心新{release}：节点协议 v{node_version}，县中心只认识到 v{PROTOCOL_VERSION}。"
        "请县里先升级县中心；本机数据全部保留，县中心升级后自动上传。"
    )


def central_too_old(central_version: int | None) -> str | None:
    """A node's refusal of central's version (Chinese, for the sync page), or None when the node talks to it."""
    if central_version is not None and central_version >= MIN_CENTRAL_PROTOCOL:
        return None
    shown = f"v{central_version}" if central_version is not None else "无法识别"
    return (
        f"县中心软件版本过旧：县中心协议 {shown}，本节点需要 v{MIN_CENTRAL_PROTOCOL} 或更新。"
        "请县里先升级县中心；本机数据全部保留，县中心升级后自动上传。"
    )
