"""Rendering official PDFs in a worker process, so printing a document never stalls the server.

A notice takes about half a second of pure-Python CPU (fpdf2 and fontTools subsetting the CJK font). In a
thread it holds the interpreter most of that time, and with several windows printing at once every other
request of the node waited behind it (issue 11: receive p50 of seconds with twenty tablets). The document is
composed in the node (quick, it reads the case and the blob store) and only the rendering goes to one worker
process, started on first use (that first notice takes a second or two more); its fonts stay loaded there
for the life of the node. Should the worker die, the next render starts a
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

from common.documents.pdf import OfficialDocument, render_pdf

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


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


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn, not fork: the node has threads (database, devices) that a forked child must not inherit.
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_die_with,
                initargs=(os.getpid(),),
            )
        return _pool


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

    from common.documents.pdf import Paragraph

    try:
        _executor().submit(render_pdf, OfficialDocument("预热", "", "—", date(2026, 1, 1), (Paragraph("—"),)))
    except RuntimeError:  # shutting down: nothing to warm
        pass


async def render_document(document: OfficialDocument) -> bytes:
    """The PDF of `document`, rendered in the worker process."""
    pool = _executor()
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, render_pdf, document)
    except BrokenProcessPool:
        _discard(pool)
        return await asyncio.to_thread(render_pdf, document)
