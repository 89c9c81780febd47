"""A responses load validated by Spark (rox's ``native`` path) vs Spark's own CSV-to-Parquet copy.

Both sides run on Spark ``local[2]`` in a fresh process each (the JVM's peak memory is then the
run's own), on the same generated CSV file of responses:

- peer: ``spark.read.csv(path, header=True).write.parquet(out)`` (no typing, no checks);
- floor: the same validated load as hand-written Spark, no rox code (``spark_load_floor.py``:
  one pass over the CSV typing, checking and writing the valid rows partitioned by day to a
  staging folder, the keys checked on the staged Parquet, the files moved into the table);
- rox: ``ws.ingest("responses", path, native=True)`` into an empty lake (read, type and check
  every value, check the keys, write the rows partitioned by day and the load record).

Reported per size: the median seconds of ``--repeats`` runs of each, their ratios, and the peak
resident memory (VmHWM) of the Python process and of the JVM (in local mode the driver and the
executors share it). The session's start is not timed (a one-row job warms it).

    python bench/bench_spark_load.py --rows 1000000 --repeats 3

``--profile`` also prints, for each run, the Spark jobs of the timed part with their seconds and
description (from Spark's event log: the native load describes each of its jobs), and the
seconds outside any job (Python, planning, listing files).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

METRICS = np.array(["nps", "csat", "ces"])
TOPS = np.array([10, 5, 7])


def generate(path: Path, rows: int, seed: int) -> None:
    """A CSV of ``rows`` valid responses, written in chunks (ids r1.., a year of timestamps)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00")
    with path.open("w") as fh:
        fh.write("response_id,customer_id,ts,metric,score\n")
        step = 500_000
        for lo in range(0, rows, step):
            n = min(step, rows - lo)
            which = rng.integers(0, 3, n)
            score = rng.integers(0, 11, n) % (TOPS[which] + 1)
            score = np.where(which == 0, score, np.maximum(score, 1))
            ts = start + rng.integers(0, 365 * 86_400, n).astype("timedelta64[s]")
            ids = np.arange(lo + 1, lo + n + 1)
            customers = rng.integers(1, max(rows // 5, 2), n)
            lines = [
                f"r{i},c{c},{t},{m},{s}\n"
                for i, c, t, m, s in zip(
                    ids, customers, ts.astype(str), METRICS[which], score, strict=True
                )
            ]
            fh.writelines(lines)


def _jvm_hwm_mib() -> float:
    """Peak resident memory of this process's child JVM (the Spark driver), in MiB."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(") ")[-1].split()
        except OSError:
            continue
        if fields[1] == me:
            status = (stat.parent / "status").read_text()
            if "java" in (stat.parent / "cmdline").read_text():
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
    return float("nan")


def _jobs(log_dir: Path, since_ms: float) -> list[dict[str, Any]]:
    """The Spark jobs submitted after ``since_ms`` (epoch ms), from the event log in ``log_dir``."""
    jobs: dict[int, dict[str, Any]] = {}
    for log in log_dir.iterdir():
        for line in log.open():
            event = json.loads(line)
            if event["Event"] == "SparkListenerJobStart" and event["Submission Time"] >= since_ms:
                props = event.get("Properties", {})
                stages = [stage["Stage Name"] for stage in event.get("Stage Infos", [])]
                what = props.get("spark.job.description") or "; ".join(stages)
                jobs[event["Job ID"]] = {"start": event["Submission Time"], "what": what}
            elif event["Event"] == "SparkListenerJobEnd" and event["Job ID"] in jobs:
                job = jobs[event["Job ID"]]
                job["secs"] = (event["Completion Time"] - job["start"]) / 1000
    return [jobs[j] for j in sorted(jobs)]


def child(side: str, csv: Path, out: Path, profile: bool) -> dict[str, Any]:
    """One timed run of ``side`` in this process."""
    sys.path.insert(0, str(Path(__file__).parent))
    events = out.with_name(f"{out.name}-events")
    if profile:
        shutil.rmtree(events, ignore_errors=True)
        events.mkdir(parents=True)
        os.environ["PYSPARK_SUBMIT_ARGS"] = (
            f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir={events.as_uri()} "
            "--conf spark.eventLog.rolling.enabled=false --conf spark.eventLog.compress=false "
            "pyspark-shell"
        )
    import rox
    from _measure import status_mib
    from rox.engines.spark import local_session

    session = local_session("local[2]")
    session.range(1).count()  # (the session is warm; its start is not timed)
    since_ms = time.time() * 1000
    if side == "peer":
        start = time.perf_counter()
        session.read.csv(str(csv), header=True).write.parquet(str(out))
        secs = time.perf_counter() - start
        loaded = None
    elif side in ("floor", "floor_gather"):
        from spark_load_floor import floor_load

        start = time.perf_counter()
        loaded = floor_load(session, str(csv), str(out), gather=side == "floor_gather")["loaded"]
        secs = time.perf_counter() - start
    else:
        ws = rox.open(f"spark://local[2]?lake={out}")
        start = time.perf_counter()
        report = ws.ingest(
            "responses", str(csv), native=True, mapping={"redact": {"enabled": False}}
        )
        secs = time.perf_counter() - start
        loaded = report.rows_loaded
    result = {
        "side": side,
        "secs": secs,
        "rows_loaded": loaded,
        "python_mib": status_mib("VmHWM"),
        "jvm_mib": _jvm_hwm_mib(),
    }
    if profile:
        session.stop()  # (the event log is complete once the session stops)
        result["jobs"] = _jobs(events, since_ms)
        shutil.rmtree(events, ignore_errors=True)
    return result


def run(side: str, csv: Path, work: Path, profile: bool) -> dict[str, Any]:
    out = work / f"out-{side}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, __file__, "--child", side, "--csv", str(csv), "--out", str(out)]
    done = subprocess.run(cmd + ["--profile"] * profile, check=True, capture_output=True, text=True)
    shutil.rmtree(out, ignore_errors=True)
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    if profile:
        in_jobs = sum(job.get("secs", 0.0) for job in result["jobs"])
        print(f"{side}, {result['secs']:.1f} s:", file=sys.stderr)
        for job in result["jobs"]:
            print(f"  {job.get('secs', float('nan')):7.2f} s  {job['what']}", file=sys.stderr)
        print(f"  {result['secs'] - in_jobs:7.2f} s  outside Spark jobs", file=sys.stderr)
    return result


def _median(results: list[dict[str, Any]]) -> float:
    """The median seconds of ``results`` (NaN for a side not run)."""
    return statistics.median(r["secs"] for r in results) if results else float("nan")


def _peak(results: list[dict[str, Any]], field: str) -> str:
    """The largest ``field`` of ``results``, in MiB ("-" for a side not run)."""
    return f"{max(r[field] for r in results):,.0f}" if results else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rox-bench-spark-load"))
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument(
        "--profile", action="store_true", help="print each run's Spark jobs and their seconds"
    )
    parser.add_argument(
        "--sides",
        nargs="+",
        choices=["peer", "floor", "floor_gather", "rox"],
        default=["peer", "floor", "rox"],
        help="the sides to run (peer: Spark's copy; floor_gather: the floor writing through a "
        "shuffle by day)",
    )
    parser.add_argument(
        "--child", choices=["peer", "floor", "floor_gather", "rox"], help=argparse.SUPPRESS
    )
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.csv, args.out, args.profile)))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(
        "| rows | Spark read+write (s) | floor (s) | rox native (s) | floor / copy | rox / copy "
        "| rox / floor | Python peak (MiB) | JVM peak rox / floor / copy (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows in args.rows:
        csv = args.workdir / f"responses-{rows}.csv"
        if not csv.exists():
            generate(csv, rows, args.seed)
        runs = {
            side: [run(side, csv, args.workdir, args.profile) for _ in range(args.repeats)]
            for side in ("peer", "floor", "floor_gather", "rox")
            if side in args.sides
        }
        peer, ours = runs.get("peer", []), runs.get("rox", [])
        # the floor: the faster of its ways to write (by median), when both ran
        floors = [runs[side] for side in ("floor", "floor_gather") if side in runs]
        floor = min(floors, key=_median, default=[])
        assert all(r["rows_loaded"] == rows for r in ours + floor), ours + floor
        p, f, o = (_median(r) for r in (peer, floor, ours))
        print(
            f"| {rows:,} | {p:.1f} | {f:.1f} | {o:.1f} | {f / p:.2f}x | {o / p:.2f}x "
            f"| {o / f:.2f}x | {_peak(ours, 'python_mib')} "
            f"| {_peak(ours, 'jvm_mib')} / {_peak(floor, 'jvm_mib')} / {_peak(peer, 'jvm_mib')} |",
            flush=True,
        )
        for side, results in runs.items():
            secs = ", ".join(f"{r['secs']:.1f}" for r in results)
            print(f"<!-- {rows:,} rows, {side} runs (s): {secs} -->", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
