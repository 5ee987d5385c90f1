"""The node backup's systemd units (issue 21, points 1 and 6): `systemd-analyze verify` accepts them, the timer
starts the service daily and catches up after downtime, and the service runs the real backup command at low
priority with the node's data writable and its keys read-only."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import require_tool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
UNITS = ("onewindow-node-backup.service", "onewindow-node-backup.timer")


def test_the_backup_units_verify_and_say_what_the_readme_says(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    onewindow = Path(sys.executable).with_name("onewindow")
    assert onewindow.exists()
    for name in UNITS:
        text = (DEPLOY / name).read_text("utf-8")
        (tmp_path / name).write_text(text.replace("/opt/onewindow/venv/bin/onewindow", str(onewindow)))
    for name in UNITS:
        done = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr.strip() == "", (name, done.stderr)

    service = (DEPLOY / UNITS[0]).read_text("utf-8")
    timer = (DEPLOY / UNITS[1]).read_text("utf-8")
    exec_start = re.search(r"^ExecStart=(.*)$", service, re.M)
    assert exec_start is not None
    argv = exec_start.group(1).split()
    assert argv[1:3] == ["node", "backup"] and "--to" in argv and "--data" in argv
    assert re.search(r"^Type=oneshot$", service, re.M) and re.search(r"^Nice=10$", service, re.M)
    assert re.search(r"^ReadOnlyPaths=.*onewindow-node-keys", service, re.M)
    assert re.search(r"^OnCalendar=", timer, re.M) and re.search(r"^Persistent=true$", timer, re.M)
    assert re.search(r"^Unit=onewindow-node-backup.service$", timer, re.M)

    # The command line the unit runs parses (a typo in an option would fail every night, unseen).
    help_text = subprocess.run(
        [str(onewindow), "node", "backup", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert all(option in help_text for option in argv if option.startswith("--"))

    # Not vacuous: a misspelt setting is reported.
    broken = tmp_path / "broken" / UNITS[0]
    broken.parent.mkdir()
    broken.write_text((tmp_path / UNITS[0]).read_text().replace("Nice=10", "Nicety=10"))
    done = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True)
    assert "Nicety" in done.stderr
    shutil.rmtree(broken.parent)
