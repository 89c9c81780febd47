"""The cost of the service's case probe per batch as the ``cases`` table grows.

For each batch of responses the service's writer asks whether any of its triggers may open a
case (:meth:`rox.service.arrival.Arrival.look`, from :func:`rox.actions.case_rules.possible_cases`):
a trigger outside the life of every case of its customer. This script builds a workspace the way
the service fills one (40 batches of 126 NPS responses from 5,000 customers written by
:class:`rox.ingest.batch.BatchWriter`, cases opened on arrival by :class:`rox.service.arrival.
Arrival`), then copies its cases under new customers until ``cases`` holds ``--cases`` rows, and
times, alternating, on one thread as the writer runs it:

* ``rox``: the probe as rox compiles it (the lives of the batch's customers' cases only);
* ``all``: the same query with the lives of every case (the anti-join alone, as before
  2026-12-07): the same Ibis expressions without the semi-join.

It checks that both give the same rows for the last 40 batches, and prints the medians of 40.
DuckDB only (#19).

Usage::

    python bench/profile_case_probe.py --cases 5000 50000 500000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ibis
import pyarrow as pa

import rox
import rox.actions.case_rules as case_rules
from rox.ingest.batch import BatchWriter
from rox.schema import TABLES
from rox.service.arrival import Arrival


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, nargs="+", default=[5_000, 50_000, 500_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rox-case-probe-") as folder:
        for n in args.cases:
            run(Path(folder) / f"probe-{n}.duckdb", n)


def _batch(start: int, size: int) -> pa.Table:
    """NPS responses as the service receives them (every canonical column, times as text)."""
    given = {"ts": "2026-05-01T10:00:00Z", "metric": "nps"}
    ids = range(start, start + size)
    columns = {}
    for c in TABLES["responses"].columns:
        if c.name == "response_id":
            values: list[object] = [f"r{i}" for i in ids]
        elif c.name == "customer_id":
            values = [f"c{i % 5000}" for i in ids]
        elif c.name == "score":
            values = [float(i % 11) for i in ids]
        else:
            values = [given.get(c.name)] * size
        columns[c.name] = pa.array(values, pa.float64() if c.dtype == "float64" else pa.string())
    return pa.table(columns)


def _all_lives(found: ibis.Table, cases: ibis.Table) -> ibis.Table:
    """The anti-join on the lives of every case (``_outside_lives`` without its semi-join)."""
    lives = cases.select(
        "customer_id",
        life_from=cases.opened_at,
        life_to=ibis.cases(
            (cases.status.isin(case_rules.ACTIVE), case_rules._FOREVER),
            (cases.closed_at.notnull(), cases.closed_at),
            else_=cases.due_at.fill_null(cases.opened_at),
        ),
    )
    return found.anti_join(
        lives,
        [
            found.customer_id == lives.customer_id,
            found.opened_at >= lives.life_from,
            found.opened_at <= lives.life_to,
        ],
    )


def run(path: Path, n: int) -> None:
    ws = rox.open(str(path))
    arrival = Arrival(ws, None, None)
    writer = BatchWriter(ws)

    def also(con: object, load_id: int, skipped: object, looked: object = None) -> None:
        arrival(con, "responses", load_id, looked)  # type: ignore[arg-type]

    for b in range(40):
        writer.append("responses", _batch(126 * b, 126), also=also, look=arrival.look)
    con = ws.backend.con
    copies = max(n // max(arrival.cases_opened, 1) - 1, 0)
    if copies:
        con.execute(
            "INSERT INTO cases BY NAME SELECT cases.* REPLACE ('x' || i || '-' || customer_id AS "
            "customer_id, case_id || '-' || i AS case_id, case_id || '-' || i AS _key) "
            f"FROM cases, (SELECT range AS i FROM range({copies}))"
        )
    (stored,) = con.execute("SELECT count(*) FROM cases").fetchone()
    rox_probe = Arrival(ws, None, None)
    original = case_rules._outside_lives
    case_rules._outside_lives = _all_lives
    try:
        all_probe = Arrival(ws, None, None)
    finally:
        case_rules._outside_lives = original
    loads = range(writer.last_load - 39, writer.last_load + 1)
    for load in loads:
        a = sorted(con.execute(rox_probe.look("responses", load)).fetchall())
        b = sorted(con.execute(all_probe.look("responses", load)).fetchall())
        assert a == b, f"the two probes differ on load {load}"
    times: dict[str, list[float]] = {"rox": [], "all": []}
    for load in loads:
        for name, probe in (("rox", rox_probe), ("all", all_probe)):
            sql = probe.look("responses", load)
            t0 = time.perf_counter()
            con.execute(sql).fetchall()
            times[name].append(time.perf_counter() - t0)
    ws.close()
    rox_ms, all_ms = (statistics.median(times[k]) * 1000 for k in ("rox", "all"))
    print(
        f"cases {stored:9,d}: probe rox {rox_ms:6.2f} ms, every case's life {all_ms:6.2f} ms "
        f"(x{all_ms / rox_ms:.1f}); the same rows for the 40 batches"
    )


if __name__ == "__main__":
    main()
