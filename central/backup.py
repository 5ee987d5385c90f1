"""Central's backups for the SQLite default (县中心备份): `onewindow central backup --to DIR`, `backup-verify` and
`restore`, on the layout and engine of `common.backup`. A PostgreSQL central is backed up with the database's
own tools (``pg_dump`` or base backup + WAL archiving, README) and this command for the blob directory only
(``--blobs-only``).

Central's blobs (scans from the nodes, result documents) lie in plaintext on its disk, so each is
age-encrypted to the county's recipient on its way to the backup, as is the state tar (the database snapshot and
the small files). The manifest is signed by the county's key. Restoring needs the county directory's keys
(``COUNTY/keys``, kept offline by the county). After a restore, every node's next sync repairs what central lost
since the backup (nodes resend; `tests/integration/test_sync_reconcile.py`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from central.keys import load_county
from common.backup import (
    DEFAULT_KEEP,
    BackupError,
    BackupReport,
    BlobEncoding,
    open_state,
    restore_blobs,
    state_files,
    take_backup,
    verify_backup,
)
from protocol import age

#: Never in the state tar: the database (its snapshot is), the blobs (one by one), unfinished uploads and the
#: down spool (made again), scratch, pre-migration copies.
EXCLUDED = {"central.db", "central.db-wal", "central.db-shm", "blobs", "uploads", "down-spool", "backups"}
SCRATCH = ".backup-tmp"


def backup_central(
    data_dir: Path,
    county_dir: Path,
    target: Path,
    *,
    keep: int = DEFAULT_KEEP,
    blobs_only: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackupReport:
    """Take one generation of central's data directory (its SQLite database unless `blobs_only`)."""
    if not blobs_only and not (data_dir / "central.db").exists():
        raise BackupError(
            f"{data_dir} 里没有 central.db；PostgreSQL 请用 pg_dump 备份数据库，并加 --blobs-only"
        )
    county = load_county(county_dir)
    recipient = county.age_identities[0].recipient.raw
    return take_backup(
        target,
        kind="central",
        state_files=state_files(data_dir, database=None if blobs_only else "central.db", excluded=EXCLUDED),
        state_recipients=[recipient],
        blob_root=data_dir / "blobs",
        blob_encoding=BlobEncoding("age", [recipient]),
        signer=county.signing_key,
        facts={"county": county.name, "database": "postgresql" if blobs_only else "sqlite"},
        keep=keep,
        now=now,
        scratch=data_dir / SCRATCH,
    )


def verify_central_backup(target: Path, generation: str | None = None) -> tuple[dict[str, Any], list[str]]:
    manifest, problems = verify_backup(target, generation)
    if manifest.get("kind") != "central":
        problems.append("这不是县中心的备份")
    return manifest, problems


def restore_central(
    source: Path, data_dir: Path, county_dir: Path, *, generation: str | None = None
) -> dict[str, Any]:
    """Restore a generation into a fresh data directory with the county's keys; returns the manifest."""
    manifest, problems = verify_central_backup(source, generation)
    if problems:
        raise BackupError("备份校验不通过，未恢复：" + "；".join(problems))
    if (data_dir / "central.db").exists() or (data_dir / "blobs").exists():
        raise BackupError(f"{data_dir} 已经有县中心数据；请恢复到一个新的空目录")
    county = load_county(county_dir)
    if manifest.get("signed_by") not in {k.verify_key.to_text() for k in county.signers.values()}:
        raise BackupError("这份备份不是本县的县中心备份")
    identities = [i.raw for i in county.age_identities]
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    open_state(source, manifest, identities, data_dir)

    def decrypt(path: Path, dst: BinaryIO) -> None:
        with path.open("rb") as src:
            age.decrypt_stream(src, dst, identities)

    restore_blobs(source, manifest, data_dir / "blobs", decrypt)
    shutil.rmtree(data_dir / SCRATCH, ignore_errors=True)
    return manifest
