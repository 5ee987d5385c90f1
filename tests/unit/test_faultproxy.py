"""The fault proxy itself, against a tiny real HTTP/1.1 server: it relays faithfully when calm, and each fault
does exactly what the sync tests rely on (the server's own record of what it received is the judge)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.faultproxy import FaultProxy, Faults


@dataclass
class Received:
    """What the server saw: complete request bodies (committed) and truncated ones."""

    complete: list[bytes] = field(default_factory=list)
    truncated: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_complete(self, n: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.complete) >= n:
                    return list(self.complete)
            time.sleep(0.01)
        with self.lock:
            return list(self.complete)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: Received

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        data = self.rfile.read(length)
        if len(data) < length:
            with self.received.lock:
                self.received.truncated.append(len(data))
            self.close_connection = True
            return
        with self.received.lock:
            self.received.complete.append(data)
        body = json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}).encode()
        self._send(201, body)

    def do_HEAD(self) -> None:
        self._send(200, b'{"offset": 12345}', Upload_Offset="12345")

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"first ", b"second ", b"third"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self._send(200, json.dumps({"path": self.path}).encode())


@contextmanager
def _serve(**handler_attributes: object) -> Iterator[tuple[int, Received]]:
    received = Received()
    handler = type("Handler", (_Handler,), {"received": received, **handler_attributes})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], received
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[tuple[int, Received]]:
    with _serve() as served:
        yield served


def _raw_exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, read until the server's Content-Length-delimited answer is complete."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(
            next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
        )
        while len(body) < length:
            body += sock.recv(65536)
        return head + b"\r\n\r\n" + body


def test_calm_proxy_relays_every_byte_and_counts_them(server: tuple[int, Received]) -> None:
    port, received = server
    payload = bytes(range(256)) * 400  # 100 KiB, every byte value
    request = (
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + str(len(payload)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + payload
    )
    with FaultProxy(port, seed=1) as proxy:
        answer = _raw_exchange(proxy.port, request)
        stats = proxy.stats()
    assert received.complete == [payload]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["sha256"] == hashlib.sha256(payload).hexdigest()
    assert stats.client_to_server == len(request)
    assert stats.server_to_client == len(answer)
    assert (stats.connections, stats.requests, stats.responses, stats.total_faults()) == (1, 1, 1, 0)


def test_keep_alive_chunked_and_head_responses_are_framed_right(server: tuple[int, Received]) -> None:
    port, _ = server
    with FaultProxy(port, seed=2) as proxy, httpx.Client(base_url=proxy.url, timeout=5) as client:
        for _ in range(3):
            head = client.head("/files/abc")  # Content-Length but no body: the next request must still parse
            assert head.status_code == 200 and head.headers["upload-offset"] == "12345"
            assert client.get("/chunked").text == "first second third"
            assert client.get("/plain").json() == {"path": "/plain"}
            assert client.post("/echo", content=b"x" * 1000).json()["size"] == 1000
        stats = proxy.stats()
    assert stats.connections == 1  # one keep-alive connection carried all twelve requests
    assert stats.requests == stats.responses == 12


def test_refused_connections_never_reach_the_server(server: tuple[int, Received]) -> None:
    port, received = server
    with FaultProxy(port, seed=3, faults=Faults(refuse=1.0)) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=5) as client, pytest.raises(httpx.TransportError):
            client.post("/echo", content=b"hello")
        stats = proxy.stats()
    assert stats.faults["refuse"] == 1 and stats.requests == 0
    assert received.complete == [] and received.truncated == []


def test_cut_body_truncates_the_upload_the_server_sees(server: tuple[int, Received]) -> None:
    port, received = server
    payload = b"z" * 300_000
    with FaultProxy(port, seed=4, faults=Faults(cut_body=1.0)) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=5) as client, pytest.raises(httpx.TransportError):
            client.post("/echo", content=payload)
        deadline = time.monotonic() + 5
        while not received.truncated and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = proxy.stats()
    assert received.complete == []
    assert len(received.truncated) == 1 and 0 <= received.truncated[0] < len(payload)
    assert stats.faults["cut_body"] == 1 and stats.responses == 0


def test_lost_response_means_the_server_committed_and_the_client_heard_nothing(
    server: tuple[int, Received],
) -> None:
    port, received = server
    with FaultProxy(port, seed=5, faults=Faults(lose_response=1.0)) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=5) as client, pytest.raises(httpx.TransportError):
            client.post("/echo", content=b"committed")
        stats = proxy.stats()
    assert received.complete == [b"committed"]  # done before the client saw the error
    assert stats.faults["lose_response"] == 1 and stats.responses == 0 and stats.server_to_client == 0


def test_duplicated_requests_reach_the_server_twice_and_the_client_once(
    server: tuple[int, Received],
) -> None:
    port, received = server
    bodies = [f"request {i}".encode() for i in range(6)]
    with FaultProxy(port, seed=6, faults=Faults(duplicate=1.0)) as proxy:
        with httpx.Client(base_url=proxy.url, timeout=5) as client:
            for body in bodies:
                answer = client.post("/echo", content=body)
                assert answer.json()["sha256"] == hashlib.sha256(body).hexdigest()
        complete = received.wait_complete(2 * len(bodies))
        stats = proxy.stats()
    assert sorted(complete) == sorted(bodies * 2)
    assert stats.faults["duplicate"] == len(bodies) and stats.responses == len(bodies)
    assert stats.replayed > 0


def test_delays_slow_requests_down_without_changing_them(server: tuple[int, Received]) -> None:
    port, received = server
    with FaultProxy(port, seed=7, faults=Faults(delay=1.0, max_delay_s=0.1)) as proxy:
        started = time.monotonic()
        with httpx.Client(base_url=proxy.url, timeout=5) as client:
            for i in range(10):
                assert client.post("/echo", content=bytes([i])).status_code == 201
        elapsed = time.monotonic() - started
        stats = proxy.stats()
    assert stats.faults["delay"] == 10 and elapsed >= 0.2  # ten draws from U(0, 0.1), seeded
    assert received.complete == [bytes([i]) for i in range(10)]


def test_one_shot_cut_lands_on_the_chosen_byte_across_requests(server: tuple[int, Received]) -> None:
    port, received = server
    chunk = b"c" * 10_000
    with FaultProxy(port, seed=8) as proxy:
        proxy.cut_at_body_byte(15_000, match=lambda request: request.method == "POST")
        with httpx.Client(base_url=proxy.url, timeout=5) as client:
            assert client.post("/echo", content=chunk).status_code == 201
            with pytest.raises(httpx.TransportError):
                client.post("/echo", content=chunk)
            assert client.post("/echo", content=chunk).status_code == 201  # one-shot: the link works again
        deadline = time.monotonic() + 5
        while not received.truncated and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = proxy.stats()
        assert not proxy.cut_pending
    assert received.truncated == [5_000]
    assert received.complete == [chunk, chunk]
    assert stats.faults["cut_body"] == 1


def test_link_down_refuses_connections_and_comes_back_on_the_same_port(
    server: tuple[int, Received],
) -> None:
    port, _ = server
    with FaultProxy(port, seed=9) as proxy:
        listening = proxy.port
        proxy.set_down(True)
        with pytest.raises(httpx.ConnectError):
            httpx.get(proxy.url + "/x", timeout=2)
        proxy.set_down(False)
        assert proxy.port == listening
        assert httpx.get(proxy.url + "/x", timeout=2).json() == {"path": "/x"}


def test_upstream_down_closes_the_client_connection(server: tuple[int, Received]) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        dead_port = spare.getsockname()[1]  # bound, never listening: connections are refused
        with FaultProxy(dead_port, seed=10) as proxy, pytest.raises(httpx.TransportError):
            httpx.get(proxy.url + "/x", timeout=2)


def _fault_sequence(port: int, seed: int) -> list[int]:
    outcomes = []
    faults = Faults(lose_response=0.3, cut_body=0.3)
    with (
        FaultProxy(port, seed=seed, faults=faults) as proxy,
        httpx.Client(base_url=proxy.url, timeout=5) as c,
    ):
        for i in range(20):
            try:
                outcomes.append(c.post("/echo", content=b"q" * (100 + i)).status_code)
            except httpx.TransportError:
                outcomes.append(0)
    return outcomes


def test_the_same_seed_injects_the_same_faults(server: tuple[int, Received]) -> None:
    port, _ = server
    first, again, other = _fault_sequence(port, 11), _fault_sequence(port, 11), _fault_sequence(port, 12)
    assert first == again
    assert 0 in first and 201 in first
    assert first != other


def test_a_server_closing_an_idle_connection_closes_the_link_too() -> None:
    """uvicorn drops idle keep-alive connections after a few seconds; through a calm proxy the client must
    see that close (and open a new connection), not a request swallowed on a dead upstream."""
    with (
        _serve(timeout=0.3) as (port, received),  # the server closes connections idle for 0.3 s
        FaultProxy(port, seed=13) as proxy,
        httpx.Client(base_url=proxy.url, timeout=5) as client,
    ):
        assert client.post("/echo", content=b"one").status_code == 201
        time.sleep(0.8)
        assert client.post("/echo", content=b"two").status_code == 201
        stats = proxy.stats()
    assert received.complete == [b"one", b"two"]
    assert stats.connections == 2 and stats.total_faults() == 0


def test_cuts_can_be_limited_to_some_requests(server: tuple[int, Received]) -> None:
    port, received = server
    faults = Faults(cut_body=1.0, cut_only=lambda request: request.path == "/upload")
    with FaultProxy(port, seed=14, faults=faults) as proxy, httpx.Client(base_url=proxy.url, timeout=5) as c:
        for _ in range(3):
            assert c.post("/metadata", content=b"m" * 500).status_code == 201
            with pytest.raises(httpx.TransportError):
                c.post("/upload", content=b"u" * 500)
        stats = proxy.stats()
    assert received.complete == [b"m" * 500] * 3
    assert stats.faults["cut_body"] == 3
