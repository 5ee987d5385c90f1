"""Opening an enrolled node's data directory into a running `NodeRuntime`: the one place that wires the runtime's
parts together — the migrated, at-rest-encrypted database, the blob store, the hybrid clock resumed after the
newest stored event, the catalogues, the up log's sealer — and finishes a node key rotation a restart cut short.

It sits above the sync package (it hands the runtime its sealer and restores the rotation state), and below
everything that runs a node: the app, the CLI, enrolment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from node.blobs import BlobStore
from node.db import Database, migrate
from node.events import project_case
from node.models import Case, CaseEvent
from node.runtime import NodeRuntime, utc_now
from node.schema import NODE_METADATA
from node.sync.keys import restore_rotation_state
from node.sync.log import seal_pending
from node.trust.atrest import encrypt_plaintext_rows
from node.trust.identity import NodeIdentity, load_identity
from protocol.hlc import HybridClock


async def open_runtime(
    data_dir: Path,
    *,
    key_dir: Path | None = None,
    identity: NodeIdentity | None = None,
    now: Callable[[], datetime] = utc_now,
) -> NodeRuntime:
    """Open an enrolled node's data directory (migrating its database to the newest schema, and encrypting what
    an older version left in plaintext). The keys come from `identity` when given (already unsealed), else
    from `key_dir` (default: beside the data directory, `node.trust.identity.keys_dir`)."""
    identity = identity or load_identity(data_dir, key_dir)
    db_path = data_dir / "node.db"
    migrate(db_path)
    encrypt_plaintext_rows(db_path, identity.data_key, NODE_METADATA)
    db = Database(db_path, data_key=identity.data_key)
    async with db.read() as session:
        last = (await session.exec(select(func.max(CaseEvent.hlc)))).one() or 0

    def now_ms() -> int:
        return int(now().timestamp() * 1000)

    runtime = NodeRuntime(
        data_dir=data_dir,
        identity=identity,
        db=db,
        blobs=BlobStore(data_dir / "blobs", identity.data_key),
        clock=HybridClock(now_ms=now_ms, last=int(last)),
        sealer=seal_pending,
        now=now,
    )
    await runtime.reload_catalogues()
    await restore_rotation_state(runtime)
    await _hash_applicant_ids(runtime)
    return runtime


async def _hash_applicant_ids(runtime: NodeRuntime) -> None:
    """Cases received before the case list kept the applicant's keyed ID hash get it now (once: a projected
    case always has one from then on)."""
    async with runtime.db.read() as session:
        missing = (await session.exec(select(Case.case_id).where(Case.applicant_id_hash == ""))).all()
    if not missing:
        return
    async with runtime.db.write() as session:
        for case_id in missing:
            await project_case(session, case_id, id_key=runtime.identity.data_key)
