"""Benchmark: ``rox nba`` on the demo brand, against a bare scikit-learn T-learner.

The demo brand of ``--customers`` customers (with its past closed loop: cases with outreach and
a holdout) is built into a DuckDB file once (``--workspace``, reused when it exists). Timed,
interleaved, after one warm-up each, ``--runs`` times:

* ``rox``: ``next_best_actions(ws)`` with the default policy, end to end to its frame: the
  profile's NPS group, CLV and P(alive) (the purchase-model choice between BG/NBD and Pareto/NBD,
  Gamma-Gamma, the predictions), the features of every customer and of every past case in the
  engine, eligibility and cooldowns in the engine, the T-learner fitted on the past cases and
  applied to the eligible customers, one action per customer;
* ``bare T-learner``: the peer floor of the modelling alone: the same features, already in
  pandas (not timed), two ``HistGradientBoostingClassifier`` (same settings, one OpenMP thread)
  fitted on the same past cases, uplift predicted for every customer, and the best of the
  recovery call's expected value and the priors per customer by numpy.

Before timing, the script checks that the two T-learners give the same uplift on the eligible
customers (same features, same models: equal to 1e-6).

Usage::

    python bench/bench_nba.py --customers 1000000 --workspace /tmp/nba-1m.duckdb
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import rox
from rox.actions import next_best_actions
from rox.actions.nba import FEATURES, _history, _past, features
from rox.actions.outcomes import data_end
from rox.actions.policy import Policy


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workspace", default="/tmp/rox-bench-nba.duckdb")
    args = parser.parse_args()
    path = Path(args.workspace)
    if not path.exists():
        t = time.perf_counter()
        rox.demo.build(path, n_customers=args.customers, seed=7).close()
        print(f"demo of {args.customers:,} customers built in {time.perf_counter() - t:.0f} s")
    ws = rox.open(path, read_only=True)
    print(f"load average at the start: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"cases: {ws.count('cases'):,}; transactions: {ws.count('transactions'):,}")

    # the peer's inputs, prepared once (not timed): the same features rox computes
    import ibis
    from sklearn.ensemble import HistGradientBoostingClassifier

    policy = Policy.load()
    past = _past(ws, _history(ws, policy, None), policy)
    past = past[past["action"] == "recovery_call"]
    end = data_end(ws).to_pydatetime()
    customers = ws.table("customers").select("customer_id")
    anchors = customers.select("customer_id", key=customers.customer_id, at=ibis.literal(end))
    today = features(ws, anchors).execute()
    x_past = past[list(FEATURES)].to_numpy(float)
    t_past = past["treated"].to_numpy(bool)
    y_past = past["responded"].to_numpy(bool)
    x_today = today[list(FEATURES)].to_numpy(float)
    value = today["spend"].to_numpy(float)

    def bare() -> np.ndarray:
        with threadpool_limits(limits=1, user_api="openmp"):
            settings = {"max_depth": 3, "max_iter": 100, "min_samples_leaf": 20,
                        "learning_rate": 0.1, "random_state": 0}  # fmt: skip
            m1 = HistGradientBoostingClassifier(**settings).fit(x_past[t_past], y_past[t_past])
            m0 = HistGradientBoostingClassifier(**settings).fit(x_past[~t_past], y_past[~t_past])
            tau = m1.predict_proba(x_today)[:, 1] - m0.predict_proba(x_today)[:, 1]
        ev = np.stack([tau * value - 40.0, np.full(len(tau), 0.04 * 300.0 - 15.0)])
        best = ev.argmax(axis=0)
        del best
        return tau

    def ours() -> object:
        return next_best_actions(ws)

    # check: the same uplift on the customers rox scored with the T-learner
    result = next_best_actions(ws)
    learned = result.frame[result.frame["uplift_source"] == "T-learner"]
    tau = dict(zip(today["customer_id"], bare(), strict=True))
    diff = max((abs(tau[c] - u) for c, u in zip(learned["customer_id"], learned["uplift"],
                                                  strict=True)), default=0.0)  # fmt: skip
    print(f"customers with an action: {len(result.frame):,}; T-learner rows: {len(learned):,}; "
          f"largest uplift difference against the bare T-learner: {diff:.1e}")  # fmt: skip
    assert diff < 1e-6, diff
    print(result)

    # wall time, and the CPU time of the process (all its threads: DuckDB's included), which a
    # shared machine's load inflates far less than the wall time
    times: dict[str, list[float]] = {"rox": [], "bare T-learner": []}
    cpu: dict[str, list[float]] = {"rox": [], "bare T-learner": []}
    for _ in range(args.runs):
        for name, fn in (("rox", ours), ("bare T-learner", bare)):
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    rox_median = statistics.median(times["rox"])
    rox_cpu = statistics.median(cpu["rox"])
    for name, values in times.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.2f}" for v in values)
        cpu_median = statistics.median(cpu[name])
        print(f"{name:>16}: median {median:6.2f} s over {args.runs} runs ({runs}); "
              f"rox / this = {rox_median / median:.1f}x; CPU median {cpu_median:6.2f} s, "
              f"rox / this = {rox_cpu / cpu_median:.1f}x")  # fmt: skip
    print(f"peak memory of the process: {_peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
