"""Benchmark: ``rox.actions.lifecycle`` and ``rox.actions.at_risk`` against hand-written DuckDB SQL.

Purchase histories of ``--customers`` customers are simulated from BG/NBD (the CDNOW estimates of
Fader, Hardie & Lee 2005: r = 0.243, alpha = 4.414 per week, a = 0.793, b = 2.426; first purchases
spread over 2024, observed to 2025-12-31) and loaded into a DuckDB file workspace (not timed; kept
in ``--workdir`` for the next run). A CLV is fitted once (BG/NBD + Gamma-Gamma, not timed), and
both rox and the SQL use its parameters. Timed, interleaved, after one warm-up each,
``--repeats`` times, on the same connection:

* ``lifecycle``: ``lifecycle(ws, "quarter", value=fitted)`` against the SQL of its main query:
  the customer x quarter grid with running purchase counts (window functions), BG/NBD P(alive)
  at each quarter's end written in SQL (Fader, Hardie & Lee 2005, eq. 11), the phases, and the
  two aggregates (phases with spend and CLV, moves between quarters) from a temporary table;
* ``at-risk``: ``at_risk(ws, value=fitted, top=100)`` against the SQL of its ranking: per
  customer P(alive) now and 90 days before, the value at risk, the top 100 (rox also builds the
  reasons for those 100: the workspace has no responses or events, so that part is small).

Before timing, the script checks that rox's phase counts and moves equal the SQL's, and that the
two top-100 lists are the same customers with the same values (to 1e-9).

Usage::

    python bench/bench_actions.py --customers 1000000 --workdir /tmp/bench_actions
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rox
from _measure import status_mib

TRUE_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
START = pd.Timestamp("2024-01-01")
END = pd.Timestamp("2025-12-31")


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """BG/NBD purchase days of ``n`` customers (first purchase uniform over 2024), to END."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = TRUE_BG.values()
    lam = rng.gamma(r, 1.0 / alpha, n) / 7.0  # purchases per day
    p = rng.beta(a, b, n)
    horizon = (END - START).days
    t = rng.uniform(0, 366, n)
    ids, days = [np.arange(n)], [t]
    alive = np.arange(n)
    now = t
    while len(alive):
        drop = rng.uniform(size=len(alive)) < p[alive]  # after the last purchase
        alive, now = alive[~drop], now[~drop]
        now = now + rng.exponential(1.0, len(alive)) / lam[alive]
        keep = now <= horizon
        alive, now = alive[keep], now[keep]
        ids.append(alive)
        days.append(now)
    who, when = np.concatenate(ids), np.concatenate(days)
    return pd.DataFrame(
        {
            "customer_id": pd.Series(who).map("c{:07d}".format),
            "ts": START + pd.to_timedelta(np.floor(when * 86_400), unit="s"),
            "amount": np.round(rng.gamma(6.0, 5.0, len(who)), 2),
            "order_id": pd.Series(np.arange(len(who))).map("o{:08d}".format),
        }
    )


def workspace(n: int, workdir: Path) -> Path:
    path = workdir / f"actions_{n}.duckdb"
    if not path.exists():
        tx = simulate(n)
        start = time.perf_counter()
        with rox.open(path) as ws:
            ws.ingest("transactions", tx)
        print(f"built {path}: {len(tx):,} transactions in {time.perf_counter() - start:.0f} s")
    return path


PALIVE_MACRO = """
CREATE OR REPLACE TEMP MACRO bg_alive(x, tx, t) AS
  CASE WHEN x = 0 THEN 1.0 ELSE
    1.0 / (1.0 + {a} / ({b} + x - 1) * power(({alpha} + t / 7.0) / ({alpha} + tx / 7.0), {r} + x))
  END
"""

LIFECYCLE_TABLE = """
CREATE OR REPLACE TEMP TABLE hand_phases AS
WITH daily AS (
  SELECT customer_id, ts::DATE AS day, sum(amount) AS amount
  FROM transactions WHERE ts::DATE <= DATE '{end}' GROUP BY 1, 2
),
per AS (
  SELECT customer_id, date_trunc('quarter', day)::DATE AS q, count(*) AS days,
         max(day) AS last_day, sum(amount) AS spend
  FROM daily GROUP BY 1, 2
),
firsts AS (
  SELECT customer_id, min(day) AS first_day, date_trunc('quarter', min(day))::DATE AS first_q
  FROM daily GROUP BY 1
),
quarters AS (
  SELECT q::DATE AS q, least((q + INTERVAL 3 MONTH - INTERVAL 1 DAY)::DATE, DATE '{end}') AS q_end
  FROM range(DATE '{start}', DATE '{end}' + INTERVAL 1 DAY, INTERVAL 3 MONTH) AS t(q)
),
grid AS (
  SELECT f.customer_id, f.first_day, f.first_q, p.q, p.q_end, per.days, per.last_day,
         coalesce(per.spend, 0) AS spend
  FROM firsts f JOIN quarters p ON p.q >= f.first_q
  LEFT JOIN per ON per.customer_id = f.customer_id AND per.q = p.q
),
run AS (
  SELECT *, sum(coalesce(days, 0)) OVER w - 1 AS x, max(last_day) OVER w AS last_to_date
  FROM grid WINDOW w AS (PARTITION BY customer_id ORDER BY q ROWS UNBOUNDED PRECEDING)
),
lvl AS (
  SELECT *, days IS NOT NULL AS bought,
         CASE WHEN p_alive >= 0.5 THEN 0 WHEN p_alive >= 0.2 THEN 1 ELSE 2 END AS level
  FROM (SELECT *, bg_alive(x, date_diff('day', first_day, last_to_date),
                           date_diff('day', first_day, q_end)) AS p_alive FROM run)
),
ph AS (
  SELECT *, CASE
      WHEN q = first_q THEN 'new'
      WHEN bought AND coalesce(NOT lag(bought) OVER s, false)
           AND coalesce(lag(level) OVER s = 2, false) THEN 'reactivated'
      WHEN bought OR level = 0 THEN 'active'
      WHEN level = 1 THEN 'at risk'
      ELSE 'lapsed' END AS phase
  FROM lvl WINDOW s AS (PARTITION BY customer_id ORDER BY q)
)
SELECT ph.customer_id, q, phase,
       coalesce(lag(phase) OVER (PARTITION BY ph.customer_id ORDER BY q), 'not yet a customer')
         AS from_phase,
       spend, clv.clv
FROM ph LEFT JOIN clv ON clv.customer_id = ph.customer_id
"""
LIFECYCLE_COUNTS = """
SELECT q, phase, count(*) AS customers, sum(spend) AS spend, sum(clv) AS clv
FROM hand_phases GROUP BY 1, 2
"""
LIFECYCLE_MOVES = """
SELECT q, from_phase, phase, count(*) AS customers FROM hand_phases GROUP BY 1, 2, 3
"""

AT_RISK = """
WITH daily AS (
  SELECT customer_id, ts::DATE AS day FROM transactions
  WHERE ts::DATE <= DATE '{end}' GROUP BY 1, 2
),
per AS (
  SELECT customer_id, min(day) AS first_day, max(day) AS last_day, count(*) AS days,
         count(*) FILTER (WHERE day <= DATE '{tau}') AS days_b,
         max(day) FILTER (WHERE day <= DATE '{tau}') AS last_b
  FROM daily GROUP BY 1
),
pa AS (
  SELECT customer_id,
    bg_alive(days - 1, date_diff('day', first_day, last_day),
             date_diff('day', first_day, DATE '{end}')) AS p_alive,
    CASE WHEN first_day > DATE '{tau}' THEN 1.0 ELSE
      bg_alive(days_b - 1, date_diff('day', first_day, last_b),
               date_diff('day', first_day, DATE '{tau}')) END AS p_alive_before
  FROM per
)
SELECT pa.customer_id, clv.clv * greatest(p_alive_before - p_alive, 0) AS value_at_risk,
       clv.clv, p_alive, p_alive_before
FROM pa JOIN clv ON clv.customer_id = pa.customer_id
WHERE clv.clv * greatest(p_alive_before - p_alive, 0) > 0
ORDER BY value_at_risk DESC, pa.customer_id LIMIT 100
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_actions"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = workspace(args.customers, args.workdir)
    ws = rox.open(path, read_only=True)
    start = time.perf_counter()
    fitted = rox.value.clv(ws, model="bgnbd")
    print(f"CLV fitted in {time.perf_counter() - start:.1f} s: {fitted.choice}")
    params = fitted.purchase_model.params_
    con: Any = ws.engine.backend.con
    con.execute(PALIVE_MACRO.format(**{k: repr(float(params[k])) for k in TRUE_BG}))
    clv_frame = fitted.frame[["customer_id", "clv"]].astype({"customer_id": str})
    con.register("clv_frame", clv_frame)
    con.execute("CREATE OR REPLACE TEMP TABLE clv AS SELECT * FROM clv_frame")
    end = fitted.summary.calibration_end
    tau = end - pd.Timedelta(days=90)
    print(f"{ws.count('transactions'):,} transactions, data end {end:%Y-%m-%d}")

    def rox_lifecycle() -> Any:
        return rox.actions.lifecycle(ws, "quarter", value=fitted)

    def sql_lifecycle() -> tuple[pd.DataFrame, pd.DataFrame]:
        con.execute(LIFECYCLE_TABLE.format(start=f"{START:%Y-%m-%d}", end=f"{end:%Y-%m-%d}"))
        out = con.execute(LIFECYCLE_COUNTS).df(), con.execute(LIFECYCLE_MOVES).df()
        con.execute("DROP TABLE hand_phases")
        return out

    def rox_at_risk() -> Any:
        return rox.actions.at_risk(ws, value=fitted, top=100)

    def sql_at_risk() -> pd.DataFrame:
        return con.execute(AT_RISK.format(end=f"{end:%Y-%m-%d}", tau=f"{tau:%Y-%m-%d}")).df()

    # the same answers first
    life, (counts, moves) = rox_lifecycle(), sql_lifecycle()
    got = life.frame[life.frame["customers"] > 0].set_index(["period_start", "phase"])
    counts["q"] = [pd.Timestamp(d).date() for d in counts["q"]]
    want = counts.set_index(["q", "phase"]).loc[got.index]
    np.testing.assert_array_equal(got["customers"], want["customers"])
    np.testing.assert_allclose(got["spend"], want["spend"], rtol=1e-9)
    np.testing.assert_allclose(got["clv"], want["clv"], rtol=1e-9)
    assert life.migrations["customers"].sum() == moves["customers"].sum()
    m = life.matrix()
    hand = moves.groupby(["from_phase", "phase"])["customers"].sum()
    for (f, t), k in hand.items():
        assert m.loc[f, t] == k, (f, t, m.loc[f, t], k)
    risk, hand_risk = rox_at_risk(), sql_at_risk()
    assert risk.frame["customer_id"].tolist() == hand_risk["customer_id"].tolist()
    np.testing.assert_allclose(risk.frame["value_at_risk"], hand_risk["value_at_risk"], rtol=1e-9)
    print(f"checked: {int(got['customers'].sum()):,} customer-quarters and the top 100 agree")
    print(life.counts().to_string())

    calls = {
        "lifecycle (rox)": rox_lifecycle,
        "lifecycle (DuckDB SQL)": sql_lifecycle,
        "at-risk (rox)": rox_at_risk,
        "at-risk (DuckDB SQL)": sql_at_risk,
    }
    runs: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.repeats):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            runs[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"\n{args.customers:,} customers, medians of {args.repeats} interleaved runs\n")
    print("| run | median s | × SQL |\n| --- | ---: | ---: |")
    for name, m_ in med.items():
        peer = med[name.split(" (")[0] + " (DuckDB SQL)"]
        print(f"| {name} | {m_:.2f} | {m_ / peer:.2f} |")
    print(f"\npeak RSS {status_mib('VmHWM'):.0f} MiB (whole process)")
    ws.close()


if __name__ == "__main__":
    main()
