"""Reconnecting to a PostgreSQL workspace after its server restarted, with back-off.

On PostgreSQL (``rox serve -w postgres://…``) the writer's connection, and each dashboard
reader's, is lost when the database server restarts or goes away. Before each batch (and each
call on the writer's thread) the connection is checked (:attr:`PostgresEngine.broken
<rox.engines.postgres.PostgresEngine.broken>`): a lost one is opened again
(:meth:`PostgresEngine.reconnect <rox.engines.postgres.PostgresEngine.reconnect>`). While the
server stays unreachable, the attempts are spaced out, doubling from :data:`FIRST_WAIT` up to
:data:`LONGEST_WAIT` seconds (exponential back-off, so that many processes do not hammer a
server that is starting), and what arrives in between is refused at once with
:class:`~rox.errors.WorkspaceUnavailableError` (answered 503 with ``Retry-After``: the seconds to
the next attempt) rather than held: nothing is acknowledged that is not stored. Once the server
answers, the back-off starts again from :data:`FIRST_WAIT`.

A batch whose connection is lost in the middle fails as a whole (its transaction never
committed, or committed without its answer: the client retries, and the natural ids and the
``Idempotency-Key`` make the retry store nothing twice).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from rox.errors import WorkspaceUnavailableError

__all__ = ["FIRST_WAIT", "LONGEST_WAIT", "Reconnect", "retry_after"]

#: Seconds before the second attempt to reconnect (the first is at once).
FIRST_WAIT = 0.25
#: Most seconds between two attempts.
LONGEST_WAIT = 8.0


class Reconnect:
    """Keeps one engine's connection open: reconnects when it is lost, with back-off.

    Parameters
    ----------
    engine : PostgresEngine
        Any engine with ``broken`` and ``reconnect()`` (an engine without them never breaks:
        :meth:`ready` does nothing).
    clock : callable
        Seconds, monotonic (tests pass their own).
    """

    def __init__(self, engine: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.clock = clock
        #: Reconnections made since the start
        self.reconnects = 0
        self._wait = FIRST_WAIT
        self._next = 0.0  # (monotonic seconds before which no attempt is made)

    @property
    def broken(self) -> bool:
        """Whether the connection is lost."""
        return bool(getattr(self.engine, "broken", False))

    def ready(self) -> None:
        """Return once the connection is open; reconnect first if it was lost.

        Raises
        ------
        WorkspaceUnavailableError
            If the connection is lost and the server cannot be reached now (or the next attempt
            is not due yet); ``retry_after`` says when the next attempt is.
        """
        if not self.broken:
            return
        now = self.clock()
        if now < self._next:
            raise WorkspaceUnavailableError(
                "the workspace's database server cannot be reached; reconnecting",
                retry_after=self._next - now,
            )
        try:
            self.engine.reconnect()
        except Exception as exc:
            self._next = now + self._wait
            wait, self._wait = self._wait, min(2 * self._wait, LONGEST_WAIT)
            raise WorkspaceUnavailableError(
                f"the workspace's database server cannot be reached ({exc}); next attempt in "
                f"{wait:.2f} s",
                retry_after=wait,
            ) from exc
        self.reconnects += 1
        self._wait, self._next = FIRST_WAIT, 0.0

    def lost(self, exc: BaseException) -> WorkspaceUnavailableError | None:
        """``exc`` as a :class:`WorkspaceUnavailableError` if the connection is lost with it."""
        if isinstance(exc, WorkspaceUnavailableError):
            return exc
        if not self.broken:
            return None
        return WorkspaceUnavailableError(
            f"the connection to the workspace's database server was lost ({exc}); "
            "nothing was stored, retry",
            retry_after=FIRST_WAIT,
        )


def retry_after(exc: BaseException) -> str:
    """The ``Retry-After`` header for ``exc``: whole seconds, at least 1."""
    seconds = getattr(exc, "retry_after", 1.0)
    return str(max(1, math.ceil(seconds)))
