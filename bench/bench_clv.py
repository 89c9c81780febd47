"""Customer-value benchmark: rox vs lifetimes vs PyMC-Marketing (MAP) for BG/NBD + Gamma-Gamma.

Two sub-benchmarks, each printing markdown tables (medians over interleaved repeats):

``cdnow``
    CDNOW master (23,570 customers, calibration to 1997-09-30, weeks). The RFM summary is built
    once by rox and handed to every tool, so parameters are compared on the same data. Timed:
    BG/NBD fit + Gamma-Gamma fit + per-customer predictions (expected purchases in 39 weeks,
    P(alive), expected spend).
``simulate``
    BG/NBD + Gamma-Gamma purchase histories simulated with numpy for N customers, written to
    Parquet and loaded into a DuckDB file workspace (not timed). Timed end to end, in a fresh
    subprocess per repeat: RFM in the engine + both fits + per-customer predictions, with the
    subprocess's peak RSS. lifetimes gets the same per-customer summary (fit + predictions).

Run from the repository root, in the benchmark venv (see ``bench/README.md``)::

    bench/.venv/bin/python bench/bench_clv.py cdnow --repeats 5
    bench/.venv/bin/python bench/bench_clv.py simulate --customers 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CDNOW = Path("/work/shared/data/cdnow/CDNOW_master.txt")
CALIBRATION_END = "1997-09-30"
HORIZON = 39.0  # weeks, for expected purchases
BG_NAMES = ("r", "alpha", "a", "b")
GG_NAMES = ("p", "q", "gamma")
#: Simulation truth: BG/NBD (rates per week) and Gamma-Gamma (dollars).
TRUE_BG = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
TRUE_GG = {"p": 6.0, "q": 4.0, "gamma": 15.0}
SIM_START = pd.Timestamp("2024-01-01")
SIM_DAYS = 364  # 52-week calibration period: days 0 .. 363
SIM_JOIN_DAYS = 84  # first purchases spread over the first 12 weeks


def _print(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- data -
def cdnow_transactions(path: Path = CDNOW) -> pd.DataFrame:
    """CDNOW master as canonical transactions (customer_id, ts, amount, quantity)."""
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        skiprows=1,
        names=["customer_id", "date", "quantity", "amount"],
        dtype={"customer_id": "int64", "date": "str", "quantity": "int64", "amount": "float64"},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "ts": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["amount"],
            "quantity": raw["quantity"],
        }
    )


def cdnow_summary() -> pd.DataFrame:
    """Rox's RFM summary of CDNOW (calibration to 1997-09-30, weeks), one row per customer."""
    import rox

    ws = rox.open("duckdb://:memory:")
    ws.ingest("transactions", cdnow_transactions())
    summary = rox.value.rfm(ws, calibration_end=CALIBRATION_END, unit="weeks")
    ws.close()
    return summary.frame


# -- the three tools on one summary -
def spend_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Customers the Gamma-Gamma fit uses: repeat purchases with a positive mean spend.

    CDNOW has one repeat customer whose repeat purchases cost $0 (mean spend 0, outside the
    model's support); every tool gets the same rows without it.
    """
    return frame[(frame["frequency"] > 0) & (frame["monetary"] > 0)]


def run_rox(frame: pd.DataFrame) -> dict[str, Any]:
    """Fit BG/NBD + Gamma-Gamma with rox and predict per customer."""
    from rox.value import RFM
    from rox.value.models import BetaGeoModel, GammaGammaModel

    # as ``rox.value.rfm`` returns it: BG/NBD fits on the distinct (x, t_x, T) rows
    summary = RFM(frame=frame, unit="weeks")
    bg = BetaGeoModel().fit(summary)
    gg = GammaGammaModel().fit(spend_rows(frame))
    preds = {
        "expected_purchases": bg.expected_purchases(HORIZON, frame),
        "p_alive": bg.p_alive(frame),
        "expected_spend": gg.expected_spend(frame),
    }
    return {
        "bg": dict(zip(BG_NAMES, bg.params_.to_numpy(), strict=True)),
        "gg": dict(zip(GG_NAMES, gg.params_.to_numpy(), strict=True)),
        "preds": preds,
    }


def run_lifetimes(frame: pd.DataFrame) -> dict[str, Any]:
    """Fit BG/NBD + Gamma-Gamma with lifetimes (penalizer 0) and predict per customer."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    f, rec, t = frame["frequency"], frame["recency"], frame["T"]
    bg = BetaGeoFitter(penalizer_coef=0.0).fit(f, rec, t)
    repeat = spend_rows(frame)
    gg = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"], repeat["monetary"])
    preds = {
        "expected_purchases": np.asarray(
            bg.conditional_expected_number_of_purchases_up_to_time(HORIZON, f, rec, t)
        ),
        "p_alive": np.asarray(bg.conditional_probability_alive(f, rec, t)),
        "expected_spend": np.asarray(
            gg.conditional_expected_average_profit(f, frame["monetary"].fillna(0.0))
        ),
    }
    return {
        "bg": {k: float(bg.params_[k]) for k in BG_NAMES},
        # lifetimes calls Gamma-Gamma's scale ``v``
        "gg": dict(zip(GG_NAMES, (float(gg.params_[k]) for k in ("p", "q", "v")), strict=True)),
        "preds": preds,
    }


def run_pymc(frame: pd.DataFrame, *, flat: bool = False) -> dict[str, Any]:
    """Fit BG/NBD + Gamma-Gamma with PyMC-Marketing (MAP) and predict per customer.

    ``flat=False`` keeps PyMC-Marketing's default priors (what a user gets); ``flat=True`` puts
    flat priors on r, alpha, a, b (its Gamma-Gamma priors are flat already), so MAP is the MLE.
    """
    from pymc_extras.prior import Prior
    from pymc_marketing import clv

    data = pd.DataFrame(
        {
            "customer_id": np.arange(len(frame)),
            "frequency": frame["frequency"].to_numpy(),
            "recency": frame["recency"].to_numpy(),
            "T": frame["T"].to_numpy(),
            "monetary_value": frame["monetary"].fillna(0.0).to_numpy(),
        }
    )
    config = {k: Prior("HalfFlat") for k in BG_NAMES} if flat else None
    bg = clv.BetaGeoModel(
        data=data[["customer_id", "frequency", "recency", "T"]], model_config=config
    )
    bg.fit(method="map", progressbar=False)
    keep = spend_rows(frame).index
    gg = clv.GammaGammaModel(data=data.loc[keep, ["customer_id", "frequency", "monetary_value"]])
    gg.fit(method="map", progressbar=False)
    preds = {
        "expected_purchases": bg.expected_purchases(data=data, future_t=HORIZON).values.ravel(),
        "p_alive": bg.expected_probability_alive(data=data).values.ravel(),
        "expected_spend": gg.expected_customer_spend(data=data).values.ravel(),
    }
    post_bg, post_gg = bg.fit_result, gg.fit_result
    return {
        "bg": {k: float(post_bg[k].values.ravel()[0]) for k in BG_NAMES},
        "gg": dict(
            zip(GG_NAMES, (float(post_gg[k].values.ravel()[0]) for k in "pqv"), strict=True)
        ),
        "preds": preds,
    }


# -- simulation -
def simulate_chunk(n: int, first_id: int, rng: np.random.Generator) -> pd.DataFrame:
    """Transactions of ``n`` customers drawn from BG/NBD + Gamma-Gamma (``TRUE_BG``/``TRUE_GG``).

    Each customer joins on a day uniform in the first 12 weeks (a first purchase that day) and is
    observed to the end of the 52-week calibration period. Repeat purchases follow a Poisson process
    of rate lambda ~ Gamma(r, alpha) per week; after each repeat purchase the customer drops out
    with probability p ~ Beta(a, b) (Fader, Hardie & Lee 2005), so the number of repeat purchases
    before dropout is Geometric(p). Given x purchases in (0, T], the last is at the x-th order
    statistic of N(T) uniforms and the other x - 1 are uniform on (0, t_x). Each transaction's
    value is Gamma(p, nu) with nu ~ Gamma(q, gamma) per customer (Fader & Hardie 2013). Times are
    rounded up to whole days, as rox's RFM counts days.
    """
    bg, gg = TRUE_BG, TRUE_GG
    lam = rng.gamma(bg["r"], 1.0 / bg["alpha"], n)  # purchases per week
    p = rng.beta(bg["a"], bg["b"], n)
    join = rng.integers(0, SIM_JOIN_DAYS, n)
    t_days = (SIM_DAYS - 1 - join).astype("float64")
    n_poisson = rng.poisson(lam * t_days / 7.0)
    before_dropout = rng.geometric(np.clip(p, 1e-12, 1.0))
    x = np.minimum(n_poisson, before_dropout)
    has = x > 0
    tx = np.zeros(n)
    tx[has] = t_days[has] * rng.beta(x[has], n_poisson[has] - x[has] + 1)
    # repeat purchase times (days after the first purchase): x - 1 uniform on (0, tx), then tx
    owner = np.repeat(np.arange(n), np.maximum(x - 1, 0))
    inner = rng.uniform(0.0, 1.0, len(owner)) * tx[owner]
    repeat_owner = np.concatenate([owner, np.flatnonzero(has)])
    repeat_time = np.concatenate([inner, tx[has]])
    offsets = np.clip(np.ceil(repeat_time), 1, t_days[repeat_owner])
    cust = np.concatenate([np.arange(n), repeat_owner])
    day = np.concatenate([join, join[repeat_owner] + offsets.astype("int64")])
    nu = rng.gamma(gg["q"], 1.0 / gg["gamma"], n)
    amount = rng.gamma(gg["p"], 1.0 / nu[cust])
    order = np.lexsort((day, cust))
    return pd.DataFrame(
        {
            "customer_id": cust[order] + first_id,
            "ts": SIM_START + pd.to_timedelta(day[order], unit="D"),
            "amount": np.round(amount[order], 2),
        }
    )


def prepare_simulation(
    n: int, folder: Path, seed: int = 2024, chunk: int = 1_000_000, loader: str = "rox"
) -> Path:
    """Write ``n`` simulated customers' transactions to Parquet and ingest them into a workspace."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import rox

    db = folder / f"sim_{n}.duckdb"
    if db.exists():
        return db
    parquet = folder / f"sim_{n}.parquet"
    rng = np.random.default_rng(seed)
    writer = None
    rows = 0
    for start in range(0, n, chunk):
        frame = simulate_chunk(min(chunk, n - start), start, rng)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(parquet, table.schema)
        writer.write_table(table)
        rows += len(frame)
    assert writer is not None
    writer.close()
    tmp = folder / f"sim_{n}.tmp.duckdb"
    tmp.unlink(missing_ok=True)
    ws = rox.open(str(tmp))
    if loader == "rox":
        ws.ingest("transactions", str(parquet))
    else:
        # ws.ingest of 25M rows held 15 GB and had not finished after 17 min on this machine
        # (see docs/benchmarks.md); loading is not timed, so insert with DuckDB directly.
        path = str(parquet).replace("'", "''")
        ws.backend.con.execute(
            "INSERT INTO transactions (customer_id, ts, amount, _key, _load_id) "
            "SELECT CAST(customer_id AS VARCHAR), CAST(ts AS TIMESTAMPTZ), amount, "
            f"'b:' || CAST(row_number() OVER () AS VARCHAR), 1 FROM read_parquet('{path}')"
        )
    ws.close()
    tmp.rename(db)
    parquet.unlink()
    _print(f"simulated {n:,} customers, {rows:,} transactions -> {db}")
    return db


def sim_calibration_end() -> str:
    """Last day of the simulated calibration period."""
    return str((SIM_START + pd.Timedelta(days=SIM_DAYS - 1)).date())


def continuous_fit(n: int, seed: int = 2024) -> dict[str, float]:
    """rox's BG/NBD fit on the exact (continuous-time) draws of the first ``n`` customers.

    Separates sampling error (this fit) from the effect of rounding purchases to days and merging
    same-day purchases (the fit on the engine's RFM summary).
    """
    from rox.value.models import BetaGeoModel

    rng = np.random.default_rng(seed)
    bg = TRUE_BG
    lam = rng.gamma(bg["r"], 1.0 / bg["alpha"], n)
    p = rng.beta(bg["a"], bg["b"], n)
    join = rng.integers(0, SIM_JOIN_DAYS, n)
    t_days = (SIM_DAYS - 1 - join).astype("float64")
    n_poisson = rng.poisson(lam * t_days / 7.0)
    x = np.minimum(n_poisson, rng.geometric(np.clip(p, 1e-12, 1.0)))
    has = x > 0
    tx = np.zeros(n)
    tx[has] = t_days[has] * rng.beta(x[has], n_poisson[has] - x[has] + 1)
    model = BetaGeoModel().fit(x.astype("float64"), tx / 7.0, t_days / 7.0)
    return dict(zip(BG_NAMES, model.params_.to_numpy(), strict=True))


# -- timing helpers -
def rel_diff(ours: dict[str, float], theirs: dict[str, float]) -> float:
    """Largest relative difference between two parameter sets (same keys)."""
    return max(abs(ours[k] - theirs[k]) / abs(theirs[k]) for k in ours)


def pred_diff(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> float:
    """Largest relative difference between per-customer predictions."""
    worst = 0.0
    for k, a in ours.items():
        b = np.asarray(theirs[k], dtype="float64")
        worst = max(worst, float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))))
    return worst


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of ``fn()`` in seconds, and its result."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def fmt_params(params: dict[str, float]) -> str:
    """``r=0.2516, alpha=4.789, ...``."""
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


# -- (a) CDNOW -
def bench_cdnow(repeats: int, pymc: bool) -> dict[str, Any]:
    """Interleaved repeats of rox / lifetimes / PyMC-Marketing on CDNOW's rox RFM summary."""
    frame = cdnow_summary()
    _print(f"\n## CDNOW master: {len(frame):,} customers, calibration to {CALIBRATION_END}\n")
    tools: dict[str, Callable[[], dict[str, Any]]] = {
        "rox": lambda: run_rox(frame),
        "lifetimes": lambda: run_lifetimes(frame),
    }
    if pymc:
        tools["pymc-marketing MAP"] = lambda: run_pymc(frame)
        tools["pymc-marketing MAP, flat priors"] = lambda: run_pymc(frame, flat=True)
        # PyTensor compiles each graph once per machine (cached on disk): warm it, untimed
        for name in ("pymc-marketing MAP", "pymc-marketing MAP, flat priors"):
            warm, _ = timed(tools[name])
            _print(f"{name}: first (compiling) run {warm:.1f} s, not counted")
    times: dict[str, list[float]] = {k: [] for k in tools}
    results: dict[str, dict[str, Any]] = {}
    for _ in range(repeats):
        for name, fn in tools.items():
            seconds, results[name] = timed(fn)
            times[name].append(seconds)
    rox_median = statistics.median(times["rox"])
    ref = results["rox"]
    _print(
        "| tool | median s (fit + predict) | ratio tool/rox | max rel. param diff vs rox "
        "| max rel. prediction diff vs rox |"
    )
    _print("|---|---:|---:|---:|---:|")
    rows = []
    for name in tools:
        med = statistics.median(times[name])
        both = {**ref["bg"], **ref["gg"]}
        other = {**results[name]["bg"], **results[name]["gg"]}
        pdiff = rel_diff(both, other) if name != "rox" else 0.0
        prdiff = pred_diff(ref["preds"], results[name]["preds"]) if name != "rox" else 0.0
        rows.append(
            {
                "tool": name,
                "median_s": med,
                "ratio": med / rox_median,
                "param_diff": pdiff,
                "pred_diff": prdiff,
                "times": times[name],
                "bg": results[name]["bg"],
                "gg": results[name]["gg"],
            }
        )
        _print(f"| {name} | {med:.3f} | {med / rox_median:.1f} | {pdiff:.1e} | {prdiff:.1e} |")
    _print()
    for name in tools:
        _print(
            f"- {name}: BG/NBD {fmt_params(results[name]['bg'])}; "
            f"Gamma-Gamma {fmt_params(results[name]['gg'])}"
        )
    return {"customers": len(frame), "repeats": repeats, "rows": rows}


# -- (b) simulated customers, one subprocess per timed run -
def worker(db: str, tool: str, profile: str | None) -> dict[str, Any]:
    """One timed end-to-end run in this process; returns times, parameters and peak RSS."""
    import rox
    from rox.value.models import BetaGeoModel, GammaGammaModel

    out: dict[str, Any] = {"tool": tool}
    if tool == "rox":

        def run() -> None:
            ws = rox.open(db, read_only=True)
            t0 = time.perf_counter()
            summary = rox.value.rfm(ws, calibration_end=sim_calibration_end(), unit="weeks")
            t1 = time.perf_counter()
            bg = BetaGeoModel().fit(summary)
            t2 = time.perf_counter()
            gg = GammaGammaModel().fit(summary.frame)
            t3 = time.perf_counter()
            frame = summary.frame
            preds = (
                bg.expected_purchases(HORIZON, frame),
                bg.p_alive(frame),
                gg.expected_spend(frame),
            )
            t4 = time.perf_counter()
            ws.close()
            out.update(
                rfm_s=t1 - t0,
                bg_fit_s=t2 - t1,
                gg_fit_s=t3 - t2,
                predict_s=t4 - t3,
                customers=len(frame),
                distinct_rows=len(summary.compressed()),
                bg=dict(zip(BG_NAMES, bg.params_.to_numpy(), strict=True)),
                bg_se=dict(zip(BG_NAMES, bg.standard_errors_.to_numpy(), strict=True)),
                gg=dict(zip(GG_NAMES, gg.params_.to_numpy(), strict=True)),
                gg_se=dict(zip(GG_NAMES, gg.standard_errors_.to_numpy(), strict=True)),
                mean_expected_purchases=float(np.mean(preds[0])),
            )

        if profile:
            import cProfile

            profiler = cProfile.Profile()
            seconds, _ = timed(lambda: profiler.runcall(run))
            profiler.dump_stats(profile)
        else:
            seconds, _ = timed(run)
    elif tool == "lifetimes-e2e":  # lifetimes' own summary of the same transactions, then the same
        from lifetimes.utils import summary_data_from_transaction_data

        ws = rox.open(db, read_only=True)
        tx = ws.table("transactions").select("customer_id", "ts", "amount").to_pyarrow()
        ws.close()
        tx = tx.to_pandas()  # reading is not timed: lifetimes starts from a DataFrame
        tx["ts"] = tx["ts"].dt.tz_localize(None)

        def run_e2e() -> dict[str, Any]:
            daily = summary_data_from_transaction_data(
                tx,
                "customer_id",
                "ts",
                monetary_value_col="amount",
                observation_period_end=sim_calibration_end(),
                freq="D",
            )
            # rox's unit is weeks of days; lifetimes counts purchase days the same way
            frame = daily.assign(recency=daily["recency"] / 7.0, T=daily["T"] / 7.0)
            frame = frame.rename(columns={"monetary_value": "monetary"})
            return run_lifetimes(frame)

        seconds, res = timed(run_e2e)
        out["bg"], out["gg"] = res["bg"], res["gg"]
    else:  # lifetimes on rox's summary (the summary is not timed)
        ws = rox.open(db, read_only=True)
        frame = rox.value.rfm(ws, calibration_end=sim_calibration_end(), unit="weeks").frame
        ws.close()
        if tool == "lifetimes-fit":
            from lifetimes import BetaGeoFitter, GammaGammaFitter

            def fit_only() -> tuple[Any, Any]:
                rep = spend_rows(frame)
                return (
                    BetaGeoFitter().fit(frame["frequency"], frame["recency"], frame["T"]),
                    GammaGammaFitter().fit(rep["frequency"], rep["monetary"]),
                )

            seconds, (bg, gg) = timed(fit_only)
            out["bg"] = {k: float(bg.params_[k]) for k in BG_NAMES}
            out["gg"] = dict(zip(GG_NAMES, (float(gg.params_[k]) for k in "pqv"), strict=True))
        else:
            seconds, res = timed(lambda: run_lifetimes(frame))
            out["bg"], out["gg"] = res["bg"], res["gg"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["total_s"] = seconds
    out["cpu_s"] = usage.ru_utime + usage.ru_stime  # whole process, imports included
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_worker(db: Path, tool: str, profile: str | None = None) -> dict[str, Any]:
    """Run :func:`worker` in a fresh Python process (its own peak RSS, a cold engine)."""
    cmd = [sys.executable, __file__, "_worker", str(db), tool]
    if profile:
        cmd += ["--profile", profile]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} on {db} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_simulated(
    sizes: list[int],
    repeats: int,
    folder: Path,
    lifetimes_max: int,
    lifetimes_fit_max: int,
    profile_max: int,
    loader_max: int = 1_000_000,
) -> list[dict[str, Any]]:
    """Simulate, load (untimed), then time rox end to end (and lifetimes where feasible)."""
    reports = []
    for n in sizes:
        db = prepare_simulation(n, folder, loader="duckdb" if n > loader_max else "rox")
        tools = ["rox"]
        if n <= lifetimes_max:
            tools += ["lifetimes", "lifetimes-e2e"]
        elif n <= lifetimes_fit_max:
            tools.append("lifetimes-fit")
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
        for i in range(repeats):
            for tool in tools:
                if tool != "rox" and i > 1:
                    continue  # at most two lifetimes runs per size: they take minutes
                res = run_worker(db, tool)
                runs[tool].append(res)
                _print(
                    f"  {n:,} {tool}: {res['total_s']:.2f} s, peak RSS {res['peak_rss_mb']:,.0f} MB"
                )
        prof = folder / f"sim_{n}.prof" if n <= profile_max else None
        if prof is not None:
            run_worker(db, "rox", profile=str(prof))
        reports.append(summarise_simulated(n, runs, prof))
    return reports


def summarise_simulated(
    n: int, runs: dict[str, list[dict[str, Any]]], prof: Path | None
) -> dict[str, Any]:
    """Print and return medians, ratios, recovery of the truth and the profile of rox's run."""
    import pstats

    rox_runs = runs["rox"]
    med = {
        k: statistics.median(r[k] for r in rox_runs)
        for k in ("total_s", "rfm_s", "bg_fit_s", "gg_fit_s", "predict_s", "peak_rss_mb", "cpu_s")
    }
    # fit + predict alone: what lifetimes does when given a summary
    med["fit_predict_s"] = statistics.median(
        r["bg_fit_s"] + r["gg_fit_s"] + r["predict_s"] for r in rox_runs
    )
    last = rox_runs[-1]
    _print(f"\n## Simulated: {n:,} customers ({last['distinct_rows']:,} distinct (x, t_x, T))\n")
    _print(
        "| tool | median s | RFM in engine s | BG/NBD fit s | GG fit s | predict s "
        "| peak RSS MB | ratio tool/rox, same work | max rel. param diff vs rox |"
    )
    _print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    _print(
        f"| rox (end to end) | {med['total_s']:.2f} | {med['rfm_s']:.2f} | {med['bg_fit_s']:.2f} "
        f"| {med['gg_fit_s']:.2f} | {med['predict_s']:.2f} | {med['peak_rss_mb']:,.0f} | 1 | 0 |"
    )
    _print(f"| rox (fit + predict) | {med['fit_predict_s']:.2f} | - | - | - | - | | | |")
    peers = {}
    for tool, tool_runs in runs.items():
        if tool == "rox":
            continue
        t = statistics.median(r["total_s"] for r in tool_runs)
        rss = statistics.median(r["peak_rss_mb"] for r in tool_runs)
        diff = rel_diff(
            {**last["bg"], **last["gg"]}, {**tool_runs[-1]["bg"], **tool_runs[-1]["gg"]}
        )
        # each peer against the rox figure doing the same work
        label, mine = {
            "lifetimes-fit": ("lifetimes (fit only)", med["bg_fit_s"] + med["gg_fit_s"]),
            "lifetimes": ("lifetimes (fit + predict)", med["fit_predict_s"]),
            "lifetimes-e2e": ("lifetimes (own summary + fit + predict)", med["total_s"]),
        }[tool]
        _print(f"| {label} | {t:.2f} | - | - | - | - | {rss:,.0f} | {t / mine:.1f} | {diff:.1e} |")
        peers[tool] = {
            "median_s": t,
            "ratio": t / mine,
            "peak_rss_mb": rss,
            "param_diff": diff,
            "bg": tool_runs[-1]["bg"],
            "gg": tool_runs[-1]["gg"],
        }
    walls = ", ".join(f"{r['total_s']:.1f}" for r in rox_runs)
    _print(
        f"\nrox CPU time per run (user + sys of the whole process, imports included): "
        f"{med['cpu_s']:.1f} s; wall times: {walls} s"
    )
    _print("\nRecovery (rox on the engine's RFM; truth; z = (estimate - truth) / SE):\n")
    recovery = {}
    for group, truth in (("bg", TRUE_BG), ("gg", TRUE_GG)):
        for k, v in truth.items():
            est, se = last[group][k], last[f"{group}_se"][k]
            recovery[k] = {"estimate": est, "truth": v, "se": se, "z": (est - v) / se}
            _print(f"- {k}: {est:.4f} (truth {v}, SE {se:.4f}, z {(est - v) / se:+.1f})")
    exact = continuous_fit(min(n, 1_000_000))
    _print(
        f"- the same simulator's exact continuous-time draws ({min(n, 1_000_000):,} customers, "
        f"no rounding to days): {fmt_params(exact)}"
    )
    if prof is not None:
        stats = pstats.Stats(str(prof))
        _print("\nrox profile (cumulative s, one run under cProfile):")
        top = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)
        for (file, line, func), (_, _, _, cum, _) in top[:25]:
            _print(f"  {cum:7.2f}  {Path(file).name}:{line}({func})")
    return {
        "customers": n,
        "rox": med,
        "rox_runs": rox_runs,
        "peers": peers,
        "recovery": recovery,
        "continuous_fit": exact,
        "distinct_rows": last["distinct_rows"],
    }


# -- command line -
def machine() -> dict[str, str]:
    """Machine facts and versions, for the record."""
    from importlib import metadata

    facts = {
        "nproc": str(os.cpu_count()),
        "ram_gb": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f}",
        "python": platform.python_version(),
    }
    for dist in (
        "rox",
        "numpy",
        "scipy",
        "pandas",
        "duckdb",
        "ibis-framework",
        "pyarrow",
        "lifetimes",
        "autograd",
        "pymc-marketing",
        "pymc",
        "pytensor",
    ):
        try:
            facts[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            facts[dist] = "not installed"
    return facts


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the chosen sub-benchmark(s)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cd = sub.add_parser("cdnow", help="CDNOW master: rox vs lifetimes vs PyMC-Marketing")
    cd.add_argument("--repeats", type=int, default=5)
    cd.add_argument("--no-pymc", action="store_true")
    sim = sub.add_parser("simulate", help="simulated customers in a DuckDB workspace")
    sim.add_argument("--customers", type=int, nargs="+", default=[1_000_000, 10_000_000])
    sim.add_argument("--repeats", type=int, default=3)
    sim.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "rox-bench-clv")
    sim.add_argument(
        "--lifetimes-max",
        type=int,
        default=1_000_000,
        help="largest size timed with lifetimes fit + predict",
    )
    sim.add_argument("--profile-max", type=int, default=1_000_000, help="largest size profiled")
    sim.add_argument(
        "--lifetimes-fit-max",
        type=int,
        default=1_000_000,
        help="largest size timed with lifetimes fit only",
    )
    for p in (cd, sim):
        p.add_argument("--out", type=Path, help="write the results as JSON here")
        p.add_argument(
            "--blas-threads",
            type=int,
            help="limit BLAS threads (OpenBLAS spins in L-BFGS-B's tiny BLAS calls on a busy "
            "2-core machine); default: the libraries' own",
        )
    wk = sub.add_parser("_worker", help=argparse.SUPPRESS)
    wk.add_argument("db")
    wk.add_argument("tool", choices=["rox", "lifetimes", "lifetimes-fit", "lifetimes-e2e"])
    wk.add_argument("--profile")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # peers' deprecation noise (pandas 3, ArviZ refactor)
    if args.command == "_worker":
        _print(json.dumps(worker(args.db, args.tool, args.profile), default=float))
        return
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)  # for the _worker subprocesses
    facts = machine()
    facts["blas_threads"] = str(args.blas_threads or "default")
    _print("machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    if args.command == "cdnow":
        report: Any = bench_cdnow(args.repeats, pymc=not args.no_pymc)
    else:
        args.folder.mkdir(parents=True, exist_ok=True)
        report = bench_simulated(
            args.customers,
            args.repeats,
            args.folder,
            args.lifetimes_max,
            args.lifetimes_fit_max,
            args.profile_max,
        )
    if args.out:
        args.out.write_text(
            json.dumps({"machine": facts, "report": report}, indent=2, default=float)
        )


if __name__ == "__main__":
    main()
