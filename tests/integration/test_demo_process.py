"""`onewindow demo` as `make demo` runs it (issue 19, acceptance 5): a login printed for every role at both ends,
each one working against its app, the demo reviewers placed in their departments, and Ctrl-C — SIGINT to the
whole process group, as a terminal sends it — stops everything with exit status 0 and no process left."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

pytestmark = pytest.mark.slow

ROLES_AT_CENTRAL = {"县管理员", "督查"}
ROLES_AT_NODE = {"综合窗口", "物料流转窗口", "业务负责人", "节点管理员"}


def _group_alive(pgid: int) -> list[str]:
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return alive


def _read_until_ready(stdout: Path, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = stdout.read_text("utf-8")
        if "按 Ctrl-C 停止" in text:
            return text
        assert process.poll() is None, text
        time.sleep(0.5)
    raise AssertionError(stdout.read_text("utf-8"))


def test_the_demo_prints_every_roles_login_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    base = free_port()
    while base > 60000:
        base = free_port()
    out = tmp_path / "demo.out"
    sink = out.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provisioning.cli",
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--port",
            str(base),
        ],
        stdout=sink,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's job
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    pgid = process.pid
    try:
        text = _read_until_ready(out, process, 120)
        # Each app's block: its URL, then "role  username / password" lines.
        blocks: list[tuple[str, list[tuple[str, str, str]]]] = []
        for line in text.splitlines():
            url = re.search(r"(http://127\.0\.0\.1:\d+)/login", line)
            if url:
                blocks.append((url.group(1), []))
                continue
            login = re.match(r"\s+(\S.*?)\s+(\S+) / (\S+)\s*$", line)
            if login and blocks:
                blocks[-1][1].append((login.group(1).strip(), login.group(2), login.group(3)))
        assert len(blocks) == 3, text
        central_url, central_logins = blocks[0]
        roles = {role for role, _, _ in central_logins}
        assert ROLES_AT_CENTRAL <= roles and any(role.startswith("审核 · ") for role in roles), text
        for _, logins in blocks[1:]:
            assert {role for role, _, _ in logins} == ROLES_AT_NODE, text
        for url, logins in blocks:
            for role, username, password in logins:
                with httpx.Client(base_url=url, timeout=10) as client:
                    response = client.post("/api/v1/login", json={"username": username, "password": password})
                    assert response.status_code == 200, (url, role, username, response.text)
        # Every reviewer sits in the department the demo printed for them.
        with httpx.Client(base_url=central_url, timeout=10) as admin:
            assert (
                admin.post(
                    "/api/v1/login", json={"username": "admin", "password": central_logins[0][2]}
                ).status_code
                == 200
            )
            page = admin.get("/departments", headers={"accept": "text/html"}).text
        reviewers = [(role, user) for role, user, _ in central_logins if role.startswith("审核 · ")]
        assert len(reviewers) >= 2
        for role, username in reviewers:
            department = role.removeprefix("审核 · ")
            # The member's display name, the login name beside it as machine text, then the department.
            pattern = rf'<code class="muted">{username}</code></td><td>[^<]*{department}</td>'
            assert re.search(pattern, page), (role, username)

        # Ctrl-C: SIGINT to the whole group.
        os.killpg(pgid, signal.SIGINT)
        assert process.wait(timeout=60) == 0, out.read_text("utf-8")
        deadline = time.monotonic() + 10
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _group_alive(pgid) == [], out.read_text("utf-8")
        final = out.read_text("utf-8")
        assert "已停止" in final and "意外退出" not in final
    finally:
        if process.poll() is None or _group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
            process.wait()
        sink.close()
