"""Where the time of bench_scale's workload goes on Spark: driver, serial and parallel, per part.

One side (rox, or the hand-written floor of ``scale_floor.py``) runs the workload of
``bench_scale.py`` on one lake, ``--runs`` times (the first a warm-up), in a local Spark session
with rox's settings plus Spark's event log (``spark.eventLog.enabled``, written to
``--eventlog``). After the session stops, the event log is read back (offline: no web UI) and,
for each part of the last run, its wall time (measured here) is split by how many tasks were
running at each instant:

* **no task** (the driver alone: Python, Ibis compilation, Spark's planning, scheduling, results
  brought to Python, and the gaps between jobs),
* **one task** (a single-task stage, or the tail of a stage whose other tasks are done),
* **two tasks or more** (both cores at work, on local[2]).

On local[2], the first two are what keeps the second core idle: the parallel efficiency from one
core to two cannot exceed ``wall / (wall + no task + one task)`` or so. Each part's jobs, stages
and tasks are counted, and its stages listed with their task count and duration (longest first;
``--stages``), so that a stage of one task over many rows shows up.

Usage (from the repository root)::

    PYTHONPATH=src python bench/profile_scale_spark.py /tmp/bs/n1000000/lake --side rox \
        --master 'local[2]' --runs 2 --eventlog /tmp/scale4/ev
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import PARTS, FloorSide, RoxSide


def session(master: str, eventlog: Path) -> Any:
    """A local session with rox's settings (``local_session``) and the event log on."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    eventlog.mkdir(parents=True, exist_ok=True)
    spark = (
        SparkSession.builder.appName("rox-profile")
        .master(master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.memory", os.environ.get("ROX_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", str(Path(tempfile.gettempdir()) / "rox-spark"))
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.dir", f"file://{eventlog}")
        .config("spark.eventLog.compress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def concurrency(tasks: list[tuple[float, float]], start: float, end: float) -> dict[int, float]:
    """Seconds within ``[start, end]`` during which 0, 1, 2, ... tasks were running."""
    points: list[tuple[float, int]] = []
    for a, b in tasks:
        a, b = max(a, start), min(b, end)
        if b > a:
            points += [(a, 1), (b, -1)]
    points.sort()
    out: dict[int, float] = {}
    running, last = 0, start
    for t, step in points:
        out[running] = out.get(running, 0.0) + (t - last)
        running, last = running + step, t
    out[running] = out.get(running, 0.0) + (end - last)
    return out


def read_log(folder: Path) -> dict[str, Any]:
    """Jobs, stages and tasks (times in seconds since 1970) from the event log in ``folder``.

    Spark 4 writes it rolled (``eventlog_v2_<app>/events_<n>_<app>``), read in order.
    """
    files = sorted(folder.rglob("events_*"), key=lambda f: int(f.name.split("_")[1]))
    newest = files[0].parent
    jobs: dict[int, dict[str, Any]] = {}
    stages: dict[int, dict[str, Any]] = {}
    tasks: list[dict[str, Any]] = []
    for line in (row for f in files for row in f.read_text().splitlines()):
        ev = json.loads(line)
        kind = ev.get("Event")
        if kind == "SparkListenerJobStart":
            jobs[ev["Job ID"]] = {"start": ev["Submission Time"] / 1e3, "stages": ev["Stage IDs"]}
        elif kind == "SparkListenerJobEnd":
            jobs[ev["Job ID"]]["end"] = ev["Completion Time"] / 1e3
        elif kind == "SparkListenerStageCompleted":
            info = ev["Stage Info"]
            stages[info["Stage ID"]] = {
                "name": info["Stage Name"],
                "tasks": info["Number of Tasks"],
                "start": info.get("Submission Time", 0) / 1e3,
                "end": info.get("Completion Time", 0) / 1e3,
                "details": info.get("Details", ""),
            }
        elif kind == "SparkListenerTaskEnd":
            info, metrics = ev["Task Info"], ev.get("Task Metrics") or {}
            tasks.append(
                {
                    "stage": ev["Stage ID"],
                    "start": info["Launch Time"] / 1e3,
                    "end": info["Finish Time"] / 1e3,
                    "gc": metrics.get("JVM GC Time", 0) / 1e3,
                    "records_in": (metrics.get("Input Metrics") or {}).get("Records Read", 0)
                    + (metrics.get("Shuffle Read Metrics") or {}).get("Total Records Read", 0),
                }
            )
    return {"jobs": jobs, "stages": stages, "tasks": tasks, "file": str(newest)}


def profile(log: dict[str, Any], part: str, start: float, end: float, top: int) -> dict[str, Any]:
    """The split of one part's wall time ``[start, end]`` and its stages."""
    jobs = [j for j in log["jobs"].values() if start <= j["start"] <= end]
    stage_ids = {s for j in jobs for s in j["stages"] if s in log["stages"]}
    tasks = [t for t in log["tasks"] if t["stage"] in stage_ids]
    split = concurrency([(t["start"], t["end"]) for t in tasks], start, end)
    stages = []
    for sid in stage_ids:
        s = log["stages"][sid]
        mine = [t for t in tasks if t["stage"] == sid]
        stages.append(
            {
                "stage": sid,
                "tasks": s["tasks"],
                "s": round(s["end"] - s["start"], 3),
                "task_s": round(sum(t["end"] - t["start"] for t in mine), 3),
                "records_in": sum(t["records_in"] for t in mine),
                "name": s["name"],
                "where": _where(s["details"]),
            }
        )
    stages.sort(key=lambda s: -s["s"])
    return {
        "part": part,
        "wall_s": round(end - start, 3),
        "jobs": len(jobs),
        "stages": len(stage_ids),
        "tasks": len(tasks),
        "no_task_s": round(split.get(0, 0.0), 3),
        "one_task_s": round(split.get(1, 0.0), 3),
        "two_plus_s": round(sum(v for k, v in split.items() if k >= 2), 3),
        "task_s": round(sum(t["end"] - t["start"] for t in tasks), 3),
        "gc_s": round(sum(t["gc"] for t in tasks), 3),
        "single_task_stages_s": round(sum(s["s"] for s in stages if s["tasks"] == 1), 3),
        "top_stages": stages[:top],
    }


def _where(details: str) -> str:
    """The first frame of a stage's call site that is rox's, the floor's or the profiler's."""
    for row in details.splitlines():
        if any(k in row for k in ("rox/", "scale_floor", "bench_scale", "ibis/")):
            return row.strip()[:160]
    return details.splitlines()[0][:160] if details else ""


def storage(spark: Any) -> list[dict[str, Any]]:
    """The cached tables now: MiB in memory and on disk, partitions cached (of all)."""
    return [
        {
            "name": str(info.name())[:60],
            "memory_mib": round(info.memSize() / 2**20, 1),
            "disk_mib": round(info.diskSize() / 2**20, 1),
            "partitions": f"{info.numCachedPartitions()}/{info.numPartitions()}",
        }
        for info in spark.sparkContext._jsc.sc().getRDDStorageInfo()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", type=Path)
    parser.add_argument("--side", choices=["rox", "floor"], default="rox")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--runs", type=int, default=2, help="workload runs; the last is profiled")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--eventlog", type=Path, default=Path("/tmp/rox-profile-eventlog"))
    parser.add_argument("--stages", type=int, default=6, help="stages listed per part")
    parser.add_argument("--out", type=Path, help="also write the profile as JSON here")
    args = parser.parse_args(argv)

    cores = args.master.removeprefix("local[").removesuffix("]")
    folder = args.eventlog / f"{args.side}-{cores}-{int(time.time())}"
    spark = session(args.master, folder)
    side: RoxSide | FloorSide = (
        RoxSide("spark", args.master) if args.side == "rox" else FloorSide(args.master)
    )
    side.open(args.lake.parent)
    windows: dict[str, tuple[float, float]] = {}
    cached: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.runs):
        side.start_run()
        windows = {}
        for part in args.parts:
            start = time.time()
            side.run(part)
            windows[part] = (start, time.time())
            cached[part] = storage(spark)
    side.close()
    spark.stop()
    log = read_log(folder)
    report = [profile(log, part, a, b, args.stages) for part, (a, b) in windows.items()]
    total = {
        k: round(sum(r[k] for r in report), 3)
        for k in ("wall_s", "no_task_s", "one_task_s", "two_plus_s", "task_s", "gc_s")
    }
    print(f"{args.side} {args.master} on {args.lake} (event log {log['file']})")
    print("part      wall    none   one    two+   task-s  gc-s  jobs stages tasks  1-task stages")
    for r in report:
        print(
            f"{r['part']:<9}{r['wall_s']:7.2f}{r['no_task_s']:7.2f}{r['one_task_s']:7.2f}"
            f"{r['two_plus_s']:7.2f}{r['task_s']:8.2f}{r['gc_s']:6.2f}{r['jobs']:5d}"
            f"{r['stages']:7d}{r['tasks']:6d}{r['single_task_stages_s']:9.2f}"
        )
    print(
        f"{'total':<9}{total['wall_s']:7.2f}{total['no_task_s']:7.2f}{total['one_task_s']:7.2f}"
        f"{total['two_plus_s']:7.2f}{total['task_s']:8.2f}{total['gc_s']:6.2f}"
    )
    for r in report:
        for c in cached[r["part"]]:
            print(f"  cached after {r['part']}: {c}")
        print(f"\n{r['part']}: longest stages (s, tasks, records read, name / call site)")
        for s in r["top_stages"]:
            print(
                f"  {s['s']:7.2f} s {s['tasks']:4d} tasks {s['records_in']:>11,} rec  "
                f"{s['name'][:60]} | {s['where']}"
            )
    if args.out:
        args.out.write_text(json.dumps({"total": total, "parts": report}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
