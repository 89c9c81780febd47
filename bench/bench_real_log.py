"""Benchmark on a real event log: rox against pm4py on BPI Challenge 2012 (loan applications).

The log (``bench/data/bpic2012_complete.csv.gz``; source, licence and extraction in
``bench/data/README.md``): 13,087 cases, 164,506 completed events, 15.4% of them sharing their
timestamp with another event of their case — systems stamp several steps in the same millisecond.

What is checked, exactly (the script fails otherwise):

* rox's journey map (directly-follows counts, start and end steps) equals pm4py's
  ``discover_dfg``, and rox's variants (all of them) equal pm4py's ``get_variants``, counts
  included. Both order tied events as they were recorded: pm4py sorts each case by timestamp with
  a stable sort (``format_dataframe`` keeps the rows' index as the second key), rox by timestamp
  then the recorded order ``_seq`` that ingestion wrote from the rows' order in the file;
* for the record, how many transitions the order rox used before #21 (timestamp, then the step's
  name) gets wrong on this log, computed with pandas.

What is timed (wall time, interleaved runs after a warm-up, medians):

(a) ``rox``          ``journey_map`` + ``variants(top=None)`` from the DuckDB workspace (no index);
(a') ``rox indexed`` the same on a copy with the journey index; the index build timed apart;
(b) ``pm4py``        ``format_dataframe`` + ``discover_dfg`` + ``get_variants`` on the events
                     already in pandas (``pandas.read_csv`` of the log timed apart).

Loading (``ws.ingest`` of the CSV, with the mapping ``case`` -> customer_id, ``activity`` -> step)
is timed and reported, not compared.

Usage::

    python bench/bench_real_log.py --repeats 7
    python bench/bench_real_log.py --extract path/to/bpic2012.xes.gz   # rebuild the CSV
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from bench_journey import SEP, _count, _diff

HERE = Path(__file__).parent
LOG = HERE / "data" / "bpic2012_complete.csv.gz"
MAPPING = {"columns": {"case": "customer_id", "activity": "step"}}


def extract(xes: Path, out: Path) -> int:
    """Write the completed events of the XES log ``xes`` as the benchmark's CSV (see README)."""
    import pm4py

    log = pm4py.read_xes(str(xes), return_legacy_log_object=True)
    rows = [
        (trace.attributes["concept:name"], event["concept:name"], event["time:timestamp"])
        for trace in log
        for event in trace
        if event.get("lifecycle:transition") == "COMPLETE"
    ]
    frame = pd.DataFrame(rows, columns=["case", "activity", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    with gzip.open(out, "wt", encoding="utf-8") as fh:
        frame.to_csv(fh, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    return len(frame)


def read_log() -> pd.DataFrame:
    """The log as pandas reads it: rows in the file's order, ``ts`` as UTC timestamps."""
    frame = pd.read_csv(LOG, dtype={"case": str, "activity": str})
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


def run_pm4py(df: pd.DataFrame) -> dict[str, Any]:
    import pm4py

    log = pm4py.format_dataframe(df, case_id="case", activity_key="activity", timestamp_key="ts")
    dfg, starts, ends = pm4py.discover_dfg(log)
    return {"dfg": dfg, "starts": starts, "ends": ends, "variants": pm4py.get_variants(log)}


def run_rox(ws: Any) -> dict[str, Any]:
    """Map + all variants; each run from the events as loaded (what the session kept forgotten)."""
    import rox

    ws.forget()  # the first analysis orders the events, the second reuses them (#21)
    return {
        "map": rox.journey.journey_map(ws),
        "variants": rox.journey.variants(ws, top=None),
    }


def agreement(mine: dict[str, Any], peer: dict[str, Any]) -> dict[str, int]:
    """Assert exact equality of transitions, starts, ends and every variant's count."""
    edges = mine["map"].frame
    ours = {
        (s, t): int(n)
        for s, t, n in zip(edges.source, edges.target, edges.transitions, strict=True)
    }
    theirs = {k: int(v) for k, v in peer["dfg"].items()}
    assert ours == theirs, _diff("transitions", ours, theirs)
    for name in ("starts", "ends"):
        frame = getattr(mine["map"], name)
        got = {s: int(n) for s, n in zip(frame.step, frame.journeys, strict=True)}
        want = {k: int(v) for k, v in peer[name].items()}
        assert got == want, _diff(name, got, want)
    v = mine["variants"].frame
    ours_v = {tuple(p.split(SEP)): int(n) for p, n in zip(v.path, v.journeys, strict=True)}
    theirs_v = {tuple(k): _count(c) for k, c in peer["variants"].items()}
    assert ours_v == theirs_v, _diff("variants", ours_v, theirs_v)
    return {"transitions": len(ours), "variants": len(ours_v), "journeys": sum(ours_v.values())}


def old_order_errors(df: pd.DataFrame, peer: dict[str, Any]) -> dict[str, int]:
    """How many transitions the pre-#21 order (timestamp, then step name) counts differently."""
    ordered = df.sort_values(["case", "ts", "activity"], kind="stable")
    nxt = ordered.groupby("case")["activity"].shift(-1)
    pairs = pd.DataFrame({"a": ordered["activity"], "b": nxt}).dropna()
    counts = pairs.value_counts().to_dict()
    theirs = {k: int(v) for k, v in peer["dfg"].items()}
    keys = set(counts) | set(theirs)
    wrong = [k for k in keys if counts.get(k, 0) != theirs.get(k, 0)]
    worst = max(wrong, key=lambda k: abs(counts.get(k, 0) - theirs.get(k, 0)), default=None)
    return {
        "transitions_differing": len(wrong),
        "transitions": len(keys),
        "worst": f"{worst}: {counts.get(worst, 0)} instead of {theirs.get(worst, 0)}",
    }


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--extract", type=Path, help="rebuild the CSV from this XES file")
    parser.add_argument("--out", type=Path, help="write the report as JSON")
    args = parser.parse_args(argv)
    if args.extract:
        print(f"{extract(args.extract, LOG):,} events written to {LOG}")
        return 0

    import pm4py

    import rox

    folder = Path(tempfile.mkdtemp(prefix="rox-real-log-"))
    try:
        ws = rox.open(f"duckdb://{folder}/plain.duckdb")
        load_s = _time(lambda: ws.ingest("events", LOG, mapping=MAPPING))
        ws.close()
        shutil.copy(folder / "plain.duckdb", folder / "indexed.duckdb")
        plain = rox.open(f"duckdb://{folder}/plain.duckdb")
        indexed = rox.open(f"duckdb://{folder}/indexed.duckdb")
        builds = [_time(lambda: rox.journey.build_index(indexed)) for _ in range(args.repeats)]
        read_s = statistics.median(_time(read_log) for _ in range(3))
        df = read_log()
        ties = rox.journey.events.time_ties(plain)

        mine, peer = run_rox(plain), run_pm4py(df)  # warm-ups, and the results compared
        agreed = agreement(mine, peer)
        agreed_indexed = agreement(run_rox(indexed), peer)
        assert agreed == agreed_indexed
        old = old_order_errors(df, peer)

        times: dict[str, list[float]] = {"rox": [], "rox indexed": [], "pm4py": []}
        for _ in range(args.repeats):
            times["rox"].append(_time(lambda: run_rox(plain)))
            times["rox indexed"].append(_time(lambda: run_rox(indexed)))
            times["pm4py"].append(_time(lambda: run_pm4py(df)))
        med = {k: statistics.median(v) for k, v in times.items()}
        report = {
            "log": LOG.name,
            "events": ties.total,
            "tied_events": ties.tied,
            "tied_share": round(ties.share, 4),
            "agreement": agreed,
            "pre_21_order": old,
            "load_s": round(load_s, 3),
            "read_csv_s": round(read_s, 3),
            "index_build_s": round(statistics.median(builds), 3),
            "median_s": {k: round(v, 4) for k, v in med.items()},
            "pm4py_over_rox": round(med["pm4py"] / med["rox"], 2),
            "pm4py_over_rox_indexed": round(med["pm4py"] / med["rox indexed"], 2),
            "repeats": args.repeats,
            "versions": {"pm4py": pm4py.__version__, "rox": rox.__version__},
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(report, indent=2))
    print()
    print("| side | median | pm4py / side |")
    print("|---|---:|---:|")
    for side, secs in med.items():
        print(f"| {side} | {secs:.3f} s | {med['pm4py'] / secs:.1f}x |")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
