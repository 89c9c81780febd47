"""Confidence intervals and tests for experience figures, vectorised over groups.

Every function takes numpy arrays (one element per group) of sufficient statistics: shares and
the (effective) number of responses. With survey weights the effective n is Kish's
``(sum w)^2 / sum w^2``; unweighted it is the number of responses.

Methods and sources
-------------------
NPS (on the -1..1 scale here; callers multiply by 100)
    Variance of NPS = p - d from one multinomial sample: ``[p + d - (p - d)^2] / n``.
    *Adjusted Wald* (default): add 3/4 promoter, 3/2 passive and 3/4 detractor pseudo-responses,
    so ``n -> n + 3``, and use the Wald interval on the adjusted shares, clipped to [-1, 1]
    (Rocks, B. 2016, "Interval Estimation for the 'Net Promoter Score'", The American
    Statistician 70(4), 365-372, arXiv:1601.07235). Wald and a multinomial bootstrap as options.
Proportions, means and power
    Shared with the other analyses, in :mod:`rox._stats` (Wilson, Wald, Newcombe, Student t,
    detectable difference); re-exported here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from rox._stats import Array, float_arrays
from rox._stats import detectable_difference as detectable_difference
from rox._stats import mean_t as mean_t
from rox._stats import newcombe_difference as newcombe_difference
from rox._stats import normal_quantile as normal_quantile
from rox._stats import proportion_wald as proportion_wald
from rox._stats import t_quantile as t_quantile
from rox._stats import t_two_sided_p as t_two_sided_p
from rox._stats import two_sided_p as two_sided_p
from rox._stats import wilson as wilson
from rox._stats import z_value as z_value

__all__ = [
    "NPSMethod",
    "ProportionMethod",
    "detectable_difference",
    "mean_t",
    "newcombe_difference",
    "normal_quantile",
    "nps_adjusted_wald",
    "nps_bootstrap",
    "nps_variance",
    "nps_wald",
    "t_quantile",
    "t_two_sided_p",
    "two_sided_p",
    "wilson",
    "z_value",
]

NPSMethod = Literal["adjusted-wald", "wald", "bootstrap"]
ProportionMethod = Literal["wilson", "wald", "bootstrap"]


def nps_variance(p: ArrayLike, d: ArrayLike) -> Array:
    """Per-response variance of NPS = p - d: ``p + d - (p - d)^2``."""
    p_, d_ = float_arrays(p, d)
    return p_ + d_ - (p_ - d_) ** 2


def nps_wald(p: ArrayLike, d: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[Array, ...]:
    """Wald interval for NPS (on -1..1): ``(center, se, low, high)``; NaN where n == 0."""
    p_, d_, n_ = float_arrays(p, d, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(nps_variance(p_, d_) / n_)
    center = p_ - d_
    z = z_value(level)
    return center, se, np.clip(center - z * se, -1, 1), np.clip(center + z * se, -1, 1)


def nps_adjusted_wald(
    p: ArrayLike, d: ArrayLike, n: ArrayLike, level: float = 0.95
) -> tuple[Array, ...]:
    """Adjusted-Wald interval for NPS (Rocks 2016): ``(center, se, low, high)`` on -1..1.

    The shares are adjusted as ``(n p + 3/4) / (n + 3)`` and ``(n d + 3/4) / (n + 3)``, the
    variance is that of the adjusted NPS with ``n + 3`` responses, and the interval is clipped to
    [-1, 1]. Defined for every n >= 0: at n = 0 only the pseudo-responses count, so it is
    centred on 0 with half-width z sqrt(0.5 / 3) (-0.80 to 0.80 at 95%), not the whole range.
    """
    p_, d_, n_ = float_arrays(p, d, n)
    p_ = np.where(n_ > 0, p_, 0.0)
    d_ = np.where(n_ > 0, d_, 0.0)
    m = n_ + 3
    pa = (n_ * p_ + 0.75) / m
    da = (n_ * d_ + 0.75) / m
    center = pa - da
    se = np.sqrt(nps_variance(pa, da) / m)
    z = z_value(level)
    return center, se, np.clip(center - z * se, -1, 1), np.clip(center + z * se, -1, 1)


def nps_bootstrap(
    p: ArrayLike,
    d: ArrayLike,
    n: ArrayLike,
    level: float = 0.95,
    *,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> tuple[Array, ...]:
    """Percentile bootstrap interval for NPS: ``(center, se, low, high)`` on -1..1.

    Responses are resampled from each group's promoter/passive/detractor distribution
    (a multinomial with ``round(n)`` trials, which equals resampling the responses themselves);
    ``se`` is the bootstrap standard deviation.
    """
    p_, d_, n_ = float_arrays(p, d, n)
    rng = np.random.default_rng(seed)
    trials = np.maximum(np.rint(n_), 0).astype("int64")
    center = p_ - d_
    low = np.full_like(center, np.nan)
    high = np.full_like(center, np.nan)
    se = np.full_like(center, np.nan)
    ok = trials > 0
    if ok.any():
        probs = np.column_stack([p_[ok], np.clip(1 - p_[ok] - d_[ok], 0, 1), d_[ok]])
        probs /= probs.sum(axis=1, keepdims=True)
        draws = rng.multinomial(trials[ok], probs, size=(n_resamples, int(ok.sum())))
        nps = (draws[..., 0] - draws[..., 2]) / trials[ok]
        alpha = (1 - level) / 2
        low[ok], high[ok] = np.quantile(nps, [alpha, 1 - alpha], axis=0)
        se[ok] = nps.std(axis=0, ddof=1)
    return center, se, low, high
