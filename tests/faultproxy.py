"""A fault-injecting TCP proxy for HTTP/1.1 on loopback: the unreliable village link, made repeatable.

It listens on 127.0.0.1, forwards to a target port, and parses just enough of each request (the head and a
Content-Length or chunked body) and each response (the same, plus HEAD/204/304 having none) to know where one
ends. Between those boundaries it injects the faults sync must survive, each switched by a probability and
drawn from one seeded RNG:

- ``refuse``: a new connection is accepted and closed before a byte is read (the client sees a reset/EOF);
- ``delay``: a request waits up to ``max_delay_s`` before it is forwarded;
- ``cut_body``: a request with a body is forwarded only up to a random byte of its body, then both sides close
  (the server sees a truncated upload);
- ``lose_response``: the complete request reaches the server and its complete response comes back, but the
  client's connection is closed instead of relaying it (the server committed; the client cannot know);
- ``duplicate``: the complete request bytes are replayed on a second upstream connection and that reply is
  discarded (before, alongside or after the original, at random).

``cut_at_body_byte`` arms a one-shot cut at an exact cumulative byte of the request bodies that follow, for a
test that wants one interruption at a chosen point. ``set_down`` closes the listening socket (clients get
connection refused) and every live connection, like a link that goes away.

Counters (bytes each way, connections, requests, faults by kind) are kept under a lock; `stats()` returns a
snapshot. The proxy runs its own event loop in a daemon thread, so synchronous and asynchronous tests can both
use it: ``with FaultProxy(port, seed=1) as proxy: ... proxy.url ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

READ_SIZE = 64 * 1024
MAX_HEAD = 64 * 1024
FAULT_KINDS = ("refuse", "delay", "cut_body", "lose_response", "duplicate")


@dataclass
class Faults:
    """Probabilities (0…1) of each fault, drawn per new connection (refuse) or per request (the rest)."""

    refuse: float = 0.0
    delay: float = 0.0
    max_delay_s: float = 0.2
    cut_body: float = 0.0
    #: Only requests this accepts are cut (None: any request with a body), e.g. only tus PATCH chunks.
    cut_only: Callable[[Message], bool] | None = None
    lose_response: float = 0.0
    duplicate: float = 0.0


@dataclass
class ProxyStats:
    """A snapshot of what went through the proxy."""

    client_to_server: int = 0  # bytes read from clients (what crossed the link upstream)
    server_to_client: int = 0  # bytes relayed to clients
    replayed: int = 0  # bytes sent upstream again by duplicated requests
    connections: int = 0
    requests: int = 0  # request heads read from clients
    responses: int = 0  # responses relayed to clients in full
    faults: Counter[str] = field(default_factory=Counter)

    def total_faults(self) -> int:
        return sum(self.faults.values())


class _Closed(Exception):
    """One side closed the connection before a message was complete."""


@dataclass
class Message:
    """A parsed HTTP/1.1 request or response head."""

    head: bytes
    start_line: str
    headers: dict[str, str]

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0].upper()

    @property
    def path(self) -> str:
        parts = self.start_line.split(" ")
        return parts[1] if len(parts) > 1 else ""

    @property
    def status(self) -> int:
        parts = self.start_line.split(" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.strip().isdigit() else None

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


async def _read_head(reader: asyncio.StreamReader) -> Message | None:
    """The next message head, None on a clean EOF between messages."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise _Closed("EOF inside a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise _Closed("message head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return Message(head, lines[0], headers)


async def _read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        raise _Closed("EOF inside a message body") from exc


async def _body_pieces(
    reader: asyncio.StreamReader, message: Message, *, read_to_eof: bool
) -> AsyncIterator[bytes]:
    """The raw bytes of the message body as they arrive (chunk framing included, since they are relayed)."""
    if message.chunked:
        while True:
            try:
                size_line = await reader.readuntil(b"\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                raise _Closed("EOF inside a chunk size") from exc
            yield size_line
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    try:
                        line = await reader.readuntil(b"\r\n")
                    except asyncio.IncompleteReadError as exc:
                        raise _Closed("EOF inside trailers") from exc
                    yield line
                    if line == b"\r\n":
                        return
            remaining = size + 2  # data and its CRLF
            while remaining:
                piece = await _read_exactly(reader, min(remaining, READ_SIZE))
                remaining -= len(piece)
                yield piece
    elif message.content_length is not None:
        remaining = message.content_length
        while remaining:
            piece = await reader.read(min(remaining, READ_SIZE))
            if not piece:
                raise _Closed("EOF inside a message body")
            remaining -= len(piece)
            yield piece
    elif read_to_eof:
        while piece := await reader.read(READ_SIZE):
            yield piece


def _response_has_body(request_method: str, response: Message) -> bool:
    return not (request_method == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200)


async def _read_response(reader: asyncio.StreamReader, request_method: str) -> tuple[Message, bytes]:
    """One complete response (head + body bytes as sent)."""
    head = await _read_head(reader)
    if head is None:
        raise _Closed("upstream closed before answering")
    body = bytearray()
    if _response_has_body(request_method, head):
        async for piece in _body_pieces(reader, head, read_to_eof=True):
            body += piece
    return head, bytes(body)


async def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is None:
        return
    with contextlib.suppress(Exception):
        writer.close()
        await writer.wait_closed()


class FaultProxy:
    """See the module docstring. Thread-safe to configure and read from the test's thread."""

    def __init__(
        self,
        target_port: int,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        target_host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.target_host, self.target_port = target_host, target_port
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self._requested_port = port
        self.port = 0
        self._lock = threading.Lock()
        self._stats = ProxyStats()
        self._cut_at: int | None = None  # one-shot: cut when this many more body bytes have been forwarded
        self._cut_match: Callable[[Message], bool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- lifecycle (called from the test's thread) -----------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # reported to start() below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"faultproxy->{self.target_port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_faults(self, **probabilities: float) -> None:
        """Change fault probabilities while running (unknown names are an error)."""
        for name, value in probabilities.items():
            if not hasattr(self.faults, name):
                raise AttributeError(name)
            setattr(self.faults, name, value)

    def calm(self) -> None:
        """No more faults from now on (a one-shot cut already armed stays armed)."""
        self.faults = Faults()

    def cut_at_body_byte(self, n: int, *, match: Callable[[Message], bool] | None = None) -> None:
        """Cut once: after `n` more request-body bytes (of requests `match` accepts) have been forwarded."""
        with self._lock:
            self._cut_at, self._cut_match = n, match

    @property
    def cut_pending(self) -> bool:
        with self._lock:
            return self._cut_at is not None

    def set_down(self, down: bool) -> None:
        """Take the link away (listening socket closed, live connections dropped) or bring it back."""
        self._run(self._go_down() if down else self._listen())

    def stats(self) -> ProxyStats:
        with self._lock:
            return ProxyStats(
                self._stats.client_to_server,
                self._stats.server_to_client,
                self._stats.replayed,
                self._stats.connections,
                self._stats.requests,
                self._stats.responses,
                Counter(self._stats.faults),
            )

    def _run(self, coroutine: Awaitable[Any]) -> Any:
        assert self._loop is not None, "proxy not started"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    # ---- inside the proxy's loop ------------------------------------------------------------------------

    def _count(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self._stats, name, getattr(self._stats, name) + amount)

    def _fault(self, kind: str) -> None:
        with self._lock:
            self._stats.faults[kind] += 1

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port or self._requested_port, limit=MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _go_down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()

    async def _shutdown(self) -> None:
        # Abort every transport and let the handlers finish on their own: cancelling a handler of
        # asyncio.start_server makes asyncio log an error, and transports left open warn at exit.
        await self._go_down()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_asyncgens()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _chance(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._count(connections=1)
        if self._chance(self.faults.refuse):
            self._fault("refuse")
            client_writer.transport.abort()
            return
        upstream_writer: asyncio.StreamWriter | None = None
        self._writers.add(client_writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port, limit=MAX_HEAD
            )
            self._writers.add(upstream_writer)
            while (request := await self._next_request(client_reader, upstream_reader)) is not None:
                if not await self._exchange(
                    request, client_reader, client_writer, upstream_reader, upstream_writer
                ):
                    break
        except (_Closed, OSError, asyncio.IncompleteReadError, ValueError):
            pass  # either side went away: drop both, as a real middlebox would
        finally:
            self._writers.discard(client_writer)
            if upstream_writer is not None:
                self._writers.discard(upstream_writer)
            await _close(upstream_writer)
            await _close(client_writer)
            if task is not None:
                self._tasks.discard(task)

    async def _next_request(
        self, client_reader: asyncio.StreamReader, upstream_reader: asyncio.StreamReader
    ) -> Message | None:
        """The client's next request head; None when the client is done or the server closed the idle
        connection first (uvicorn does after a few seconds): the link then closes, as a direct one would."""
        head = asyncio.ensure_future(_read_head(client_reader))
        gone = asyncio.ensure_future(upstream_reader.read(1))
        try:
            await asyncio.wait({head, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (head, gone):
                if not task.done():
                    task.cancel()
            await asyncio.gather(head, gone, return_exceptions=True)
        if not head.cancelled() and head.exception() is None and head.result() is not None:
            return head.result()
        if not head.cancelled() and head.exception() is not None:
            raise head.exception()  # type: ignore[misc]
        return None

    def _take_cut(self, request: Message, body_size: int) -> int | None:
        """How many body bytes of this request to forward before cutting, or None to forward it all."""
        with self._lock:
            if self._cut_at is not None and (self._cut_match is None or self._cut_match(request)):
                if self._cut_at < body_size:
                    cut, self._cut_at, self._cut_match = self._cut_at, None, None
                    return cut
                self._cut_at -= body_size
                return None
        if body_size and self._chance(self.faults.cut_body):
            only = self.faults.cut_only
            if only is None or only(request):
                return self.rng.randrange(body_size)
        return None

    async def _exchange(
        self,
        request: Message,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> bool:
        """Relay one request and its response; False when the connection is done."""
        self._count(requests=1, client_to_server=len(request.head))
        # Decide every fault of this request up front, so the RNG is drawn in a fixed order per request.
        delay = self.rng.uniform(0, self.faults.max_delay_s) if self._chance(self.faults.delay) else 0.0
        lose = self._chance(self.faults.lose_response)
        duplicate = self._chance(self.faults.duplicate)
        when = self.rng.choice(("before", "alongside", "after")) if duplicate else ""
        if request.chunked:
            cut = None  # length unknown up front: never cut, the rest still applies
            body_size = 0
        else:
            body_size = request.content_length or 0
            cut = self._take_cut(request, body_size)

        if delay:
            self._fault("delay")
            await asyncio.sleep(delay)
        if duplicate and cut is None:
            return await self._exchange_twice(
                request, when, lose, client_reader, client_writer, upstream_reader, upstream_writer
            )
        upstream_writer.write(request.head)
        forwarded = 0
        async with contextlib.aclosing(_body_pieces(client_reader, request, read_to_eof=False)) as pieces:
            async for piece in pieces:
                self._count(client_to_server=len(piece))
                if cut is not None and forwarded + len(piece) > cut:
                    upstream_writer.write(piece[: cut - forwarded])
                    await upstream_writer.drain()
                    self._fault("cut_body")
                    return False  # both sides close in _accept: the server sees a truncated body
                upstream_writer.write(piece)
                await upstream_writer.drain()
                forwarded += len(piece)
        await upstream_writer.drain()
        response, body = await _read_response(upstream_reader, request.method)
        return await self._answer(request, response, body, lose, client_writer)

    async def _exchange_twice(
        self,
        request: Message,
        when: str,
        lose: bool,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> bool:
        """Relay a request that is also replayed on its own connection: before, alongside or after it."""
        raw = bytearray(request.head)
        async for piece in _body_pieces(client_reader, request, read_to_eof=False):
            self._count(client_to_server=len(piece))
            raw += piece
        self._fault("duplicate")
        replay: asyncio.Task[None] | None = None
        if when == "before":
            await self._replay(bytes(raw), request.method)
        elif when == "alongside":
            replay = asyncio.get_running_loop().create_task(self._replay(bytes(raw), request.method))
        upstream_writer.write(raw)
        await upstream_writer.drain()
        try:
            response, body = await _read_response(upstream_reader, request.method)
        finally:
            if replay is not None:
                await replay
        if when == "after":
            self._spawn(self._replay(bytes(raw), request.method))
        return await self._answer(request, response, body, lose, client_writer)

    async def _answer(
        self,
        request: Message,
        response: Message,
        body: bytes,
        lose: bool,
        client_writer: asyncio.StreamWriter,
    ) -> bool:
        """Relay the response (or lose it); whether the connection can carry another request."""
        if lose:
            self._fault("lose_response")
            return False  # the server answered: it has committed whatever the request did; the client never hears
        self._count(server_to_client=len(response.head) + len(body), responses=1)
        client_writer.write(response.head + body)
        await client_writer.drain()
        delimited = response.chunked or "content-length" in response.headers
        if _response_has_body(request.method, response) and not delimited:
            return False  # the body ran to EOF: the upstream connection is gone
        return not (response.closes or request.closes)

    async def _replay(self, raw: bytes, method: str) -> None:
        """Send the same request again on its own connection; read and discard the answer."""
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(self.target_host, self.target_port, limit=MAX_HEAD)
            self._writers.add(writer)
            writer.write(raw)
            await writer.drain()
            self._count(replayed=len(raw))
            await _read_response(reader, method)
        except (_Closed, OSError, asyncio.IncompleteReadError, ValueError):
            pass  # the original's fate is what the client sees; the replay's is nobody's business
        finally:
            if writer is not None:
                self._writers.discard(writer)
            await _close(writer)
