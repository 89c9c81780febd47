"""Benchmark: loading a responses CSV with rox against bare DuckDB's ``read_csv``.

What is timed (wall time, each load in its own child process, into a fresh DuckDB file):

``rox``       ``ws.ingest("responses", csv_path)``: read, map, type and check every value, key
              every row, check keys against the table, load in one transaction, record the load;
``reingest``  the same call again on the same workspace (idempotent: 0 rows loaded);
``duckdb``    ``CREATE TABLE t AS SELECT * FROM read_csv(path)`` (type detection, no checks).

The CSV holds valid responses generated as in ``bench_experience.py`` (seeded; not timed). Sides
are interleaved over ``--repeats`` rounds. Peak memory is each child's peak resident set
(``VmHWM``), so one side's allocations never hide the other's.

Usage::

    python bench/bench_ingest.py --rows 10000000
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

from _measure import status_mib

COLUMNS = "ts, metric, score, response_id, customer_id, scale, touchpoint, channel, region, weight"


def write_csv(path: Path, rows: int, seed: int) -> None:
    """Write ``rows`` valid responses to ``path`` (ISO 8601 UTC times, empty weight = NULL)."""
    import rox
    from bench_experience import generate

    ws = rox.open("duckdb://:memory:")
    con = ws.backend.con
    generate(con, rows, seed)
    con.execute(
        f"""
        COPY (
            SELECT strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, {COLUMNS.split(", ", 1)[1]}
            FROM responses ORDER BY response_id
        ) TO '{path}' (HEADER, DELIMITER ',')
        """
    )
    ws.close()


def only(side: str, csv: Path, workspace: Path) -> dict[str, Any]:
    """Child mode: load ``csv`` into the fresh file ``workspace`` one way; time it."""
    out: dict[str, Any] = {}
    if side == "duckdb":
        import duckdb

        out["baseline_mib"] = status_mib("VmRSS")
        start = time.perf_counter()
        con = duckdb.connect(str(workspace))
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv}')")
        con.close()
        out["load_s"] = time.perf_counter() - start
    else:
        import rox

        out["baseline_mib"] = status_mib("VmRSS")
        start = time.perf_counter()
        ws = rox.open(workspace)
        report = ws.ingest("responses", csv)
        out["load_s"] = time.perf_counter() - start
        out["rows_loaded"] = report.rows_loaded
        out["peak_load_mib"] = status_mib("VmHWM")
        start = time.perf_counter()
        again = ws.ingest("responses", csv)
        out["reingest_s"] = time.perf_counter() - start
        out["reingest_rows_loaded"] = again.rows_loaded
        ws.close()
    out["peak_mib"] = status_mib("VmHWM")
    return out


def _child(side: str, csv: Path, workspace: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--only",
        side,
        "--csv",
        str(csv),
        "--workspace",
        str(workspace),
    ]
    done = subprocess.run(cmd, capture_output=True, check=True)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="responses in the CSV")
    parser.add_argument("--repeats", type=int, default=3, help="loads of each side")
    parser.add_argument("--csv", type=Path, help="CSV to (re)use (default: a temporary file)")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--only", choices=["rox", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.only:
        sys.stdout.write(json.dumps(only(args.only, args.csv, args.workspace)) + "\n")
        return 0

    with tempfile.TemporaryDirectory(prefix="rox-bench-ingest-") as tmp:
        csv = args.csv or Path(tmp) / "responses.csv"
        if not csv.exists():
            start = time.perf_counter()
            write_csv(csv, args.rows, args.seed)
            print(f"wrote {args.rows:,} responses to {csv} in {time.perf_counter() - start:.1f} s")
        runs: dict[str, list[dict[str, Any]]] = {"rox": [], "duckdb": []}
        for i in range(args.repeats):
            for side, done in runs.items():
                target = Path(tmp) / f"{side}-{i}.duckdb"
                done.append(_child(side, csv, target))
                target.unlink()
        report = _summary(args, csv, runs)
    print(_table(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _summary(
    args: argparse.Namespace, csv: Path, runs: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    rox_runs, duck_runs = runs["rox"], runs["duckdb"]
    loaded = {r["rows_loaded"] for r in rox_runs}
    again = {r["reingest_rows_loaded"] for r in rox_runs}
    assert loaded == {args.rows}, f"rox loaded {loaded} rows, expected {args.rows}"
    assert again == {0}, f"re-ingest loaded {again} rows, expected 0"
    median = {
        "rox": statistics.median(r["load_s"] for r in rox_runs),
        "reingest": statistics.median(r["reingest_s"] for r in rox_runs),
        "duckdb": statistics.median(r["load_s"] for r in duck_runs),
    }
    return {
        "benchmark": "ingest",
        "rows": args.rows,
        "csv_mib": csv.stat().st_size / 2**20,
        "repeats": args.repeats,
        "machine": _machine(),
        "runs": runs,
        "median_s": median,
        "min_s": {
            "rox": min(r["load_s"] for r in rox_runs),
            "reingest": min(r["reingest_s"] for r in rox_runs),
            "duckdb": min(r["load_s"] for r in duck_runs),
        },
        "ratio_rox_over_duckdb": median["rox"] / median["duckdb"],
        "peak_mib": {
            "rox": max(r["peak_load_mib"] for r in rox_runs),
            "reingest": max(r["peak_mib"] for r in rox_runs),
            "duckdb": max(r["peak_mib"] for r in duck_runs),
        },
        "baseline_mib": {
            "rox": max(r["baseline_mib"] for r in rox_runs),
            "duckdb": max(r["baseline_mib"] for r in duck_runs),
        },
    }


def _machine() -> dict[str, Any]:
    from bench_experience import machine

    return machine()


def _table(report: dict[str, Any]) -> str:
    names = {
        "rox": "rox `ws.ingest('responses', csv)` (fresh workspace)",
        "reingest": "rox re-ingest of the same file (0 rows loaded)",
        "duckdb": "DuckDB `CREATE TABLE t AS SELECT * FROM read_csv(csv)`",
    }
    duck = report["median_s"]["duckdb"]
    lines = [
        f"{report['rows']:,} responses ({report['csv_mib']:,.0f} MiB CSV), {report['repeats']} "
        f"loads of each side (DuckDB {report['machine']['duckdb']}, "
        f"{report['machine']['cpus']} CPUs)",
        "",
        "| load | median (s) | min (s) | × DuckDB | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in names.items():
        lines.append(
            f"| {label} | {report['median_s'][key]:.2f} | {report['min_s'][key]:.2f} | "
            f"{report['median_s'][key] / duck:.2f} | {report['peak_mib'][key]:,.0f} |"
        )
    base = report["baseline_mib"]
    lines += [
        "",
        f"RSS after imports: rox {base['rox']:,.0f} MiB, DuckDB alone {base['duckdb']:,.0f} MiB; "
        "the re-ingest peak is that of the whole child (first load included).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
