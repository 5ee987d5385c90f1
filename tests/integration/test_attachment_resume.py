"""A 50 MB attachment cut at a random byte resumes from central's offset (issue 5, acceptance 2).

A real central process behind the fault proxy; the node runs in-process and syncs with `sync_once` through the
proxy. The proxy cuts the upload once, at a random byte of the attachment's encrypted body; the next round asks
central where it stands (tus HEAD) and sends only the rest. The proxy counts every byte the node sent.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from node.enrolment import enroll
from node.intake.service import store_blob
from node.models import Blob
from node.runtime import open_runtime
from node.sync.attachments import MAX_CHUNK
from node.sync.client import CentralUnavailable, central_client, sync_once
from tests.faultproxy import FaultProxy, Message
from tests.support import free_port, provision, spawn_central, stop, wait_healthy

SIZE = 50 * 1024 * 1024
SEED = int(os.environ.get("ONEWINDOW_RESUME_SEED", "5"))
#: Bytes each request may spend besides the attachment's own bytes: the request line and headers (the node's
#: signature headers, tus headers, Content-Length …, about 600 bytes) and the small JSON bodies of the
#: reconcile/push/pull requests of the two rounds. Generous by design; the chunk term is what could blow up.
PER_REQUEST_ALLOWANCE = 2048


def _is_upload_chunk(request: Message) -> bool:
    return request.method == "PATCH" and request.path.startswith("/sync/v1/files/")


@pytest.mark.slow
async def test_a_50mb_attachment_cut_at_a_random_byte_resumes_from_centrals_offset(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    central_port = free_port()
    setup = provision(tmp_path, nodes=1, central_url=f"http://127.0.0.1:{central_port}")
    bundle = setup.bundles[0]
    node_dir, central_dir = tmp_path / "node", tmp_path / "central"
    await enroll(bundle.bundle_path, node_dir, expected_county=bundle.county_fingerprint)
    central = spawn_central(setup, central_dir, central_port, tmp_path / "central.log")
    proxy = FaultProxy(central_port, seed=SEED).start()
    runtime = await open_runtime(node_dir)
    try:
        wait_healthy(f"http://127.0.0.1:{central_port}", central)
        async with central_client(runtime, proxy.url) as client:
            await sync_once(client, runtime)  # enrolment: central knows the node from here on

            # JPEG-like random bytes: incompressible, so the spool is the plaintext plus age's overhead.
            data = b"\xff\xd8\xff\xe0" + rng.randbytes(SIZE - 4)
            async with runtime.db.write() as session:
                digest = await store_blob(
                    session, runtime, data, media_type="image/jpeg", filename="scan.jpg"
                )

            # The spool (the age file encrypted to the county) is made on the first round; its size is known
            # to be the plaintext's plus age's per-64 KiB overhead, so the cut can be drawn before it exists.
            approx_spool = SIZE + (SIZE // 65536 + 1) * 16 + 200
            cut_at = rng.randrange(2 * MAX_CHUNK, approx_spool - MAX_CHUNK)
            proxy.cut_at_body_byte(cut_at, match=_is_upload_chunk)
            before = proxy.stats()
            with pytest.raises(CentralUnavailable) as interrupted:
                await sync_once(client, runtime)
            cut = proxy.stats()
            assert cut.faults["cut_body"] == 1 and not proxy.cut_pending, interrupted.value
            async with runtime.db.read() as session:
                row = await session.get(Blob, digest)
            assert row is not None and row.uploaded_at is None and row.spool_size is not None
            spool_size = row.spool_size

            report = await sync_once(client, runtime)
            after = proxy.stats()
        async with runtime.db.read() as session:
            row = await session.get(Blob, digest)
        assert row is not None and row.uploaded_at is not None
        assert report.attachments == 1
    finally:
        await runtime.close()
        proxy.stop()
        stop(central)

    sent_first = cut.client_to_server - before.client_to_server
    sent_second = after.client_to_server - cut.client_to_server
    requests = after.requests - before.requests
    total = sent_first + sent_second
    allowance = requests * PER_REQUEST_ALLOWANCE
    print(
        f"\nresume: spool {spool_size} B, cut at body byte {cut_at}, first round {sent_first} B, "
        f"second round {sent_second} B, {requests} requests, total {total} B "
        f"≤ {spool_size} + {MAX_CHUNK} + {allowance}"
    )
    # The first round got to the cut; the second sent only what central lacked (at most the chunk in flight
    # again) — a restart from zero would resend `cut_at` bytes, at least two chunks more than this allows.
    assert sent_first >= cut_at
    assert sent_second <= spool_size - cut_at + MAX_CHUNK + allowance
    assert total <= spool_size + MAX_CHUNK + allowance

    with closing(sqlite3.connect(central_dir / "central.db")) as db:
        rows = db.execute("SELECT sha256, size FROM blob").fetchall()
    assert rows == [(digest, SIZE)]
    stored = central_dir / "blobs" / digest[:2] / digest
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest == hashlib.sha256(data).hexdigest()
