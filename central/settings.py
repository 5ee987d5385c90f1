"""Central settings: one frozen dataclass built from the environment (or arguments) and passed in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from protocol.limits import MAX_ENTRY_CIPHERTEXT
from protocol.staff import SessionPolicy


@dataclass(frozen=True)
class CentralSettings:
    """How central runs."""

    #: Central's own data directory (SQLite database by default, blob store).
    data_dir: Path
    #: The county directory made by `onewindow provision init` (keys, node registry, catalogue, accounts).
    county_dir: Path
    #: Address the back office and sync API listen on.
    host: str = "127.0.0.1"
    #: Port of the back office and sync API.
    port: int = 8100
    #: SQLAlchemy URL of the database; default SQLite in `data_dir`. ``postgresql://…`` for PostgreSQL.
    database_url: str | None = None
    #: Seconds a back-office login lasts without a request.
    session_idle_s: float = 30 * 60
    #: Seconds a back-office login lasts at most from the moment of login.
    session_max_s: float = 12 * 3600
    #: The largest up entry (ciphertext bytes) central applies; a larger one that verifies is stored and
    #: quarantined, and the entries behind it are taken (``ONEWINDOW_CENTRAL_MAX_ENTRY_BYTES``).
    max_entry_bytes: int = MAX_ENTRY_CIPHERTEXT
    #: Log level of `onewindow central serve` (DEBUG, INFO, WARNING, ERROR; ``ONEWINDOW_LOG_LEVEL``).
    log_level: str = "INFO"
    #: Log line format: ``kv`` (key=value) or ``json`` (``ONEWINDOW_LOG_FORMAT``).
    log_format: str = "kv"
    #: Bearer token of the Prometheus endpoint ``/metrics`` (``ONEWINDOW_CENTRAL_METRICS_TOKEN``); empty: no
    #: endpoint (404).
    metrics_token: str = ""
    #: Serve HTTPS directly with this certificate chain (PEM; ``ONEWINDOW_CENTRAL_TLS_CERT``), issued by the
    #: county's CA that enrolment bundles carry (`provision add-node --central-ca`). None: plain HTTP (behind a
    #: TLS-terminating reverse proxy, or on loopback for the demo).
    tls_certfile: Path | None = None
    #: The certificate's private key (PEM; ``ONEWINDOW_CENTRAL_TLS_KEY``), readable by the service user only.
    tls_keyfile: Path | None = None
    #: The business clock (``ONEWINDOW_CLOCK``, `common.clock`): empty for the machine's clock, or
    #: ``ORIGIN@ANCHOR*RATE`` to start the day elsewhere and run it faster (`onewindow simulate`).
    clock: str = ""

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(idle_s=self.session_idle_s, max_s=self.session_max_s)

    @property
    def resolved_database_url(self) -> str:
        """The database to use: the configured URL, or SQLite in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'central.db'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> CentralSettings:
        """Settings from ``ONEWINDOW_CENTRAL_*`` and ``DATABASE_URL``; keyword overrides win."""
        values: dict[str, object] = {}
        if "ONEWINDOW_CENTRAL_DATA" in environ:
            values["data_dir"] = Path(environ["ONEWINDOW_CENTRAL_DATA"])
        if "ONEWINDOW_COUNTY_DIR" in environ:
            values["county_dir"] = Path(environ["ONEWINDOW_COUNTY_DIR"])
        if "ONEWINDOW_CENTRAL_HOST" in environ:
            values["host"] = environ["ONEWINDOW_CENTRAL_HOST"]
        if "ONEWINDOW_CENTRAL_PORT" in environ:
            values["port"] = int(environ["ONEWINDOW_CENTRAL_PORT"])
        if environ.get("DATABASE_URL"):
            values["database_url"] = environ["DATABASE_URL"]
        if "ONEWINDOW_CLOCK" in environ:
            values["clock"] = environ["ONEWINDOW_CLOCK"]
        for key, name in (
            ("session_idle_s", "ONEWINDOW_CENTRAL_SESSION_IDLE_S"),
            ("session_max_s", "ONEWINDOW_CENTRAL_SESSION_MAX_S"),
        ):
            if name in environ:
                values[key] = float(environ[name])
        if "ONEWINDOW_CENTRAL_MAX_ENTRY_BYTES" in environ:
            values["max_entry_bytes"] = int(environ["ONEWINDOW_CENTRAL_MAX_ENTRY_BYTES"])
        for key, name in (
            ("log_level", "ONEWINDOW_LOG_LEVEL"),
            ("log_format", "ONEWINDOW_LOG_FORMAT"),
            ("metrics_token", "ONEWINDOW_CENTRAL_METRICS_TOKEN"),
        ):
            if environ.get(name):
                values[key] = environ[name]
        if environ.get("ONEWINDOW_CENTRAL_TLS_CERT"):
            values["tls_certfile"] = Path(environ["ONEWINDOW_CENTRAL_TLS_CERT"])
        if environ.get("ONEWINDOW_CENTRAL_TLS_KEY"):
            values["tls_keyfile"] = Path(environ["ONEWINDOW_CENTRAL_TLS_KEY"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
