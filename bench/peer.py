"""The Hypercore peer (issue 20): the drain's anchor, measured on this machine in the same run.

`../shared/peers/hypercore` (beside the project; ``ONEWINDOW_HYPERCORE_PEER`` names another folder) holds a
Hypercore replication benchmark: N signed, Merkle-chained, encrypted blocks replicated between two processes over
loopback TCP. That folder may be read-only (CI), so it is copied into a build folder outside the repository
(``ONEWINDOW_BENCH_CACHE``, default ``~/.cache/onewindow-bench``) and its npm packages are installed there once;
later runs reuse them (``npm install --prefer-offline`` answers from npm's cache when it can).

Without ``node`` on PATH, or without the peer folder, the figure is skipped and the reason printed: nothing is
made up in its place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.harness import ROOT

PEER_FILES = ("bench.js", "package.json", ".npmrc", "README.md")


@dataclass(frozen=True)
class PeerRun:
    seconds: float
    blocks: int
    block_bytes: int
    verified: bool
    version: str
    raw: dict[str, object]


def peer_source() -> Path:
    return Path(os.environ.get("ONEWINDOW_HYPERCORE_PEER", ROOT.parent / "shared" / "peers" / "hypercore"))


def build_dir() -> Path:
    cache = os.environ.get("ONEWINDOW_BENCH_CACHE") or Path.home() / ".cache" / "onewindow-bench"
    return Path(cache) / "hypercore"


def prepare() -> Path | str:
    """The folder to run the peer in (copied, packages installed), or why it cannot run."""
    node = shutil.which("node")
    if node is None:
        return "node is not on PATH: the Hypercore peer is skipped"
    source = peer_source()
    if not (source / "bench.js").is_file():
        return f"no Hypercore peer at {source}: skipped"
    build = build_dir()
    build.mkdir(parents=True, exist_ok=True)
    changed = False
    for name in PEER_FILES:
        if not (source / name).is_file():
            continue
        data = (source / name).read_bytes()
        target = build / name
        if not target.is_file() or target.read_bytes() != data:
            target.unlink(missing_ok=True)  # the source may be read-only, and so its copy
            target.write_bytes(data)
            changed = changed or name == "package.json"
    if changed or not (build / "node_modules" / "hypercore").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            return "npm is not on PATH (the peer's packages cannot be installed): skipped"
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=build,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            return f"npm install failed for the Hypercore peer: {done.stderr.strip()[-300:]}"
    return build


def run_peer(build: Path, blocks: int, block_bytes: int) -> PeerRun:
    done = subprocess.run(
        ["node", "bench.js", "--blocks", str(blocks), "--bytes", str(block_bytes)],
        cwd=build,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"Hypercore peer failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    raw = json.loads(lines[-1])
    return PeerRun(
        seconds=float(raw["seconds"]),
        blocks=int(raw["n_blocks"]),
        block_bytes=int(raw["block_bytes"]),
        verified=bool(raw.get("verified")),
        version=str(raw.get("version", "")),
        raw=raw,
    )
