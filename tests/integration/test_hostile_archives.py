"""Issue 18, archives: a 10 KiB courier file that is a sparse GNU tar (one member said to expand to 1 GiB) is
refused at both import pages of a real node process before its memory grows by 20 MB (its peak resident set,
`VmHWM`, is read from /proc before and after); and every kind of member a courier file may not hold — sparse,
link, device, directory, absolute path, a size the signed manifest does not declare — is refused whole by the
reader, before anything is unpacked."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import httpx
import pytest

from protocol.errors import OneWindowError
from protocol.keys import SigningKey
from protocol.sync import read_courier_file, write_courier_file
from tests.support import LEAD, enroll_node_process, free_port, provision, spawn_node, stop, wait_healthy


def sparse_tar(name: str = "manifest.json", real_size: int = 1 << 30) -> bytes:
    """A GNU (old format) sparse member: one block of data said to expand to `real_size` bytes."""
    header = bytearray(512)
    header[0 : len(name)] = name.encode()
    header[100:108] = b"0000600\0"
    header[108:116] = b"0000000\0"
    header[116:124] = b"0000000\0"
    header[124:136] = b"%011o\0" % 512
    header[136:148] = b"%011o\0" % 0
    header[156:157] = b"S"
    header[257:265] = b"ustar  \0"
    header[386:398] = b"%011o\0" % (real_size - 512)  # the one region: the last 512 bytes
    header[398:410] = b"%011o\0" % 512
    header[483:495] = b"%011o\0" % real_size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return (bytes(header) + b"{}".ljust(512, b" ") + bytes(1024)).ljust(10 * 1024, b"\0")


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_the_sparse_file_really_expands_with_a_naive_reader() -> None:
    """The hostile file is what the issue says: tarfile alone would hand out 1 GiB for it."""
    with tarfile.open(fileobj=io.BytesIO(sparse_tar()), mode="r:") as tar:
        info = tar.getmembers()[0]
    assert info.issparse() and info.size == 1 << 30


@pytest.mark.slow
def test_a_sparse_tar_courier_file_is_refused_before_node_memory_grows(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    setup = provision(tmp_path, nodes=1)
    enroll_node_process(setup.bundles[0], tmp_path / "node")
    process = spawn_node(tmp_path / "node", port, tmp_path / "node.log", sync_interval=3600)
    try:
        wait_healthy(url, process)
        with httpx.Client(base_url=url, timeout=60) as node:
            login = node.post("/api/v1/login", json={"username": LEAD[0], "password": LEAD[1]})
            assert login.status_code == 200, login.text
            node.get("/sync", headers={"accept": "text/html"})  # pages rendered once: templates loaded
            node.get("/logistics", headers={"accept": "text/html"})
            before = _peak_kib(process.pid)
            hostile = sparse_tar()
            assert len(hostile) == 10 * 1024
            for path in ("/sync/courier/import", "/logistics/courier/import"):
                answer = node.post(
                    path,
                    files={"file": ("reply.owc", hostile, "application/octet-stream")},
                    headers={"accept": "text/html"},
                )
                assert answer.status_code == 422, (path, answer.status_code)
                assert "整份拒收" in answer.text
            growth_mib = (_peak_kib(process.pid) - before) / 1024
            print(f"node peak memory growth: {growth_mib:.2f} MiB")
            assert growth_mib < 20, f"node peak memory grew by {growth_mib:.1f} MiB"
            assert process.poll() is None
    finally:
        stop(process)


def _courier(members: dict[str, bytes], key: SigningKey) -> bytes:
    out = io.BytesIO()
    write_courier_file(out, {"direction": "down", "node_id": "n"}, members, key)
    return out.getvalue()


def _with_member(data: bytes, info: tarfile.TarInfo, content: bytes = b"") -> bytes:
    """The courier file with one more member appended (its trailer rewritten)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, body in [*members, (info, content)]:
            tar.addfile(member, io.BytesIO(body) if member.isfile() else None)
    return out.getvalue()


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (tarfile.SYMTYPE, "down.json"),
        (tarfile.LNKTYPE, "down.json"),
        (tarfile.CHRTYPE, "dev"),
        (tarfile.DIRTYPE, "attachments"),
        (tarfile.FIFOTYPE, "fifo"),
        (tarfile.REGTYPE, "/etc/passwd"),
        (tarfile.REGTYPE, "../escape"),
    ],
)
def test_member_types_and_paths_a_courier_file_may_not_hold_are_refused(kind: bytes, name: str) -> None:
    key = SigningKey.generate()
    good = _courier({"down.json": b"{}"}, key)
    assert read_courier_file(good, lambda _m: key.verify_key)[1] == {"down.json": b"{}"}
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = "manifest.json" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    with pytest.raises(OneWindowError) as refused:
        read_courier_file(_with_member(good, info, b"x"), lambda _m: key.verify_key)
    assert refused.value.code == "OW-1218"


def test_a_member_larger_than_the_manifest_declares_is_refused_before_it_is_read() -> None:
    key = SigningKey.generate()
    good = _courier({"down.json": b"{}"}, key)
    grown = good.replace(b"{}" + b"\0" * 510, b"{} " + b"\0" * 509, 1)
    # Same member, one byte longer than declared: its header says so, the signed manifest does not.
    with tarfile.open(fileobj=io.BytesIO(good), mode="r:") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in members.items():
            body = b"{} " if name == "down.json" else body
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(body), 0o600, 0
            tar.addfile(info, io.BytesIO(body))
    for hostile in (grown, out.getvalue()):
        with pytest.raises(OneWindowError) as refused:
            read_courier_file(hostile, lambda _m: key.verify_key)
        assert refused.value.code == "OW-1218"
