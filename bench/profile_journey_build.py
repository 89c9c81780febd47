"""The CPU and wall time of each DuckDB statement of one journey-index build (#21 §2).

Copies a workspace (``bench_journey.py``'s ``journey_<n>_indexed.duckdb``) to a scratch file,
then builds the journey index ``--builds`` times (``rox.journey.build_index``), timing every
call on the DuckDB connection through a proxy: CPU seconds of the process
(``resource.getrusage``: DuckDB's threads included) and wall seconds. Prints each build's
totals, then the statements of the last build that took more than 5 ms. Run it with the rox
to measure on ``PYTHONPATH`` (an older one from ``git archive``, then this checkout's, to
compare), under ``flock /tmp/rox-bench.lock``.

Usage::

    PYTHONPATH=src python bench/profile_journey_build.py /tmp/bj/journey_1000000_indexed.duckdb
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import rox

CALLS = ("execute", "sql", "query")


def cpu() -> float:
    """CPU seconds of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Timed:
    """A DuckDB connection (or relation) whose calls are timed into ``log``."""

    def __init__(self, obj: Any, label: str, log: list[tuple[float, float, str, str]]) -> None:
        self._obj, self._label, self._log = obj, label, log

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            c0, w0 = cpu(), time.perf_counter()
            out = attr(*args, **kwargs)
            sql = name in CALLS and args
            label = str(args[0])[:150].replace("\n", " ") if sql else self._label
            self._log.append((cpu() - c0, time.perf_counter() - w0, name, label))
            return Timed(out, label, self._log) if sql and out is not None else out

        return timed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--builds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rox-build-") as folder:
        copy = Path(folder) / "workspace.duckdb"
        shutil.copy(args.workspace, copy)
        ws = rox.open(copy)
        raw = ws.backend.con
        log: list[tuple[float, float, str, str]] = []
        for i in range(args.builds):
            log.clear()
            ws.backend.con = Timed(raw, "con", log)
            c0, w0 = cpu(), time.perf_counter()
            rox.journey.build_index(ws)
            ws.backend.con = raw
            print(f"build {i}: cpu {cpu() - c0:.2f} s, wall {time.perf_counter() - w0:.2f} s")
        for cpu_s, wall_s, name, label in log:
            if wall_s > 0.005:
                print(f"{cpu_s:6.2f} {wall_s:6.2f} {name:15} {label}")
        ws.close()


if __name__ == "__main__":
    main()
