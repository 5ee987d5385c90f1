"""Version skew (issue 21, acceptance 7): the previous release (the merge 763f937, before this work changed the
sync headers) installed into its own venv from `git archive`, run as real processes against today's code — an
old node with today's central, and today's node with an old central — through enrolment, a case with a scan,
the county's decision and its result document back at the window.

The old release's venv holds the old source and shares today's third-party packages (a path file: the
dependencies did not change between the two, and installing them again would need a package index)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backoffice_support import make_lead_sync
from tests.integration.test_real_processes import _accept
from tests.support import CLERK, PDF, free_port, provision, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
#: The previous release: the merge that ended the last stop, before any of issue 21's changes.
OLD_RELEASE = "763f937"


@pytest.fixture(scope="module")
def old_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with the old release installed (its source from `git archive`, on a path file)."""
    # A checkout without git or its history fails here rather than skipping: a skipped skew test proves nothing,
    # and CI and `fresh-clone-check` always run in a full clone.
    assert shutil.which("git") is not None and (ROOT / ".git").exists(), (
        f"the version-skew test needs git and this repository's history (commit {OLD_RELEASE})"
    )
    base = tmp_path_factory.mktemp("old-release")
    source = base / "src"
    source.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", OLD_RELEASE], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
    python = base / "venv" / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    import sysconfig

    shared = sysconfig.get_paths()["purelib"]
    # The old source first, then today's third-party packages (never today's project: the editable finder of
    # this checkout is a .pth hook, which a path file does not run).
    (Path(site) / "onewindow_old_release.pth").write_text(f"{source}\n{shared}\n")
    where = subprocess.run(
        [str(python), "-c", "import node, central, protocol; print(node.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=base,
    ).stdout.strip()
    assert where.startswith(str(source)), where
    yield python


def spawn(python: Path, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(python), *args], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent
        )


def wait_for(what: str, check: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def run_release_pair(tmp_path: Path, node_python: Path, central_python: Path) -> None:
    central_port, node_port = free_port(), free_port()
    central_url, node_url = f"http://127.0.0.1:{central_port}", f"http://127.0.0.1:{node_port}"
    setup = provision(tmp_path, nodes=1, central_url=central_url)
    bundle, node_dir = setup.bundles[0], tmp_path / "node"
    enrolled = subprocess.run(
        [str(node_python), "-m", "node", "enroll", str(bundle.bundle_path), "--data", str(node_dir),
         "--expect-county", bundle.county_fingerprint],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    central = spawn(
        central_python,
        ["-m", "central", "serve", "--data", str(tmp_path / "central"), "--county-dir", str(setup.county_dir),
         "--port", str(central_port)],
        tmp_path / "central.log",
    )  # fmt: skip
    node = spawn(
        node_python,
        ["-m", "node", "serve", "--data", str(node_dir), "--port", str(node_port), "--sync-interval", "0.3"],
        tmp_path / "node.log",
    )  # fmt: skip
    try:
        wait_healthy(central_url, central, timeout=120)  # a loaded two-core machine starts slowly
        wait_healthy(node_url, node, timeout=120)
        with (
            httpx.Client(base_url=node_url, timeout=10) as window,
            httpx.Client(base_url=central_url, timeout=10) as county,
        ):
            assert (
                window.post("/api/v1/login", json={"username": CLERK[0], "password": CLERK[1]}).status_code
                == 200
            )
            items = window.get("/api/v1/items").json()["items"]
            item = min(
                (i for i in items if i.get("case_type") != 1),
                key=lambda i: sum(m["mandatory"] for m in i["materials"]),
            )
            case_id = _accept(window, item, 1)  # with a scan of each mandatory material

            def synced() -> bool:
                status = window.get("/api/v1/sync/status").json()
                return (
                    status["link"] == "up"
                    and not status["queue"]["entries"]
                    and not status["attachments"]["count"]
                )

            wait_for("the case and its scans at central", synced)
            assert window.get("/api/v1/sync/status").json()["certificate"] is not None  # enrolment completed
            make_lead_sync(county, case_id)
            arrived = county.get(f"/api/v1/cases/{case_id}").json()
            assert arrived["status"] == "accepted", arrived
            decided = county.post(f"/api/v1/cases/{case_id}/decision", json={"outcome": "approve"})
            assert decided.status_code in (200, 201), decided.text
            scan = county.get(f"/cases/{case_id}/materials/{hashlib.sha256(PDF).hexdigest()}")
            assert scan.status_code == 200 and scan.content == PDF  # the attachment, whole, at the county

            def decided_at_window() -> bool:
                case = window.get(f"/api/v1/cases/{case_id}").json()
                with sqlite3.connect(node_dir / "node.db") as db:
                    blobs = db.execute("SELECT count(*) FROM blob").fetchone()[0]
                db.close()
                # The scan and the result document that came down (rendered at central after the decision).
                return case["status"] not in ("accepted", "received") and blobs >= 2 and synced()

            wait_for("the decision and its result document back at the window", decided_at_window)
            case = window.get(f"/api/v1/cases/{case_id}").json()
            wanted = window.get("/api/v1/sync/status").json()
            assert case["status"] in ("approved", "decided"), case
        with sqlite3.connect(tmp_path / "central" / "central.db") as db:
            blobs = db.execute("SELECT count(*) FROM blob WHERE node_id != 'central'").fetchone()[0]
            quarantined = db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        assert blobs >= 1 and quarantined == 0, (blobs, quarantined)
        with sqlite3.connect(node_dir / "node.db") as db:
            issued = db.execute("SELECT count(*) FROM blob").fetchone()[0]
        assert issued >= 2, wanted  # the scan, and the result document that came down
    finally:
        stop(node)
        stop(central)


@pytest.mark.slow
def test_an_old_node_works_with_todays_central(tmp_path: Path, old_python: Path) -> None:
    run_release_pair(tmp_path, node_python=old_python, central_python=Path(sys.executable))


@pytest.mark.slow
def test_todays_node_works_with_an_old_central(tmp_path: Path, old_python: Path) -> None:
    run_release_pair(tmp_path, node_python=Path(sys.executable), central_python=old_python)
