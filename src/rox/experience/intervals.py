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
Proportions (CSAT top-2-box, % easy)
    Wilson score interval (Wilson 1927; Agresti & Coull 1998); difference of two proportions:
    Newcombe's hybrid score interval, method 10 (Newcombe 1998, Statistics in Medicine 17, 873).
Means (CES)
    Student t interval with ``n - 1`` degrees of freedom; difference: Welch's t.
Power
    Smallest detectable difference at two-sided level alpha and power 1 - beta:
    ``(z_{1-alpha/2} + z_{1-beta}) * se`` (normal approximation).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

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
Array = NDArray[np.float64]


def z_value(level: float) -> float:
    """Two-sided standard normal quantile for confidence ``level`` (1.96 for 0.95)."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, not {level}")
    return float(special.ndtri(0.5 + level / 2))


def _arrays(*values: ArrayLike) -> list[Array]:
    return [np.asarray(v, dtype="float64") for v in values]


def normal_quantile(q: float) -> float:
    """Standard normal quantile (``scipy.special.ndtri``)."""
    return float(special.ndtri(q))


def t_quantile(q: float, df: ArrayLike) -> Array:
    """Student t quantile with ``df`` degrees of freedom (``scipy.special.stdtrit``)."""
    return special.stdtrit(np.asarray(df, dtype="float64"), q)


def t_two_sided_p(t: ArrayLike, df: ArrayLike) -> Array:
    """Two-sided p-value of Student t statistics ``t`` with ``df`` degrees of freedom."""
    return 2 * special.stdtr(np.asarray(df, dtype="float64"), -np.abs(np.asarray(t, dtype=float)))


def nps_variance(p: ArrayLike, d: ArrayLike) -> Array:
    """Per-response variance of NPS = p - d: ``p + d - (p - d)^2``."""
    p_, d_ = _arrays(p, d)
    return p_ + d_ - (p_ - d_) ** 2


def nps_wald(p: ArrayLike, d: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[Array, ...]:
    """Wald interval for NPS (on -1..1): ``(center, se, low, high)``; NaN where n == 0."""
    p_, d_, n_ = _arrays(p, d, n)
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
    [-1, 1]. Defined for every n >= 0 (at n = 0 it is the whole range).
    """
    p_, d_, n_ = _arrays(p, d, n)
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
    p_, d_, n_ = _arrays(p, d, n)
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


def wilson(p: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[Array, ...]:
    """Wilson score interval for a proportion: ``(p, se, low, high)``; NaN where n == 0.

    ``se`` is the Wald standard error ``sqrt(p (1 - p) / n)`` (used for tests and power).
    """
    p_, n_ = _arrays(p, n)
    z = z_value(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + z**2 / n_
        center = (p_ + z**2 / (2 * n_)) / denom
        half = z / denom * np.sqrt(p_ * (1 - p_) / n_ + z**2 / (4 * n_**2))
        se = np.sqrt(p_ * (1 - p_) / n_)
    return p_, se, np.clip(center - half, 0, 1), np.clip(center + half, 0, 1)


def proportion_wald(p: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[Array, ...]:
    """Wald interval for a proportion (clipped to [0, 1]): ``(p, se, low, high)``."""
    p_, n_ = _arrays(p, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(p_ * (1 - p_) / n_)
    z = z_value(level)
    return p_, se, np.clip(p_ - z * se, 0, 1), np.clip(p_ + z * se, 0, 1)


def mean_t(mean: ArrayLike, sd: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[Array, ...]:
    """Student t interval for a mean: ``(mean, se, low, high)``; NaN where n < 2."""
    m_, s_, n_ = _arrays(mean, sd, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(n_ >= 2, s_ / np.sqrt(n_), np.nan)
        t = t_quantile(0.5 + level / 2, np.where(n_ >= 2, n_ - 1, np.nan))
    return m_, se, m_ - t * se, m_ + t * se


def newcombe_difference(
    p1: ArrayLike, n1: ArrayLike, p2: ArrayLike, n2: ArrayLike, level: float = 0.95
) -> tuple[Array, Array]:
    """Newcombe's hybrid score interval for ``p2 - p1`` (method 10): ``(low, high)``."""
    _, _, l1, u1 = wilson(p1, n1, level)
    _, _, l2, u2 = wilson(p2, n2, level)
    p1_, p2_ = _arrays(p1, p2)
    diff = p2_ - p1_
    low = diff - np.sqrt((p2_ - l2) ** 2 + (u1 - p1_) ** 2)
    high = diff + np.sqrt((u2 - p2_) ** 2 + (p1_ - l1) ** 2)
    return low, high


def two_sided_p(z: ArrayLike) -> Array:
    """Two-sided p-value of standard normal statistics ``z``."""
    return 2 * special.ndtr(-np.abs(np.asarray(z, dtype="float64")))


def detectable_difference(se: ArrayLike, alpha: float = 0.05, power: float = 0.8) -> Array:
    """Smallest difference a two-sided test at ``alpha`` detects with ``power``, given ``se``."""
    return (z_value(1 - alpha) + float(special.ndtri(power))) * np.asarray(se, dtype="float64")
