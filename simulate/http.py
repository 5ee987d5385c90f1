"""A logged-in tablet or back-office browser: an HTTP session that rides out a server being killed or restarted.

A clerk whose tablet loses the node waits and tries again, and before repeating anything that creates a record
looks whether it was made the first time (the caller passes that check). Sessions lost with a restart are
renewed by logging in again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

#: How long a clerk waits for a server to come back before the day is called off (real seconds).
PATIENCE_S = 180.0


class Unavailable(RuntimeError):
    """The server did not come back within `PATIENCE_S`."""


class Session:
    """One account logged in at one server."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.username = username
        self.password = password
        self.client = httpx.AsyncClient(base_url=base_url, timeout=60.0)
        self.retries = 0

    async def close(self) -> None:
        await self.client.aclose()

    async def login(self) -> None:
        await self._send(
            "POST", "/api/v1/login", {"json": {"username": self.username, "password": self.password}}
        )

    async def _send(self, method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            try:
                return await self.client.request(method, path, **kwargs)
            except httpx.TransportError:
                self.retries += 1
                if time.monotonic() > deadline:
                    raise Unavailable(f"{self.base_url}{path}") from None
                await asyncio.sleep(0.5)

    async def request(
        self,
        method: str,
        path: str,
        *,
        done: Callable[[], Awaitable[httpx.Response | None]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send; on a lost connection wait for the server and, when `done` finds the work already made, answer
        with what it found instead of repeating it. A 401 (session lost with a restart) logs in again."""
        deadline = time.monotonic() + PATIENCE_S
        while True:
            try:
                response = await self.client.request(method, path, **kwargs)
            except httpx.TransportError:
                self.retries += 1
                if time.monotonic() > deadline:
                    raise Unavailable(f"{self.base_url}{path}") from None
                await asyncio.sleep(0.5)
                if done is not None:
                    try:
                        found = await done()
                    except httpx.TransportError:
                        continue
                    if found is not None:
                        return found
                continue
            if response.status_code == 401 and path != "/api/v1/login":
                await self.login()
                continue
            return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def json(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        """The JSON answer; anything but `expect` is an error naming the call."""
        response = await self.request(method, path, **kwargs)
        if response.status_code not in expect:
            raise DayError(f"{method} {path} → {response.status_code}: {response.text[:300]}")
        return response.json()


class DayError(RuntimeError):
    """A call the day needed answered otherwise."""
