"""Node settings: one frozen dataclass built from the environment (or arguments) and passed in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from protocol.staff import SessionPolicy


@dataclass(frozen=True)
class NodeSettings:
    """How a node runs."""

    #: The node's data directory (database, blobs, spool, node.json). Holds nothing readable without the keys.
    data_dir: Path
    #: The node's key directory (signing key, age identity, data key; mode 0700, files 0600, optionally sealed
    #: with a passphrase). None: ``<data_dir>-keys`` beside the data directory — or ``<data_dir>/keys`` for a
    #: node enrolled before the keys moved out (`node.trust.identity.keys_dir`). Keep it off the data directory's
    #: backups and disk, so a copy of the data alone reveals no ID number or scan.
    key_dir: Path | None = None
    #: Address the tablet UI listens on (the centre's LAN).
    host: str = "127.0.0.1"
    #: Port of the tablet UI.
    port: int = 8101
    #: Run the background sync loop (off in tests that drive sync by hand).
    sync_enabled: bool = True
    #: Seconds between sync rounds when the last one succeeded.
    sync_interval_s: float = 2.0
    #: Seconds between runs of the legal clocks (视为受理, 容缺 termination); 0 turns the loop off (tests run
    #: the clocks by hand with a fake time).
    clock_interval_s: float = 60.0
    #: Working days a bad rating (不满意/非常不满意) has to be called back and put right (set locally; 15 is
    #: the common rule, some provinces use 5).
    rectify_working_days: int = 15
    #: Central URL override (default: the first URL from the enrolment bundle).
    central_url: str | None = None
    #: Secret for signing session cookies (default: derived from the node's data key).
    session_secret: bytes | None = None
    #: Run the device drivers against emulated devices (ID card reader, evaluator, ticket printer, document
    #: camera) on an in-process USB bus instead of real USB: the demo and tests.
    simulate_devices: bool = False
    #: Folder the scanner / document camera software drops files into (hot folder); processed files move to
    #: ``<folder>-processed``, rejected ones to ``<folder>-quarantine``. None: no scan folder.
    scan_folder: Path | None = None
    #: Keep each scan in ``<folder>-processed`` after it was stored (encrypted) in the case; False (default):
    #: delete it once stored, so no plaintext scan stays on the node. Rejected scans stay in quarantine.
    keep_processed_scans: bool = False
    #: USB devices to look for, ``VID:PID=kind`` comma separated (kinds: idcard, evaluator, printer); empty:
    #: the built-in table (`node.devices.manager.DEFAULT_DEVICE_TABLE`).
    device_table: str = ""
    #: Seconds between USB bus scans (hot-plug and unplug detection).
    device_poll_s: float = 2.0
    #: The window the 5-button evaluator stands at (its presses rate that window's visit).
    evaluator_window: str = ""
    #: Document camera: ``uvc:/dev/video0`` (needs opencv-python-headless), ``files:DIR`` (images of a
    #: folder in turn) or ``sample``; empty: none (the simulator brings a file-backed one).
    camera: str = ""
    #: ID photo (WLT) decoder plug-in as ``module:attribute``; empty: photos are kept raw, not decoded.
    photo_decoder: str = ""
    #: Seconds a tablet login lasts without a request (then the clerk logs in again).
    session_idle_s: float = 30 * 60
    #: Seconds a tablet login lasts at most from the moment of login, however busy.
    session_max_s: float = 12 * 3600
    #: Log level of `onewindow node serve` (DEBUG, INFO, WARNING, ERROR; ``ONEWINDOW_LOG_LEVEL``).
    log_level: str = "INFO"
    #: Log line format: ``kv`` (key=value) or ``json`` (``ONEWINDOW_LOG_FORMAT``).
    log_format: str = "kv"
    #: Bearer token of the Prometheus endpoint ``/metrics`` (``ONEWINDOW_NODE_METRICS_TOKEN``); empty: no
    #: endpoint (404). It answers only clients on the LAN or this machine, whatever the token.
    metrics_token: str = ""
    #: The business clock (``ONEWINDOW_CLOCK``, `common.clock`): empty for the machine's clock, or
    #: ``ORIGIN@ANCHOR*RATE`` to start the day elsewhere and run it faster (`onewindow simulate`).
    clock: str = ""

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(idle_s=self.session_idle_s, max_s=self.session_max_s)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> NodeSettings:
        """Settings from ``ONEWINDOW_NODE_*`` variables; keyword overrides win."""
        values: dict[str, object] = {}
        if "ONEWINDOW_NODE_DATA" in environ:
            values["data_dir"] = Path(environ["ONEWINDOW_NODE_DATA"])
        if environ.get("ONEWINDOW_NODE_KEYS"):
            values["key_dir"] = Path(environ["ONEWINDOW_NODE_KEYS"])
        if "ONEWINDOW_NODE_HOST" in environ:
            values["host"] = environ["ONEWINDOW_NODE_HOST"]
        if "ONEWINDOW_NODE_PORT" in environ:
            values["port"] = int(environ["ONEWINDOW_NODE_PORT"])
        if "ONEWINDOW_NODE_SYNC_INTERVAL" in environ:
            values["sync_interval_s"] = float(environ["ONEWINDOW_NODE_SYNC_INTERVAL"])
        if "ONEWINDOW_CENTRAL_URL" in environ:
            values["central_url"] = environ["ONEWINDOW_CENTRAL_URL"]
        if "ONEWINDOW_NODE_SIMULATE_DEVICES" in environ:
            flag = environ["ONEWINDOW_NODE_SIMULATE_DEVICES"].lower()
            values["simulate_devices"] = flag in ("1", "true", "yes")
        if "ONEWINDOW_NODE_SCAN_FOLDER" in environ:
            values["scan_folder"] = Path(environ["ONEWINDOW_NODE_SCAN_FOLDER"])
        if "ONEWINDOW_NODE_KEEP_PROCESSED_SCANS" in environ:
            flag = environ["ONEWINDOW_NODE_KEEP_PROCESSED_SCANS"].lower()
            values["keep_processed_scans"] = flag in ("1", "true", "yes")
        for key, name in (
            ("device_table", "ONEWINDOW_NODE_DEVICE_TABLE"),
            ("evaluator_window", "ONEWINDOW_NODE_EVALUATOR_WINDOW"),
            ("camera", "ONEWINDOW_NODE_CAMERA"),
            ("photo_decoder", "ONEWINDOW_NODE_PHOTO_DECODER"),
            ("clock", "ONEWINDOW_CLOCK"),
        ):
            if name in environ:
                values[key] = environ[name]
        for key, name in (
            ("session_idle_s", "ONEWINDOW_NODE_SESSION_IDLE_S"),
            ("session_max_s", "ONEWINDOW_NODE_SESSION_MAX_S"),
        ):
            if name in environ:
                values[key] = float(environ[name])
        for key, name in (
            ("log_level", "ONEWINDOW_LOG_LEVEL"),
            ("log_format", "ONEWINDOW_LOG_FORMAT"),
            ("metrics_token", "ONEWINDOW_NODE_METRICS_TOKEN"),
        ):
            if environ.get(name):
                values[key] = environ[name]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
