"""The event loop's side of the writer's answers: one wake-up of the loop per batch.

Each intake request waits for the :class:`concurrent.futures.Future` the writer settles once
its batch is committed. Chaining each future to the loop (:func:`asyncio.wrap_future`) costs the
loop a chain per request and the writer a thread-safe call into the loop per request; at 1,000
requests/s and some 100 requests a batch that was 8% of the loop's time (docs/benchmarks.md).
:class:`BatchWaiters` instead keeps the requests' loop futures by writer future, and the writer
calls :meth:`BatchWaiters.wake` once after each batch it settled: one call into the loop, which
then hands every settled answer (or error) to its requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["BatchWaiters"]


class BatchWaiters:
    """Requests waiting on the event loop ``loop`` for futures the writer's thread settles.

    Parameters
    ----------
    loop : asyncio.AbstractEventLoop
        The loop the requests run on (:meth:`result` is called on it).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[Future[Any], list[asyncio.Future[Any]]] = {}
        self._woken = False

    async def result(self, future: Future[Any]) -> Any:
        """Wait (on the loop) for ``future``'s result, or raise its exception."""
        if future.done():
            return future.result()
        waiter = self._loop.create_future()
        self._waiting.setdefault(future, []).append(waiter)
        return await waiter

    def wake(self) -> None:
        """Called by the writer's thread after it settled a batch: settle its waiters, once."""
        if self._woken:  # (a wake-up is on its way: it will find this batch's futures done)
            return
        self._woken = True
        with contextlib.suppress(RuntimeError):  # (the loop is closed: nobody waits any more)
            self._loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        """On the loop: give every settled future's answer to the requests waiting for it."""
        self._woken = False
        done = [future for future in self._waiting if future.done()]
        for future in done:
            for waiter in self._waiting.pop(future):
                if waiter.done():  # (the request was cancelled)
                    continue
                if future.cancelled():
                    waiter.cancel()
                elif (exc := future.exception()) is not None:
                    waiter.set_exception(exc)
                else:
                    waiter.set_result(future.result())
