"""From score distributions (:mod:`rox.experience.query`) to figures with intervals, per group.

Vectorised numpy over the groups (only the bootstrap of a mean loops, over groups); never a loop
over responses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rox.experience import intervals
from rox.schema import DEFAULT_SCALES, Scale

__all__ = ["METHODS", "estimate", "finish", "scale_cuts", "summarise"]

#: Interval methods each metric accepts; the first is the default.
METHODS: dict[str, tuple[str, ...]] = {
    "nps": ("adjusted-wald", "wald", "bootstrap"),
    "csat": ("wilson", "wald", "bootstrap"),
    "ces": ("t", "bootstrap"),
}


#: The sufficient statistics of a group, summed over its responses (see :func:`summarise`).
SUMS = ("n", "w", "w2", "w_top", "w_bottom", "wx", "wxx")

#: Columns of :func:`scale_cuts`: each (metric, scale label)'s cut-offs and its default scale.
CUT_COLUMNS = ("metric", "label", "low", "high", "top_from", "bottom_to", "d_low", "d_high")


def scale_cuts(
    pairs: Sequence[tuple[str, str]], scale_of: Callable[[str, str | None], Scale]
) -> pd.DataFrame:
    """The cut-offs of each ``(metric, scale label)`` (``""`` for no label), one row each.

    ``low``, ``high``: the scale's ends; ``top_from`` and ``bottom_to`` (NaN where the metric
    has no bad category): its categories; ``d_low``, ``d_high``: the ends of the metric's
    default scale, onto which scores are rescaled linearly for the mean.
    """
    rows = []
    for metric, label in pairs:
        sc, default = scale_of(metric, label or None), DEFAULT_SCALES[metric]
        bottom = np.nan if sc.bottom_to is None else sc.bottom_to
        rows.append(
            (metric, label, sc.low, sc.high, sc.top_from, bottom, default.low, default.high)
        )
    return pd.DataFrame(rows, columns=list(CUT_COLUMNS)).astype(
        dict.fromkeys(CUT_COLUMNS[2:], "float64")
    )


def summarise(
    dist: pd.DataFrame,
    keys: Sequence[str],
    scale_of: Callable[[str, str | None], Scale],
    *,
    with_values: bool = False,
) -> pd.DataFrame:
    """Sufficient statistics per group (``keys`` + metric) from a score distribution.

    Returns one row per group with ``n`` (responses), ``w`` and ``w2`` (sums of weights and of
    squared weights), ``n_eff`` = w^2 / w2 (Kish), ``top`` and ``bottom`` (weighted shares of
    the good and, for NPS, the bad category), ``mean`` and ``sd`` of the score rescaled linearly to
    the metric's default scale, and with ``with_values`` the group's weighted score distribution
    ``values`` (for the bootstrap of a mean). The same sums, added up by the engine instead
    (:meth:`rox.experience.query.ScoreQuery.sums`), go through :func:`finish` alike.
    """
    # one lookup per distinct (metric, scale), then vectorised: the cut-offs of every row
    label = dist["scale"].astype(object).where(dist["scale"].notna(), "")
    metric_codes, metrics = pd.factorize(dist["metric"])
    label_codes, labels = pd.factorize(label)
    pair_codes, pair_index = np.unique(
        metric_codes * max(len(labels), 1) + label_codes, return_inverse=True
    )
    pairs = [
        (metrics[c // max(len(labels), 1)], labels[c % max(len(labels), 1)]) for c in pair_codes
    ]
    table = scale_cuts(pairs, scale_of)[list(CUT_COLUMNS[2:])].to_numpy()[pair_index.ravel()]
    low, high, top_from, bottom_to, d_low, d_high = table.T
    score = dist["score"].to_numpy(dtype="float64")
    w = dist["w"].to_numpy(dtype="float64")
    x = d_low + (score - low) / (high - low) * (d_high - d_low)
    group = [*keys, "metric"]
    parts = {k: dist[k] for k in group}
    columns = {
        "n": dist["n"].to_numpy(),
        "w": w,
        "w2": dist["w2"].to_numpy(dtype="float64"),
        "w_top": w * (score >= top_from),
        "w_bottom": w * (score <= bottom_to),
        "wx": w * x,
        "wxx": w * x * x,
    }
    frame = pd.DataFrame({**parts, **columns})
    sums = frame.groupby(group, dropna=False, sort=True)[list(SUMS)].sum()
    out = finish(sums.reset_index())
    if with_values:
        frame["x"] = x
        values = frame.groupby(group, dropna=False, sort=True)[["x", "w"]].apply(
            lambda g: (g["x"].to_numpy(), g["w"].to_numpy())
        )
        out["values"] = values.to_numpy()
    return out


def finish(sums: pd.DataFrame) -> pd.DataFrame:
    """:func:`summarise`'s figures per group from its sums (:data:`SUMS`), in the same order.

    The group columns are kept as they are; ``n`` becomes an integer, and ``n_eff``, ``top``,
    ``bottom``, ``mean`` and ``sd`` (Kish-corrected) replace the sums.
    """
    out = sums.drop(columns=[c for c in SUMS if c not in ("n", "w")])
    out["n"] = sums["n"].astype("int64")
    out["n_eff"] = sums["w"] ** 2 / sums["w2"]
    out["top"] = sums["w_top"] / sums["w"]
    out["bottom"] = sums["w_bottom"] / sums["w"]
    mean = sums["wx"] / sums["w"]
    var = (sums["wxx"] / sums["w"] - mean**2).clip(lower=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = np.where(out["n_eff"] > 1, out["n_eff"] / (out["n_eff"] - 1), np.nan)
    out["mean"] = mean
    out["sd"] = np.sqrt(var * correction)
    return out.reset_index(drop=True)


def estimate(
    summary: pd.DataFrame,
    metric: str,
    *,
    method: str | None = None,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Add ``estimate``, ``ci_low``, ``ci_high`` and ``se`` (and per-metric shares) to ``summary``.

    NPS is in points (-100..100), CSAT and % easy in percent, the CES mean on its default scale.
    ``se`` is on the same unit as the estimate; ``center`` is where the interval is centred
    (the adjusted NPS for the adjusted Wald), used by the tests of differences.
    """
    method = method or METHODS[metric][0]
    if method not in METHODS[metric]:
        raise ValueError(
            f"unknown interval method {method!r} for {metric}; expected one of "
            f"{', '.join(METHODS[metric])}"
        )
    out = summary.copy()
    n = out["n_eff"].to_numpy()
    top, bottom = out["top"].to_numpy(), out["bottom"].to_numpy()
    if metric == "nps":
        fn: Any = {
            "adjusted-wald": intervals.nps_adjusted_wald,
            "wald": intervals.nps_wald,
        }.get(method)
        if fn is None:
            result = intervals.nps_bootstrap(
                top, bottom, n, level, n_resamples=n_resamples, seed=seed
            )
        else:
            result = fn(top, bottom, n, level)
        center, se, low, high = (np.asarray(a) * 100 for a in result)
        out["estimate"] = (top - bottom) * 100
        out["promoters"] = top * 100
        out["passives"] = (1 - top - bottom) * 100
        out["detractors"] = bottom * 100
    elif metric == "csat":
        center, se, low, high = (
            np.asarray(a) * 100 for a in _proportion(top, n, method, level, n_resamples, seed)
        )
        out["estimate"] = top * 100
    else:
        if method == "t":
            center, se, low, high = intervals.mean_t(out["mean"], out["sd"], n, level)
        else:
            center, se, low, high = _mean_bootstrap(out, level, n_resamples, seed)
        out["estimate"] = out["mean"]
        _, _, easy_low, easy_high = intervals.wilson(top, n, level)
        out["easy"] = top * 100
        out["easy_low"] = easy_low * 100
        out["easy_high"] = easy_high * 100
    out["ci_low"], out["ci_high"], out["se"], out["center"] = low, high, se, center
    return out


def _proportion(
    p: np.ndarray, n: np.ndarray, method: str, level: float, n_resamples: int, seed: int | None
) -> tuple[np.ndarray, ...]:
    if method == "wilson":
        return intervals.wilson(p, n, level)
    if method == "wald":
        return intervals.proportion_wald(p, n, level)
    # a proportion is an NPS with no detractors: reuse the multinomial bootstrap
    return intervals.nps_bootstrap(
        p, np.zeros_like(p), n, level, n_resamples=n_resamples, seed=seed
    )


def _mean_bootstrap(
    summary: pd.DataFrame, level: float, n_resamples: int, seed: int | None
) -> tuple[np.ndarray, ...]:
    """Percentile bootstrap of a mean, resampling each group's score distribution."""
    rng = np.random.default_rng(seed)
    alpha = (1 - level) / 2
    out = np.full((4, len(summary)), np.nan)
    for i, ((x, w), n) in enumerate(zip(summary["values"], summary["n_eff"], strict=True)):
        trials = round(float(n))
        out[0, i] = np.average(x, weights=w)
        if trials < 1:
            continue
        draws = rng.multinomial(trials, w / w.sum(), size=n_resamples)
        means = draws @ x / trials
        out[1, i] = means.std(ddof=1)
        out[2, i], out[3, i] = np.quantile(means, [alpha, 1 - alpha])
    return out[0], out[1], out[2], out[3]
