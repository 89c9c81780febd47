"""Pareto/NBD fit time, rox alone (issue #16): the exact-Hessian Newton path against BG/NBD's.

No peer here (bench_clv.py has no Pareto/NBD section and its venv holds lifetimes; the issue's
reference, lifetimes' ParetoNBDFitter at about 0.6 s on CDNOW, is quoted, not re-measured).
Times, as medians over ``--repeats`` interleaved runs, wall and CPU time (``time.process_time``:
on a shared, loaded machine the CPU time is the steadier figure):

- BG/NBD and Pareto/NBD fits on the published CDNOW calibration summary (2,357 customers);
- the same two on the default demo brand's RFM summary (20,000 customers, seed 7; 3,699 buyers),
  and ``rox.value.clv(model="auto")`` on it (both fits, the choice, Gamma-Gamma, CLV).

Run from the repository root with rox importable::

    python bench/bench_paretonbd.py --repeats 9
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

import rox
import rox.demo
from rox.value import clv, rfm
from rox.value.models import BetaGeoModel, ParetoNBDModel

CDNOW = Path(__file__).resolve().parents[1] / "tests" / "data" / "cdnow"


def _time(fn: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    cdnow = pd.read_csv(CDNOW / "cdnow_customers_summary.csv")
    ws = rox.demo.build("duckdb://:memory:", n_customers=20_000, seed=7)
    demo = rfm(ws)
    demo_rows = demo.compressed()
    cases: dict[str, Callable[[], Any]] = {
        "CDNOW BG/NBD": lambda: BetaGeoModel().fit(cdnow),
        "CDNOW Pareto/NBD": lambda: ParetoNBDModel().fit(cdnow),
        "demo BG/NBD": lambda: BetaGeoModel().fit(demo_rows),
        "demo Pareto/NBD": lambda: ParetoNBDModel().fit(demo_rows),
        "demo clv(model='auto')": lambda: clv(demo),
    }
    for fn in cases.values():  # warm up (imports, thread pools)
        fn()
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            times[name].append(_time(fn))
    print("| fit | wall, median (ms) | CPU, median (ms) |")
    print("| --- | ---: | ---: |")
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs) * 1e3
        cpu = statistics.median(c for _, c in runs) * 1e3
        print(f"| {name} | {wall:,.1f} | {cpu:,.1f} |")
    model = ParetoNBDModel().fit(cdnow)
    print("\nCDNOW Pareto/NBD:", model)


if __name__ == "__main__":
    main()
