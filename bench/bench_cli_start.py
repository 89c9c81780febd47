"""Benchmark: how long `rox nps` takes on the demo, against the floor of any Ibis program.

The issue's target (#14): ``rox nps`` on the demo workspace under 1 s wall clock. Every call is a
fresh process, so most of it is interpreter start and imports. Timed side by side, interleaved,
each a fresh ``python`` process on the same workspace:

(a) ``rox nps``   the command as a user types it (``python -m rox nps``);
(b) ``floor``     the least any Ibis-on-DuckDB program that prints a pandas result pays: import
                  ibis and pandas, open the workspace read-only, one NPS aggregate, ``execute()``,
                  print it;
(c) ``python``    the interpreter alone (``python -c pass``).

The demo workspace is built first with ``rox demo --customers N`` in a temporary folder (not
timed). Medians over ``--runs`` interleaved rounds; the machine's load is printed with them.

Usage::

    python bench/bench_cli_start.py --runs 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = """
import ibis, pandas
con = ibis.duckdb.connect("rox.duckdb", read_only=True)
t = con.table("responses")
t = t.filter(t.metric == "nps")
print(t.aggregate(n=t.count(), nps=100 * ((t.score >= 9).mean() - (t.score <= 6).mean())).execute())
"""


def _time(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--customers", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "rox", "demo", "--customers", str(args.customers)],
            cwd=folder,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        sides = {
            "rox nps": [sys.executable, "-m", "rox", "nps"],
            "floor": [sys.executable, "-c", FLOOR],
            "python": [sys.executable, "-c", "pass"],
        }
        for cmd in sides.values():  # warm the page cache and the bytecode
            _time(cmd, folder)
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.runs):
            for name, cmd in sides.items():
                times[name].append(_time(cmd, folder))
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.runs} runs each")
    for name, m in med.items():
        print(f"{name:>8}: median {m:.3f} s (min {min(times[name]):.3f} s)")
    print(f"rox nps / floor = {med['rox nps'] / med['floor']:.2f}")


if __name__ == "__main__":
    main()
