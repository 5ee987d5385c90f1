"""`make bench` must keep working: its scenarios run end to end at tiny sizes and write the results files.
(Timings are not asserted here; the benchmark itself prints them against their targets.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_bench_runs_and_writes_its_results(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--only",
            "drain",
            "--only",
            "reconcile",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={
            "ONEWINDOW_BENCH_DIR": str(tmp_path / "work"),
            "PATH": "/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),  # npm and the peer's build cache
        },
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text("utf-8"))
    assert results["machine"]["cores"] and not results["errors"]
    figures = {f["name"]: f for scenario in results["scenarios"].values() for f in scenario}
    assert figures["queued events"]["value"] > 0 and figures["until every entry receipted"]["unit"] == "s"
    assert figures["in-sync check, one round trip (median)"]["target"] == "≤ 50 ms"
    assert "2. drain after an outage" in (tmp_path / "results.txt").read_text("utf-8")
    assert set(results["load_average"]) == {"drain", "reconcile"}
    if shutil.which("node") and (Path(__file__).resolve().parents[2] / "shared/peers/hypercore").is_dir():
        # Issue 20: the Hypercore peer runs in the same run, and the ratio is printed.
        assert figures["drain / Hypercore (same run)"]["value"] > 0
