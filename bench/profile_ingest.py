"""Where the time of ``ws.ingest`` goes, by step, for one or more versions of rox's source.

Each version loads the CSV into a fresh DuckDB file in its own child process (then loads it again:
the re-ingest), with every statement timed through a proxy of the DuckDB connection and grouped
by step; the bare DuckDB load follows in its own process. Versions and the bare load follow each
other in one run, over ``--repeats`` rounds; medians are printed, with each total over the bare
load's median.

Usage::

    git archive <commit> src | tar -x -C /tmp/before
    python bench/profile_ingest.py --csv responses.csv --src /tmp/before/src,src
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Steps of a load, each with the statements it counts (by a test on their SQL text).
STEPS = {
    "one pass (read, parse, flag, insert)": lambda s: (
        s.startswith('INSERT INTO "') and "read_csv" in s
    ),
    # (after #15 §3's fold: the checks and the checksum in one scan, after the first rowid)
    "checks and checksum of the rows written, one scan": lambda s: (
        'count(DISTINCT hash("_key"))' in s or s.startswith('SELECT min(rowid) FROM "')
    ),
    "checks on the rows written": lambda s: (
        'count(DISTINCT "_key")' in s
        or ('_key" IN (SELECT' in s and s.startswith("SELECT count(*)"))
    ),
    "number the rows written": lambda s: (
        (s.startswith("UPDATE") and "_seq = rowid" in s)
        or (s.startswith("SELECT count(*), min(rowid)") and "_seq IS NULL" in s)
    ),
    "checksum of the rows written": lambda s: "bit_xor(hash(" in s,
    "commit": lambda s: s == "COMMIT",
    "stage the file": lambda s: (
        "read_csv" in s and ("_rox_row, * FROM" in s or "_rox_source AS" in s)
    ),
    "parse, hash, flag": lambda s: (
        s.startswith(
            ("CREATE OR REPLACE TEMP TABLE _rox_typed", "CREATE OR REPLACE TEMP VIEW _rox_typed")
        )
        or "FILTER (WHERE _rox_bad)" in s
    ),
    "key checks": lambda s: "_rox_keys" in s or "_rox_duplicates" in s or "_rox_skipped AS" in s,
    "rules": lambda s: "_rox_problems" in s and not s.startswith(('INSERT INTO "', "SELECT count")),
    "write": lambda s: s.startswith('INSERT INTO "'),
}


class _Timed:
    """A DuckDB connection whose statements are timed: wall time, and the process's CPU time.

    The CPU time is ``time.process_time()``: every thread of the process, DuckDB's included.
    """

    def __init__(self, con: Any, log: list[tuple[float, float, str]]) -> None:
        self._con, self._log = con, log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def _timed(self, run: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.process_time()
        out = run(sql, *args, **kwargs)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        self._log.append((wall, cpu, " ".join(str(sql).split())))
        return out

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return self._timed(self._con.execute, sql, *args, **kwargs)

    def executemany(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return self._timed(self._con.executemany, sql, *args, **kwargs)


def _profiled(ws: Any, csv: str) -> dict[str, float]:
    """Wall seconds by step (keys as in STEPS) and CPU seconds by step (the same keys + " cpu")."""
    log: list[tuple[float, float, str]] = []
    real = ws.backend.con
    ws.backend.con = _Timed(real, log)
    start, cpu = time.perf_counter(), time.process_time()
    ws.ingest("responses", csv)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    ws.backend.con = real
    names = [*STEPS, "the rest"]
    out = dict.fromkeys(names + [f"{n} cpu" for n in names], 0.0)
    for seconds, cpu_seconds, sql in log:
        step = next((n for n, test in STEPS.items() if test(sql)), "the rest")
        out[step] += seconds
        out[f"{step} cpu"] += cpu_seconds
    out["the rest"] += total - sum(s for s, _, _ in log)  # Python between statements
    out["the rest cpu"] += cpu - sum(c for _, c, _ in log)
    out["total"], out["total cpu"] = total, cpu
    return out


def child(side: str, csv: str) -> dict[str, Any]:
    """Child mode: profile rox (fresh, then re-ingest), or time the bare DuckDB load."""
    with tempfile.TemporaryDirectory(prefix="rox-profile-ingest-") as tmp:
        if side == "duckdb":
            import duckdb

            start, cpu = time.perf_counter(), time.process_time()
            con = duckdb.connect(f"{tmp}/bare.duckdb")
            con.execute("SET enable_progress_bar = false")
            con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv}')")
            con.close()
            return {"total": time.perf_counter() - start, "total cpu": time.process_time() - cpu}
        import rox

        ws = rox.open(Path(tmp) / "w.duckdb")
        fresh, again = _profiled(ws, csv), _profiled(ws, csv)
        ws.close()
        return {"fresh": fresh, "reingest": again}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, help="a responses CSV (bench_ingest.write_csv)")
    parser.add_argument("--src", required=True, help="comma-separated src folders to profile")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.stdout.write(json.dumps(child(args.child, args.csv)) + "\n")
        return 0
    versions = args.src.split(",")
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in [*versions, "duckdb"]}
    for _ in range(args.repeats):
        for version, done_runs in runs.items():
            env = {"PATH": "/usr/bin:/bin"} | (
                {} if version == "duckdb" else {"PYTHONPATH": version}
            )
            side = "duckdb" if version == "duckdb" else "rox"
            done = subprocess.run(
                [sys.executable, __file__, "--csv", args.csv, "--src", version, "--child", side],
                capture_output=True,
                check=True,
                env=env,
            )
            done_runs.append(json.loads(done.stdout.decode().strip().splitlines()[-1]))
    bare = statistics.median(r["total"] for r in runs["duckdb"])
    bare_cpu = statistics.median(r["total cpu"] for r in runs["duckdb"])
    for version in versions:
        for load in ("fresh", "reingest"):
            steps = [k for k in runs[version][0][load] if not k.endswith(" cpu")]
            print(f"{version} {load} (medians of {args.repeats}; wall s, CPU s):")
            for k in steps:
                wall = statistics.median(r[load][k] for r in runs[version])
                cpu = statistics.median(r[load][f"{k} cpu"] for r in runs[version])
                every = ", ".join(f"{r[load][f'{k} cpu']:.2f}" for r in runs[version])
                print(f"  {k}: {wall:.2f} s, {cpu:.2f} CPU-s (rounds: {every})")
            total = statistics.median(r[load]["total"] for r in runs[version])
            total_cpu = statistics.median(r[load]["total cpu"] for r in runs[version])
            ratios = f"{total / bare:.2f}x the bare load's wall time, {total_cpu / bare_cpu:.2f}x"
            print(f"  {ratios} its CPU time")
    every = ", ".join(f"{r['total']:.2f} s / {r['total cpu']:.2f} CPU-s" for r in runs["duckdb"])
    print(f"bare DuckDB load: {bare:.2f} s, {bare_cpu:.2f} CPU-s (medians; rounds: {every})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
