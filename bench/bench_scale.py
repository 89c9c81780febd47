"""Scale-out benchmark: one journey + RFM workload on a DuckDB file and on Spark local mode.

The same data (generated with numpy, seeded), at each size of ``--events``, in one run:

* **DuckDB**: ``rox.open("<workdir>/<n>/bench.duckdb")`` (rox's defaults: 2 threads, 2 GB memory
  limit);
* **Spark local[2]**: ``rox.open("spark://local[2]?lake=<workdir>/<n>/lake")``, the tables as
  Parquet partitioned by UTC day (``<lake>/<table>/rox_day=YYYY-MM-DD/part-0.parquet``), rox's
  session settings (``local_session``: 8 shuffle partitions, driver memory 4g);
* **Spark local[1]**: the same lake on one core, for Spark's parallel efficiency 1 → 2 cores.

What is timed (wall time; one warm-up of each side, then ``--repeats`` runs of each, the sides
interleaved round by round; medians reported), each part end to end from the open workspace to
the pandas result:

(a) journeys: ``rox.journey.journey_map(ws)`` + ``rox.journey.variants(ws, top=20)`` +
    ``rox.journey.funnel(ws, FUNNEL)`` (five steps, 30-day window);
(b) RFM: ``rox.value.sufficient_statistics(ws, calibration_end="2024-09-30")``: the distinct
    (frequency, recency, T) triples with their counts, grouped in the engine, so only they come
    back to Python. Also timed and reported (not in the total, which is (a) + (b)):
    ``rox.value.rfm(ws, calibration_end="2024-09-30").compressed()``, where the engine returns one
    row per customer and pandas groups the triples (the two results must be equal).

Opening the workspace (for Spark: starting the JVM) is timed apart.

Data: ``events / 10`` customers with one journey each, about 10 events per journey (a Markov chain
over 12 steps that ends after each step with probability 0.1; the last journey is cut so that
there are exactly ``events`` events), channels web / app / dealer / phone, timestamps within 2024
(strictly increasing whole seconds within a journey), plus ``events / 4`` transactions
(customer_id, ts, amount) spread over the customers by Gamma-distributed propensities. The tables
are written once as a Parquet lake in rox's Spark layout, with exactly the columns of the canonical
tables (``rox.workspace.canonical_schema``, ``_key`` unique per row, ``_load_id`` 1), and the
DuckDB workspace is filled from the same files with one ``INSERT ... SELECT`` per table. Loading is
not part of the workload; its time is reported. With ``--ingest-max-events`` (default 1M), the
sizes up to it are also loaded with ``ws.ingest`` into a fresh Spark lake and a fresh DuckDB file
(each in a child process), and that time is reported.

Before timing, the warm-up results of DuckDB and of each Spark side are compared: transition,
customer, start and end counts of the journey map, the 20 variants with their counts, the funnel
counts, the RFM triples with their counts, a digest of every customer's (frequency, recency, T)
and two sums of the customers' monetary values (equal to a relative 1e-12: they are means of
float sums, which engines add in different orders).

Each side runs in its own child process (``--only duckdb|spark --master local[k]``), driven by the
parent over a pipe and kept for all sizes (so one Spark master per process, each side's memory its
own, and a JVM started once: the first open of a Spark side includes the JVM start). Spark local[1]
above ``--spark1-large`` events (default 2M) runs ``--spark1-repeats-large`` times (default 1; one
run takes many minutes on this machine), without a separate warm-up when its JVM is warm from a
smaller size of the same run (its first run then also gives the results that are compared).

Peak memory is the peak of the summed resident sets of the child and its descendants (the Spark
JVM is a child of Python), sampled every 0.2 s with psutil, per size; ``VmHWM`` of each process
(since it started) is reported too.

The projection fits ``time = a * N**b`` (least squares on logs over the sizes run), the parallel
efficiency ``E = T(local[1]) / (2 * T(local[2]))`` and the serial fraction ``f = 1 / E - 1``
(Amdahl), and extrapolates to ``--project-events`` (default 1B) on one 2-core machine and on
clusters of ``--project-cores`` cores (see ``projection``).

Usage (from the repository root, in the benchmark venv with the Spark extra; the results in
docs/scale-out.md come from the first two commands, merged by the third)::

    bench/.venv/bin/python bench/bench_scale.py --events 1000000 10000000 --workdir /tmp/bs \
        --out /tmp/bs/scale.json
    bench/.venv/bin/python bench/bench_scale.py --events 3000000 --workdir /tmp/bs \
        --out /tmp/bs/scale3m.json
    bench/.venv/bin/python bench/bench_scale.py --from-json /tmp/bs/scale.json /tmp/bs/scale3m.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from _measure import status_mib
from bench_journey import _journeys

STEPS = [
    "visit",
    "configure",
    "view_offers",
    "test_drive_booking",
    "test_drive",
    "dealer_visit",
    "financing",
    "trade_in",
    "order",
    "purchase",
    "delivery",
    "support",
]
FUNNEL = ["visit", "configure", "test_drive", "order", "purchase"]
CHANNELS = ["web", "app", "dealer", "phone"]
CHANNEL_P = [0.5, 0.25, 0.15, 0.10]
START = np.datetime64("2024-01-01T00:00:00", "s")
SPAN_S = 366 * 86_400  # 2024 is a leap year
#: A journey ends after each step with this probability: about 10 events per journey.
END_P = 0.1
CALIBRATION_END = "2024-09-30"
PARTS = ("map", "variants", "funnel", "rfm")
#: What the growth fits and the efficiency are computed for.
FIT_PARTS = (*PARTS, "total", "rfm_frame", "total_frame")
SIDES = {
    "duckdb": ("duckdb", ""),
    "spark2": ("spark", "local[2]"),
    "spark1": ("spark", "local[1]"),
    "floor2": ("floor", "local[2]"),
    "floor1": ("floor", "local[1]"),
    "spark2_base": ("spark", "local[2]"),
}
LABELS = {
    "duckdb": "DuckDB (2 threads)",
    "spark2": "Spark local[2]",
    "spark1": "Spark local[1]",
    "floor2": "hand-written Spark local[2]",
    "floor1": "hand-written Spark local[1]",
    "spark2_base": "Spark local[2], rox of --base-src",
}


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- data -----------------------------------------------------------------------------------------
def chain(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Markov chain of the journeys: start distribution, transitions (+ end), mean gaps (h)."""
    rng = np.random.default_rng(seed)
    n = len(STEPS)
    idx = {s: i for i, s in enumerate(STEPS)}
    start = np.zeros(n)
    for step, prob in {
        "visit": 0.7,
        "configure": 0.15,
        "dealer_visit": 0.1,
        "support": 0.05,
    }.items():
        start[idx[step]] = prob
    forward = {
        "visit": {"configure": 0.4, "view_offers": 0.25, "visit": 0.1},
        "configure": {"view_offers": 0.3, "test_drive_booking": 0.3, "configure": 0.1},
        "view_offers": {"test_drive_booking": 0.3, "configure": 0.2, "dealer_visit": 0.2},
        "test_drive_booking": {"test_drive": 0.75, "support": 0.1},
        "test_drive": {"dealer_visit": 0.3, "financing": 0.3, "order": 0.2},
        "dealer_visit": {"financing": 0.3, "test_drive": 0.15, "order": 0.25, "trade_in": 0.1},
        "financing": {"order": 0.4, "trade_in": 0.15, "dealer_visit": 0.15},
        "trade_in": {"order": 0.5, "financing": 0.2},
        "order": {"purchase": 0.8, "support": 0.1},
        "purchase": {"delivery": 0.85, "support": 0.1},
        "delivery": {"support": 0.3, "visit": 0.2},
        "support": {"support": 0.1, "visit": 0.3, "order": 0.1},
    }
    p = np.zeros((n, n + 1))
    for source, targets in forward.items():
        row = p[idx[source]]
        for target, prob in targets.items():
            row[idx[target]] = prob
        row[:n] += rng.dirichlet(np.ones(n)) * 0.05  # a little noise everywhere
        row[:n] *= (1.0 - END_P) / row[:n].sum()
        row[n] = END_P
    gap_hours = rng.uniform(0.05, 48.0, size=n)
    return start, p, gap_hours


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    """``prefix`` + each number, as an Arrow string array (fast for tens of millions)."""
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _canonical(name: str, columns: dict[str, pa.Array], n: int) -> pa.Table:
    """Exactly the columns of canonical table ``name``, in order; the others null."""
    from rox.workspace import canonical_schema

    schema = canonical_schema(name).to_pyarrow()
    arrays = [
        columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def generate(events: int, seed: int) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """The events and transactions tables (canonical columns) and facts about them."""
    start, p, gap_hours = chain(seed)
    rng = np.random.default_rng(seed + 1)
    codes_parts, length_parts, drawn = [], [], 0
    while drawn < events:
        codes, lengths = _journeys(rng, int((events - drawn) * 1.1 * END_P) + 100, start, p)
        codes_parts.append(codes)
        length_parts.append(lengths)
        drawn += len(codes)
    codes = np.concatenate(codes_parts)[:events]
    lengths = np.concatenate(length_parts).astype(np.int64)
    ends = np.cumsum(lengths)
    last = int(np.searchsorted(ends, events))  # the journey holding the last event, cut there
    lengths = lengths[: last + 1]
    lengths[-1] -= ends[last] - events
    customers = len(lengths)
    firsts = np.cumsum(lengths) - lengths
    # strictly increasing whole seconds within a journey, the journey inside 2024
    gaps = np.ceil(rng.exponential(gap_hours[codes] * 3600.0)).astype(np.int64) + 1
    gaps[firsts] = 0
    offset = np.cumsum(gaps)
    offset -= np.repeat(offset[firsts], lengths)
    duration = offset[firsts + lengths - 1]
    t0 = (rng.random(customers) * np.maximum(SPAN_S - duration, 1)).astype(np.int64)
    seconds = np.repeat(t0, lengths) + offset
    who = np.repeat(np.arange(customers), lengths)
    customer_ids = _ids("c", np.arange(customers))
    ts = pa.array(START + seconds.astype("timedelta64[s]"), type=pa.timestamp("s"))
    ev = _canonical(
        "events",
        {
            "customer_id": customer_ids.take(pa.array(who)),
            "ts": ts.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            "step": pa.array(np.asarray(STEPS, dtype=object)[codes], type=pa.string()),
            "channel": pa.array(
                np.asarray(CHANNELS, dtype=object)[rng.choice(len(CHANNELS), events, p=CHANNEL_P)],
                type=pa.string(),
            ),
            "journey": _ids("j", np.arange(customers)).take(pa.array(who)),
            "_key": _ids("e", np.arange(events)),
            "_load_id": pa.array(np.ones(events, dtype=np.int64)),
        },
        events,
    )
    n_tx = events // 4
    propensity = rng.gamma(0.6, 1.0, customers)
    buyer = rng.choice(customers, n_tx, p=propensity / propensity.sum())
    tx_seconds = np.sort(rng.integers(0, SPAN_S, n_tx))
    tx = _canonical(
        "transactions",
        {
            "customer_id": customer_ids.take(pa.array(buyer)),
            "ts": pa.array(START + tx_seconds.astype("timedelta64[s]"), type=pa.timestamp("s"))
            .cast(pa.timestamp("us"))
            .cast(pa.timestamp("us", tz="UTC")),
            "amount": pa.array(np.round(rng.gamma(2.0, 150.0, n_tx), 2)),
            "_key": _ids("t", np.arange(n_tx)),
            "_load_id": pa.array(np.ones(n_tx, dtype=np.int64)),
        },
        n_tx,
    )
    ev = ev.sort_by([("ts", "ascending")])
    facts = {
        "events": events,
        "customers": customers,
        "transactions": n_tx,
        "buyers": len(np.unique(buyer)),
    }
    return ev, tx, facts


def write_lake(lake: Path, name: str, table: pa.Table) -> int:
    """Write ``table`` as ``<lake>/<name>/rox_day=YYYY-MM-DD/part-0.parquet``; return the files.

    The partition column is the one rox's Spark engine lays days out by (``PARTITIONS["day"]``).
    """
    from rox.engines.spark import PARTITIONS

    column = PARTITIONS["day"][0]
    day = pc.strftime(table["ts"], format="%Y-%m-%d")
    ds.write_dataset(
        table.append_column(column, day),
        base_dir=str(lake / name),
        format="parquet",
        partitioning=ds.partitioning(pa.schema([(column, pa.string())]), flavor="hive"),
        basename_template="part-{i}.parquet",
        existing_data_behavior="delete_matching",
        max_partitions=4096,
    )
    return len(list((lake / name).glob(f"{column}=*/*.parquet")))


def load_duckdb(db: Path, lake: Path) -> None:
    """Fill a new DuckDB workspace from the lake's Parquet files (one INSERT per table)."""
    import rox
    from rox.workspace import canonical_schema

    ws = rox.open(str(db))
    try:
        con = ws.backend.con
        for name in ("events", "transactions"):
            cols = ", ".join(f'"{c}"' for c in canonical_schema(name).names)
            files = str(lake / name / "*" / "*.parquet").replace("'", "''")
            con.execute(
                f"INSERT INTO {name} ({cols}) SELECT {cols} "
                f"FROM read_parquet('{files}', hive_partitioning = false)"
            )
        con.execute("CHECKPOINT")
    finally:
        ws.close()


def prepare(folder: Path, events: int, seed: int) -> dict[str, Any]:
    """Generate, write the lake and fill the DuckDB file (reused when ``facts.json`` is there)."""
    facts_file = folder / "facts.json"
    if facts_file.exists():
        facts = json.loads(facts_file.read_text())
        if facts.get("events") == events and facts.get("seed") == seed:
            say(f"{events:,} events: reusing {folder} (load times from when it was built)")
            return facts
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ev, tx, facts = generate(events, seed)
    facts["generate_s"] = time.perf_counter() - start
    lake = folder / "lake"
    start = time.perf_counter()
    facts["files"] = {"events": write_lake(lake, "events", ev)}
    facts["files"]["transactions"] = write_lake(lake, "transactions", tx)
    facts["lake_write_s"] = time.perf_counter() - start
    facts["lake_mib"] = sum(f.stat().st_size for f in lake.rglob("*.parquet")) / 2**20
    if events <= 5_000_000:  # flat files for the ws.ingest runs (canonical columns only)
        for name, table in (("events", ev), ("transactions", tx)):
            keep = [c for c in table.column_names if not c.startswith("_")]
            pq.write_table(table.select(keep), folder / f"{name}.parquet")
    del ev, tx
    db = folder / "bench.duckdb"
    db.unlink(missing_ok=True)
    start = time.perf_counter()
    load_duckdb(db, lake)
    facts["duckdb_load_s"] = time.perf_counter() - start
    facts["duckdb_mib"] = db.stat().st_size / 2**20
    facts["seed"] = seed
    facts_file.write_text(json.dumps(facts, indent=2) + "\n")
    say(
        f"{events:,} events: generated in {facts['generate_s']:.1f} s, lake written in "
        f"{facts['lake_write_s']:.1f} s ({facts['files']} files, {facts['lake_mib']:.0f} MiB), "
        f"DuckDB loaded in {facts['duckdb_load_s']:.1f} s ({facts['duckdb_mib']:.0f} MiB)"
    )
    return facts


# -- the workload ---------------------------------------------------------------------------------
def run_part(ws: Any, name: str) -> Any:
    """One part of the workload, end to end."""
    import rox

    if name == "map":
        return rox.journey.journey_map(ws)
    if name == "variants":
        return rox.journey.variants(ws, top=20)
    if name == "funnel":
        return rox.journey.funnel(ws, FUNNEL, window="30D")
    if name == "rfm":
        return rox.value.sufficient_statistics(ws, calibration_end=CALIBRATION_END)
    if name == "rfm_frame":
        summary = rox.value.rfm(ws, calibration_end=CALIBRATION_END)
        return summary, summary.compressed()
    raise ValueError(name)


def _digest(frame: pd.DataFrame) -> str:
    """Order-free digest of the rows of ``frame`` (sum of row hashes, mod 2**64)."""
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return format(int(hashes.sum(dtype=np.uint64)), "016x")


def check_payload(results: dict[str, Any]) -> dict[str, Any]:
    """What the sides must agree on, as plain JSON."""
    out: dict[str, Any] = {}
    if "map" in results:
        m = results["map"]
        f = m.frame
        out["map"] = sorted(
            [s, t, int(n), int(c)]
            for s, t, n, c in zip(f.source, f.target, f.transitions, f.customers, strict=True)
        )
        out["map_hours"] = {
            f"{s}>{t}": [float(a), float(b)]
            for s, t, a, b in zip(f.source, f.target, f.median_hours, f.p90_hours, strict=True)
        }
        for name in ("starts", "ends"):
            frame = getattr(m, name)
            out[name] = sorted([s, int(n)] for s, n in zip(frame.step, frame.journeys, strict=True))
        out["journeys"], out["events"] = m.journeys, m.events
    if "variants" in results:
        v = results["variants"].frame
        out["variants"] = [
            [p, int(s), int(j)] for p, s, j in zip(v.path, v.steps, v.journeys, strict=True)
        ]
    if "funnel" in results:
        fr = results["funnel"].frame
        out["funnel"] = [int(j) for j in fr.journeys]
        out["funnel_hours"] = {
            s: [float(a), float(b)]
            for s, n, a, b in zip(fr.step, fr.journeys, fr.median_hours, fr.p90_hours, strict=True)
            if n
        }
        out["funnel_times"] = [float(h) for h in results["funnel"].times.hours]
    if "rfm" in results:
        stats = results["rfm"]
        out["rfm_stats_rows"] = len(stats)
        out["rfm_stats"] = [
            [int(a), float(b), float(c), int(d)]
            for a, b, c, d in stats[["frequency", "recency", "T", "count"]].itertuples(index=False)
        ]
    if "rfm_frame" in results:
        summary, comp = results["rfm_frame"]
        frame = summary.frame
        out["rfm_rows"] = len(frame)
        out["rfm_compressed_rows"] = len(comp)
        ids = frame["customer_id"].astype(str)
        out["rfm_digest"] = _digest(
            pd.DataFrame(
                {"id": ids, "x": frame["frequency"], "t_x": frame["recency"], "T": frame["T"]}
            )
        )
        # monetary is a mean of float sums, equal across engines only to rounding (measured at
        # 10M: 4.5e-13 at most): compared as two sums, a plain one and one weighted by the id
        money = frame["monetary"].astype("float64").fillna(0.0).to_numpy()
        weight = (pd.util.hash_pandas_object(ids, index=False).to_numpy() % 2**20) / 2**20
        out["rfm_monetary_sums"] = [float(money.sum()), float((weight * money).sum())]
    if "rfm" in results and "rfm_frame" in results:
        cols = ["frequency", "recency", "T", "count"]
        mine = results["rfm"][cols].reset_index(drop=True)
        theirs = results["rfm_frame"][1][cols].reset_index(drop=True)
        out["rfm_stats_equal_compressed"] = bool(
            mine.shape == theirs.shape and (mine.to_numpy() == theirs.to_numpy()).all()
        )
    return out


def _vmhwm() -> dict[str, float]:
    """Peak resident set (``VmHWM``, MiB) of this process and of each of its descendants."""
    import psutil

    hwm = {"python": status_mib("VmHWM")}
    for child in psutil.Process().children(recursive=True):
        try:
            text = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue
        for row in text.splitlines():
            if row.startswith("VmHWM:"):
                hwm[child.name()] = hwm.get(child.name(), 0.0) + int(row.split()[1]) / 1024
    return hwm


def run_floor(floor: Any, name: str) -> dict[str, Any]:
    """One part of the workload by hand-written Spark SQL (``scale_floor``), as its payload."""
    if name == "map":
        return floor.journey_map()
    if name == "variants":
        return floor.variants(top=20)
    if name == "funnel":
        return floor.funnel(FUNNEL, window_s=30 * 86_400.0)
    if name == "rfm":
        return floor.rfm(CALIBRATION_END)
    raise ValueError(name)


class RoxSide:
    """rox on one engine, as a child side: a workspace opened per size."""

    parts = (*PARTS, "rfm_frame")

    def __init__(self, engine: str, master: str) -> None:
        self.engine, self.master = engine, master
        self.ws: Any = None

    def open(self, folder: Path) -> None:
        import rox

        self.close()
        if self.engine == "duckdb":
            self.ws = rox.open(str(folder / "bench.duckdb"))
        else:
            self.ws = rox.open(f"spark://{self.master}?lake={folder / 'lake'}")

    def start_run(self) -> None:
        self.ws.forget()  # the journeys ordered by the last run are not this run's

    def run(self, name: str) -> Any:
        return run_part(self.ws, name)

    def check(self, results: dict[str, Any]) -> dict[str, Any]:
        return check_payload(results)

    def explain(self) -> None:
        raise ValueError("explain: only the hand-written side prints its plan")

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None


class FloorSide:
    """The hand-written Spark SQL of ``scale_floor`` (no rox code), as a child side."""

    parts = PARTS

    def __init__(self, master: str) -> None:
        self.master = master
        self.spark: Any = None  # one session, so one JVM, for every size
        self.floor: Any = None

    def open(self, folder: Path) -> None:
        from scale_floor import Floor, session

        self.close()
        self.spark = self.spark or session(self.master)
        self.floor = Floor(self.spark, folder / "lake")

    def start_run(self) -> None:
        self.floor.start_run()  # each run orders the events once, as rox's runs do

    def run(self, name: str) -> Any:
        return run_floor(self.floor, name)

    def check(self, results: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {"floor": True}
        for part in results.values():
            payload.update(part)
        return payload

    def explain(self) -> None:
        self.floor.start_run()
        self.floor.ordered.explain()

    def close(self) -> None:
        if self.floor is not None:
            self.floor.close()
            self.floor = None


def serve(engine: str, master: str) -> int:
    """Child mode: run the commands read from stdin, one JSON reply line each.

    ``open FOLDER`` opens that size's workspace (closing the previous one; the Spark session and
    so its JVM stay), ``warm`` and ``run`` run the workload (``warm`` also returns what the sides
    must agree on), ``memory`` returns ``VmHWM`` of this process tree, ``explain`` prints the
    hand-written side's plan of the ordered events, ``quit`` ends. Replies go to the original
    stdout; anything else (the JVM's output included) goes to stderr.

    Each run starts from a side that keeps nothing (rox: ``ws.forget()``; the floor drops and
    rebuilds its cache): the journey analyses of a run order the events once (the first, the
    map, orders them; the variants and the funnel read the journeys the workspace's session
    keeps), not zero times because an earlier run left them ordered. A part that failed once is
    not run again until the next ``open``.
    """
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    side: RoxSide | FloorSide = FloorSide(master) if engine == "floor" else RoxSide(engine, master)
    failed: dict[str, str] = {}
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        out: dict[str, Any] = {}
        if command == "quit":
            break
        if command == "open":
            start = time.perf_counter()
            side.open(Path(arg))
            out = {"open_s": time.perf_counter() - start, "pid": os.getpid()}
            failed = {}
        elif command == "memory":
            out = {"vmhwm_mib": _vmhwm()}
        elif command == "explain":
            side.explain()
        else:
            parts: dict[str, float] = {}
            results: dict[str, Any] = {}
            side.start_run()
            for name in side.parts:
                if name in failed:
                    continue
                start = time.perf_counter()
                try:
                    results[name] = side.run(name)
                except Exception:
                    failed[name] = traceback.format_exc()
                    sys.stderr.write(failed[name])
                    continue
                parts[name] = time.perf_counter() - start
            out = {"parts": parts, "failed": failed}
            if command == "warm":
                out["check"] = side.check(results)
            del results
        reply.write(json.dumps(out) + "\n")
    side.close()
    reply.close()
    return 0


class Worker:
    """A child process running one side; tracks the peak RSS of its process tree."""

    def __init__(self, side: str, log: Path, src: Path | None = None) -> None:
        engine, master = SIDES[side]
        self.side = side
        self.log = log.open("a")
        cmd = [sys.executable, __file__, "--only", engine]
        if master:
            cmd += ["--master", master]
        env = None
        if src is not None:  # another rox (e.g. the code before a change) on the same data
            path = os.environ.get("PYTHONPATH", "")
            env = {**os.environ, "PYTHONPATH": str(src) + (os.pathsep + path if path else "")}
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env
        )
        self.peak_mib = 0.0
        self.runs = 0  # workload runs so far (a Spark side's JVM is warm after one)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        import psutil

        root = psutil.Process(self.proc.pid)
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            rss = 0
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    rss += proc.memory_info().rss
            self.peak_mib = max(self.peak_mib, rss / 2**20)
            self._stop.wait(0.2)

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        self.runs += command in ("warm", "run")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.side} worker died; see {self.log.name}")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=300)
        self._stop.set()
        self._sampler.join()
        self.log.close()


# -- ws.ingest ------------------------------------------------------------------------------------
def ingest_child(engine: str, master: str, folder: Path) -> int:
    """Child mode: load the flat Parquet files with ``ws.ingest`` into a new workspace."""
    import rox

    target = folder / f"ingest_{engine}"
    if target.exists():
        import shutil

        shutil.rmtree(target)
    target.mkdir()
    start = time.perf_counter()
    if engine == "duckdb":
        ws = rox.open(str(target / "ingest.duckdb"))
    else:
        ws = rox.open(f"spark://{master}?lake={target / 'lake'}")
    out: dict[str, Any] = {"open_s": time.perf_counter() - start}
    for name in ("events", "transactions"):
        start = time.perf_counter()
        report = ws.ingest(name, str(folder / f"{name}.parquet"))
        out[f"{name}_s"] = time.perf_counter() - start
        out[f"{name}_loaded"] = int(report.rows_loaded)
        out[f"{name}_count"] = ws.count(name)
    out["peak_python_mib"] = status_mib("VmHWM")
    ws.close()
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def run_ingest(side: str, folder: Path) -> dict[str, Any]:
    engine, master = SIDES[side]
    cmd = [sys.executable, __file__, "--ingest", engine, "--folder", str(folder)]
    if master:
        cmd += ["--master", master]
    with (folder / f"ingest_{side}.log").open("a") as log:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    if done.returncode:
        return {"error": f"exit {done.returncode}; see {folder / f'ingest_{side}.log'}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- one size -------------------------------------------------------------------------------------
#: The one-core sides, and the two-core side each is compared with (parallel efficiency).
ONE_CORE = {"spark1": "spark2", "floor1": "floor2"}
#: Float results compared to within their largest absolute difference (hours).
HOURS = ("map_hours", "funnel_hours", "funnel_times")
#: What only rox's ``rfm()`` frame gives (the floor computes the four results of the total).
FLOOR_LACKS = (
    "rfm_rows",
    "rfm_compressed_rows",
    "rfm_digest",
    "rfm_monetary_sums",
    "rfm_stats_equal_compressed",
)


def compare(reference: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Which checked results are equal; the largest difference of the map's hours."""
    out: dict[str, Any] = {}
    for key, value in reference.items():
        if key in HOURS:
            continue
        if key in FLOOR_LACKS and other.get("floor"):
            continue  # the floor computes the four results, not rfm()'s per-customer frame
        if key == "rfm_monetary_sums" and key in other:
            out[key] = bool(np.allclose(value, other[key], rtol=1e-12, atol=0.0))
            continue
        out[key] = "missing" if key not in other else other[key] == value
    for key in HOURS:
        hours, theirs = reference.get(key, {}), other.get(key, {})
        if isinstance(hours, list):  # the funnel's percentiles of the time to convert
            hours, theirs = dict(enumerate(hours)), dict(enumerate(theirs))
            out[f"{key}_same_keys"] = hours.keys() == theirs.keys()
        else:
            out[f"{key}_same_keys"] = hours.keys() == theirs.keys()
        pairs = [
            (a, b)
            for k, v in hours.items()
            for a, b in zip(np.ravel(v), np.ravel(theirs.get(k, v)), strict=True)
        ]
        out[f"{key}_max_abs_diff"] = max((abs(a - b) for a, b in pairs), default=0.0)
    return out


def bench_size(args: argparse.Namespace, events: int, workers: dict[str, Worker]) -> dict[str, Any]:
    """Load one size, run every side on it (interleaved), compare their results."""
    folder = args.workdir / f"n{events}"
    facts = prepare(folder, events, args.seed)
    sides = [s for s in workers if s not in ONE_CORE or events <= args.spark1_max_events]
    ingest: dict[str, Any] = {}
    if events <= args.ingest_max_events:
        for side in [s for s in ("duckdb", "spark2") if s in sides]:
            start = time.perf_counter()
            ingest[side] = run_ingest(side, folder)
            ingest[side]["wall_s"] = time.perf_counter() - start
            say(f"{events:,} events: ws.ingest on {LABELS[side]}: {ingest[side]}")
    # Spark local[1] on large sizes: a run takes many minutes, so fewer runs, and no separate
    # warm-up when its JVM is warm from a smaller size (the first run also returns the check).
    plan = dict.fromkeys(sides, (True, args.repeats))
    for one in ONE_CORE:
        if one in plan and events > args.spark1_large and workers[one].runs:
            plan[one] = (False, args.spark1_repeats_large)
    opened: dict[str, float] = {}
    for side in sides:
        workers[side].peak_mib = 0.0
        opened[side] = workers[side].ask(f"open {folder}")["open_s"]
        say(f"{events:,} events: {LABELS[side]} opened in {opened[side]:.1f} s")
    times: dict[str, dict[str, list[float]]] = {s: {} for s in sides}
    checks: dict[str, Any] = {}
    failed: dict[str, dict[str, str]] = {}

    def record(side: str, got: dict[str, Any]) -> None:
        if "check" in got:
            checks[side] = got["check"]
        failed[side] = got["failed"]

    for side in sides:
        if plan[side][0]:
            start = time.perf_counter()
            record(side, workers[side].ask("warm"))
            say(f"{events:,} events: {LABELS[side]} warm-up {time.perf_counter() - start:.1f} s")
    for r in range(max(repeats for _, repeats in plan.values())):
        order = sides[r % len(sides) :] + sides[: r % len(sides)]
        for side in order:
            if r >= plan[side][1]:
                continue
            got = workers[side].ask("run" if side in checks else "warm")
            record(side, got)
            for part, secs in got["parts"].items():
                times[side].setdefault(part, []).append(secs)
            total = sum(got["parts"].get(p, 0.0) for p in PARTS)
            times[side].setdefault("total", []).append(total)
            with_frame = total - got["parts"].get("rfm", 0.0) + got["parts"].get("rfm_frame", 0.0)
            times[side].setdefault("total_frame", []).append(with_frame)
            parts = ", ".join(f"{k} {v:.2f}" for k, v in got["parts"].items())
            say(f"{events:,} events: {LABELS[side]} run {r + 1}: {total:.2f} s ({parts})")
    vmhwm = {side: workers[side].ask("memory")["vmhwm_mib"] for side in sides}
    medians = {
        side: {part: statistics.median(v) for part, v in parts.items()}
        for side, parts in times.items()
    }
    agreement = {side: compare(checks["duckdb"], checks[side]) for side in sides[1:]}
    ref = checks["duckdb"]
    return {
        "events": events,
        "facts": facts,
        "runs": {side: len(times[side].get("total", [])) for side in sides},
        "warm_up": {side: plan[side][0] for side in sides},
        "times_s": times,
        "median_s": medians,
        "open_s": opened,
        "peak_tree_mib": {side: workers[side].peak_mib for side in sides},
        "vmhwm_mib": vmhwm,
        "agreement": agreement,
        "failed": {side: f for side, f in failed.items() if f},
        "ingest": ingest,
        "result_facts": {
            "journeys": ref.get("journeys"),
            "transitions": len(ref.get("map", [])),
            "funnel": ref.get("funnel"),
            "rfm_rows": ref.get("rfm_rows"),
            "rfm_compressed_rows": ref.get("rfm_compressed_rows"),
            "rfm_stats_rows": ref.get("rfm_stats_rows"),
            "rfm_stats_equal_compressed": {
                s: checks[s].get("rfm_stats_equal_compressed") for s in sides
            },
        },
    }


# -- projection -----------------------------------------------------------------------------------
def fit(sizes: list[int], secs: list[float]) -> tuple[float, float]:
    """``a, b`` of ``secs = a * sizes**b`` (least squares on logs)."""
    b, log_a = np.polyfit(np.log(sizes), np.log(secs), 1)
    return float(math.exp(log_a)), float(b)


def projection(reports: list[dict[str, Any]], target: int, cores: list[int]) -> dict[str, Any]:
    """Fit the growth of each side's time and extrapolate to ``target`` events.

    Measured: the median times at each size, so ``a`` and ``b`` of ``T = a * N**b`` (and, as a
    cross-check, ``c`` and ``d`` of ``T = c + d * N``: a fixed cost plus a cost per event), and
    where local[1] ran, the parallel efficiency ``E = T1 / (2 * T2)``. Projected:

    * one 2-core machine: ``T2(target) = a2 * target**b2`` (DuckDB and Spark local[2]), or
      ``c2 + d2 * target`` (both are carried through the cluster projection);
    * one core: ``T1(target) = 2 * E * T2(target)`` (E at the largest size local[1] ran; the
      local[1] fit is reported too);
    * ``C`` cores at the efficiency measured on 1 → 2 cores (an optimistic bound: efficiency does
      not rise with more cores): ``T1(target) / (C * E)``;
    * ``C`` cores by Amdahl's law with the serial fraction seen on 1 → 2 cores,
      ``f = 1/E - 1`` (clipped to [0, 1]): ``T1(target) * (f + (1 - f) / C)``.
    """
    out: dict[str, Any] = {"target": target, "fits": {}}
    for side in SIDES:
        pts = [(r["events"], r["median_s"][side]) for r in reports if side in r["median_s"]]
        if len(pts) < 2:
            continue
        sizes = [n for n, _ in pts]
        fits: dict[str, Any] = {"sizes": sizes}
        for part in FIT_PARTS:
            if all(part in m for _, m in pts):
                secs = [m[part] for _, m in pts]
                a, b = fit(sizes, secs)
                d, c = np.polyfit(sizes, secs, 1)
                fits[part] = {
                    "a": a,
                    "b": b,
                    "at_target_s": a * target**b,
                    "fixed_s": float(c),
                    "per_million_s": float(d) * 1e6,
                    "affine_at_target_s": float(c + d * target),
                }
        out["fits"][side] = fits
    eff: dict[int, dict[str, float]] = {}
    for one, two in ONE_CORE.items():
        for r in reports:
            m = r["median_s"]
            if one in m and two in m:
                got = {
                    part: m[one][part] / (2 * m[two][part])
                    for part in FIT_PARTS
                    if part in m[one] and part in m[two]
                }
                if one == "spark1":
                    eff[r["events"]] = got
                else:
                    out.setdefault("floor_efficiency", {})[r["events"]] = got
    out["efficiency"] = eff
    fits = out["fits"]
    if not eff or "total" not in fits.get("spark2", {}):
        return out
    largest = max(eff)
    e = eff[largest]["total"]
    serial = min(1.0, max(0.0, 1.0 / e - 1.0))
    out["cluster"] = {
        "efficiency_used": e,
        "efficiency_at": largest,
        "serial_fraction": serial,
    }
    for model, key in (("power", "at_target_s"), ("linear", "affine_at_target_s")):
        t2 = fits["spark2"]["total"][key]
        t1 = 2 * e * t2  # one core at the measured efficiency, so that C = 2 gives T2 back
        out["cluster"][model] = {
            "t1_target_s": t1,
            "t2_target_s": t2,
            "cores": {
                c: {
                    "constant_efficiency_s": t1 / (c * min(e, 1.0)),
                    "amdahl_s": t1 * (serial + (1 - serial) / c),
                }
                for c in cores
            },
        }
    return out


# -- report ---------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """Facts about the machine, the versions measured and the commit of rox."""
    import duckdb
    import ibis
    import pyspark

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyspark": pyspark.__version__,
        "ibis": ibis.__version__,
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "java": java.splitlines()[0] if java else None,
        "spark_driver_memory": os.environ.get("ROX_SPARK_DRIVER_MEMORY", "4g"),
        "rox_memory_limit": os.environ.get("ROX_MEMORY_LIMIT", "2GB"),
        "rox_commit": _git("rev-parse", "HEAD"),
        "rox_src_changed": bool(_git("status", "--porcelain", "--", "src")),
    }


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    return done.stdout.strip()


def _fmt(secs: float | None) -> str:
    if secs is None or (isinstance(secs, float) and math.isnan(secs)):
        return "—"
    return f"{secs:,.2f}" if secs < 100 else f"{secs:,.0f}"


def _duration(secs: float) -> str:
    if secs < 0:
        return "n/a (negative slope)"
    if secs < 120:
        return f"{secs:.0f} s"
    if secs < 7200:
        return f"{secs / 60:.0f} min"
    return f"{secs / 3600:.1f} h"


NAMES = {
    "map": "`journey_map`",
    "variants": "`variants(top=20)`",
    "funnel": "`funnel` (5 steps)",
    "rfm": "`sufficient_statistics` (RFM in the engine)",
    "total": "**total** (journeys + `sufficient_statistics`)",
    "rfm_frame": "`rfm(...).compressed()` (RFM per customer)",
    "total_frame": "total with `rfm(...).compressed()` instead",
}


def _size_markdown(r: dict[str, Any]) -> list[str]:
    n, med, f = r["events"], r["median_s"], r["facts"]
    sides = list(med)
    # ratios: (numerator, denominator, heading, format)
    ratios = [
        (a, b, head, fmt)
        for a, b, head, fmt in (
            ("spark2", "duckdb", "Spark[2] / DuckDB", "{:.1f}x"),
            ("floor2", "duckdb", "floor[2] / DuckDB", "{:.1f}x"),
            ("spark2", "floor2", "Spark[2] / floor[2]", "{:.1f}x"),
            ("spark2_base", "floor2", "before / floor[2]", "{:.1f}x"),
            ("spark2", "spark2_base", "Spark[2] / before", "{:.2f}"),
            ("spark1", "spark2", "Spark[1] / Spark[2]", "{:.2f}"),
            ("floor1", "floor2", "floor[1] / floor[2]", "{:.2f}"),
        )
        if a in sides and b in sides
    ]
    runs = ", ".join(
        f"{LABELS[s]} {r['runs'][s]}" + ("" if r["warm_up"][s] else " (no separate warm-up)")
        for s in sides
    )
    lines = [
        f"#### {n:,} events",
        "",
        f"{f['customers']:,} customers (one journey each), {f['transactions']:,} transactions "
        f"({f['buyers']:,} buyers); lake {f['lake_mib']:.0f} MiB in {f['files']['events']} + "
        f"{f['files']['transactions']} files, DuckDB file {f['duckdb_mib']:.0f} MiB. "
        f"Median wall time (s); runs: {runs}.",
        "",
        "| part | "
        + " | ".join(LABELS[s] for s in sides)
        + "".join(f" | {head}" for _, _, head, _ in ratios)
        + " |",
        "|---|" + "---:|" * (len(sides) + len(ratios)),
    ]
    for part, label in NAMES.items():
        row = f"| {label} | " + " | ".join(_fmt(med[s].get(part)) for s in sides)
        for a, b, _, fmt in ratios:
            x, y = med[a].get(part), med[b].get(part)
            row += " | " + (fmt.format(x / y) if x and y else "—")
        lines.append(row + " |")
    blank = " |" + " |" * len(ratios)
    lines.append(
        "| open the workspace | " + " | ".join(_fmt(r["open_s"][s]) for s in sides) + blank
    )
    lines.append(
        "| peak RSS of the process tree (MiB) | "
        + " | ".join(f"{r['peak_tree_mib'][s]:,.0f}" for s in sides)
        + blank
    )
    lines.append("")
    lines.append(
        f"Loading (not in the workload): generate {f['generate_s']:.1f} s, write the lake "
        f"{f['lake_write_s']:.1f} s, DuckDB `INSERT ... SELECT` from the lake "
        f"{f['duckdb_load_s']:.1f} s."
    )
    for side, got in r["ingest"].items():
        if "error" in got:
            lines.append(f"`ws.ingest` on {LABELS[side]}: FAILED ({got['error']}).")
        else:
            lines.append(
                f"`ws.ingest` on {LABELS[side]}: events {got['events_s']:.1f} s, transactions "
                f"{got['transactions_s']:.1f} s (+ open {got['open_s']:.1f} s; "
                f"{got['events_count']:,} + {got['transactions_count']:,} rows)."
            )
    rf = r["result_facts"]
    lines.append(
        f"RFM: `sufficient_statistics` returns {rf['rfm_stats_rows']:,} rows; `rfm()` returns "
        f"{rf['rfm_rows']:,} rows (one per customer with a purchase by {CALIBRATION_END}, of "
        f"{f['customers']:,} customers), which `compressed()` turns into "
        f"{rf['rfm_compressed_rows']:,} rows in pandas; equal to `sufficient_statistics`: "
        f"{rf['rfm_stats_equal_compressed']}. Funnel: {rf['funnel'][0]:,} journeys enter; it is "
        "summarised in the engine, one row per step coming back to pandas."
    )
    for side, agree in r["agreement"].items():
        bad = [k for k, v in agree.items() if not k.endswith("_max_abs_diff") and v is not True]
        verdict = "identical" if not bad else f"DIFFERENT in {', '.join(bad)}"
        hours = ", ".join(
            f"{k.removesuffix('_max_abs_diff')} {v:.2g} h"
            for k, v in agree.items()
            if k.endswith("_max_abs_diff")
        )
        lines.append(f"{LABELS[side]} vs DuckDB: {verdict}; largest differences: {hours}.")
    for side, fails in r["failed"].items():
        for part, tb in fails.items():
            lines.append(f"{LABELS[side]} `{part}` FAILED: {tb.strip().splitlines()[-1]}")
    lines.append("")
    return lines


def _projection_markdown(proj: dict[str, Any]) -> list[str]:
    target = proj["target"]
    lines = [
        "#### Growth and projection",
        "",
        f"| side | part | b in T = a·N^b | T at {target:,} (power law) | fixed + per 1M events "
        f"| T at {target:,} (fixed + linear) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for side, fits in proj["fits"].items():
        for part in FIT_PARTS:
            if part in fits:
                g = fits[part]
                lines.append(
                    f"| {LABELS[side]} | {part} | {g['b']:.2f} | {_duration(g['at_target_s'])} "
                    f"| {g['fixed_s']:.1f} s + {g['per_million_s']:.2f} s "
                    f"| {_duration(g['affine_at_target_s'])} |"
                )
    lines.append("")
    for n, e in proj["efficiency"].items():
        parts = ", ".join(f"{k} {v:.2f}" for k, v in e.items())
        lines.append(f"Parallel efficiency E = T1 / (2·T2) at {n:,} events: {parts}.")
    for n, e in proj.get("floor_efficiency", {}).items():
        parts = ", ".join(f"{k} {v:.2f}" for k, v in e.items())
        lines.append(f"Hand-written Spark: E = T1 / (2·T2) at {n:,} events: {parts}.")
    c = proj.get("cluster")
    if c:
        power, linear = c["power"], c["linear"]
        lines.append(
            f"Used: E = {c['efficiency_used']:.2f} (total, {c['efficiency_at']:,} events), "
            f"serial fraction f = 1/E − 1 = {c['serial_fraction']:.2f}; at {target:,} events "
            f"T2 = {_duration(power['t2_target_s'])} (power law) or "
            f"{_duration(linear['t2_target_s'])} (fixed + linear) on two cores, T1 = 2·E·T2 = "
            f"{_duration(power['t1_target_s'])} or {_duration(linear['t1_target_s'])} on one."
        )
        lines += [
            "",
            "| cores | power law: T1 / (C·E) | power law: T1·(f + (1 − f)/C) "
            "| fixed + linear: T1 / (C·E) | fixed + linear: T1·(f + (1 − f)/C) |",
            "|---:|---:|---:|---:|---:|",
        ]
        for cores in power["cores"]:
            p, q = power["cores"][cores], linear["cores"][cores]
            lines.append(
                f"| {cores} | {_duration(p['constant_efficiency_s'])} "
                f"| {_duration(p['amdahl_s'])} | {_duration(q['constant_efficiency_s'])} "
                f"| {_duration(q['amdahl_s'])} |"
            )
    lines.append("")
    return lines


def markdown(reports: list[dict[str, Any]], proj: dict[str, Any]) -> str:
    """The results as markdown: one table per size, then the growth fits and the projection."""
    lines: list[str] = []
    for r in reports:
        lines += _size_markdown(r)
    if proj.get("fits"):
        lines += _projection_markdown(proj)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rox-bench-scale"))
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument(
        "--spark1-max-events", type=int, default=10**12, help="run local[1] up to this size"
    )
    parser.add_argument(
        "--spark1-large",
        type=int,
        default=2_000_000,
        help="above this size, local[1] runs without a separate warm-up ...",
    )
    parser.add_argument(
        "--spark1-repeats-large", type=int, default=1, help="... and this many times"
    )
    parser.add_argument(
        "--ingest-max-events", type=int, default=1_000_000, help="time ws.ingest up to this size"
    )
    parser.add_argument("--project-events", type=int, default=1_000_000_000)
    parser.add_argument("--project-cores", type=int, nargs="+", default=[2, 8, 32, 128])
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="only print the tables and the projection of earlier runs' --out files (merged)",
    )
    parser.add_argument(
        "--sides",
        nargs="+",
        choices=list(SIDES),
        default=["duckdb", "spark2", "spark1"],
        help="what runs: rox on DuckDB / Spark local[2] / local[1], and the hand-written Spark "
        "floor (scale_floor.py) on local[2] / local[1]; duckdb is always run (the reference)",
    )
    parser.add_argument(
        "--base-src",
        type=Path,
        help="the src folder of another rox (say, the commit before a change), run as side "
        "spark2_base next to the others",
    )
    parser.add_argument("--only", choices=["duckdb", "spark", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--ingest", choices=["duckdb", "spark"], help=argparse.SUPPRESS)
    parser.add_argument("--master", default="", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    if args.only:
        return serve(args.only, args.master)
    if args.ingest:
        return ingest_child(args.ingest, args.master, args.folder)
    if args.from_json:
        saved = [r for f in args.from_json for r in json.loads(f.read_text())["sizes"]]
        saved.sort(key=lambda r: r["events"])
        say(markdown(saved, projection(saved, args.project_events, args.project_cores)))
        return 0

    began = time.perf_counter()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sides = ["duckdb"] + [
        s for s in args.sides if s != "duckdb" and (s != "spark1" or args.spark1_max_events > 0)
    ]
    workers = {
        side: Worker(
            side, args.workdir / f"{side}.log", args.base_src if side == "spark2_base" else None
        )
        for side in sides
    }
    reports: list[dict[str, Any]] = []
    proj: dict[str, Any] = {}
    try:
        for events in args.events:
            reports.append(bench_size(args, events, workers))
            say(markdown(reports[-1:], {}))
            proj = projection(reports, args.project_events, args.project_cores)
            if args.out:
                out = {
                    "benchmark": "scale",
                    "machine": machine(),
                    "argv": sys.argv,
                    "wall_s": time.perf_counter() - began,
                    "sizes": reports,
                    "projection": proj,
                }
                args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    finally:
        for worker in workers.values():
            worker.close()
    say(markdown(reports, proj))
    say(json.dumps(machine(), indent=2))
    say(f"\nwhole run: {(time.perf_counter() - began) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
