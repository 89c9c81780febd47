"""A load's progress, for the ``progress`` callback of :func:`rox.ingest.ingest`.

Each source's load time is shared among its steps (:data:`STEPS`); while a step's statement
runs, DuckDB's own query progress (polled every 0.2 s on a thread of its own) moves the fraction
through that step's share.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["STEPS", "Progress"]

#: Share of a source's load time spent in each step, for the progress callback.
STEPS = {"read": 0.55, "parse": 0.2, "check": 0.1, "write": 0.15}


class Progress:
    """Reports a load's progress: the step reached, refined by DuckDB's own query progress."""

    def __init__(self, con: Any, callback: Callable[[float], None] | None, n_sources: int):
        self.con = con
        self.callback = callback
        self.n = n_sources
        self._done = threading.Event()
        self._span = (0.0, 0.0)
        self._thread: threading.Thread | None = None
        if callback is not None:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()

    def at(self, index: int) -> Callable[[str, str], Any]:
        """A runner of the SQL steps of source ``index`` that tracks where they are."""

        def run(step: str, sql: str) -> Any:
            start = index / self.n
            before = sum(w for s, w in STEPS.items() if _order(s) < _order(step))
            lo = start + before / self.n
            self._span = (lo, lo + STEPS[step] / self.n)
            result = self.con.execute(sql)
            self._span = (self._span[1], self._span[1])  # (statements between steps: no progress)
            if self.callback is not None:
                self.callback(self._span[1])
            return result

        return run

    def _poll(self) -> None:
        assert self.callback is not None
        while not self._done.wait(0.2):
            pct = self.con.query_progress()
            if pct >= 0:
                lo, hi = self._span
                self.callback(lo + (hi - lo) * min(pct, 100.0) / 100.0)

    def stop(self) -> None:
        """Stop polling DuckDB's query progress (the load's transaction has ended)."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()


def _order(step: str) -> int:
    return list(STEPS).index(step)
