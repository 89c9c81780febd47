"""Scale-out benchmark: one journey + RFM workload on a DuckDB file and on Spark local mode.

The same data (generated with numpy, seeded), at each size of ``--events``, in one run:

* **DuckDB**: ``rox.open("<workdir>/<n>/bench.duckdb")`` (rox's defaults: 2 threads, 2 GB memory
  limit);
* **Spark local[2]**: ``rox.open("spark://local[2]?lake=<workdir>/<n>/lake")``, the tables as
  Parquet partitioned by UTC day (``<lake>/<table>/_date=YYYY-MM-DD/part-0.parquet``), rox's
  session settings (``local_session``: 8 shuffle partitions, driver memory 4g);
* **Spark local[1]**: the same lake on one core, for Spark's parallel efficiency 1 → 2 cores.

What is timed (wall time; one warm-up of each side, then ``--repeats`` runs of each, the sides
interleaved round by round; medians reported), each part end to end from the open workspace to
the pandas result:

(a) journeys: ``rox.journey.journey_map(ws)`` + ``rox.journey.variants(ws, top=20)`` +
    ``rox.journey.funnel(ws, FUNNEL)`` (five steps, 30-day window);
(b) RFM: ``rox.value.rfm(ws, calibration_end="2024-09-30").compressed()``: the engine computes
    one row per customer, which comes back to Python, where ``compressed()`` groups the distinct
    (frequency, recency, T) triples. For reference (not in the total) the same triples are also
    counted in the engine (``rfm_expr(...).group_by(...)``), so that only they come back.

The total is (a) + (b). Opening the workspace (for Spark: starting the JVM) is timed apart.

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
counts, the compressed RFM triples and a digest of every customer's (frequency, recency, T,
monetary).

Each side runs in its own child process (``--only duckdb|spark --master local[k]``), driven by the
parent over a pipe, so that a Spark master per process is possible and each side's memory is its
own. Peak memory is the peak of the summed resident sets of the child and its descendants (the
Spark JVM is a child of Python), sampled every 0.2 s with psutil; ``VmHWM`` of each process is
reported too.

The projection fits ``time = a * N**b`` (least squares on logs over the sizes run), the parallel
efficiency ``E = T(local[1]) / (2 * T(local[2]))`` and the serial fraction ``f = 1 / E - 1``
(Amdahl), and extrapolates to ``--project-events`` (default 1B) on one 2-core machine and on
clusters of ``--project-cores`` cores (see ``projection``).

Usage (from the repository root, in the benchmark venv with the Spark extra)::

    bench/.venv/bin/python bench/bench_scale.py --events 1000000 10000000 --workdir /tmp/bs
"""

from __future__ import annotations

import argparse
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
from typing import IO, Any

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
SIDES = {"duckdb": ("duckdb", ""), "spark2": ("spark", "local[2]"), "spark1": ("spark", "local[1]")}
LABELS = {"duckdb": "DuckDB (2 threads)", "spark2": "Spark local[2]", "spark1": "Spark local[1]"}


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
    for step, prob in {"visit": 0.7, "configure": 0.15, "dealer_visit": 0.1, "support": 0.05}.items():
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
    """Write ``table`` as ``<lake>/<name>/_date=YYYY-MM-DD/part-0.parquet``; return the files."""
    day = pc.strftime(table["ts"], format="%Y-%m-%d")
    ds.write_dataset(
        table.append_column("_date", day),
        base_dir=str(lake / name),
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("_date", pa.string())]), flavor="hive"),
        basename_template="part-{i}.parquet",
        existing_data_behavior="delete_matching",
        max_partitions=4096,
    )
    return len(list((lake / name).glob("_date=*/*.parquet")))


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
        summary = rox.value.rfm(ws, calibration_end=CALIBRATION_END)
        return summary, summary.compressed()
    if name == "rfm_engine":
        from rox.value.rfm import rfm_expr

        expr = rfm_expr(ws.table("transactions"), calibration_end=pd.Timestamp(CALIBRATION_END))
        counted = expr.group_by(["frequency", "recency", "T"]).aggregate(count=expr.count())
        return counted.to_pyarrow().to_pandas()
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
        out["funnel"] = [int(j) for j in results["funnel"].frame.journeys]
    if "rfm" in results:
        summary, comp = results["rfm"]
        frame = summary.frame
        out["rfm_rows"] = len(frame)
        out["rfm_compressed_rows"] = len(comp)
        out["rfm_compressed"] = [
            [int(a), float(b), float(c), int(d)]
            for a, b, c, d in comp[["frequency", "recency", "T", "count"]].itertuples(index=False)
        ]
        ids = frame["customer_id"].astype(str)
        out["rfm_digest"] = _digest(
            pd.DataFrame(
                {"id": ids, "x": frame["frequency"], "t_x": frame["recency"], "T": frame["T"]}
            )
        )
        out["rfm_monetary_digest"] = _digest(
            pd.DataFrame({"id": ids, "m": frame["monetary"].astype("float64").round(6)})
        )
    if "rfm_engine" in results and "rfm" in results:
        mine = results["rfm_engine"].sort_values(["frequency", "recency", "T"])
        theirs = results["rfm"][1]
        out["rfm_engine_equals_compressed"] = bool(
            np.array_equal(mine["count"].to_numpy(), theirs["count"].to_numpy())
            and np.array_equal(mine["frequency"].to_numpy(), theirs["frequency"].to_numpy())
            and np.allclose(mine[["recency", "T"]].to_numpy(), theirs[["recency", "T"]].to_numpy())
        )
    return out


def serve(engine: str, master: str, folder: Path) -> int:
    """Child mode: open one workspace, then run the workload on each ``run`` read from stdin.

    Replies are JSON lines on the original stdout; anything else (the JVM's output included) goes
    to stderr.
    """
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import rox

    start = time.perf_counter()
    if engine == "duckdb":
        ws = rox.open(str(folder / "bench.duckdb"))
    else:
        ws = rox.open(f"spark://{master}?lake={folder / 'lake'}")
    opened = time.perf_counter() - start
    reply.write(json.dumps({"open_s": opened, "pid": os.getpid()}) + "\n")
    failed: dict[str, str] = {}
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        parts: dict[str, float] = {}
        results: dict[str, Any] = {}
        for name in (*PARTS, "rfm_engine"):
            if name in failed:
                continue
            start = time.perf_counter()
            try:
                results[name] = run_part(ws, name)
            except Exception:
                failed[name] = traceback.format_exc()
                sys.stderr.write(failed[name])
                continue
            parts[name] = time.perf_counter() - start
        out: dict[str, Any] = {"parts": parts, "failed": failed}
        if command == "warm":
            out["check"] = check_payload(results)
        del results
        reply.write(json.dumps(out) + "\n")
    import psutil

    me = psutil.Process()
    hwm = {"python": status_mib("VmHWM")}
    for child in me.children(recursive=True):
        try:
            text = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue
        for row in text.splitlines():
            if row.startswith("VmHWM:"):
                hwm[f"{child.name()}:{child.pid}"] = int(row.split()[1]) / 1024
    ws.close()
    reply.write(json.dumps({"vmhwm_mib": hwm}) + "\n")
    reply.close()
    return 0


class Worker:
    """A child process holding one open workspace; tracks the peak RSS of its process tree."""

    def __init__(self, side: str, folder: Path) -> None:
        engine, master = SIDES[side]
        self.side = side
        self.log = (folder / f"{side}.log").open("a")
        cmd = [sys.executable, __file__, "--only", engine, "--folder", str(folder)]
        if master:
            cmd += ["--master", master]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        self.hello = self._read()

    def _sample(self) -> None:
        import psutil

        root = psutil.Process(self.proc.pid)
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                rss = 0
                for proc in procs:
                    try:
                        rss += proc.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                break
            self.peak_mib = max(self.peak_mib, rss / 2**20)
            self._stop.wait(0.2)

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.side} worker died; see {self.log.name}")
        return json.loads(line)

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> dict[str, Any]:
        facts = self.ask("quit")
        self.proc.wait(timeout=120)
        self._stop.set()
        self._sampler.join()
        self.log.close()
        return facts


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
def compare(reference: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Which checked results are equal; the largest difference of the map's hours."""
    out: dict[str, Any] = {}
    for key, value in reference.items():
        if key == "map_hours":
            continue
        out[key] = "missing" if key not in other else other[key] == value
    hours = reference.get("map_hours", {})
    theirs = other.get("map_hours", {})
    diffs = [abs(a - b) for k, v in hours.items() for a, b in zip(v, theirs.get(k, v), strict=True)]
    out["map_hours_max_abs_diff"] = max(diffs, default=0.0)
    return out


def bench_size(args: argparse.Namespace, events: int) -> dict[str, Any]:
    folder = args.workdir / f"n{events}"
    facts = prepare(folder, events, args.seed)
    sides = ["duckdb", "spark2"] + (["spark1"] if events <= args.spark1_max_events else [])
    ingest: dict[str, Any] = {}
    if events <= args.ingest_max_events:
        for side in ("duckdb", "spark2"):
            start = time.perf_counter()
            ingest[side] = run_ingest(side, folder)
            ingest[side]["wall_s"] = time.perf_counter() - start
            say(f"{events:,} events: ws.ingest on {LABELS[side]}: {ingest[side]}")
    workers: dict[str, Worker] = {}
    times: dict[str, dict[str, list[float]]] = {s: {} for s in sides}
    checks: dict[str, Any] = {}
    failed: dict[str, dict[str, str]] = {}
    try:
        for side in sides:
            workers[side] = Worker(side, folder)
            say(f"{events:,} events: {LABELS[side]} opened in {workers[side].hello['open_s']:.1f} s")
        for side in sides:
            start = time.perf_counter()
            got = workers[side].ask("warm")
            say(f"{events:,} events: {LABELS[side]} warm-up {time.perf_counter() - start:.1f} s")
            checks[side] = got["check"]
            failed[side] = got["failed"]
        for r in range(args.repeats):
            order = sides[r % len(sides) :] + sides[: r % len(sides)]
            for side in order:
                got = workers[side].ask("run")
                for part, secs in got["parts"].items():
                    times[side].setdefault(part, []).append(secs)
                total = sum(got["parts"].get(p, 0.0) for p in PARTS)
                times[side].setdefault("total", []).append(total)
                say(f"{events:,} events: {LABELS[side]} run {r + 1}: {total:.2f} s {got['parts']}")
    finally:
        closing = {side: w.close() for side, w in workers.items()}
    medians = {
        side: {part: statistics.median(v) for part, v in parts.items()}
        for side, parts in times.items()
    }
    agreement = {side: compare(checks["duckdb"], checks[side]) for side in sides[1:]}
    ref = checks["duckdb"]
    return {
        "events": events,
        "facts": facts,
        "repeats": args.repeats,
        "times_s": times,
        "median_s": medians,
        "open_s": {side: w.hello["open_s"] for side, w in workers.items()},
        "peak_tree_mib": {side: w.peak_mib for side, w in workers.items()},
        "vmhwm_mib": {side: closing[side]["vmhwm_mib"] for side in sides},
        "agreement": agreement,
        "failed": {side: f for side, f in failed.items() if f},
        "ingest": ingest,
        "result_facts": {
            "journeys": ref.get("journeys"),
            "transitions": len(ref.get("map", [])),
            "funnel": ref.get("funnel"),
            "rfm_rows": ref.get("rfm_rows"),
            "rfm_compressed_rows": ref.get("rfm_compressed_rows"),
            "rfm_engine_equals_compressed": {
                s: checks[s].get("rfm_engine_equals_compressed") for s in sides
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

    Measured: the times at each size (so ``a``, ``b``) and, where local[1] ran, the efficiency
    ``E = T1 / (2 * T2)`` at the largest size. Projected:

    * one 2-core machine: ``T2(target) = a2 * target**b2`` (DuckDB and Spark local[2]);
    * one core: ``T1(target) = a1 * target**b1`` (or ``2 * E * T2(target)`` without local[1] fits);
    * ``C`` cores at constant efficiency (optimistic): ``T1(target) / (C * E)``;
    * ``C`` cores by Amdahl with the serial fraction ``f = 1/E - 1`` seen on 1 → 2 cores:
      ``T1(target) * (f + (1 - f) / C)``.
    """
    out: dict[str, Any] = {"target": target, "fits": {}}
    for side in ("duckdb", "spark2", "spark1"):
        pts = [(r["events"], r["median_s"][side]) for r in reports if side in r["median_s"]]
        if len(pts) < 2:
            continue
        sizes = [n for n, _ in pts]
        fits = {}
        for part in (*PARTS, "total"):
            if all(part in m for _, m in pts):
                a, b = fit(sizes, [m[part] for _, m in pts])
                fits[part] = {"a": a, "b": b, "at_target_s": a * target**b}
        out["fits"][side] = {"sizes": sizes, **fits}
    eff = {}
    for r in reports:
        m = r["median_s"]
        if "spark1" in m:
            eff[r["events"]] = {
                part: m["spark1"][part] / (2 * m["spark2"][part])
                for part in (*PARTS, "total")
                if part in m["spark1"] and part in m["spark2"]
            }
    out["efficiency"] = eff
    fits = out["fits"]
    if not eff or "spark2" not in fits or "total" not in fits["spark2"]:
        return out
    largest = max(eff)
    e = eff[largest]["total"]
    serial = max(0.0, 1.0 / e - 1.0)
    t2 = fits["spark2"]["total"]["at_target_s"]
    t1 = fits["spark1"]["total"]["at_target_s"] if "spark1" in fits else 2 * e * t2
    out["cluster"] = {
        "efficiency_used": e,
        "efficiency_at": largest,
        "serial_fraction": serial,
        "t1_target_s": t1,
        "t2_target_s": t2,
        "cores": {
            c: {"constant_efficiency_s": t1 / (c * min(e, 1.0)), "amdahl_s": t1 * (serial + (1 - serial) / c)}
            for c in cores
        },
    }
    return out


# -- report ---------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
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
    }


def _fmt(secs: float | None) -> str:
    if secs is None or (isinstance(secs, float) and math.isnan(secs)):
        return "—"
    return f"{secs:,.2f}" if secs < 100 else f"{secs:,.0f}"


def _duration(secs: float) -> str:
    if secs < 120:
        return f"{secs:.0f} s"
    if secs < 7200:
        return f"{secs / 60:.0f} min"
    return f"{secs / 3600:.1f} h"


def markdown(reports: list[dict[str, Any]], proj: dict[str, Any]) -> str:
    lines: list[str] = []
    for r in reports:
        n, med, f = r["events"], r["median_s"], r["facts"]
        sides = list(med)
        lines += [
            f"### {n:,} events",
            "",
            f"{f['customers']:,} customers (journeys), {f['transactions']:,} transactions "
            f"({f['buyers']:,} buyers); lake {f['lake_mib']:.0f} MiB in "
            f"{f['files']['events']} + {f['files']['transactions']} files, DuckDB file "
            f"{f['duckdb_mib']:.0f} MiB. Median of {r['repeats']} interleaved runs (s):",
            "",
            "| part | " + " | ".join(LABELS[s] for s in sides) + " | Spark[2] / DuckDB |"
            + (" Spark[1] / Spark[2] |" if "spark1" in sides else ""),
            "|---|" + "---:|" * len(sides) + "---:|" + ("---:|" if "spark1" in sides else ""),
        ]
        names = {
            "map": "`journey_map`",
            "variants": "`variants(top=20)`",
            "funnel": "`funnel` (5 steps)",
            "rfm": "`rfm(...).compressed()`",
            "total": "**total**",
            "rfm_engine": "(ref.) RFM triples counted in the engine",
        }
        for part, label in names.items():
            vals = [med[s].get(part) for s in sides]
            row = f"| {label} | " + " | ".join(_fmt(v) for v in vals)
            d, s2 = med["duckdb"].get(part), med["spark2"].get(part)
            row += f" | {s2 / d:.1f}x |" if d and s2 else " | — |"
            if "spark1" in sides:
                s1 = med["spark1"].get(part)
                row += f" {s1 / s2:.2f} |" if s1 and s2 else " — |"
            lines.append(row)
        lines.append(
            "| open the workspace | " + " | ".join(_fmt(r["open_s"][s]) for s in sides) + " | | "
            + ("|" if "spark1" in sides else "")
        )
        lines.append(
            "| peak RSS, process tree (MiB) | "
            + " | ".join(f"{r['peak_tree_mib'][s]:,.0f}" for s in sides)
            + " | | "
            + ("|" if "spark1" in sides else "")
        )
        lines.append("")
        rf = r["result_facts"]
        lines.append(
            f"Loading (not timed in the workload): generate {f['generate_s']:.1f} s, write the lake "
            f"{f['lake_write_s']:.1f} s, DuckDB `INSERT ... SELECT` from it {f['duckdb_load_s']:.1f} s."
        )
        for side, got in r["ingest"].items():
            if "error" in got:
                lines.append(f"`ws.ingest` on {LABELS[side]}: FAILED ({got['error']}).")
            else:
                lines.append(
                    f"`ws.ingest` on {LABELS[side]}: events {got['events_s']:.1f} s, transactions "
                    f"{got['transactions_s']:.1f} s (open {got['open_s']:.1f} s; "
                    f"{got['events_count']:,} + {got['transactions_count']:,} rows)."
                )
        lines.append(
            f"RFM: the engine returns {rf['rfm_rows']:,} rows (one per customer with a purchase "
            f"by {CALIBRATION_END}, of {f['customers']:,} customers); `compressed()` makes "
            f"{rf['rfm_compressed_rows']:,} distinct (frequency, recency, T) rows in pandas."
        )
        lines.append(
            f"Funnel: {rf['funnel'][0]:,} journeys enter, i.e. as many rows come back to pandas."
        )
        for side, agree in r["agreement"].items():
            bad = [k for k, v in agree.items() if k != "map_hours_max_abs_diff" and v is not True]
            verdict = "identical" if not bad else f"DIFFER in {', '.join(bad)}"
            lines.append(
                f"{LABELS[side]} vs DuckDB: {verdict} (map transitions and customers, starts, ends, "
                f"20 variants, funnel counts, RFM triples and per-customer digest); map hours "
                f"differ by at most {agree['map_hours_max_abs_diff']:.2g} h."
            )
        for side, fails in r["failed"].items():
            for part, tb in fails.items():
                last = tb.strip().splitlines()[-1]
                lines.append(f"{LABELS[side]} `{part}` FAILED: {last}")
        lines.append("")
    if proj.get("fits"):
        lines += ["### Growth and projection", ""]
        lines.append("| side | part | b (time ∝ N^b) | projected at {:,} events |".format(proj["target"]))
        lines.append("|---|---|---:|---:|")
        for side, fits in proj["fits"].items():
            for part in (*PARTS, "total"):
                if part in fits:
                    g = fits[part]
                    lines.append(
                        f"| {LABELS[side]} | {part} | {g['b']:.2f} | {_duration(g['at_target_s'])} |"
                    )
        lines.append("")
        for n, e in proj["efficiency"].items():
            parts = ", ".join(f"{k} {v:.2f}" for k, v in e.items())
            lines.append(f"Parallel efficiency T1/(2·T2) at {n:,} events: {parts}.")
        c = proj.get("cluster")
        if c:
            lines.append(
                f"Used: E = {c['efficiency_used']:.2f} (total, {c['efficiency_at']:,} events), "
                f"serial fraction f = 1/E − 1 = {c['serial_fraction']:.2f}; "
                f"T1({proj['target']:,}) = {_duration(c['t1_target_s'])}, "
                f"T2 = {_duration(c['t2_target_s'])}."
            )
            lines += ["", "| cores | constant efficiency T1/(C·E) | Amdahl T1·(f + (1−f)/C) |"]
            lines.append("|---:|---:|---:|")
            for cores, v in c["cores"].items():
                lines.append(
                    f"| {cores} | {_duration(v['constant_efficiency_s'])} "
                    f"| {_duration(v['amdahl_s'])} |"
                )
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
        "--ingest-max-events", type=int, default=1_000_000, help="time ws.ingest up to this size"
    )
    parser.add_argument("--project-events", type=int, default=1_000_000_000)
    parser.add_argument("--project-cores", type=int, nargs="+", default=[2, 8, 32, 128])
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--only", choices=["duckdb", "spark"], help=argparse.SUPPRESS)
    parser.add_argument("--ingest", choices=["duckdb", "spark"], help=argparse.SUPPRESS)
    parser.add_argument("--master", default="", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    if args.only:
        return serve(args.only, args.master, args.folder)
    if args.ingest:
        return ingest_child(args.ingest, args.master, args.folder)

    began = time.perf_counter()
    args.workdir.mkdir(parents=True, exist_ok=True)
    reports = []
    for events in args.events:
        reports.append(bench_size(args, events))
        say(markdown(reports[-1:], {}))
    proj = projection(reports, args.project_events, args.project_cores)
    wall = time.perf_counter() - began
    say(markdown(reports, proj))
    say(f"\nwhole run: {wall / 60:.1f} min")
    if args.out:
        out = {
            "benchmark": "scale",
            "machine": machine(),
            "argv": sys.argv,
            "wall_s": wall,
            "sizes": reports,
            "projection": proj,
        }
        args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
