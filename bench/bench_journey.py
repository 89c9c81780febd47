"""Benchmark: journey map + variants + a 5-step funnel, rox against pm4py and a bare DuckDB scan.

The issue's targets, on the same machine, in the same run, on the same Parquet / DuckDB data, over
1M and 10M events:

* rox (journey map + variants) at least 10x faster than pm4py (``discover_dfg`` + variants);
* rox (journey map + variants + 5-step funnel) within 3x of one bare DuckDB scan that counts the
  events by step (the practical limit of any query over the table);
* peak memory of rox under 4 GB at 10M events;
* on a sample log, rox's transition counts and variants equal pm4py's.

What is timed (wall time, interleaved runs after one warm-up of each side; medians reported):

(a) ``rox``    ``rox.journey.journey_map`` + ``rox.journey.variants(top=None)`` +
               ``rox.journey.funnel`` over five steps, each end to end from the DuckDB workspace
               (Ibis expressions, DuckDB queries, pandas results); each part is also reported;
(a') ``rox prepared``  the same three analyses on journeys prepared once
               (``rox.journey.prepare``: the events ordered once in the engine, then shared), the
               preparation included in the time; this is how an analyst runs several analyses;
(a'') ``rox indexed``  the same three analyses on a copy of the workspace that has the journey
               index (``rox.journey.build_index``: the journeys ordered, and the aggregates the map
               and variants start from computed, once per load of events); the index's build is
               timed apart (it is part of a load, not of an analysis) and reported; so is
               ``variants()`` with its default ``top=20`` (what the report shows), not counted
               in the side's total;
(b) ``pm4py``  ``pandas.read_parquet`` of the same events (timed apart: reported with and without),
               ``pm4py.format_dataframe``, ``pm4py.discover_dfg`` and ``pm4py.get_variants``.
               pm4py has no funnel, so pm4py is compared with rox's map + variants only;
(c) ``bare``   ``SELECT step, count(*) FROM events GROUP BY step`` on the workspace's table.

Loading is not timed: the events are generated with numpy (seeded) as a Markov chain over 15 steps
with an end state, written to Parquet in chunks, and ingested once into a DuckDB file workspace.
Timestamps strictly increase within a journey (whole seconds, at least one apart): the log has
no ties. (Tied logs agree as well since #21: pm4py sorts a case by timestamp with a stable sort,
rox by timestamp then the recorded order; see bench_real_log.py for a real log full of ties.)

Peak memory is measured per side in a child process (``--only rox|pm4py|bare``) as the peak
resident set (``VmHWM``), DuckDB's buffers included.

Usage::

    python bench/bench_journey.py --events 1000000 10000000
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
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
import pyarrow.parquet as pq

from _measure import status_mib
from bench_journey_floor import QUERIES as FLOOR
from bench_journey_floor import arrays_map_and_variants

STEPS = [
    "visit_website",
    "configure",
    "view_offers",
    "test_drive_booking",
    "test_drive",
    "dealer_visit",
    "financing_quote",
    "trade_in",
    "order",
    "contract",
    "payment",
    "delivery_scheduled",
    "delivery",
    "support_contact",
    "survey",
]
FUNNEL = ["visit_website", "configure", "test_drive", "order", "delivery"]
CHANNELS = ["web", "app", "dealer", "phone", "email"]
START = np.datetime64("2023-01-01T00:00:00", "s")
SPAN_S = 2 * 365 * 86_400
MAX_LEN = 60
#: Scales each step's drop-off (end) probability: 0.55 gives journeys of about 6.6 events.
DROP = 0.55
SEP = " > "


# -- data -----------------------------------------------------------------------------------------
def chain(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Markov chain the journeys follow: start distribution, transitions, mean gaps.

    Returns
    -------
    start : numpy.ndarray
        Probability of each step being a journey's first.
    p : numpy.ndarray
        ``(15, 16)`` transition probabilities; the last column is the end of the journey.
    gap_hours : numpy.ndarray
        Mean hours (exponential) before the next event, by the current step.
    """
    rng = np.random.default_rng(seed)
    n = len(STEPS)
    idx = {s: i for i, s in enumerate(STEPS)}
    start = np.zeros(n)
    start[[idx["visit_website"], idx["configure"], idx["dealer_visit"], idx["support_contact"]]] = [
        0.62,
        0.13,
        0.15,
        0.10,
    ]
    p = np.zeros((n, n + 1))
    # the main path: mostly forward, sometimes a step skipped, sometimes back, some drop-off
    forward = {
        "visit_website": {"configure": 0.45, "view_offers": 0.2, "visit_website": 0.08},
        "configure": {"view_offers": 0.35, "test_drive_booking": 0.25, "configure": 0.1},
        "view_offers": {"test_drive_booking": 0.3, "configure": 0.15, "dealer_visit": 0.2},
        "test_drive_booking": {"test_drive": 0.7, "support_contact": 0.1},
        "test_drive": {"dealer_visit": 0.3, "financing_quote": 0.3, "order": 0.15},
        "dealer_visit": {"financing_quote": 0.3, "test_drive": 0.15, "order": 0.2, "trade_in": 0.1},
        "financing_quote": {"order": 0.35, "trade_in": 0.15, "dealer_visit": 0.15},
        "trade_in": {"order": 0.45, "financing_quote": 0.2},
        "order": {"contract": 0.8, "support_contact": 0.08},
        "contract": {"payment": 0.85, "support_contact": 0.05},
        "payment": {"delivery_scheduled": 0.85, "support_contact": 0.08},
        "delivery_scheduled": {"delivery": 0.85, "support_contact": 0.1},
        "delivery": {"survey": 0.45, "support_contact": 0.15},
        "support_contact": {"support_contact": 0.1, "survey": 0.2, "delivery_scheduled": 0.1},
        "survey": {"support_contact": 0.05},
    }
    for source, targets in forward.items():
        row = p[idx[source]]
        for target, prob in targets.items():
            row[idx[target]] = prob
        # a little noise everywhere, the rest to the end state
        row[:n] += rng.dirichlet(np.ones(n)) * 0.04
        end = DROP * max(0.0, 1.0 - row[:n].sum())
        row[:n] *= (1.0 - end) / row[:n].sum()
        row[n] = end
    gap_hours = rng.uniform(0.05, 72.0, size=n)
    return start, p, gap_hours


def _journeys(
    rng: np.random.Generator, n: int, start: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Walk ``n`` journeys through the chain: step codes (flat) and journey lengths."""
    end = p.shape[1] - 1
    cum = np.cumsum(p, axis=1)
    state = np.searchsorted(np.cumsum(start), rng.random(n), side="right")
    paths = np.full((n, MAX_LEN), -1, dtype=np.int16)
    alive = np.arange(n)
    for pos in range(MAX_LEN):
        paths[alive, pos] = state
        nxt = (rng.random(len(alive))[:, None] > cum[state]).sum(axis=1)
        keep = nxt != end
        alive, state = alive[keep], nxt[keep]
        if not len(alive):
            break
    lengths = (paths >= 0).sum(axis=1)
    return paths[paths >= 0], lengths


def chunks(events: int, seed: int, chunk: int = 1_000_000) -> Iterator[pa.Table]:
    """Yield the event log as Arrow tables of about ``chunk`` events, whole journeys each."""
    start, p, gap_hours = chain(seed)
    rng = np.random.default_rng(seed + 1)
    mean_len = 6.6  # a first guess; corrected from what was drawn
    done, first_journey = 0, 0
    n_customers = max(1, int(events / mean_len / 1.3))
    while done < events:
        want = min(chunk, events - done)
        n = max(1, int(want / mean_len))
        codes, lengths = _journeys(rng, n, start, p)
        # keep whole journeys, at most the events still wanted
        keep = int(np.searchsorted(np.cumsum(lengths), want, side="right"))
        keep = max(keep, 1)
        lengths = lengths[:keep]
        codes = codes[: lengths.sum()]
        mean_len = float(np.mean(lengths))
        journey = np.repeat(np.arange(first_journey, first_journey + keep), lengths)
        customer = np.repeat(rng.integers(0, n_customers, size=keep), lengths)
        # strictly increasing whole seconds within a journey: no ties in the event order
        gaps = np.ceil(rng.exponential(gap_hours[codes] * 3600.0)).astype(np.int64) + 1
        starts = np.cumsum(lengths) - lengths
        gaps[starts] = rng.integers(0, SPAN_S, size=keep)
        offset = np.cumsum(gaps)
        offset -= np.repeat(offset[starts] - gaps[starts], lengths)
        ts = START + offset.astype("timedelta64[s]")
        steps = pa.array(np.asarray(STEPS, dtype=object)[codes], type=pa.string())
        yield pa.table(
            {
                "customer_id": pa.array(np.char.add("c", customer.astype(str)), type=pa.string()),
                "ts": pa.array(ts, type=pa.timestamp("s", tz="UTC")).cast(
                    pa.timestamp("us", tz="UTC")
                ),
                "step": steps,
                "channel": pa.array(
                    np.asarray(CHANNELS, dtype=object)[rng.integers(0, len(CHANNELS), len(codes))],
                    type=pa.string(),
                ),
                "session_id": pa.nulls(len(codes), type=pa.string()),
                "journey": pa.array(np.char.add("j", journey.astype(str)), type=pa.string()),
            }
        )
        done += len(codes)
        first_journey += keep


def write_parquet(path: Path, events: int, seed: int) -> int:
    """Write the event log to ``path`` in chunks; return the number of events."""
    writer = None
    total = 0
    try:
        for table in chunks(events, seed):
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            total += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return total


# -- the contenders -------------------------------------------------------------------------------
def run_rox(
    ws: Any, parts: dict[str, list[float]] | None = None, skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Journey map, all variants and the 5-step funnel; per-part times into ``parts``.

    Parts named in ``skip`` (those that failed in the warm-up) are left out. Given the workspace,
    each run starts from the events as loaded: what an earlier run left in the workspace's session
    (the journeys ordered by the first analysis, which the next ones reuse) is forgotten first.
    """
    import rox

    if isinstance(ws, rox.Workspace):
        ws.forget()
    out: dict[str, Any] = {}
    calls: dict[str, Callable[[], Any]] = {
        "map": lambda: rox.journey.journey_map(ws),
        "variants": lambda: rox.journey.variants(ws, top=None),
        "funnel": lambda: rox.journey.funnel(ws, FUNNEL, window="30D"),
    }
    for name, call in calls.items():
        if name in skip:
            continue
        start = time.perf_counter()
        out[name] = call()
        if parts is not None:
            parts.setdefault(name, []).append(time.perf_counter() - start)
    return out


def run_rox_prepared(ws: Any, parts: dict[str, list[float]] | None = None) -> dict[str, Any]:
    """The same three analyses on journeys prepared once; ``prepare`` timed as a part."""
    import rox

    start = time.perf_counter()
    journeys = rox.journey.prepare(ws)
    if parts is not None:
        parts.setdefault("prepare", []).append(time.perf_counter() - start)
    try:
        return run_rox(journeys, parts)
    finally:
        journeys.release()


def read_events(parquet: Path) -> pd.DataFrame:
    """The columns pm4py needs, read from the Parquet file into pandas."""
    return pd.read_parquet(parquet, columns=["journey", "step", "ts"])


def run_pm4py(df: pd.DataFrame) -> dict[str, Any]:
    """``format_dataframe`` + ``discover_dfg`` + ``get_variants`` on the events DataFrame."""
    import pm4py

    log = pm4py.format_dataframe(df, case_id="journey", activity_key="step", timestamp_key="ts")
    dfg, starts, ends = pm4py.discover_dfg(log)
    variants = pm4py.get_variants(log)
    return {"dfg": dfg, "starts": starts, "ends": ends, "variants": variants}


BARE = "SELECT step, count(*) AS n FROM events GROUP BY step"


def run_bare(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(BARE).df()


# -- correctness ----------------------------------------------------------------------------------
def check_agreement(mine: dict[str, Any], peer: dict[str, Any]) -> dict[str, int]:
    """Assert rox's transitions, starts, ends and variant counts equal pm4py's exactly."""
    edges = mine["map"].frame
    triples = zip(edges.source, edges.target, edges.transitions, strict=True)
    ours = {(s, t): int(n) for s, t, n in triples}
    theirs = {k: int(v) for k, v in peer["dfg"].items()}
    assert ours == theirs, _diff("transitions", ours, theirs)
    for name in ("starts", "ends"):
        frame = getattr(mine["map"], name)
        ours_se = {s: int(n) for s, n in zip(frame.step, frame.journeys, strict=True)}
        theirs_se = {k: int(v) for k, v in peer[name].items()}
        assert ours_se == theirs_se, _diff(name, ours_se, theirs_se)
    if "variants" not in mine:
        return {"transitions": len(ours), "variants": "not compared (rox variants failed)"}
    v = mine["variants"].frame
    ours_v = {tuple(p.split(SEP)): int(n) for p, n in zip(v.path, v.journeys, strict=True)}
    theirs_v = {tuple(k): _count(c) for k, c in peer["variants"].items()}
    assert ours_v == theirs_v, _diff("variants", ours_v, theirs_v)
    return {"transitions": len(ours), "variants": len(ours_v), "journeys": sum(ours_v.values())}


def check_arrays(mine: dict[str, Any], arrays: dict[str, pd.DataFrame]) -> None:
    """Assert the arrays floor's map and variants equal rox's exactly (floats to the bit)."""
    m = mine["map"]
    cols = ["source", "target", "transitions", "customers", "median_hours", "p90_hours"]
    edges = arrays["edges"].sort_values(
        ["transitions", "source", "target"], ascending=[False, True, True]
    )
    pd.testing.assert_frame_equal(
        edges[cols].reset_index(drop=True), m.frame[cols], check_dtype=False, check_exact=True
    )
    steps = arrays["steps"]
    for name in ("starts", "ends"):
        got = steps.loc[steps[name] > 0, ["step", name]].rename(columns={name: "journeys"})
        got = got.sort_values(["journeys", "step"], ascending=[False, True])
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True), getattr(m, name), check_dtype=False
        )
    assert int(steps["events"].sum()) == m.events
    assert int(steps["starts"].sum()) == m.journeys
    assert m.ties is not None and int(steps["tied"].sum()) == m.ties.tied
    v = arrays["variants"].sort_values(["journeys", "path"], ascending=[False, True])
    cols = ["path", "steps", "journeys", "median_hours"]
    pd.testing.assert_frame_equal(
        v[cols].reset_index(drop=True),
        mine["variants"].frame[cols],
        check_dtype=False,
        check_exact=True,
    )


def _frames(result: Any) -> list[pd.DataFrame]:
    """The tables of a rox result (a map's frame, starts and ends; a funnel's frame and times)."""
    return [v for v in vars(result).values() if isinstance(v, pd.DataFrame)]


def _count(value: Any) -> int:
    # pm4py returns counts (recent versions) or lists of cases (older ones)
    return int(value) if np.isscalar(value) else len(value)


def _diff(what: str, ours: dict[Any, int], theirs: dict[Any, int]) -> str:
    keys = set(ours) | set(theirs)
    bad = [(k, ours.get(k), theirs.get(k)) for k in keys if ours.get(k) != theirs.get(k)]
    return f"{what}: {len(bad)} differ, e.g. {bad[:5]}"


# -- measurement ----------------------------------------------------------------------------------
def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def only(
    side: str, workspace: Path, parquet: Path, repeats: int, skip: tuple[str, ...] = ()
) -> dict[str, float]:
    """Child mode: run one side ``repeats`` times; report its timings and memory."""
    if side == "bare":
        con = duckdb.connect(str(workspace), read_only=True)

        def fn() -> object:
            return run_bare(con)

    elif side == "pm4py":
        import pm4py  # noqa: F401  (imported before the baseline)

        def fn() -> object:
            return run_pm4py(read_events(parquet))

    else:
        import rox

        ws = rox.open(workspace, read_only=True)

        def fn() -> object:
            return run_rox_prepared(ws) if side == "rox-prepared" else run_rox(ws, skip=skip)

    baseline = status_mib("VmRSS")
    times = [_time(fn) for _ in range(repeats)]
    return {
        "baseline_mib": baseline,
        "peak_mib": status_mib("VmHWM"),
        "median_s": statistics.median(times),
    }


def _child(
    side: str, workspace: Path, parquet: Path, repeats: int, skip: tuple[str, ...] = ()
) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--only", side, "--workspace", str(workspace)]
    cmd += [arg for name in skip for arg in ("--skip", name)]
    cmd += ["--parquet", str(parquet), "--repeats", str(repeats)]
    done = subprocess.run(cmd, capture_output=True, check=True)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def machine() -> dict[str, Any]:
    """Facts about the machine and the versions measured."""
    import ibis

    import rox

    versions: dict[str, Any] = {}
    try:
        import pm4py

        versions["pm4py"] = pm4py.__version__
    except ImportError:
        versions["pm4py"] = None
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
        "pyarrow": pa.__version__,
        "rox": getattr(rox, "__version__", "dev"),
        **versions,
    }


def prepare(workdir: Path, events: int, seed: int) -> tuple[Path, Path, Path, int]:
    """Parquet file, DuckDB workspace of ``events`` events, and its copy with the journey index.

    All are reused when already there.
    """
    import rox

    parquet = workdir / f"events_{events}.parquet"
    workspace = workdir / f"journey_{events}.duckdb"
    if not parquet.exists():
        start = time.perf_counter()
        n = write_parquet(parquet, events, seed)
        print(f"wrote {n:,} events to {parquet} in {time.perf_counter() - start:.1f} s")
        workspace.unlink(missing_ok=True)
    n = pq.ParquetFile(parquet).metadata.num_rows
    ws = rox.open(workspace)
    try:
        have = ws.count("events")
        if have != n:
            if have:
                ws.backend.con.execute("DELETE FROM events")
            start = time.perf_counter()
            ws.ingest("events", str(parquet))
            ws.backend.con.execute("CHECKPOINT")
            print(f"ingested {n:,} events into {workspace} in {time.perf_counter() - start:.1f} s")
            (workdir / f"journey_{events}_indexed.duckdb").unlink(missing_ok=True)
        # the plain workspace computes its journeys: no index (the copy below has it)
        if rox.journey.drop_index(ws):
            ws.backend.con.execute("CHECKPOINT")
    finally:
        ws.close()
    indexed = workdir / f"journey_{events}_indexed.duckdb"
    if not indexed.exists():
        shutil.copy(workspace, indexed)
        ws = rox.open(indexed)
        try:
            rox.journey.build_index(ws)
            ws.backend.con.execute("CHECKPOINT")
        finally:
            ws.close()
    return parquet, workspace, indexed, n


def run_floor(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """One query (or script) of ``bench_journey_floor.py`` on ``con``."""
    for part in FLOOR[name].split(";\n"):
        con.execute(part).fetchall()


def time_index_builds(indexed: Path, repeats: int) -> tuple[list[float], dict[str, list[float]]]:
    """Rebuild the journey index ``repeats`` times (what each load of events adds); the times.

    Interleaved with the floor of ordering the events once (hand SQL on the same connection): into
    a temporary table, and into a table of a database file (a scratch file next to the workspace).
    """
    import rox

    ws = rox.open(indexed)
    con = ws.backend.con
    floor: dict[str, list[float]] = {"ordered events": [], "ordered events, persisted": []}
    scratch = tempfile.TemporaryDirectory(prefix="rox-floor-", dir=indexed.parent)
    con.execute(f"ATTACH '{Path(scratch.name) / 'scratch.duckdb'}' AS scratch")
    try:
        times = []
        for _ in range(repeats):
            times.append(_time(lambda: rox.journey.build_index(ws)))
            for name, runs in floor.items():
                runs.append(_time(lambda name=name: run_floor(con, name)))
        con.execute("DETACH scratch")
        con.execute("CHECKPOINT")
    finally:
        ws.close()
        scratch.cleanup()
    return times, floor


def bench_size(args: argparse.Namespace, events: int) -> dict[str, Any]:
    """Run the three sides on one log size; return the report of that size."""
    import rox

    parquet, workspace, indexed, n = prepare(args.workdir, events, args.seed)
    with_pm4py = n <= args.pm4py_max_events
    repeats = args.repeats if n <= 2_000_000 else args.repeats_large
    builds, floor = time_index_builds(indexed, repeats)
    print(
        f"{n:,} events: journey index built in {statistics.median(builds):.2f} s (median); "
        + ", ".join(f"floor {k} {statistics.median(v):.2f} s" for k, v in floor.items())
    )

    ws = rox.open(workspace, read_only=True)
    iws = rox.open(indexed, read_only=True)
    con = ws.backend.con

    # warm-ups, which also check that rox and pm4py agree; a rox part that fails is reported
    failed: dict[str, str] = {}
    mine: dict[str, Any] = {}
    for name in ("map", "variants", "funnel"):
        others = tuple(p for p in ("map", "variants", "funnel") if p != name)
        try:
            mine.update(run_rox(ws, skip=others))
        except duckdb.Error as exc:
            failed[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            print(f"{n:,} events: rox {name} FAILED: {failed[name]}")
    skip = tuple(failed)
    run_bare(con)
    agreement: dict[str, Any] | str = "not checked (pm4py not run at this size)"
    if with_pm4py:
        agreement = check_agreement(mine, run_pm4py(read_events(parquet)))
        print(f"{n:,} events: rox and pm4py agree exactly: {agreement}")
    if not skip:
        check_arrays(mine, arrays_map_and_variants(con))
        print(f"{n:,} events: the arrays floor's map and variants equal rox's exactly")
    # the index gives the same results as computing the journeys
    on_index = run_rox(iws, skip=skip)
    assert rox.journey.prepare(iws).indexed
    for name, result in on_index.items():
        for a, b in zip(_frames(result), _frames(mine[name]), strict=True):
            pd.testing.assert_frame_equal(a, b)
    del on_index
    m = mine["map"]
    empty = pd.DataFrame({"step": [], "journeys": []})
    funnel = mine["funnel"].frame if "funnel" in mine else empty
    facts = {
        "journeys": m.journeys,
        "events": m.events,
        "steps": len(STEPS),
        "transitions": len(m.frame),
        "variants": len(mine["variants"].frame) if "variants" in mine else None,
        "funnel": dict(zip(funnel.step, funnel.journeys.astype(int), strict=True)),
    }
    del mine

    times: dict[str, list[float]] = {
        "rox": [],
        "rox_prepared": [],
        "rox_indexed": [],
        "bare": [],
        "floor_map_variants": [],
        "floor_arrays": [],
    }
    parts: dict[str, list[float]] = {}
    prepared_parts: dict[str, list[float]] = {}
    indexed_parts: dict[str, list[float]] = {}
    if with_pm4py:
        times.update({"pm4py_read": [], "pm4py": []})
    for _ in range(repeats):
        times["rox"].append(_time(lambda: run_rox(ws, parts, skip)))
        if not skip:
            times["rox_prepared"].append(_time(lambda: run_rox_prepared(ws, prepared_parts)))
            times["rox_indexed"].append(_time(lambda: run_rox(iws, indexed_parts)))
            # the default variant table (top 20, as in the report), apart: not in the total
            top20 = _time(lambda: rox.journey.variants(iws))
            indexed_parts.setdefault("variants_top20", []).append(top20)
        times["bare"].append(_time(lambda: run_bare(con)))
        times["floor_map_variants"].append(_time(lambda: run_floor(con, "map + variants")))
        times["floor_arrays"].append(_time(lambda: arrays_map_and_variants(con)))
        if with_pm4py:
            start = time.perf_counter()
            df = read_events(parquet)
            times["pm4py_read"].append(time.perf_counter() - start)
            times["pm4py"].append(_time(lambda df=df: run_pm4py(df)))
            del df
    ws.close()
    iws.close()

    med = {k: statistics.median(v) for k, v in times.items() if v}
    med["index_build"] = statistics.median(builds)
    med["floor_ordered"] = statistics.median(floor["ordered events"])
    med["floor_ordered_persisted"] = statistics.median(floor["ordered events, persisted"])
    med_indexed = {k: statistics.median(v) for k, v in indexed_parts.items()}
    med_parts = {k: statistics.median(v) for k, v in parts.items()}
    med_prepared = {k: statistics.median(v) for k, v in prepared_parts.items()}
    med_parts.update({name: float("nan") for name in failed})
    rox_mv = med_parts["map"] + med_parts["variants"]
    ratios = {
        "rox_map_variants_over_floor": rox_mv / med["floor_map_variants"],
        "index_build_over_floor_ordered": med["index_build"] / med["floor_ordered"],
        "index_build_over_floor_ordered_persisted": (
            med["index_build"] / med["floor_ordered_persisted"]
        ),
        "rox_over_bare": med["rox"] / med["bare"],
        "rox_map_variants_over_bare": rox_mv / med["bare"],
        "rox_map_over_bare": med_parts["map"] / med["bare"],
    }
    if with_pm4py:
        ratios["pm4py_over_rox"] = med["pm4py"] / rox_mv
        ratios["pm4py_with_read_over_rox"] = (med["pm4py"] + med["pm4py_read"]) / rox_mv
    if med_indexed:
        indexed_mv = med_indexed["map"] + med_indexed["variants"]
        ratios["rox_indexed_over_bare"] = med["rox_indexed"] / med["bare"]
        ratios["rox_indexed_map_variants_over_bare"] = indexed_mv / med["bare"]
        ratios["rox_indexed_map_top20_over_bare"] = (
            med_indexed["map"] + med_indexed["variants_top20"]
        ) / med["bare"]
        if with_pm4py:
            ratios["pm4py_over_rox_indexed"] = med["pm4py"] / indexed_mv
            ratios["pm4py_over_rox_index_build_and_query"] = med["pm4py"] / (
                indexed_mv + med["index_build"]
            )
    if med_prepared:
        prepared_mv = med_prepared["prepare"] + med_prepared["map"] + med_prepared["variants"]
        ratios["rox_prepared_over_bare"] = med["rox_prepared"] / med["bare"]
        ratios["rox_prepared_map_variants_over_floor"] = prepared_mv / med["floor_map_variants"]
        if with_pm4py:
            ratios["pm4py_over_rox_prepared"] = med["pm4py"] / prepared_mv
    ratios["rox_map_variants_over_floor_arrays"] = rox_mv / med["floor_arrays"]
    if with_pm4py:
        ratios["pm4py_over_floor_map_variants"] = med["pm4py"] / med["floor_map_variants"]
        ratios["pm4py_over_floor_arrays"] = med["pm4py"] / med["floor_arrays"]

    memory: dict[str, dict[str, float]] = {}
    if not args.no_memory:
        sides = ["rox", "bare"] + (["rox-prepared", "rox-indexed"] if not skip else [])
        sides += ["pm4py"] if with_pm4py else []
        for side in sides:
            path = indexed if side == "rox-indexed" else workspace
            memory[side] = _child(side, path, parquet, 1, skip if side == "rox" else ())
            print(f"{n:,} events: peak memory of {side}: {memory[side]['peak_mib']:,.0f} MiB")

    report = {
        "events": n,
        "repeats": repeats,
        "rox_memory_limit": os.environ.get("ROX_MEMORY_LIMIT", "rox default (2GB)"),
        "data": facts,
        "times_s": times,
        "parts_s": parts,
        "median_s": med,
        "median_parts_s": med_parts,
        "prepared_parts_s": prepared_parts,
        "median_prepared_parts_s": med_prepared,
        "indexed_parts_s": indexed_parts,
        "median_indexed_parts_s": med_indexed,
        "index_builds_s": builds,
        "floor_orderings_s": floor,
        "ratios": ratios,
        "memory_mib": memory,
        "agreement": agreement,
        "rox_failed": failed,
    }
    if args.profile:
        report["profile"] = profile_rox(workspace)
    return report


def profile_rox(workspace: Path, top: int = 25) -> str:
    """cProfile of one rox run (map + variants + funnel), by cumulative time."""
    import rox

    ws = rox.open(workspace, read_only=True)
    run_rox(ws)
    prof = cProfile.Profile()
    prof.enable()
    run_rox(ws)
    prof.disable()
    ws.close()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).sort_stats("cumulative")
    stats.print_stats(r"rox[/\\]journey|workspace\.py.*require_rows|\(execute\)|\(count\)", top)
    return buf.getvalue()


def _table(report: dict[str, Any]) -> str:
    n = report["events"]
    med, parts = report["median_s"], report["median_parts_s"]
    mem = report["memory_mib"]
    d = report["data"]
    lines = [
        f"{n:,} events, {d['journeys']:,} journeys, {d['transitions']} transitions, "
        f"{d['variants'] or 0:,} variants; {report['repeats']} interleaved runs each",
        "",
        "| side | median (s) | × bare scan | peak RSS (MiB) |",
        "|---|---:|---:|---:|",
    ]
    bare = med["bare"]

    def row(label: str, secs: float, side: str | None = None) -> None:
        peak = f"{mem[side]['peak_mib']:,.0f}" if side and side in mem else ""
        lines.append(f"| {label} | {secs:.3f} | {secs / bare:.2f} | {peak} |")

    def analyses(title: str, total: float, side: str, times: dict[str, float]) -> None:
        """A side's total, then each part, then what is compared with pm4py."""
        row(title, total, side)
        compared = ["map", "variants"]
        if "prepare" in times:
            row("  `prepare` (events ordered once)", times["prepare"])
            compared.insert(0, "prepare")
        row("  `journey_map`", times["map"])
        row("  `variants(top=None)`", times["variants"])
        row("  `funnel` (5 steps)", times["funnel"])
        row(f"  {' + '.join(compared)}", sum(times[name] for name in compared))
        if "variants_top20" in times:
            row(
                "  `variants()`: the top 20 (the default; not in the total)",
                times["variants_top20"],
            )

    analyses("rox map + variants + funnel", med["rox"], "rox", parts)
    prepared = report["median_prepared_parts_s"]
    if prepared:
        title = "rox prepared: prepare + map + variants + funnel"
        analyses(title, med["rox_prepared"], "rox-prepared", prepared)
    indexed = report["median_indexed_parts_s"]
    if indexed:
        analyses("rox indexed: map + variants + funnel", med["rox_indexed"], "rox-indexed", indexed)
        row("  (the index's build, once per load of events)", med["index_build"])
    if "pm4py" in med:
        row("pm4py format + discover_dfg + get_variants", med["pm4py"], "pm4py")
        row("  pm4py incl. `pd.read_parquet`", med["pm4py"] + med["pm4py_read"])
        row("  `pd.read_parquet` alone", med["pm4py_read"])
    row("bare DuckDB `count(*) GROUP BY step`", bare, "bare")
    row("floor (hand SQL): map + variants", med["floor_map_variants"])
    row("floor (arrays: numpy on the fetched columns): map + variants", med["floor_arrays"])
    row("floor (hand SQL): the events ordered once", med["floor_ordered"])
    row("floor (hand SQL): the events ordered once, persisted", med["floor_ordered_persisted"])
    r = report["ratios"]
    lines.append("")
    lines.append("The targets of #21 (§2):")
    if "pm4py_over_rox" in r:
        lines.append(
            f"- pm4py / rox map + variants from the events as loaded: {r['pm4py_over_rox']:.1f}x "
            f"— target ≥ 5x: {'met' if r['pm4py_over_rox'] >= 5 else 'NOT met'} (pm4py / the "
            f"floor's map + variants: {r['pm4py_over_floor_map_variants']:.1f}x; / the arrays "
            f"floor's: {r['pm4py_over_floor_arrays']:.1f}x)"
        )
    lines.append(
        f"- rox map + variants / the floor's: {r['rox_map_variants_over_floor']:.2f}x — target "
        f"≤ 1.6x: {'met' if r['rox_map_variants_over_floor'] <= 1.6 else 'NOT met'}"
    )
    lines.append(
        f"- the index's build / the floor of ordering the events once: "
        f"{r['index_build_over_floor_ordered']:.2f}x — target ≤ 2x: "
        f"{'met' if r['index_build_over_floor_ordered'] <= 2 else 'NOT met'} (/ ordering once "
        f"and persisting: {r['index_build_over_floor_ordered_persisted']:.2f}x)"
    )
    lines.append("")
    if "pm4py_over_rox" in r:
        lines.append(
            f"pm4py / rox (map + variants): {r['pm4py_over_rox']:.1f}x "
            f"({r['pm4py_with_read_over_rox']:.1f}x with the Parquet read) — target ≥ 10x: "
            f"{'met' if r['pm4py_over_rox'] >= 10 else 'NOT met'}"
        )
    if "pm4py_over_rox_prepared" in r:
        lines.append(
            f"pm4py / rox prepared (prepare + map + variants): {r['pm4py_over_rox_prepared']:.1f}x"
            f" — target ≥ 10x: {'met' if r['pm4py_over_rox_prepared'] >= 10 else 'NOT met'}"
        )
    if "pm4py_over_rox_indexed" in r:
        lines.append(
            f"pm4py / rox indexed (map + variants): {r['pm4py_over_rox_indexed']:.1f}x — target "
            f"≥ 10x: {'met' if r['pm4py_over_rox_indexed'] >= 10 else 'NOT met'}; with the "
            f"index's build counted too: {r['pm4py_over_rox_index_build_and_query']:.1f}x"
        )
    if "rox_indexed_over_bare" in r:
        lines.append(
            f"rox indexed / bare scan: {r['rox_indexed_over_bare']:.1f}x (map + variants + "
            f"funnel), {r['rox_indexed_map_variants_over_bare']:.1f}x (map + variants), "
            f"{r['rox_indexed_map_top20_over_bare']:.1f}x (map + the top 20 variants) — target "
            f"≤ 3x: {'met' if r['rox_indexed_over_bare'] <= 3 else 'NOT met'}"
        )
    lines.append(
        f"rox / bare scan: {r['rox_over_bare']:.1f}x (map + variants + funnel), "
        f"{r['rox_map_variants_over_bare']:.1f}x (map + variants), "
        f"{r['rox_map_over_bare']:.1f}x (map alone) — target ≤ 3x: "
        f"{'met' if r['rox_over_bare'] <= 3 else 'NOT met'}"
    )
    for side in ("rox", "rox-prepared", "rox-indexed"):
        if side not in mem:
            continue
        ok = mem[side]["peak_mib"] < 4 * 1024
        lines.append(
            f"{side} peak memory: {mem[side]['peak_mib']:,.0f} MiB — target < 4 GB: "
            f"{'met' if ok else 'NOT met'}"
        )
    lines.append(f"agreement with pm4py: {report['agreement']}")
    for name, error in report["rox_failed"].items():
        lines.append(f"rox {name} FAILED (not timed): {error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side (≤ 2M events)")
    parser.add_argument("--repeats-large", type=int, default=3, help="timed runs above 2M events")
    parser.add_argument(
        "--pm4py-max-events",
        type=int,
        default=20_000_000,
        help="run pm4py only on logs up to this many events",
    )
    parser.add_argument("--workdir", type=Path, help="keep Parquet + workspaces here (reused)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-side memory runs")
    parser.add_argument("--profile", action="store_true", help="cProfile one rox run per size")
    parser.add_argument(
        "--only",
        choices=["rox", "rox-prepared", "rox-indexed", "pm4py", "bare"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.only:
        result = only(args.only, args.workspace, args.parquet, args.repeats, tuple(args.skip))
        sys.stdout.write(json.dumps(result) + "\n")
        return 0

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="rox-bench-journey-")
        args.workdir = Path(tmp.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        reports = []
        for events in args.events:
            report = bench_size(args, events)
            print(_table(report))
            if "profile" in report:
                print(report["profile"])
            reports.append(report)
        if args.out:
            out = {"benchmark": "journey", "machine": machine(), "sizes": reports}
            args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
