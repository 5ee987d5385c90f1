"""Rendering official PDFs in a worker process, so printing a document never stalls the server.

A notice takes about half a second of pure-Python CPU (fpdf2 and fontTools subsetting the CJK font). In a
thread it holds the interpreter most of that time, and with several windows printing at once every other
request of the node waited behind it (issue 11: receive p50 of seconds with twenty tablets). The document is
composed in the node (quick, it reads the case and the blob store) and only the rendering goes to one worker
process, started on first use (that first notice takes a second or two more); its fonts stay loaded there
while it runs, and it exits after `IDLE_EXIT_S` without a render (the next document starts it again: issue 20,
a node idles small). Should the worker die, the next render starts a
new one, and that render happens in a thread meanwhile.

The worker never outlives the server (issue 21): on Linux the kernel sends it SIGTERM when the thread that
started it ends (PR_SET_PDEATHSIG), and everywhere a watcher thread in the worker ends it within a second of its
parent's death (it is re-parented). So SIGTERM, SIGINT or SIGKILL of the node leaves no render process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from common.documents.model import OfficialDocument

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
#: Seconds without a render after which the worker exits (issue 20: a node idles in as little memory as it can;
#: the next document starts a worker again, in about the time its fonts take to load).
IDLE_EXIT_S = float(os.environ.get("ONEWINDOW_RENDER_IDLE_S", "30"))
_busy = 0  # renders submitted and not yet done
_last_used = 0.0
_idle_timer: threading.Timer | None = None


def _die_with(parent: int) -> None:
    """In the worker: end when `parent` does (the kernel's signal where there is one, and a watcher always)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _retrieved(future: asyncio.Future[bytes]) -> None:
    """Mark a render's outcome as seen (its caller may have gone): no "exception never retrieved" noise."""
    if not future.cancelled():
        future.exception()


def render_in_worker(document: OfficialDocument) -> bytes:
    """Runs in the worker: the PDF engine (fpdf2, fontTools) is imported there, never by the server itself."""
    from common.documents.pdf import render_pdf

    return render_pdf(document)


def _executor() -> ProcessPoolExecutor:
    global _pool, _busy
    with _pool_lock:
        _busy += 1
        if _pool is None:
            # spawn, not fork: the node has threads (database, devices) that a forked child must not inherit.
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_die_with,
                initargs=(os.getpid(),),
            )
        return _pool


def _done() -> None:
    """One render finished: once none has run for `IDLE_EXIT_S`, the worker exits."""
    global _busy, _last_used, _idle_timer
    with _pool_lock:
        _busy -= 1
        _last_used = time.monotonic()
        if _idle_timer is None and IDLE_EXIT_S > 0:
            _idle_timer = threading.Timer(IDLE_EXIT_S, _retire_if_idle)
            _idle_timer.daemon = True
            _idle_timer.start()


def _retire_if_idle() -> None:
    global _pool, _idle_timer
    with _pool_lock:
        _idle_timer = None
        idle_for = time.monotonic() - _last_used
        if _busy or _pool is None or idle_for < IDLE_EXIT_S:
            if _pool is not None and not _busy:  # used meanwhile: look again when it may have gone idle
                _idle_timer = threading.Timer(IDLE_EXIT_S - idle_for + 0.05, _retire_if_idle)
                _idle_timer.daemon = True
                _idle_timer.start()
            return
        idle, _pool = _pool, None
    idle.shutdown(wait=False)  # the worker finishes nothing (nothing is queued) and exits


def worker_running() -> bool:
    """Whether a render worker process is up (tests, the bench)."""
    with _pool_lock:
        return _pool is not None


def _discard(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


def stop_worker() -> None:
    """End the worker at the app's shutdown (its lifespan): waits for the document in hand, then releases the
    pool's queues, so no semaphore is left for the resource tracker to complain about on stderr."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def warm_up() -> None:
    """Start the worker now and have it load the fonts (one small render, in the background), so the first
    document a user waits for — central's first 决定书 of the day — is not the one that pays for it."""
    from datetime import date

    from common.documents.model import Paragraph

    try:
        future = _executor().submit(
            render_in_worker, OfficialDocument("预热", "", "—", date(2026, 1, 1), (Paragraph("—"),))
        )
    except RuntimeError:  # shutting down: nothing to warm
        _done()
        return
    future.add_done_callback(lambda _f: _done())


async def render_document(document: OfficialDocument) -> bytes:
    """The PDF of `document`, rendered in the worker process."""
    pool = _executor()
    try:
        rendering = asyncio.get_running_loop().run_in_executor(pool, render_in_worker, document)
        # Shielded: a caller cancelled (the server stopping) leaves the pool's own future alone, which the pool
        # settles itself, even should its worker die meanwhile (cancelling it then upsets the pool's thread).
        rendering.add_done_callback(_retrieved)
        return await asyncio.shield(rendering)
    except BrokenProcessPool:
        _discard(pool)
        return await asyncio.to_thread(render_in_worker, document)
    finally:
        _done()
