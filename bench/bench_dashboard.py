"""Benchmark: the dashboard's overview page on the demo brand, against bare DuckDB SQL (#19 §4).

The demo brand of ``--customers`` customers is built once into ``--cache`` (a DuckDB file kept
for the next runs: 1M customers take about 7 minutes to build here) and copied for each run, as
the run posts to it. Then, in one process, side by side:

* ``peer``: bare DuckDB SQL on the copy computing what the overview's trend charts show: NPS,
  CSAT and CES with their response counts by quarter, overall and by touchpoint (point
  estimates only: no intervals, no tests, no page), ``--rounds`` times after one warm-up; the
  script checks that its figures equal rox's (:func:`rox.experience.measure`);
* the service (:func:`rox.service.create_app`, FastAPI's ``TestClient``, an admin session):
  (a) ``cold``: the first ``GET /dashboard/overview`` of the process; (b) ``warm``: the same
  page again, same data version; (c) ``after load``: one batch of ``--batch`` NPS responses
  posted to ``/v1/responses`` (its 201 is not timed), then the page: the render a user meets
  after a load (served), and the time until a load shows the batch (shown); (d) one response
  posted while that page is recomputed, to its 201 (intake is not held up by the dashboard),
  ``--rounds`` times each.

The overview's expensive part (what experience is worth: the customer value models fitted to
every customer, bootstrap intervals, drivers, the priced journeys' audit) is computed in the
background (:class:`rox.service.dashboard.PageCache`); the script reports whether it finished
within ``--expensive-timeout`` seconds, and how long it took if so. Loads (a) to (c) run while
it computes, as they would on a server just started.

Peak memory: the process's peak resident set (``VmHWM``) at the end (the service, DuckDB's
buffers and the expensive part share the process).

Usage::

    python bench/bench_dashboard.py --customers 1000000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

import rox
from rox.demo import build
from rox.experience import measure
from rox.service import ServiceConfig, create_app
from rox.service.keys import create_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import status_mib

#: The overview's figures in bare SQL: estimate and count per metric, group and period (the demo
#: answers on the default scales: NPS 0-10, CSAT 1-5 top-2-box, CES 1-7 mean).
PEER = """
SELECT metric, {group} AS grp, count(*) AS n,
       CASE metric
         WHEN 'nps' THEN 100 * (avg((score >= 9)::INT) - avg((score <= 6)::INT))
         WHEN 'csat' THEN 100 * avg((score >= 4)::INT)
         ELSE avg(score) END AS estimate
FROM responses GROUP BY 1, 2 ORDER BY 1, 2
"""
GROUPS = {"quarter": "date_trunc('quarter', ts)", "touchpoint": "touchpoint", "overall": "'all'"}


def peer(path: str) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(path, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    try:
        return {name: con.sql(PEER.format(group=g)).fetchall() for name, g in GROUPS.items()}
    finally:
        con.close()


def check_peer(path: str, figures: dict[str, list[tuple[object, ...]]]) -> None:
    """The bare SQL's estimates and counts equal rox's, by quarter and by touchpoint."""
    with rox.open(path, read_only=True) as ws:
        for metric in ("nps", "csat", "ces"):
            mine = measure(ws, metric, period="quarter").frame
            theirs = [r for r in figures["quarter"] if r[0] == metric]
            assert len(mine) == len(theirs), metric
            assert mine["n"].tolist() == [r[2] for r in theirs], metric
            np.testing.assert_allclose(mine["estimate"], [r[3] for r in theirs], rtol=1e-9)
            by_tp = measure(ws, metric, by="touchpoint").frame.sort_values("touchpoint")
            theirs = [r for r in figures["touchpoint"] if r[0] == metric]
            assert by_tp["n"].tolist() == [r[2] for r in theirs], metric
            np.testing.assert_allclose(by_tp["estimate"], [r[3] for r in theirs], rtol=1e-9)


def _count(page: str) -> int:
    """The overview's first figure: the responses held."""
    return int(page.split('class="value">')[1].split("<", maxsplit=1)[0].replace(",", ""))


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--cache", default=None, help="the demo's DuckDB file (built if absent)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--expensive-timeout", type=float, default=120.0)
    args = parser.parse_args()
    cache = Path(args.cache or f"{tempfile.gettempdir()}/rox_bench_demo_{args.customers}.duckdb")
    if not cache.exists():
        started = time.perf_counter()
        partial = cache.with_suffix(".partial.duckdb")
        build(str(partial), n_customers=args.customers, seed=7).close()
        partial.rename(cache)
        took = time.perf_counter() - started
        print(f"built the demo of {args.customers:,} customers in {took:.0f} s")
    work = Path(tempfile.mkdtemp(prefix="rox_bench_dashboard_"))
    path = str(work / "demo.duckdb")
    shutil.copyfile(cache, path)
    with rox.open(path) as ws:
        rows = ws.count("responses")
        keys = {s: create_key(ws, s, [s])[1] for s in ("write", "admin")}

    figures = peer(path)
    check_peer(path, figures)
    peer_times = [timed(lambda: peer(path)) for _ in range(args.rounds)]

    config = ServiceConfig(path, client_rate=0, key_rate=0, dashboard_refresh=0)
    from fastapi.testclient import TestClient

    cold, warm, after, visible, intake = 0.0, [], [], [], []
    write = {"Authorization": f"Bearer {keys['write']}"}
    expensive_at: float | None = None
    with TestClient(create_app(config)) as client:
        answer = client.post("/login", data={"key": keys["admin"]}, follow_redirects=False)
        assert answer.status_code == 303
        started = time.perf_counter()
        page = client.get("/dashboard/overview")
        cold = time.perf_counter() - started
        assert page.status_code == 200 and "NPS by quarter" in page.text
        for i in range(args.rounds):
            warm.append(timed(lambda: client.get("/dashboard/overview")))
            batch = [
                {
                    "ts": "2026-06-01T10:00:00Z",
                    "metric": "nps",
                    "score": int(s),
                    "touchpoint": "service",
                    "response_id": f"bench-{i}-{j}",
                }
                for j, s in enumerate(np.random.default_rng(i).integers(0, 11, args.batch))
            ]
            posted = client.post("/v1/responses", json=batch, headers=write)
            assert posted.status_code == 201, posted.text
            expected = rows + (i + 1) * args.batch + i  # (and the single ones posted below)
            started_after = time.perf_counter()
            shown = client.get("/dashboard/overview").text
            after.append(time.perf_counter() - started_after)
            # intake while the page is recomputed: one response, its 201 after its commit
            one = {"ts": "2026-06-01T10:00:00Z", "metric": "nps", "score": 7,
                   "response_id": f"bench-one-{i}"}  # fmt: skip
            posting = time.perf_counter()
            answer = client.post("/v1/responses", json=one, headers=write)
            intake.append(time.perf_counter() - posting)
            assert answer.status_code == 201, answer.text
            while _count(shown) < expected:
                time.sleep(0.1)
                shown = client.get("/dashboard/overview").text
            visible.append(time.perf_counter() - started_after)
        end = time.perf_counter() + args.expensive_timeout
        while time.perf_counter() < end:
            text = client.get("/dashboard/overview").text
            if "its worth of experience at" in text:
                expensive_at = time.perf_counter() - started
                break
            time.sleep(2)
        held = rows + args.rounds * (args.batch + 1)
        assert _count(client.get("/dashboard/overview").text) == held
    peak = status_mib("VmHWM")
    shutil.rmtree(work, ignore_errors=True)

    floor = statistics.median(peer_times)
    print(f"demo: {args.customers:,} customers, {rows:,} responses; {args.rounds} rounds")
    print(f"{'case':<28}{'median s':>10}{'vs bare SQL':>13}")
    print(f"{'peer: bare DuckDB SQL':<28}{floor:>10.3f}{1:>12.1f}x")
    cases = (
        ("(a) cold (first load)", [cold]),
        ("(b) warm", warm),
        ("(c) after a load: served", after),
        ("(c) after a load: shown", visible),
        ("(d) one POST meanwhile", intake),
    )
    for name, times in cases:
        m = statistics.median(times)
        print(
            f"{name:<28}{m:>10.3f}{m / floor:>12.1f}x   all: {', '.join(f'{t:.2f}' for t in times)}"
        )
    if expensive_at is None:
        waited = args.expensive_timeout
        print(f"expensive part (worth of experience): not finished within {waited:.0f} s")
    else:
        print(
            f"expensive part (worth of experience): shown {expensive_at:.0f} s after the first load"
        )
    print(f"peak resident memory: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
