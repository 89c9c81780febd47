"""The intake's direct path: well-formed intake requests served without FastAPI's machinery.

A well-formed ``POST /v1/responses`` (or ``/v1/events``) is served here; every other request goes
to the app unchanged.

At 1,000 requests/s the one event loop was the service's limit: FastAPI's per-request work
(its middleware layers, resolving the route's dependencies — the API key through
``HTTPBearer``, the ``Idempotency-Key`` header, the body — and its bookkeeping of them) took
about a quarter of the loop's time, more than rox's own endpoint (docs/benchmarks.md, "Where the
time goes at 1,000/s"). :class:`DirectIntake` is an ASGI middleware, inside the body-size and
per-client limits, that serves the common request itself when, and only when, it would be
answered by the intake route's endpoint:

* a ``Bearer`` API key that is known, not revoked and allows ``write``;
* at most one ``Idempotency-Key`` header, of at most 255 characters;
* a JSON body (``Content-Type: application/json``) that parses and validates against the
  route's model in one pass of pydantic's JSON mode (``TypeAdapter.validate_json``, the same
  type as FastAPI's). FastAPI parses with :func:`json.loads` and validates the Python values;
  where the two differ, JSON mode is the stricter (it refuses a UTF-8 byte-order mark, UTF-16
  or UTF-32 bodies and an escaped lone surrogate, which ``json.loads`` takes), and a body it
  refuses is handed to the route like any other; a body both accept gives the same values
  (``tests/service/test_direct_intake.py`` compares them on awkward bodies and numbers);
* a token of the key's rate limit (taken last, as the route's scope check takes it).

It then does what the route's endpoint does (the same ``store`` callable: the writer, answered
201 once committed, or 422/503). Anything else — no key, a wrong key or scope, a body that does
not parse or validate, another content type, the key over its rate — is handed to the FastAPI
app with the body it read, so every refusal is the route's own answer, status, message and
headers alike; the route also stays what ``/docs`` and ``/openapi.json`` show.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from rox.service.limits import replay
from rox.service.writer import Idempotent

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from starlette.responses import Response

    from rox.service.keys import ApiKey
    from rox.service.limits import ASGIApp, Message, RateLimiter, Receive, Scope, Send

__all__ = ["DirectIntake", "IntakeRoute", "idempotent", "rows_of"]

#: Longest ``Idempotency-Key`` the route takes (its header's ``max_length``)
MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True)
class IntakeRoute:
    """An intake route: the table it stores in, its body's type and the type of one item."""

    table: str
    body: TypeAdapter[Any]
    one: type


def rows_of(body: Any, one: type) -> tuple[list[dict[str, Any]], bool]:
    """The rows of a body holding one item (of type ``one``) or a list, and whether it held one."""
    single = isinstance(body, one)
    items = [body] if single else body
    return [item.model_dump(exclude_none=True) for item in items], single


def idempotent(principal: str, key: str | None, endpoint: str, body: bytes) -> Idempotent | None:
    """The idempotency record of a request with ``Idempotency-Key`` ``key`` (None without one)."""
    if key is None:
        return None
    return Idempotent(principal, key, endpoint, hashlib.sha256(body).hexdigest())


class DirectIntake:
    """ASGI middleware: serve well-formed intake requests directly (see the module).

    Parameters
    ----------
    app : ASGI app
        The FastAPI app, which answers every request not served here.
    routes : mapping
        The intake routes by path (``/v1/responses``, ``/v1/events``).
    known_key : callable
        ``await known_key(key_hash)``: the API key with that hash, or None.
    limiter : RateLimiter
        The per-key rate limit (the route's scope check takes its token from it too).
    store : callable
        ``await store(table, rows, single, idem)``: the route's answer once the writer has
        committed (or refused) the rows.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[str, IntakeRoute],
        known_key: Callable[[str], Awaitable[ApiKey | None]],
        limiter: RateLimiter,
        store: Callable[[str, list[dict[str, Any]], bool, Idempotent | None], Awaitable[Response]],
    ) -> None:
        self.app = app
        self.routes = routes
        self.known_key = known_key
        self.limiter = limiter
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request if it is a well-formed intake request, else pass it on."""
        route = self._route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        credentials, idempotency_key, json_body = _headers(scope["headers"])
        key = None if credentials is None else await self._key(credentials)
        if key is None or not json_body:
            await self.app(scope, receive, send)
            return
        messages, body = await _read(receive)
        value = _valid(route.body, body) if body is not None else None
        if value is None or self.limiter.wait(key.key_id):
            await self.app(scope, replay(messages, receive), send)
            return
        path: str = scope["path"]
        rows, single = rows_of(value, route.one)
        idem = idempotent(key.key_id, idempotency_key, path, body or b"")
        response = await self.store(route.table, rows, single, idem)
        await response(scope, receive, send)

    def _route(self, scope: Scope) -> IntakeRoute | None:
        """The intake route the request posts to, if plainly one (no root path, no escapes)."""
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("root_path"):
            return None
        path = scope.get("path")
        if not isinstance(path, str) or scope.get("raw_path", path.encode()) != path.encode():
            return None
        return self.routes.get(path)

    async def _key(self, credentials: str) -> ApiKey | None:
        """The API key of ``credentials`` if it may write; None otherwise (or if lookup fails)."""
        from rox.service.keys import key_hash

        try:
            key = await self.known_key(key_hash(credentials))
        except Exception:  # (the route looks it up again and answers the failure its way)
            return None
        return key if key is not None and key.allows("write") else None


def _headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None, bool]:
    """A request's bearer credentials, its ``Idempotency-Key`` and whether its body is JSON.

    None credentials when the request is not plainly served here (no or another scheme, an
    ``Idempotency-Key`` repeated or too long, a header repeated).
    """
    authorization: bytes | None = None
    content_type: bytes | None = None
    idempotency: list[bytes] = []
    for name, value in headers:
        if name == b"authorization":
            if authorization is not None:
                return None, None, False
            authorization = value
        elif name == b"content-type":
            if content_type is not None:
                return None, None, False
            content_type = value
        elif name == b"idempotency-key":
            idempotency.append(value)
    if authorization is None or len(idempotency) > 1:
        return None, None, False
    scheme, _, credentials = authorization.decode("latin-1").partition(" ")
    credentials = credentials.strip()  # (as FastAPI's HTTPBearer reads it)
    if scheme.lower() != "bearer" or not credentials:
        return None, None, False
    key = idempotency[0].decode("latin-1") if idempotency else None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        return None, None, False
    json_body = (
        content_type is not None
        and content_type.split(b";", 1)[0].strip().lower() == b"application/json"
    )
    return credentials, key, json_body


async def _read(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's body messages as received, and its bytes (None if the client went away)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _valid(body_type: TypeAdapter[Any], body: bytes) -> Any:
    """The body parsed and validated in one pass (see the module); None if it does not pass."""
    if not body:
        return None
    try:
        return body_type.validate_json(body)
    except (ValueError, ValidationError, RecursionError):  # (a ValidationError is a ValueError)
        return None
