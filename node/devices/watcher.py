"""The scan hot folder (扫描热文件夹, R-DEV-2): notice files a scanner or document camera drops into a folder, and
hand each one over exactly once, only when it is complete.

watchfiles cannot tell that a writer closed a file (devices.md §4.1), so completeness is inferred:

- a PDF, JPEG or PNG whose head is right and whose end marker (``%%EOF``, ``FF D9``, ``IEND``) is there, and whose
  size and mtime have not moved for ``fast_quiet_s``, is complete — this is also how rename-into-place lands;
- the same formats without their end marker are still being written, however long the writer pauses (a sheet
  feeder between pages); only after ``incomplete_s`` of silence are they handed over (to be quarantined);
- anything else (TIFF, a file whose content is not what its name says) is complete after ``quiet_s`` of silence.

Temp files (``*.tmp``, ``~$*``, ``.part``, hidden files …) are ignored. Files already there at start-up are picked
up by a scan, and the folder is rescanned periodically (inotify can overflow). A file name that is not UTF-8 (GBK
from an old Windows or SMB client) kills watchfiles' Rust watcher: the name is renamed to its GB18030 reading
(``renamed-扫描件.pdf``), the watcher restarted and the folder rescanned. This is the only module that imports
watchfiles.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchfiles import Change, awatch
from watchfiles._rust_notify import WatchfilesRustInternalError

log = logging.getLogger(__name__)

IGNORED_PATTERNS = (
    "*.tmp",
    "*.temp",
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.download",
    "~$*",
    ".~lock.*",
    ".*",
    "*~",
    "*.swp",
    "thumbs.db",
    "desktop.ini",
)
EXTENSIONS = {".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}
MAGIC = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "tiff": (b"II*\x00", b"MM\x00*"),
}


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def ignored(name: str) -> bool:
    """Temp, lock and hidden files a scanner or an office program leaves while it works."""
    lower = name.lower()
    return any(fnmatch.fnmatchcase(lower, pattern) for pattern in IGNORED_PATTERNS)


def claimed_format(name: str) -> str | None:
    """The format a file name claims by its extension (pdf, jpg, png, tiff)."""
    return EXTENSIONS.get(Path(name).suffix.lower())


def has_end_marker(fmt: str, tail: bytes) -> bool:
    """Whether the last bytes of a file end the way a complete file of that format ends."""
    if fmt == "pdf":
        return b"%%EOF" in tail.rstrip(b"\r\n\t \x00")[-32:]
    if fmt == "jpg":
        return tail.rstrip(b"\x00").endswith(b"\xff\xd9")
    if fmt == "png":
        return tail.endswith(b"IEND\xaeB`\x82")
    return False


@dataclass(frozen=True)
class FolderTiming:
    """How the folder is watched (defaults from the measurements in devices.md §4.4)."""

    quiet_s: float = 3.0
    fast_quiet_s: float = 0.5
    incomplete_s: float = 300.0
    step_ms: int = 50
    debounce_ms: int = 1600
    tick_ms: int = 200
    rescan_s: float = 30.0
    force_polling: bool = False


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    changed_at: float


class HotFolder:
    """Watches one folder; `deliver(path)` is awaited once per complete file (it should move the file away)."""

    def __init__(
        self,
        folder: Path,
        deliver: Callable[[Path], Awaitable[Any]],
        *,
        timing: FolderTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.deliver = deliver
        self.timing = timing or FolderTiming()
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._delivered: set[tuple[str, int, int]] = set()
        self.renamed: list[tuple[bytes, str]] = []
        self.restarts = 0
        self.delivered = 0
        self.last_error = ""
        self.running = False

    def status(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "running": self.running,
            "pending": sorted(self._seen),
            "delivered": self.delivered,
            "restarts": self.restarts,
            "renamed": [new for _old, new in self.renamed[-10:]],
            "last_error": self.last_error,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until `stop` is set."""
        self.folder.mkdir(parents=True, exist_ok=True)
        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # one INFO line per batch otherwise
        t = self.timing
        self.running = True
        try:
            while not stop.is_set():
                self.rescan()
                await self.settle()
                last_rescan = self.clock()
                try:
                    async for changes in awatch(
                        self.folder,
                        watch_filter=None,
                        step=t.step_ms,
                        debounce=t.debounce_ms,
                        rust_timeout=t.tick_ms,
                        yield_on_timeout=True,
                        stop_event=stop,
                        recursive=False,
                        force_polling=t.force_polling,
                        ignore_permission_denied=True,
                    ):
                        for change, raw in changes:
                            name = Path(raw).name
                            if change == Change.deleted:
                                self._seen.pop(name, None)
                            else:
                                self._observe(name)
                        if self.clock() - last_rescan >= t.rescan_s:
                            self.rescan()
                            last_rescan = self.clock()
                        await self.settle()
                except Exception as exc:  # the watcher died (it arrives wrapped in an anyio ExceptionGroup)
                    self.restarts += 1
                    if any(isinstance(e, WatchfilesRustInternalError) for e in _leaves(exc)):
                        # A non-UTF-8 name: the batch is lost and the watcher dead. Rename, restart, rescan.
                        self.last_error = "文件名不是 UTF-8 编码，已按 GB18030 重命名后继续"
                        log.warning("hot folder watcher restarted after an undecodable file name")
                        self.fix_undecodable_names()
                        await asyncio.sleep(0.05)
                    else:
                        self.last_error = f"扫描文件夹出错，已重新开始监视：{exc}"
                        log.exception("hot folder watcher failed; restarting")
                        await asyncio.sleep(1.0)
                        self.folder.mkdir(parents=True, exist_ok=True)
        finally:
            self.running = False

    # ---- what is in the folder ---------------------------------------------------------------------------

    def fix_undecodable_names(self) -> None:
        """Rename files whose names are not UTF-8 to their GB18030 reading, prefixed ``renamed-``."""
        base = os.fsencode(self.folder)
        try:
            entries = list(os.scandir(base))
        except OSError:
            return
        for entry in entries:
            raw = entry.name
            try:
                raw.decode("utf-8")
                continue
            except UnicodeDecodeError:
                pass
            text = raw.decode("gb18030", errors="replace").replace("/", "_")
            target = f"renamed-{text}"
            n = 1
            while (self.folder / target).exists():
                n += 1
                stem, suffix = os.path.splitext(text)
                target = f"renamed-{stem}-{n}{suffix}"
            try:
                os.rename(entry.path, os.path.join(base, target.encode("utf-8")))
            except OSError as exc:
                self.last_error = f"无法重命名文件：{exc}"
                continue
            self.renamed.append((raw, target))
            log.info("renamed a non-UTF-8 file name to %s", target)

    def rescan(self) -> None:
        """Look at every file in the folder (start-up, after a restart, and periodically)."""
        self.fix_undecodable_names()
        try:
            names = [e.name for e in os.scandir(self.folder) if e.is_file(follow_symlinks=False)]
        except OSError as exc:
            self.last_error = f"无法读取扫描文件夹：{exc}"
            return
        present = set(names)
        for name in list(self._seen):
            if name not in present:
                del self._seen[name]
        for name in names:
            self._observe(name)

    def _observe(self, name: str) -> None:
        if ignored(name):
            return
        try:
            stat = (self.folder / name).stat()
        except (OSError, UnicodeEncodeError):
            self._seen.pop(name, None)
            return
        if not os.path.isfile(self.folder / name):
            return
        seen = self._seen.get(name)
        if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            self._seen[name] = _Seen(stat.st_size, stat.st_mtime_ns, self.clock())

    def _verdict(self, name: str, seen: _Seen) -> bool:
        """Whether the file is complete (to be handed over now)."""
        t = self.timing
        quiet = self.clock() - seen.changed_at
        if quiet < t.fast_quiet_s:
            return False
        fmt = claimed_format(name)
        path = self.folder / name
        if fmt in ("pdf", "jpg", "png") and seen.size >= 8:
            with path.open("rb") as f:
                head = f.read(16)
                f.seek(max(0, seen.size - 1024))
                tail = f.read(1024)
            if any(head.startswith(m) for m in MAGIC[fmt]):
                return has_end_marker(fmt, tail) or quiet >= t.incomplete_s
            return quiet >= t.quiet_s  # not what its name says: let ingestion say so
        if fmt in ("pdf", "jpg", "png"):
            return quiet >= t.incomplete_s  # too short to judge yet
        return quiet >= t.quiet_s

    async def settle(self) -> None:
        """Hand over every file that has become complete."""
        for name in list(self._seen):
            self._observe(name)  # a write may have happened without an event yet
            seen = self._seen.get(name)
            if seen is None:
                continue
            try:
                complete = self._verdict(name, seen)
            except OSError:
                self._seen.pop(name, None)
                continue
            if not complete:
                continue
            del self._seen[name]
            key = (name, seen.size, seen.mtime_ns)
            if key in self._delivered:
                continue
            self._delivered.add(key)
            self.delivered += 1
            try:
                await self.deliver(self.folder / name)
            except Exception as exc:  # one bad file must never stop the folder
                self.last_error = f"处理 {name} 时出错：{exc}"
                log.exception("delivering %s failed", name)
