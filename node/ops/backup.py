"""A node's backups (节点备份): `onewindow node backup`, `backup-verify`, `restore`, and the key export for the
county's safe (`export-keys`, `import-keys`). The layout and the engine are `common.backup`'s.

What a node's backup holds, and how it is protected:

* the state tar: a consistent snapshot of ``node.db`` (SQLite online backup API) and the small files of the
  data directory (``node.json``, courier files); age-encrypted to **the node's own age recipient and the
  county's** — the node (with its key directory) restores it, and the county's key opens it too
  (``age -d -i COUNTY/keys/county.agekey state.tar.age``) should the node's keys be lost with the machine;
* the blobs (scans, ID photos, notices, result documents, archive packages), copied **as they lie**: each is
  already AES-256-GCM under the node's data key, bound to its digest;
* not the keys: a backup alone opens nothing (R-SEC-1). ``export-keys`` seals the key directory with a
  passphrase into one file for the county's safe, kept apart from the backup stick.
* not the upload spools and half-fetched downloads: they are made again from the blobs and by central.

Restore puts the snapshot and the blobs into a fresh data directory; the node then reconciles with central at
its first sync (what it lost since the backup comes back from central, what central lacks is sent again).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from common.backup import (
    DEFAULT_KEEP,
    BackupError,
    BackupReport,
    BlobEncoding,
    open_state,
    read_manifest,
    restore_blobs,
    state_files,
    take_backup,
    verify_backup,
)
from node.trust.identity import KEY_FILES, NodeIdentity, key_lines, keys_dir
from node.trust.keyseal import Unsealer, read_key_file
from protocol.keys import AgeIdentity, SigningKey, write_file_atomic

#: What of the data directory never goes into the state tar: the database (its snapshot does), the blobs (copied
#: one by one), what is made again (upload spools, partial downloads), scratch, pre-migration copies, and a key
#: directory left inside by an old layout (keys never go into a backup).
EXCLUDED = {
    "node.db",
    "node.db-wal",
    "node.db-shm",
    "blobs",
    "spool",
    "down",
    "keys",
    ".backup-tmp",
    "backups",
}
SCRATCH = ".backup-tmp"

KEY_EXPORT_FORMAT = "onewindow-key-export"
#: scrypt cost of a key export: 64 MiB, about a quarter second; it is opened once, at a restore.
EXPORT_N, EXPORT_R, EXPORT_P = 2**16, 8, 1


def backup_node(
    data_dir: Path,
    target: Path,
    identity: NodeIdentity,
    *,
    keep: int = DEFAULT_KEEP,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackupReport:
    """Take one generation of the node at `data_dir` into `target` while the node runs."""
    if not (data_dir / "node.json").exists() or not (data_dir / "node.db").exists():
        raise BackupError(f"{data_dir} 不是已注册节点的数据目录")
    if target.absolute() == data_dir.absolute() or data_dir.absolute() in target.absolute().parents:
        raise BackupError("备份目录不能放在数据目录里面（数据盘坏了，备份也就没了）")
    return take_backup(
        target,
        kind="node",
        state_files=state_files(data_dir, database="node.db", excluded=EXCLUDED),
        state_recipients=[identity.age_identity.recipient.raw, identity.county_recipient.raw],
        blob_root=data_dir / "blobs",
        blob_encoding=BlobEncoding("raw"),
        signer=identity.signing_key,
        facts={
            "node_id": identity.node_id,
            "node_name": identity.name,
            "sign_key": identity.sign_key.to_text(),
        },
        keep=keep,
        now=now,
        scratch=data_dir / SCRATCH,
    )


def verify_node_backup(target: Path, generation: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Check a generation against its manifest (no key needed); the manifest must be the node's own signature."""
    manifest, problems = verify_backup(target, generation)
    if manifest.get("kind") != "node":
        problems.append("这不是节点的备份")
    elif manifest.get("signed_by") != manifest.get("sign_key"):
        problems.append("清单不是由该节点签名的")
    return manifest, problems


def _copy(source: Path, dst: BinaryIO) -> None:
    with source.open("rb") as src:
        shutil.copyfileobj(src, dst, 1024 * 1024)


def restore_node(
    source: Path,
    data_dir: Path,
    *,
    key_dir: Path | None = None,
    passphrase: str | None = None,
    generation: str | None = None,
) -> dict[str, Any]:
    """Restore a generation into a fresh data directory, with the node's keys already in `key_dir` (put there
    by `import_keys`); returns the manifest. The database is migrated forward when the node next opens it."""
    manifest, problems = verify_node_backup(source, generation)
    if problems:
        raise BackupError("备份校验不通过，未恢复：" + "；".join(problems))
    if (data_dir / "node.json").exists() or (data_dir / "node.db").exists():
        raise BackupError(f"{data_dir} 已经有节点数据；请恢复到一个新的空目录")
    keys = keys_dir(data_dir, key_dir)
    unsealer = Unsealer(passphrase)
    try:
        signing = [
            SigningKey.from_text(k) for k in key_lines(read_key_file(keys / "node-sign.key", unsealer))
        ]
        ages = [AgeIdentity.from_text(k) for k in key_lines(read_key_file(keys / "node.agekey", unsealer))]
    except FileNotFoundError as exc:
        raise BackupError(
            f"{keys} 里没有节点密钥：先用 onewindow node import-keys 从县里保管的密钥文件导入"
        ) from exc
    if manifest["sign_key"] not in {k.verify_key.to_text() for k in signing}:
        raise BackupError(f"{keys} 里的密钥不是备份中节点（{manifest['node_name']}）的密钥，不能用来恢复它")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    open_state(source, manifest, [a.raw for a in ages], data_dir)
    restore_blobs(source, manifest, data_dir / "blobs", _copy)
    return manifest


# ---- the key directory, sealed with a passphrase for the county's safe --------------------------------------


def _export_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def export_keys(data_dir: Path, key_dir: Path | None, out: Path, passphrase: str) -> list[str]:
    """Seal the node's key files (as they lie: sealed ones stay sealed) into one file `out` with `passphrase`
    (scrypt, ChaCha20-Poly1305, the header as associated data); returns the files' names."""
    keys = keys_dir(data_dir, key_dir)
    names = [name for name in KEY_FILES if (keys / name).exists()]
    if len(names) != len(KEY_FILES):
        raise BackupError(f"{keys} 里的节点密钥不全")
    node = json.loads((data_dir / "node.json").read_text("utf-8"))
    payload = json.dumps(
        {name: (keys / name).read_text("utf-8") for name in names}, ensure_ascii=False
    ).encode("utf-8")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = {
        "format": KEY_EXPORT_FORMAT,
        "version": 1,
        "node_id": node["node_id"],
        "node_name": node["name"],
        "kdf": "scrypt",
        "n": EXPORT_N,
        "r": EXPORT_R,
        "p": EXPORT_P,
        "salt": base64.b64encode(salt).decode("ascii"),
        "cipher": "ChaCha20-Poly1305",
    }
    aad = json.dumps(header, sort_keys=True).encode("utf-8")
    key = _export_key(passphrase, salt, EXPORT_N, EXPORT_R, EXPORT_P)
    sealed = ChaCha20Poly1305(key).encrypt(nonce, payload, aad)
    body = {
        **header,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ciphertext": base64.b64encode(sealed).decode("ascii"),
    }
    write_file_atomic(out, json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"), mode=0o600)
    return names


def import_keys(source: Path, keys: Path, passphrase: str) -> dict[str, Any]:
    """Open a key export with `passphrase` and write its key files into `keys` (0700, files 0600); refuses to
    overwrite keys already there. Returns the export's header (node id and name)."""
    try:
        body = json.loads(source.read_text("utf-8"))
        header = {
            k: body[k]
            for k in ("format", "version", "node_id", "node_name", "kdf", "n", "r", "p", "salt", "cipher")
        }
        if header["format"] != KEY_EXPORT_FORMAT or header["version"] != 1:
            raise ValueError(header["format"])
        if not 2**14 <= int(header["n"]) <= 2**20:
            raise ValueError("scrypt cost")
        salt = base64.b64decode(header["salt"])
        nonce, sealed = base64.b64decode(body["nonce"]), base64.b64decode(body["ciphertext"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{source} 不是节点密钥导出文件，或已损坏") from exc
    aad = json.dumps(header, sort_keys=True).encode("utf-8")
    key = _export_key(passphrase, salt, int(header["n"]), int(header["r"]), int(header["p"]))
    try:
        files: dict[str, str] = json.loads(ChaCha20Poly1305(key).decrypt(nonce, sealed, aad))
    except InvalidTag as exc:
        raise BackupError("口令不对，或密钥导出文件已被改过；未写入任何密钥") from exc
    if sorted(files) != sorted(KEY_FILES):
        raise BackupError(f"{source} 里的密钥文件不全")
    existing = [name for name in KEY_FILES if (keys / name).exists()]
    if existing:
        raise BackupError(f"{keys} 已有节点密钥（{'、'.join(existing)}）；不会覆盖，请换一个密钥目录")
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(keys, 0o700)
    for name, text in files.items():
        write_file_atomic(keys / name, text.encode("utf-8"), mode=0o600)
    return header


def describe(target: Path, generation: str | None = None) -> dict[str, Any]:
    """The manifest of a generation, for the CLI's listing."""
    return read_manifest(target, generation)
