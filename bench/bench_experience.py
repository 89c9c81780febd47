"""Benchmark: NPS, CSAT and CES by three columns and month, rox against one hand-written query.

The issue's target: ``rox.experience.scorecard(ws, by=["touchpoint", "channel", "region"],
period="month")`` over 10 million responses in a DuckDB workspace runs within 1.5x of the same
aggregate written as one hand-written DuckDB SQL query on the same table, in the same run.

What is timed (wall time, interleaved runs after one warm-up of each):

(a) ``rox``      the scorecard end to end: Ibis expression, DuckDB query, pandas/numpy estimates
                 and confidence intervals, three ``ExperienceResult`` objects;
(b) ``sql``      one hand-written DuckDB query computing, per (touchpoint, channel, region,
                 month), NPS n / % promoters / % detractors / NPS, CSAT n / % top-2-box and CES n /
                 mean / sd / % easy (weighted like rox), fetched into a pandas DataFrame;
(c) ``separate`` for information, ``nps()`` + ``csat()`` + ``ces()`` called one after the other.

The responses are generated with numpy (seeded) and written straight into the workspace's
``responses`` table with DuckDB; generation is not timed. Peak memory is measured per side in a
child process (``--only rox|sql|separate``) so that one side's allocations do not hide the other's.

Usage::

    python bench/bench_experience.py --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from _measure import status_mib

BY = ["touchpoint", "channel", "region"]
TOUCHPOINTS = [
    "website",
    "app",
    "showroom",
    "test_drive",
    "financing",
    "delivery",
    "service_booking",
    "workshop",
    "call_center",
    "chat",
    "email",
    "invoice",
]
CHANNELS = ["web", "app", "dealer", "phone", "email", "social"]
REGIONS = ["north", "south", "east", "west", "central"]
METRICS = ["nps", "csat", "ces"]
SCALES = ["0-10", "1-5", "1-7"]
N_MONTHS = 36
START = np.datetime64("2023-01-01T00:00:00", "s")

#: Score distributions per metric (probabilities of low..high), roughly those of real surveys.
_SCORE_P = {
    "nps": [0.03, 0.02, 0.03, 0.03, 0.04, 0.07, 0.08, 0.15, 0.20, 0.17, 0.18],
    "csat": [0.05, 0.08, 0.17, 0.35, 0.35],
    "ces": [0.04, 0.06, 0.10, 0.15, 0.25, 0.22, 0.18],
}
_SCORE_LOW = {"nps": 0, "csat": 1, "ces": 1}

#: The hand-written peer: one scan, one row per (touchpoint, channel, region, month).
SQL = """
WITH r AS (
    SELECT touchpoint, channel, region, date_trunc('month', ts) AS period, metric, score,
           coalesce(weight, 1.0) AS w
    FROM responses
),
g AS (
    SELECT touchpoint, channel, region, period,
        count(*) FILTER (WHERE metric = 'nps') AS nps_n,
        sum(w) FILTER (WHERE metric = 'nps') AS nps_w,
        sum(w) FILTER (WHERE metric = 'nps' AND score >= 9) AS nps_top,
        sum(w) FILTER (WHERE metric = 'nps' AND score <= 6) AS nps_bottom,
        count(*) FILTER (WHERE metric = 'csat') AS csat_n,
        sum(w) FILTER (WHERE metric = 'csat') AS csat_w,
        sum(w) FILTER (WHERE metric = 'csat' AND score >= 4) AS csat_top,
        count(*) FILTER (WHERE metric = 'ces') AS ces_n,
        sum(w) FILTER (WHERE metric = 'ces') AS ces_w,
        sum(w * w) FILTER (WHERE metric = 'ces') AS ces_w2,
        sum(w * score) FILTER (WHERE metric = 'ces') AS ces_wx,
        sum(w * score * score) FILTER (WHERE metric = 'ces') AS ces_wxx,
        sum(w) FILTER (WHERE metric = 'ces' AND score >= 5) AS ces_easy
    FROM r
    GROUP BY ALL
)
SELECT touchpoint, channel, region, period,
    nps_n,
    100 * coalesce(nps_top, 0) / nps_w AS nps_promoters,
    100 * coalesce(nps_bottom, 0) / nps_w AS nps_detractors,
    100 * (coalesce(nps_top, 0) - coalesce(nps_bottom, 0)) / nps_w AS nps,
    csat_n,
    100 * coalesce(csat_top, 0) / csat_w AS csat,
    ces_n,
    ces_wx / ces_w AS ces_mean,
    sqrt(greatest(ces_wxx / ces_w - (ces_wx / ces_w) ^ 2, 0)
         * (ces_w ^ 2 / ces_w2) / (ces_w ^ 2 / ces_w2 - 1)) AS ces_sd,
    100 * coalesce(ces_easy, 0) / ces_w AS ces_easy
FROM g
"""


# -- data -----------------------------------------------------------------------------------------
def _chunks(rows: int, seed: int, chunk: int = 1_000_000) -> Iterator[pa.Table]:
    """Yield the responses as Arrow tables of integer codes (strings are built in DuckDB)."""
    rng = np.random.default_rng(seed)
    span = int((START + np.timedelta64(N_MONTHS * 30, "D") - START) / np.timedelta64(1, "s"))
    cdf = {m: np.cumsum(p) / np.sum(p) for m, p in _SCORE_P.items()}
    for first in range(0, rows, chunk):
        n = min(chunk, rows - first)
        metric = rng.choice(3, size=n, p=[0.5, 0.3, 0.2]).astype(np.int8)
        touchpoint = rng.integers(0, len(TOUCHPOINTS), size=n, dtype=np.int8)
        # a small, planted touchpoint effect so that groups differ
        u = np.clip(rng.random(n) + (touchpoint - 5.5) * 0.01, 0.0, 1.0 - 1e-12)
        score = np.empty(n)
        for code, name in enumerate(METRICS):
            rows_m = metric == code
            score[rows_m] = _SCORE_LOW[name] + np.searchsorted(cdf[name], u[rows_m], side="right")
        weighted = rng.random(n) < 0.1
        weight = np.where(weighted, rng.uniform(0.5, 2.0, size=n), np.nan)
        ts = START + rng.integers(0, span, size=n).astype("timedelta64[s]")
        yield pa.table(
            {
                "id": pa.array(np.arange(first, first + n, dtype=np.int64)),
                "ts": pa.array(ts, type=pa.timestamp("s", tz="UTC")),
                "metric": pa.array(metric),
                "score": pa.array(score),
                "customer": rng.integers(0, rows // 5 + 1, size=n, dtype=np.int64),
                "touchpoint": pa.array(touchpoint),
                "channel": rng.integers(0, len(CHANNELS), size=n, dtype=np.int8),
                "region": rng.integers(0, len(REGIONS), size=n, dtype=np.int8),
                "weight": pa.array(weight, from_pandas=True),
            }
        )


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def generate(con: duckdb.DuckDBPyConnection, rows: int, seed: int) -> None:
    """Fill ``responses`` (and its extra ``region`` column) with ``rows`` generated responses."""
    con.execute("ALTER TABLE responses ADD COLUMN IF NOT EXISTS region VARCHAR")
    insert = f"""
        INSERT INTO responses BY NAME
        SELECT ts,
               {_sql_list(METRICS)}[metric + 1] AS metric,
               score,
               'r' || id AS response_id,
               'c' || customer AS customer_id,
               {_sql_list(SCALES)}[metric + 1] AS scale,
               {_sql_list(TOUCHPOINTS)}[touchpoint + 1] AS touchpoint,
               {_sql_list(CHANNELS)}[channel + 1] AS channel,
               {_sql_list(REGIONS)}[region + 1] AS region,
               weight,
               'r' || id AS _key,
               0 AS _load_id
        FROM chunk
    """
    for table in _chunks(rows, seed):
        con.register("chunk", table)
        con.execute(insert)
        con.unregister("chunk")
    con.execute("CHECKPOINT")


# -- the three contenders -------------------------------------------------------------------------
def run_rox(ws: Any) -> dict[str, Any]:
    import rox

    return rox.experience.scorecard(ws, by=BY, period="month")


def run_sql(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(SQL).arrow().read_all().to_pandas()


def run_separate(ws: Any) -> list[Any]:
    import rox

    return [
        rox.experience.nps(ws, by=BY, period="month"),
        rox.experience.csat(ws, by=BY, period="month"),
        rox.experience.ces(ws, by=BY, period="month"),
    ]


def check_agreement(
    card: dict[str, Any], peer: pd.DataFrame, tol: float = 1e-9
) -> dict[str, float]:
    """Largest absolute difference per figure between rox and the hand-written query."""
    peer = peer.copy()
    peer["period"] = pd.to_datetime(peer["period"]).dt.tz_localize(None)
    keys = [*BY, "period"]
    pairs = {
        "nps": [("estimate", "nps"), ("n", "nps_n"), ("promoters", "nps_promoters")],
        "csat": [("estimate", "csat"), ("n", "csat_n")],
        "ces": [("estimate", "ces_mean"), ("n", "ces_n"), ("easy", "ces_easy")],
    }
    out = {}
    for metric, columns in pairs.items():
        mine = card[metric].frame
        theirs = peer[peer[f"{metric}_n"] > 0]
        assert len(mine) == len(theirs), (metric, len(mine), len(theirs))
        both = mine.merge(theirs, on=keys, how="inner", validate="one_to_one")
        assert len(both) == len(mine), (metric, len(both), len(mine))
        for ours, peers in columns:
            diff = float(np.max(np.abs(both[ours].to_numpy(float) - both[peers].to_numpy(float))))
            out[f"{metric}.{ours}"] = diff
            assert diff < tol, f"{metric} {ours}: rox and SQL differ by {diff}"
    return out


# -- measurement ----------------------------------------------------------------------------------
def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def only(side: str, path: Path, repeats: int) -> dict[str, float]:
    """Child mode: run one side ``repeats`` times; report its timings and memory."""
    if side == "sql":
        con = duckdb.connect(str(path), read_only=True)
        con.execute("SET TimeZone = 'UTC'")

        def fn() -> object:
            return run_sql(con)

    else:
        import rox

        ws = rox.open(path, read_only=True)

        def fn() -> object:
            return run_rox(ws) if side == "rox" else run_separate(ws)

    baseline = status_mib("VmRSS")
    times = [_time(fn) for _ in range(repeats)]
    return {"baseline_mib": baseline, "peak_mib": status_mib("VmHWM"), "median_s": _median(times)}


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def machine() -> dict[str, Any]:
    """Facts about the machine and the versions measured."""
    import ibis

    import rox

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "ibis": ibis.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "rox": getattr(rox, "__version__", "dev"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="responses to generate")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each side")
    parser.add_argument("--workspace", type=Path, help="DuckDB file (default: a temporary file)")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--only", choices=["rox", "sql", "separate"], help=argparse.SUPPRESS)
    parser.add_argument("--no-memory", action="store_true", help="skip the per-side memory runs")
    args = parser.parse_args(argv)

    if args.only:
        sys.stdout.write(json.dumps(only(args.only, args.workspace, args.repeats)) + "\n")
        return 0

    import rox

    tmp = None
    if args.workspace is None:
        tmp = tempfile.TemporaryDirectory(prefix="rox-bench-")
        args.workspace = Path(tmp.name) / "bench.duckdb"
    try:
        return _run(rox, args)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(rox: Any, args: argparse.Namespace) -> int:
    ws = rox.open(args.workspace)
    con = ws.backend.con
    have = ws.count("responses")
    if have != args.rows:
        if have:
            con.execute("DELETE FROM responses")
        start = time.perf_counter()
        generate(con, args.rows, args.seed)
        print(f"generated {args.rows:,} responses in {time.perf_counter() - start:.1f} s")
    else:
        print(f"reusing {have:,} responses in {args.workspace}")

    # one warm-up of each, which also checks that rox and the SQL agree
    card, peer = run_rox(ws), run_sql(con)
    run_separate(ws)
    diffs = check_agreement(card, peer)
    groups = {m: len(r.frame) for m, r in card.items()}
    print(f"rox and SQL agree (max abs diff {max(diffs.values()):.2e}); groups: {groups}")

    sides: dict[str, Callable[[], object]] = {
        "rox": lambda: run_rox(ws),
        "sql": lambda: run_sql(con),
        "separate": lambda: run_separate(ws),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, fn in sides.items():
            times[name].append(_time(fn))
    ws.close()

    memory: dict[str, dict[str, float]] = {}
    if not args.no_memory:
        for name in sides:
            memory[name] = _child(name, args.workspace, repeats=2)

    report = {
        "benchmark": "experience",
        "rows": args.rows,
        "repeats": args.repeats,
        "machine": machine(),
        "times_s": times,
        "median_s": {k: _median(v) for k, v in times.items()},
        "min_s": {k: min(v) for k, v in times.items()},
        "ratio_rox_over_sql": _median(times["rox"]) / _median(times["sql"]),
        "ratio_separate_over_sql": _median(times["separate"]) / _median(times["sql"]),
        "memory_mib": memory,
        "max_abs_diff": diffs,
    }
    print(_table(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _child(side: str, path: Path, repeats: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--only", side, "--workspace", str(path)]
    done = subprocess.run([*cmd, "--repeats", str(repeats)], capture_output=True, check=True)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def _table(report: dict[str, Any]) -> str:
    names = {
        "rox": "rox `scorecard()` (NPS+CSAT+CES, with CIs)",
        "sql": "hand-written DuckDB SQL → pandas",
        "separate": "rox `nps()` + `csat()` + `ces()`",
    }
    lines = [
        f"{report['rows']:,} responses, {report['repeats']} interleaved runs each "
        f"(DuckDB {report['machine']['duckdb']}, {report['machine']['cpus']} CPUs)",
        "",
        "| side | median (s) | min (s) | × SQL | peak RSS (MiB) | RSS after imports (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    sql = report["median_s"]["sql"]
    for key, label in names.items():
        mem = report["memory_mib"].get(key, {})
        peak = f"{mem['peak_mib']:,.0f}" if mem else "n/a"
        base = f"{mem['baseline_mib']:,.0f}" if mem else "n/a"
        lines.append(
            f"| {label} | {report['median_s'][key]:.3f} | {report['min_s'][key]:.3f} | "
            f"{report['median_s'][key] / sql:.2f} | {peak} | {base} |"
        )
    verdict = "met" if report["ratio_rox_over_sql"] <= 1.5 else "NOT met"
    lines += ["", f"target (rox within 1.5x of SQL): {verdict}"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
