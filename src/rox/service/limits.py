"""Documented limits: request body size (413) and request rates (429 with ``Retry-After``).

Rates are token buckets (Turner 1986's leaky bucket as a meter): each client (IP address) and
each API key may send ``burst`` requests at once and ``rate`` per second after that; a request
over the limit is answered 429 with ``Retry-After`` (whole seconds until a token is back). The
buckets live in the server process: several processes each count their own.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["BodyLimit", "ClientRateLimit", "RateLimiter", "replay"]


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by name: ``rate`` requests per second, ``burst`` at once.

    Parameters
    ----------
    rate : float
        Tokens added per second (0 or less: no limit).
    burst : float
        Bucket size: requests allowed at once.
    """

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def wait(self, name: str, now: float | None = None) -> float:
        """Take a token for ``name``; return 0 if allowed, else the seconds until one is back."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            b = self._buckets.get(name)
            if b is None:
                b = self._buckets[name] = _Bucket(self.burst, now)
                if len(self._buckets) > 100_000:  # forget the idle ones
                    self._buckets = {name: b}
            b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
            b.at = now
            if b.tokens >= 1:
                b.tokens -= 1
                return 0.0
            return (1 - b.tokens) / self.rate


def replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that gives ``messages`` (a body read already) again first, then what follows."""
    pending = iter(messages)

    async def replayed() -> Message:
        try:
            return next(pending)
        except StopIteration:
            return await receive()

    return replayed


async def _refuse(send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def too_many(seconds: float) -> dict[str, str]:
    """The ``Retry-After`` header for a wait of ``seconds`` (at least 1 second)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class ClientRateLimit:
    """ASGI middleware: at most ``limiter``'s rate of requests per client IP address."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request with 429 when its client is over the rate."""
        if scope["type"] == "http":
            client = scope.get("client") or ("unknown", 0)
            wait = self.limiter.wait(str(client[0]))
            if wait:
                await _refuse(
                    send, 429, "too many requests from this client; retry later", too_many(wait)
                )
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: refuse a request body over ``limit`` bytes with 413.

    Both a ``Content-Length`` over the limit and a streamed body that grows past it are refused,
    before the application reads it.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request with 413 when its body is over the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body over the limit of {self.limit:,} bytes; send smaller batches"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = self.limit + 1
                if size > self.limit:
                    await _refuse(send, 413, detail, {})
                    return
        # a body without Content-Length (chunked) is read here, up to the limit
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                chunks.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await _refuse(send, 413, detail, {})
                return
            chunks.append(message)
            more = bool(message.get("more_body", False))
        await self.app(scope, replay(chunks, receive), send)
