"""The delivery worker: sends the outbox's pending webhooks, retries with back-off, gives up.

A task on the service's event loop. Each round it reads the pending deliveries that are due
(``rox_webhook_deliveries``, :mod:`rox.service.outbox`) on the writer's thread, POSTs them at
once (one HTTP client, ``timeout`` per attempt), and records every outcome in one statement:

* a 2xx answer: ``delivered``;
* no answer (connection refused, timeout, any network error), 408, 429 or a 5xx: tried again
  after ``backoff * 2**(n-1)`` seconds for the ``n``-th retry (at most ``max_delay``, stretched by
  up to ``jitter``), or after the answer's ``Retry-After`` if that is longer (seconds or an HTTP
  date; capped at ``max_delay`` too); after ``max_attempts`` attempts it is ``failed``;
* any other answer (a 3xx is not followed; 4xx but 408 and 429): ``failed`` at once.

It then sleeps until the next delivery is due, or until the writer commits new ones
(:meth:`Dispatcher.wake`). Each attempt is signed afresh (Standard Webhooks: ``webhook-id`` the
delivery's id, the same on every attempt, ``webhook-timestamp`` the attempt's time, and
``webhook-signature`` ``v1,`` HMAC-SHA256 of ``id.timestamp.body`` under the endpoint's
``whsec_`` secret). Deliveries are at least once: an attempt answered just before a crash, whose
outcome was not yet recorded, is sent again on restart, with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from rox.schema import DELIVERIES_TABLE, SYSTEM_TABLES
from rox.service.outbox import DELIVERED, FAILED, PENDING, Endpoint, Hooks

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from rox.workspace import Workspace

__all__ = ["Dispatcher", "Outcome", "next_state", "retry_after"]

_log = logging.getLogger("rox.service")
#: Deliveries sent in one round at most.
ROUND = 200
#: The longest sleep between two looks at the outbox when nothing wakes the worker.
IDLE = 30.0


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the HTTP status (None: no answer), the error, ``Retry-After``."""

    delivery_id: str
    status_code: int | None
    error: str | None = None
    retry_after: float | None = None


def retryable(status_code: int | None) -> bool:
    """Whether an attempt with this answer is tried again: no answer, 408, 429 or 5xx."""
    return status_code is None or status_code in (408, 429) or status_code >= 500


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delay-seconds or an HTTP date; RFC 9110)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_state(
    hooks: Hooks, attempts: int, outcome: Outcome, now: datetime, *, draw: float | None = None
) -> dict[str, Any]:
    """The delivery's columns after attempt number ``attempts`` (1-based) got ``outcome``.

    ``draw`` (uniform in [0, 1)) stretches the wait by ``jitter * draw``; random by default.
    """
    code = outcome.status_code
    state: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": code,
        "last_error": outcome.error,
        "updated_at": now,
        "next_attempt_at": None,
        "delivered_at": None,
    }
    if code is not None and 200 <= code < 300:
        return {**state, "status": DELIVERED, "delivered_at": now, "last_error": None}
    if not retryable(code) or attempts >= hooks.max_attempts:
        return {**state, "status": FAILED}
    wait = min(hooks.backoff * 2.0 ** (attempts - 1), hooks.max_delay)
    wait *= 1.0 + hooks.jitter * (random.random() if draw is None else draw)  # noqa: S311
    if outcome.retry_after is not None:
        wait = max(wait, min(outcome.retry_after, hooks.max_delay))
    return {**state, "status": PENDING, "next_attempt_at": now + timedelta(seconds=wait)}


class Dispatcher:
    """Sends the outbox's deliveries (see the module docstring).

    Parameters
    ----------
    hooks : Hooks
        The endpoints and the retry settings.
    run : callable
        ``await run(fn)`` runs ``fn(workspace)`` on the writer's thread.
    """

    def __init__(self, hooks: Hooks, run: Callable[[Callable[[Workspace], Any]], Awaitable[Any]]):
        self.hooks = hooks
        self._run = run
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self.sent = 0

    def wake(self) -> None:
        """Look at the outbox now (callable from any thread)."""
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # (the loop has closed)
                loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Deliver until cancelled."""
        import httpx

        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        names = [e.name for e in self.hooks.endpoints]
        if not names:
            return
        timeout = httpx.Timeout(self.hooks.timeout)
        # (a round's attempts run together: it ends within the timeout, well inside the lease)
        claim = functools.partial(
            due_deliveries, endpoints=names, limit=ROUND, lease=max(60.0, 4 * self.hooks.timeout)
        )
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            while True:
                self._event.clear()
                try:
                    due = await self._run(claim)
                    if due:
                        outcomes = await asyncio.gather(
                            *(self._attempt(client, row) for row in due)
                        )
                        now = datetime.now(UTC)
                        states = [
                            {"delivery_id": o.delivery_id,
                             **next_state(self.hooks, int(row["attempts"]) + 1, o, now)}
                            for row, o in zip(due, outcomes, strict=True)
                        ]  # fmt: skip
                        await self._run(functools.partial(record, states=states))
                        self.sent += len(states)
                        continue
                    nxt = await self._run(lambda ws: next_due(ws, names))
                except Exception:  # (the workspace is closing, or a bug: try again later)
                    _log.exception("webhook delivery round failed")
                    nxt = datetime.now(UTC) + timedelta(seconds=1)
                wait = IDLE
                if nxt is not None:
                    wait = min(IDLE, max(0.0, (nxt - datetime.now(UTC)).total_seconds()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), timeout=wait)

    async def _attempt(self, client: httpx.AsyncClient, row: dict[str, Any]) -> Outcome:
        import httpx

        endpoint = self.hooks.endpoint(str(row["endpoint"]))
        assert endpoint is not None  # (only configured endpoints' deliveries are due)
        delivery_id = str(row["delivery_id"])
        try:
            answer = await client.post(
                endpoint.url,
                content=str(row["payload"]).encode(),
                headers=signed_headers(endpoint, delivery_id, str(row["payload"])),
            )
        except httpx.HTTPError as exc:
            return Outcome(delivery_id, None, f"{type(exc).__name__}: {exc}"[:500])
        code = answer.status_code
        if 200 <= code < 300:
            return Outcome(delivery_id, code)
        wait = retry_after(answer.headers.get("retry-after"), datetime.now(UTC))
        return Outcome(delivery_id, code, f"HTTP {code}: {answer.text[:300]}", wait)


def signed_headers(endpoint: Endpoint, delivery_id: str, payload: str) -> dict[str, str]:
    """The headers of one attempt, signed now (Standard Webhooks)."""
    from standardwebhooks.webhooks import Webhook

    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "user-agent": "rox-webhooks/1",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(delivery_id, now, payload),
    }


def due_deliveries(
    ws: Workspace, endpoints: list[str], limit: int, lease: float = 60.0
) -> list[dict[str, Any]]:
    """Pending deliveries to ``endpoints`` due now, the most overdue first.

    On PostgreSQL, where several service processes share the outbox, the deliveries are claimed:
    ``SELECT … FOR UPDATE SKIP LOCKED`` picks rows no other process is claiming, and their
    ``next_attempt_at`` moves ``lease`` seconds ahead in the same statement, so that no other
    process takes them while this one attempts them (:func:`record` then writes the outcome). A
    process that dies holding a lease leaves its deliveries due again when it ends: at least once,
    with the same ``webhook-id``, as after a restart.
    """
    con = ws.backend.con
    if ws.engine.name == "postgres":
        with con.transaction(), con.cursor() as cur:
            cur.execute(
                f"UPDATE {DELIVERIES_TABLE} AS d "
                "SET next_attempt_at = now() + make_interval(secs => %s) "
                f"WHERE d.delivery_id IN (SELECT delivery_id FROM {DELIVERIES_TABLE} "
                f"WHERE status = '{PENDING}' AND next_attempt_at <= now() AND endpoint = ANY(%s) "
                f"ORDER BY next_attempt_at, created_at LIMIT {int(limit)} "
                "FOR UPDATE SKIP LOCKED) "
                "RETURNING d.delivery_id, d.endpoint, d.payload, d.attempts",
                [lease, endpoints],
            )
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    marks = ", ".join("?" for _ in endpoints)
    cursor = con.execute(
        f"SELECT delivery_id, endpoint, payload, attempts FROM {DELIVERIES_TABLE} "
        f"WHERE status = '{PENDING}' AND next_attempt_at <= now() AND endpoint IN ({marks}) "
        f"ORDER BY next_attempt_at, created_at LIMIT {int(limit)}",
        endpoints,
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def next_due(ws: Workspace, endpoints: list[str]) -> datetime | None:
    """When the next pending delivery to ``endpoints`` is due (None: none is pending)."""
    sql = f"SELECT min(next_attempt_at) FROM {DELIVERIES_TABLE} WHERE status = '{PENDING}' AND "
    if ws.engine.name == "postgres":
        with ws.backend.con.cursor() as cur:
            cur.execute(sql + "endpoint = ANY(%s)", [endpoints])
            (when,) = cur.fetchone()
    else:
        marks = ", ".join("?" for _ in endpoints)
        (when,) = ws.backend.con.execute(sql + f"endpoint IN ({marks})", endpoints).fetchone()
    return None if when is None else when.astimezone(UTC)


def record(ws: Workspace, states: list[dict[str, Any]]) -> None:
    """Write the outcome of a round's attempts, in one statement."""
    import ibis
    import pyarrow as pa

    types = ibis.schema(SYSTEM_TABLES[DELIVERIES_TABLE]).to_pyarrow()
    columns = ["delivery_id", "status", "attempts", "last_status_code", "last_error",
               "next_attempt_at", "updated_at", "delivered_at"]  # fmt: skip
    rows = pa.Table.from_pylist(states, schema=pa.schema([types.field(c) for c in columns]))
    con = ws.backend.con
    if ws.engine.name == "postgres":
        sets = ", ".join(f"{c} = %s" for c in columns[1:])
        with con.transaction(), con.cursor() as cur:
            cur.executemany(
                f"UPDATE {DELIVERIES_TABLE} SET {sets} WHERE delivery_id = %s",
                [(*(s[c] for c in columns[1:]), s["delivery_id"]) for s in rows.to_pylist()],
            )
        return
    con.register("_rox_attempts", rows)
    try:
        sets = ", ".join(f"{c} = a.{c}" for c in columns[1:])
        con.execute(
            f"UPDATE {DELIVERIES_TABLE} AS d SET {sets} FROM _rox_attempts AS a "
            "WHERE d.delivery_id = a.delivery_id"
        )
    finally:
        con.unregister("_rox_attempts")
