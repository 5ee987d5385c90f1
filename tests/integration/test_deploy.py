"""Issue 21, acceptance 1: `deploy/install.sh` run into a scratch root (``--destdir``, no systemd needed) lays out the
user, the units, the udev rules, the settings and the state directories as the README's "Operations" says;
every unit passes `systemd-analyze verify`; uninstall keeps the data. Also: the alert rules parse and name only
series the apps export (checked against a live exposition in `test_logs_and_metrics`)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from node.devices.manager import DEFAULT_DEVICE_TABLE, parse_device_table
from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = {"node": "onewindow-node.service", "central": "onewindow-central.service"}
#: What each role's service reads and writes: (data, keys) — apart, both the service user's, mode 0700.
STATE = {
    "node": ("/var/lib/onewindow-node", "/var/lib/onewindow-node-keys"),
    "central": ("/var/lib/onewindow-central", "/var/lib/onewindow-county"),
}
HARDENING = (
    "Restart=on-failure",
    "User=onewindow",
    "ProtectSystem=strict",
    "ProtectHome=true",
    "PrivateTmp=true",
    "NoNewPrivileges=true",
    "CapabilityBoundingSet=",
    "SystemCallFilter=@system-service",
    "StateDirectoryMode=0700",
    "UMask=0077",
)


def _wheel(tmp: Path) -> Path:
    """The project as a wheel, built from a copy of the source (the build leaves nothing in the repository)."""
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("protocol", "common", "node", "central", "provisioning"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
    )
    return wheels


def _install(stage: Path, wheels: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "sh",
            str(DEPLOY / "install.sh"),
            "--destdir",
            str(stage),
            "--wheelhouse",
            str(wheels),
            "--pip-args",
            "--no-deps",  # the program's files and entry point, not its dependencies: that is pip's job
            *args,
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _verify(unit: Path) -> str:
    """`systemd-analyze verify` of a unit; its complaints (it exits 0 on a bad setting, so stderr is the test)."""
    done = subprocess.run(
        [require_tool("systemd-analyze"), "verify", str(unit)], capture_output=True, text=True
    )
    return (done.stderr + ("" if done.returncode == 0 else f"\nexit {done.returncode}")).strip()


@pytest.mark.slow
def test_the_installer_lays_out_both_roles_in_a_scratch_root_and_uninstall_keeps_the_data(
    tmp_path: Path,
) -> None:
    require_tool("systemd-sysusers")
    stage = tmp_path / "root"
    wheels = _wheel(tmp_path)
    for role in ("node", "central"):
        out = _install(stage, wheels, role)
        assert f"已安装 {UNITS[role]}" in out

    # The system user and group, no login shell.
    user = next(
        line for line in (stage / "etc/passwd").read_text().splitlines() if line.startswith("onewindow:")
    )
    _, _, uid, gid, _, _, shell = user.split(":")
    assert shell in ("/usr/sbin/nologin", "/sbin/nologin") and int(uid) < 1000
    assert re.search(rf"^onewindow:x:{gid}:", (stage / "etc/group").read_text(), re.M)

    # The program, in its venv, with its entry point.
    assert (stage / "opt/onewindow/venv/bin/onewindow").stat().st_mode & stat.S_IXUSR
    assert (stage / "opt/onewindow/share/README.md").read_text() == (ROOT / "README.md").read_text()

    verify_dir = tmp_path / "verify"
    verify_dir.mkdir()
    for role, unit_name in UNITS.items():
        unit = stage / "etc/systemd/system" / unit_name
        text = unit.read_text()
        for directive in HARDENING:
            assert re.search(rf"^{re.escape(directive)}$", text, re.M), f"{unit_name}: {directive}"
        data, keys = STATE[role]
        assert not keys.startswith(data + "/")  # keys apart from the data (R-SEC-1)
        exec_start = re.search(r"^ExecStart=(.*)$", text, re.M)
        assert exec_start is not None
        assert exec_start.group(1).startswith(
            f"/opt/onewindow/venv/bin/onewindow {role} serve --data {data} "
        )
        assert keys in exec_start.group(1)
        state_dirs = re.search(r"^StateDirectory=(.*)$", text, re.M)
        assert state_dirs is not None
        assert set(state_dirs.group(1).split()) == {
            data.removeprefix("/var/lib/"),
            keys.removeprefix("/var/lib/"),
        }
        assert re.search(rf"^EnvironmentFile=/etc/onewindow/{role}.env$", text, re.M)
        # The unit as the scratch root holds it, its program path pointed into the scratch root.
        checked = verify_dir / unit_name
        checked.write_text(text.replace("/opt/onewindow", str(stage / "opt/onewindow")))
        assert _verify(checked) == "", unit_name
        # Settings written once, readable by the service's group only.
        env = stage / f"etc/onewindow/{role}.env"
        assert stat.S_IMODE(env.stat().st_mode) == 0o640
        # State directories: made now (enrolment comes before the first start), mode 0700, the service user's.
        for path in (data, keys):
            directory = stage / path.lstrip("/")
            assert directory.is_dir() and stat.S_IMODE(directory.stat().st_mode) == 0o700, path
            if os.geteuid() == 0:  # only root can give a directory away; elsewhere the mode is the check
                assert directory.stat().st_uid == int(uid), path

    # The node's daily backup: its service and timer, verified like the others, and the backup directory.
    for extra in ("onewindow-node-backup.service", "onewindow-node-backup.timer"):
        text = (stage / "etc/systemd/system" / extra).read_text()
        checked = verify_dir / extra
        checked.write_text(text.replace("/opt/onewindow", str(stage / "opt/onewindow")))
        if extra.endswith(".service"):
            assert "onewindow node backup --data /var/lib/onewindow-node" in text
            assert _verify(checked) == "", extra
    backups = stage / "var/backups/onewindow-node"
    assert backups.is_dir() and stat.S_IMODE(backups.stat().st_mode) == 0o700

    # A planted mistake is reported: the verification is not vacuous.
    broken = verify_dir / "broken.service"
    broken.write_text(
        (verify_dir / UNITS["node"]).read_text().replace("Restart=on-failure", "Restart=on-failur")
    )
    assert "on-failur" in _verify(broken)

    # The udev rules give group onewindow every device of the node's built-in table, by VID:PID.
    rules = (stage / "etc/udev/rules.d/70-onewindow.rules").read_text()
    for (vendor, product), kind in parse_device_table(DEFAULT_DEVICE_TABLE).items():
        pattern = (
            rf'^SUBSYSTEM=="usb", ENV\{{DEVTYPE\}}=="usb_device", ATTR\{{idVendor\}}=="{vendor:04x}", '
            rf'ATTR\{{idProduct\}}=="{product:04x}", MODE="0660", GROUP="onewindow"$'
        )
        assert re.search(pattern, rules, re.M), f"no udev rule for {kind} {vendor:04x}:{product:04x}"

    # An administrator's edit survives a reinstall (an upgrade); the data survives uninstall.
    env = stage / "etc/onewindow/node.env"
    env.write_text(env.read_text() + "ONEWINDOW_NODE_PORT=9101\n")
    _install(stage, wheels, "node")
    assert "ONEWINDOW_NODE_PORT=9101" in env.read_text()
    kept = [stage / "var/lib/onewindow-node/node.db", stage / "var/lib/onewindow-node-keys/node-sign.key"]
    kept += [stage / "var/lib/onewindow-central/central.db", stage / "var/lib/onewindow-county/county.json"]
    for path in kept:
        path.write_bytes(b"precious")
    out = _install(stage, wheels, "--uninstall", "node")
    assert "保留：数据 /var/lib/onewindow-node、密钥 /var/lib/onewindow-node-keys" in out
    assert not (stage / "etc/systemd/system/onewindow-node.service").exists()
    assert not (stage / "etc/udev/rules.d/70-onewindow.rules").exists()
    assert not (stage / "etc/systemd/system/onewindow-node-backup.timer").exists()
    assert (stage / "opt/onewindow/venv").is_dir()  # central still uses the program
    _install(stage, wheels, "--uninstall", "central")
    assert not (stage / "opt/onewindow").exists()
    assert not list((stage / "etc/systemd/system").iterdir())
    for path in kept:
        assert path.read_bytes() == b"precious", path
    assert env.exists() and "onewindow:" in (stage / "etc/passwd").read_text()


def test_the_installer_refuses_without_root_or_a_role(tmp_path: Path) -> None:
    done = subprocess.run(["sh", str(DEPLOY / "install.sh")], capture_output=True, text=True)
    assert done.returncode == 2 and "--destdir" in done.stderr
    done = subprocess.run(
        ["sh", str(DEPLOY / "install.sh"), "--destdir", str(tmp_path), "tablet"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "unknown argument: tablet" in done.stderr
    assert not any(tmp_path.iterdir())  # nothing written


def test_alert_rules_parse() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text("utf-8"))
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert {"OneWindowNodeSilent", "OneWindowQuarantine", "OneWindowCalendarMissing"} <= alerts.keys()
    for name, rule in alerts.items():
        assert rule["expr"] and rule["labels"]["severity"] in ("info", "warning", "critical"), name
        assert rule["annotations"]["summary"], name
    assert "24 * 3600" in alerts["OneWindowNodeSilent"]["expr"]
    assert "onewindow_central_quarantine_open > 0" == alerts["OneWindowQuarantine"]["expr"]


def alert_series() -> set[str]:
    """Every onewindow_* series the alert rules use."""
    return set(re.findall(r"\bonewindow_[a-z_]+", (DEPLOY / "prometheus/alerts.yml").read_text("utf-8")))
