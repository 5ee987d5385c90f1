"""A 50 MB attachment cut at a random byte resumes from central's offset (issue 5, acceptance 2), and a resumed
upload is not taken for a finished one.

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

from central.models import BlobRecord
from central.sync.attachments import AttachmentStore
from node.boot import open_runtime
from node.enrolment import enroll
from node.intake.cases.materials import store_blob
from node.models import Blob
from node.sync.attachments import MAX_CHUNK, Uploader, pending_blobs, spool_path
from node.sync.client import CentralUnavailable, central_client, sync_once
from tests.conftest import Stack
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


async def test_a_blob_is_marked_uploaded_only_when_central_has_it(stack: Stack) -> None:
    """Central is killed after the last chunk reached its disk but before the transaction that verifies and
    records the attachment committed: the part file is whole, the blob is not there. The node must not take
    tus HEAD's "offset = length" for central's confirmation (``blob.uploaded_at``) and forget the upload."""
    runtime = stack.runtime
    await sync_once(stack.central, runtime)  # enrolment
    data = b"\xff\xd8\xff\xe0" + os.urandom(300_000)
    async with runtime.db.write() as session:
        digest = await store_blob(session, runtime, data, media_type="image/jpeg", filename="photo.jpg")

    class Killed(Exception):
        pass

    async def central_dies_during_the_chunk() -> None:
        raise Killed

    uploader = Uploader(stack.central, runtime, before_chunk=central_dies_during_the_chunk)
    (blob,) = await pending_blobs(runtime)
    with pytest.raises(Killed):
        await uploader.upload(blob)  # created at central; the one chunk is "in flight"
    async with runtime.db.read() as session:
        row = await session.get(Blob, digest)
    assert row is not None and row.upload_url is not None
    # What the chunk left behind at central: the whole age file appended and fsynced; nothing committed.
    part = AttachmentStore(stack.setup.root / "central").part(row.upload_url.rsplit("/", 1)[1])
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(spool_path(runtime, digest).read_bytes())

    for _ in range(3):
        await sync_once(stack.central, runtime)
    async with runtime.db.read() as session:
        row = await session.get(Blob, digest)
    async with stack.central_app.state.central.db.transaction() as session:
        at_central = await session.get(BlobRecord, digest)
    assert row is not None
    assert row.uploaded_at is None or at_central is not None, (
        "the node marked the attachment uploaded, central has no record of it"
    )
    assert at_central is not None and at_central.size == len(data)
