"""Backups of a node or of central (备份与恢复): the on-disk layout both share, taking a generation, checking one,
pruning old ones. What goes in and how it is restored is each app's (`node.ops.backup`, `central.ops.backup`).

A backup directory (a USB stick, a NAS share) holds::

    DIR/blobs/ab/abcdef…            one file per blob, shared by every generation (blobs never change)
    DIR/blobs/index.jsonl           digest, size and SHA-256 of each blob file finished (what makes it resumable)
    DIR/generations/20261206T031500Z/
        state.tar.age               the database snapshot and the small files, one tar, age-encrypted
        manifest.json               what the generation holds: every file's SHA-256 and size, signed

* **Consistent and online**: the database is copied with SQLite's online backup API (one read transaction: the
  snapshot is the database at one instant, and writers are not blocked in WAL mode); blobs are copied *after*
  the snapshot, so every blob the snapshot names is there (blobs are written before the rows that name them).
* **Encrypted**: the state tar is age v1 (`protocol.age`) to the recipients the app chooses; each blob file is
  either copied as it lies (a node's are AES-256-GCM under its data key) or age-encrypted (central's).
* **Resumable**: blob files are written temp → rename and recorded in the index once whole; a run cut short
  (stick pulled, power cut) is simply run again and skips every blob already there.
* **Checked**: ``backup-verify`` re-reads every file against the manifest (no key needed), and checks the
  manifest's Ed25519 signature.
* **Generations**: after a good run, all but the newest ``keep`` generations are removed, then every blob no
  remaining manifest names.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from protocol import age
from protocol.canonical import canonical_json
from protocol.keys import SigningKey, VerifyKey, write_file_atomic

FORMAT = "onewindow-backup"
VERSION = 1
STATE_FILE = "state.tar.age"
MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.jsonl"
COPY_CHUNK = 1024 * 1024
#: Generations kept by default (a week of daily backups).
DEFAULT_KEEP = 7


class BackupError(Exception):
    """A backup that cannot be taken, checked or restored; the message says why (Chinese, shown as is)."""


@dataclass
class BackupReport:
    """What one backup run did."""

    generation: str
    path: Path
    blobs: int = 0
    blobs_copied: int = 0
    bytes_copied: int = 0
    blobs_skipped: int = 0
    blobs_vanished: int = 0
    pruned: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"备份完成：第 {self.generation} 代，共 {self.blobs} 个附件文件，本次复制 {self.blobs_copied} 个"
            f"（{self.bytes_copied / 1e6:.1f} MB），已有跳过 {self.blobs_skipped} 个"
            + (f"，删除旧的备份 {len(self.pruned)} 代" if self.pruned else "")
            + f"；位置 {self.path}"
        )


def sqlite_snapshot(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (WAL included), in one read transaction."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=10000")
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def state_files(
    data_dir: Path, *, database: str | None, excluded: set[str]
) -> Callable[[Path], list[tuple[Path, str]]]:
    """What goes into a generation's state tar: a consistent snapshot of the SQLite `database` (a file name in
    `data_dir`; None for none) taken into the scratch folder, then every other entry of `data_dir` not
    `excluded` and not hidden. Called at backup time with the scratch folder."""

    def collect(tmp: Path) -> list[tuple[Path, str]]:
        members: list[tuple[Path, str]] = []
        if database is not None:
            snapshot = tmp / database
            sqlite_snapshot(data_dir / database, snapshot)
            members.append((snapshot, database))
        for entry in sorted(data_dir.iterdir()):
            if entry.name not in excluded and not entry.name.startswith("."):
                members.append((entry, entry.name))
        return members

    return collect


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_stream(path: Path, fill: Callable[[BinaryIO], None]) -> tuple[str, int]:
    """Write a file temp → fsync → rename through `fill`; returns its SHA-256 and size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            hashing = _HashingWriter(handle)
            fill(cast(BinaryIO, hashing))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return hashing.digest.hexdigest(), hashing.size


class _HashingWriter:
    """A file's writer that hashes what goes through it: the backup reads each source once (on a two-core node,
    every pass over 200 MB of scans is time the windows wait for the CPU)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


class BlobEncoding:
    """How a blob file goes to the backup: `raw` copies it as it lies (already encrypted), `age` encrypts it."""

    def __init__(self, name: str, recipients: Iterable[bytes] = ()) -> None:
        self.name = name
        self.recipients = list(recipients)
        if name not in ("raw", "age") or (name == "age" and not self.recipients):
            raise ValueError(f"blob encoding {name!r}")

    def copy(self, source: Path, dst: BinaryIO) -> None:
        with source.open("rb") as src:
            if self.name == "age":
                age.encrypt_stream(src, dst, self.recipients)
            else:
                shutil.copyfileobj(src, dst, COPY_CHUNK)


def _encode_blob(encoding: BlobEncoding, source: Path, dst: BinaryIO) -> None:
    encoding.copy(source, dst)


def _generation_name(root: Path, now: datetime) -> str:
    base = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _read_index(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text("utf-8").splitlines():
            try:
                row = json.loads(line)
                done[row["digest"]] = {"sha256": row["sha256"], "size": int(row["size"])}
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a power cut: that blob is copied again
    return done


def blob_files(root: Path) -> dict[str, Path]:
    """Every blob file of a content-addressed store ``root/ab/abcdef…`` (temp files left out)."""
    found: dict[str, Path] = {}
    if root.is_dir():
        for shard in root.iterdir():
            if shard.is_dir() and len(shard.name) == 2:
                for file in shard.iterdir():
                    if file.is_file() and file.name.startswith(shard.name) and len(file.name) == 64:
                        found[file.name] = file
    return found


def take_backup(
    target: Path,
    *,
    kind: str,
    state_files: Callable[[Path], list[tuple[Path, str]]],
    state_recipients: list[bytes],
    blob_root: Path,
    blob_encoding: BlobEncoding,
    signer: SigningKey | None,
    facts: dict[str, Any],
    keep: int = DEFAULT_KEEP,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    scratch: Path,
) -> BackupReport:
    """Take one generation into `target`. `state_files(tmp)` writes what goes into the state tar (the database
    snapshot first: it runs before any blob is listed) and returns (path, name in the tar) pairs."""
    if keep < 1:
        raise BackupError("保留代数至少为 1")
    target.mkdir(parents=True, exist_ok=True)
    generations = target / "generations"
    generations.mkdir(exist_ok=True)
    name = _generation_name(generations, now())
    report = BackupReport(generation=name, path=target)
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="backup-") as tmp_name:
        tmp = Path(tmp_name)
        members = state_files(tmp)
        tar_path = tmp / "state.tar"
        with tarfile.open(tar_path, "w") as tar:
            for path, arcname in members:
                tar.add(path, arcname=arcname)
        staging = generations / f".{name}.part"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()

        def encrypt_state(dst: BinaryIO) -> None:
            with tar_path.open("rb") as src:
                age.encrypt_stream(src, dst, state_recipients)

        state_sha, state_size = _write_stream(staging / STATE_FILE, encrypt_state)

    # Blobs after the snapshot: every blob it names exists already (and is immutable).
    blob_dir = target / "blobs"
    blob_dir.mkdir(exist_ok=True)
    index_path = blob_dir / INDEX_FILE
    done = _read_index(index_path)
    blobs: dict[str, dict[str, Any]] = {}
    with index_path.open("a", encoding="utf-8") as index:
        for digest, source in sorted(blob_files(blob_root).items()):
            dest = blob_dir / digest[:2] / digest
            known = done.get(digest)
            if known is not None and dest.exists() and dest.stat().st_size == known["size"]:
                blobs[digest] = known
                report.blobs_skipped += 1
                continue
            try:
                sha, size = _write_stream(dest, functools.partial(_encode_blob, blob_encoding, source))
            except FileNotFoundError:
                report.blobs_vanished += 1  # purged after central confirmed its archive copy
                continue
            blobs[digest] = {"sha256": sha, "size": size}
            index.write(json.dumps({"digest": digest, "sha256": sha, "size": size}) + "\n")
            index.flush()
            report.blobs_copied += 1
            report.bytes_copied += size
    report.blobs = len(blobs)

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "generation": name,
        "created_at": now().astimezone(UTC).isoformat(),
        **facts,
        "state": {"file": STATE_FILE, "sha256": state_sha, "size": state_size},
        "blob_encoding": blob_encoding.name,
        "blobs": blobs,
    }
    if signer is not None:
        manifest["signed_by"] = signer.verify_key.to_text()
        manifest["signature"] = base64.b64encode(signer.sign(canonical_json(manifest))).decode("ascii")
    write_file_atomic(staging / MANIFEST_FILE, json.dumps(manifest, indent=1).encode("utf-8"))
    os.replace(staging, generations / name)
    _fsync_dir(generations)
    report.pruned = prune(target, keep)
    return report


def list_generations(target: Path) -> list[str]:
    """Finished generations, oldest first (a `.part` one, cut short, is not a generation)."""
    root = target / "generations"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / MANIFEST_FILE).exists())


def read_manifest(target: Path, generation: str | None = None) -> dict[str, Any]:
    """The manifest of `generation` (default: the newest)."""
    names = list_generations(target)
    if not names:
        raise BackupError(f"{target} 里没有完整的备份")
    name = generation or names[-1]
    if name not in names:
        raise BackupError(f"{target} 里没有第 {name} 代备份（有：{'、'.join(names)}）")
    try:
        manifest: dict[str, Any] = json.loads(
            (target / "generations" / name / MANIFEST_FILE).read_text("utf-8")
        )
    except ValueError as exc:
        raise BackupError(f"第 {name} 代备份的清单已损坏") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"第 {name} 代备份的清单不是本系统的备份格式")
    return manifest


def prune(target: Path, keep: int) -> list[str]:
    """Remove all but the newest `keep` generations, then the blobs no remaining manifest names."""
    names = list_generations(target)
    removed = names[:-keep] if len(names) > keep else []
    for name in removed:
        shutil.rmtree(target / "generations" / name)
    for leftover in (target / "generations").glob(".*.part"):
        shutil.rmtree(leftover, ignore_errors=True)
    wanted: set[str] = set()
    for name in list_generations(target):
        wanted.update(read_manifest(target, name)["blobs"])
    blob_dir = target / "blobs"
    files = blob_files(blob_dir)
    if removed or set(files) - wanted:
        for digest, path in files.items():
            if digest not in wanted:
                path.unlink(missing_ok=True)
        done = _read_index(blob_dir / INDEX_FILE)
        lines = [json.dumps({"digest": d, **row}) + "\n" for d, row in sorted(done.items()) if d in wanted]
        write_file_atomic(blob_dir / INDEX_FILE, "".join(lines).encode("utf-8"))
    return removed


def verify_backup(target: Path, generation: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Re-read a generation against its manifest; returns (manifest, problems), problems empty when sound."""
    manifest = read_manifest(target, generation)
    name = manifest["generation"]
    problems: list[str] = []
    if "signature" in manifest:
        body = {k: v for k, v in manifest.items() if k not in ("signature",)}
        try:
            key = VerifyKey.from_text(manifest["signed_by"])
            good = key.verify(base64.b64decode(manifest["signature"]), canonical_json(body))
        except (ValueError, KeyError):
            good = False
        if not good:
            problems.append("清单签名不对：清单在备份后被改过")
    state = target / "generations" / name / manifest["state"]["file"]
    if not state.exists():
        problems.append(f"缺少 {state.name}")
    elif _sha256_file(state) != manifest["state"]["sha256"]:
        problems.append(f"{state.name} 与清单不符（已损坏或被改过）")
    for digest, row in sorted(manifest["blobs"].items()):
        path = target / "blobs" / digest[:2] / digest
        if not path.exists():
            problems.append(f"缺少附件文件 {digest[:12]}…")
        elif path.stat().st_size != row["size"] or _sha256_file(path) != row["sha256"]:
            problems.append(f"附件文件 {digest[:12]}… 与清单不符（已损坏或被改过）")
    return manifest, problems


def open_state(target: Path, manifest: dict[str, Any], identities: list[bytes], into: Path) -> list[str]:
    """Decrypt a generation's state tar with `identities` and unpack it into `into`; returns the names."""
    state = target / "generations" / manifest["generation"] / manifest["state"]["file"]
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=into, prefix=".restore-") as tmp_name:
        plain = Path(tmp_name) / "state.tar"
        try:
            with state.open("rb") as src, plain.open("wb") as dst:
                age.decrypt_stream(src, dst, identities)
        except age.AgeError as exc:
            raise BackupError(f"无法解密备份（密钥不是这个节点的，或备份已损坏）：{exc}") from exc
        with tarfile.open(plain, "r") as tar:
            names = tar.getnames()
            tar.extractall(into, filter="data")
    return names


def restore_blobs(
    target: Path,
    manifest: dict[str, Any],
    into: Path,
    decode: Callable[[Path, BinaryIO], None],
) -> int:
    """Write every blob of the generation into the store ``into/ab/abcdef…`` through `decode`, after checking
    the file against the manifest; returns how many."""
    count = 0
    for digest, row in sorted(manifest["blobs"].items()):
        source = target / "blobs" / digest[:2] / digest
        if not source.exists() or _sha256_file(source) != row["sha256"]:
            raise BackupError(f"附件文件 {digest[:12]}… 缺失或与清单不符；请先运行 backup-verify")
        _write_stream(into / digest[:2] / digest, functools.partial(decode, source))
        count += 1
    return count


def snapshot_before_migration(db_path: Path, script_location: Path) -> Path | None:
    """Before migrating an existing SQLite database forward (an upgrade), copy it to
    ``<dir>/backups/<name>.before-<head>.<time>`` with the online backup API; returns the copy, or None when
    there is nothing to migrate (a new database, or one already at the newest schema)."""
    from common.migrations import newest_revisions

    if not db_path.exists() or db_path.stat().st_size == 0:
        return None
    heads = set(newest_revisions(script_location))
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        try:
            current = {row[0] for row in db.execute("SELECT version_num FROM alembic_version")}
        except sqlite3.OperationalError:
            current = set()
    db.close()
    if not current or current == heads:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    copy = db_path.parent / "backups" / f"{db_path.name}.before-{'-'.join(sorted(heads))}.{stamp}"
    copy.parent.mkdir(exist_ok=True, mode=0o700)
    sqlite_snapshot(db_path, copy)
    os.chmod(copy, 0o600)
    return copy
