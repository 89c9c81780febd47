"""The cost of one group-commit batch of the intake service, in-process, for versions of rox.

Each version (a ``src`` folder: this checkout's, or an older one from ``git archive``) runs in its
own child process: a fresh DuckDB workspace, the service's writer (:class:`rox.service.writer.
Writer`) with cases on arrival (the built-in rules, :class:`rox.service.arrival.Arrival`), then
``--batches`` batches of ``--size`` NPS responses each, the requests shaped as
``bench/bench_service.py`` sends them (one response per request, a ``response_id`` each, 7 of
every 11 detractors, customers ``c0``-``c4999``), written by the writer's own commit of a group
(``Writer._commit``), every statement counted through a proxy of the DuckDB connection.
``--keyed`` gives every request an ``Idempotency-Key``. The versions alternate, batch by batch
group, over ``--rounds`` rounds; the median batch time of each is printed, with the statements
per batch and the ratio to the first version.

``--statements`` also prints each statement's median time (and how many per batch), the
costliest first.

Usage::

    git archive <commit> src | tar -x -C /tmp/before
    python bench/profile_batch.py --src /tmp/before/src,src --size 30 --batches 40
    python bench/profile_batch.py --size 100 --batches 40 --rounds 1 --statements
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CHILD = r"""
import json, sys, time
from pathlib import Path

import rox
from rox.service.arrival import Arrival
from rox.service.outbox import Hooks
from rox.service.writer import Idempotent, Writer, _Intake

folder, size, batches, keyed, first, cases = (
    Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1",
    int(sys.argv[5]), sys.argv[6] == "1",
)


class Counted:
    def __init__(self, con):
        self._con, self.n, self.took = con, 0, {}

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql, *a, **k):
        self.n += 1
        t0 = time.perf_counter()
        try:
            return self._con.execute(sql, *a, **k)
        finally:
            key = " ".join(sql.split())[:48]
            self.took.setdefault(key, []).append(time.perf_counter() - t0)

    def register(self, name, *a, **k):
        t0 = time.perf_counter()
        try:
            return self._con.register(name, *a, **k)
        finally:
            self.took.setdefault(f"register {name}", []).append(time.perf_counter() - t0)

    def executemany(self, *a, **k):
        self.n += 1
        return self._con.executemany(*a, **k)


path = folder / "w.duckdb"
writer = Writer(rox.open(str(path)))
writer.arrival = Arrival(writer.ws, None if cases else False, Hooks())
counted = Counted(writer.batches.con)
writer.batches.con = counted
times, statements = [], []
i = first
for _ in range(batches):
    group = []
    for _ in range(size):
        row = {"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": i % 11,
               "response_id": f"r-{i}", "customer_id": f"c{i % 5000}", "channel": "app"}
        idem = Idempotent("k1", f"key-{i}", "/v1/responses", f"{i:064x}") if keyed else None
        group.append(_Intake("responses", [row], True, idem))
        i += 1
    before = counted.n
    if len(times) == 1:  # (the first batch warms the caches)
        counted.took.clear()
    t0 = time.perf_counter()
    writer._commit("responses", group)
    times.append(time.perf_counter() - t0)
    statements.append(counted.n - before)
    for item in group:
        item.future.result()  # every request answered 201
writer.batches.con = counted._con
writer.stop()
print(json.dumps({"times": times, "statements": statements, "took": counted.took}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", default="src", help="comma-separated src folders")
    parser.add_argument("--size", type=int, default=30, help="responses per batch")
    parser.add_argument("--batches", type=int, default=40, help="batches per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keyed", action="store_true", help="an Idempotency-Key per request")
    parser.add_argument("--no-cases", action="store_true", help="no cases on arrival")
    parser.add_argument(
        "--statements", action="store_true", help="also each statement's median time per batch"
    )
    args = parser.parse_args()
    sources = [Path(s).resolve() for s in args.src.split(",")]
    times: dict[Path, list[float]] = {s: [] for s in sources}
    statements: dict[Path, list[int]] = {s: [] for s in sources}
    took: dict[Path, dict[str, list[float]]] = {s: {} for s in sources}
    for r in range(args.rounds):
        for src in sources:
            with tempfile.TemporaryDirectory(prefix="rox-profile-batch-") as folder:
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, folder, str(args.size), str(args.batches),
                     "1" if args.keyed else "0", str(r * 10**6), "0" if args.no_cases else "1"],
                    env={**os.environ, "PYTHONPATH": str(src)},
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
            if out.returncode:
                raise SystemExit(out.stderr)
            got: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
            times[src].extend(got["times"][1:])  # (the first batch warms the caches)
            statements[src].extend(got["statements"][1:])
            for key, spent in got["took"].items():
                took[src].setdefault(key, []).extend(spent)
    base = statistics.median(times[sources[0]])
    for src in sources:
        med = statistics.median(times[src])
        print(
            f"{src!s:40s} median batch of {args.size}: {med * 1000:7.1f} ms "
            f"({len(times[src])} batches), statements per batch "
            f"{statistics.median(statements[src]):.0f}, ratio to first {med / base:.2f}"
        )
        if args.statements:  # the costliest first (median x times per batch)
            per_batch = len(times[src])
            rows = sorted(took[src].items(), key=lambda kv: -sum(kv[1]))
            for key, spent in rows:
                print(f"    {statistics.median(spent) * 1000:7.2f} ms "
                      f"x{len(spent) / per_batch:4.1f} per batch  {key}")  # fmt: skip


if __name__ == "__main__":
    main()
