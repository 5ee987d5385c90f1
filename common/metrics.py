"""Prometheus metrics for both apps (issue 21), in the text exposition format 0.0.4, written here rather than
through ``prometheus-client``: one small registry per app (tests run several apps in one process, which a global
registry would mix), and most series are read from the database at scrape time, which the client's synchronous
collectors do not fit.

`Metrics` keeps what only the process sees (requests by route, method and status with latency histograms;
counters such as jobs run); `Family` is one series family rendered at scrape time (counts from the database);
`process_families` adds the process's memory and start time from /proc. `bearer_allowed` and `lan_client`
are the two gates an endpoint uses: a token (``Authorization: Bearer …``, compared in constant time) and, at the
node, a client on the LAN."""

from __future__ import annotations

import hmac
import ipaddress
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Latency buckets (seconds): a tablet page in tens of ms, a sync push of a big batch in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Labels = tuple[tuple[str, str], ...]
INF_BOUND = 'le="+Inf"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str] | Labels, extra: str = "") -> str:
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    parts = [f'{k}="{_escape(str(v))}"' for k, v in pairs]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


@dataclass
class Family:
    """One metric family: name, type (counter, gauge, histogram), help and its samples (labels → value)."""

    name: str
    kind: str
    help: str
    samples: list[tuple[Mapping[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, value))
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += [f"{self.name}{_labels(labels)} {_number(value)}" for labels, value in self.samples]
        return "\n".join(lines)


@dataclass
class _Histogram:
    counts: list[int]
    total: float = 0.0
    count: int = 0


class Metrics:
    """What one app's process counts between scrapes: requests and named counters. Thread-safe (the PDF
    worker's callbacks and the event loop may both count)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._requests: dict[Labels, int] = {}
        self._latency: dict[Labels, _Histogram] = {}
        self._counters: dict[str, tuple[str, dict[Labels, float]]] = {}

    def observe_request(self, *, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request: `route` is the route's template (``/cases/{case_id}``), never the raw path."""
        key = (("route", route), ("method", method), ("status", str(status)))
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1
            histogram = self._latency.setdefault(
                (("route", route), ("method", method)), _Histogram([0] * len(LATENCY_BUCKETS))
            )
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    histogram.counts[i] += 1
            histogram.total += seconds
            histogram.count += 1

    def count(self, name: str, help: str, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` to the counter ``<prefix>_<name>_total`` with `labels`."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            _, values = self._counters.setdefault(name, (help, {}))
            values[key] = values.get(key, 0.0) + amount

    def counter_value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get(name, ("", {}))[1].get(tuple(sorted(labels.items())), 0.0)

    def families(self) -> list[str]:
        """The process's own families, rendered."""
        p = self.prefix
        with self._lock:
            requests = Family(
                f"{p}_http_requests_total", "counter", "HTTP requests answered, by route and status"
            )
            for key, n in sorted(self._requests.items()):
                requests.samples.append((dict(key), n))
            latency = [
                f"# HELP {p}_http_request_duration_seconds Time to answer a request, by route",
                f"# TYPE {p}_http_request_duration_seconds histogram",
            ]
            for key, h in sorted(self._latency.items()):
                name = f"{p}_http_request_duration_seconds"
                for bound, n in zip(LATENCY_BUCKETS, h.counts, strict=True):
                    le = 'le="' + _number(bound) + '"'
                    latency.append(f"{name}_bucket{_labels(key, le)} {n}")
                latency.append(f"{name}_bucket{_labels(key, INF_BOUND)} {h.count}")
                latency.append(f"{name}_sum{_labels(key)} {_number(h.total)}")
                latency.append(f"{name}_count{_labels(key)} {h.count}")
            counters = []
            for name, (help, values) in sorted(self._counters.items()):
                family = Family(f"{p}_{name}_total", "counter", help)
                for key, value in sorted(values.items()):
                    family.samples.append((dict(key), value))
                counters.append(family.render())
        return [requests.render(), "\n".join(latency), *counters]

    def render(self, extra: Iterable[Family] = ()) -> str:
        """The whole exposition: the process's families, `extra` (read at scrape time) and process memory."""
        blocks = [*self.families(), *(f.render() for f in extra), *(f.render() for f in process_families())]
        return "\n".join(blocks) + "\n"


_START = time.time()


def process_families(status: Path = Path("/proc/self/status")) -> list[Family]:
    """Resident and virtual memory (from /proc, Linux) and start time, under Prometheus's standard names."""
    families = [
        Family("process_start_time_seconds", "gauge", "Start time of the process (Unix seconds)").add(_START)
    ]
    try:
        text = status.read_text()
    except OSError:
        return families
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    for key, name, help in (
        ("VmRSS", "process_resident_memory_bytes", "Resident memory size in bytes"),
        ("VmSize", "process_virtual_memory_bytes", "Virtual memory size in bytes"),
    ):
        if key in fields:
            families.append(Family(name, "gauge", help).add(int(fields[key].split()[0]) * 1024))
    return families


def bearer_allowed(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries the bearer `token` (constant-time); never with no token."""
    if not token or not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[len("Bearer ") :].strip().encode(), token.encode())


def lan_client(host: str | None) -> bool:
    """Whether a client address is on a private LAN or this machine (RFC 1918, RFC 4193, loopback, link-local)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_private or address.is_loopback or address.is_link_local
