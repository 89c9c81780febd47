"""Relative importance of correlated drivers, from correlation matrices (no rows needed).

Three measures, each a vector of importances that sums to the model's explained variance:

- :func:`relative_weights`: Johnson's (2000) relative weights. The drivers are replaced by their
  closest orthogonal counterparts ``Z`` (``Z = X R^{-1/2}`` for standardised ``X``); the outcome is
  regressed on ``Z`` (coefficients ``beta = R^{-1/2} r``), and each ``Z_k`` is regressed back on the
  drivers (loadings ``Lambda = R^{1/2}``). Driver ``j`` gets ``eps_j = sum_k Lambda_jk**2 *
  beta_k**2``; ``sum_j eps_j = r' R^{-1} r = R**2``.
- :func:`lmg`: the Shapley value of R**2 over the drivers (Lindeman, Merenda & Gold 1980; "general
  dominance" in Budescu 1993; Groemping 2006). Each driver's share is its increase in R**2 when it
  joins a subset of the others, averaged over all orderings of the drivers:
  ``phi_j = sum_{S not containing j} |S|! (p-|S|-1)! / p! * (R2(S+j) - R2(S))``, with
  ``R2(S) = r_S' R_SS^{-1} r_S``. All ``2**p`` subsets are solved from the one matrix, batched.
- :func:`logistic_relative_weights`: Tonidandel & LeBreton's (2010) variant for a binary outcome,
  as in R's ``rwa::rwa_logit``: with ``c`` the logistic coefficients on the standardised drivers,
  ``b = R^{1/2} c`` are the coefficients on ``Z``; they are fully standardised (Menard 2004) as
  ``beta = b * R_yp / sd(logit p)`` where ``R_yp`` is the correlation of the outcome with the
  fitted probability and ``sd(logit p) = sqrt(c' R c)``; then ``eps = Lambda**2 @ beta**2`` and
  ``sum(eps) = R_yp**2``.

Every function takes a stack of matrices (shape ``(..., q, q)``) so that bootstrap replicates are
computed together.

References
----------
Johnson, J. W. (2000). A heuristic method for estimating the relative weight of predictor
variables in multiple regression. *Multivariate Behavioral Research*, 35(1), 1-19.
Lindeman, R. H., Merenda, P. F., & Gold, R. Z. (1980). *Introduction to Bivariate and
Multivariate Analysis*. Scott, Foresman.
Groemping, U. (2006). Relative importance for linear regression in R: the package relaimpo.
*Journal of Statistical Software*, 17(1).
Tonidandel, S., & LeBreton, J. M. (2010). Determining the relative importance of predictors in
logistic regression: an extension of relative weight analysis. *Organizational Research Methods*,
13(4), 767-781.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MAX_LMG_DRIVERS",
    "lmg",
    "logistic_relative_weights",
    "pair_correlations",
    "positive_definite",
    "r_squared",
    "relative_weights",
    "sqrtm_psd",
]

#: Most drivers LMG accepts: it solves 2**p regressions per replicate.
MAX_LMG_DRIVERS = 15

Array = NDArray[np.float64]


def sqrtm_psd(r: Array) -> Array:
    """Symmetric square roots ``R^{1/2}`` of a stack of positive-definite matrices."""
    vals, vecs = np.linalg.eigh(r)
    root = np.sqrt(np.clip(vals, 0.0, None))
    return np.asarray((vecs * root[..., None, :]) @ np.swapaxes(vecs, -1, -2), dtype=np.float64)


def r_squared(corr: Array) -> Array:
    """R**2 of the outcome (index 0) on every driver, from correlation matrices ``(..., q, q)``."""
    rxx, rxy = corr[..., 1:, 1:], corr[..., 1:, 0]
    sol = np.linalg.solve(rxx, rxy[..., None])[..., 0]
    return np.asarray(np.sum(rxy * sol, axis=-1), dtype=np.float64)


def relative_weights(corr: Array) -> Array:
    """Johnson's (2000) relative weights of the drivers.

    Parameters
    ----------
    corr : numpy.ndarray, shape (..., q, q)
        Correlation matrices of the outcome (row and column 0) and the ``q - 1`` drivers; the
        drivers' block must be positive definite.

    Returns
    -------
    numpy.ndarray, shape (..., q - 1)
        Raw relative weights; they sum to the R**2 of the outcome on all drivers.
    """
    rxx, rxy = corr[..., 1:, 1:], corr[..., 1:, 0]
    lam = sqrtm_psd(rxx)
    beta = np.linalg.solve(lam, rxy[..., None])[..., 0]
    return np.asarray((lam**2) @ (beta**2)[..., None], dtype=np.float64)[..., 0]


def lmg(corr: Array) -> Array:
    """Shapley decomposition of R**2 (LMG, general dominance) of the drivers.

    Parameters
    ----------
    corr : numpy.ndarray, shape (..., q, q)
        As for :func:`relative_weights`; at most :data:`MAX_LMG_DRIVERS` drivers.

    Returns
    -------
    numpy.ndarray, shape (..., q - 1)
        Each driver's average gain in R**2 over all orders of entry; they sum to R**2.
    """
    p = corr.shape[-1] - 1
    if p > MAX_LMG_DRIVERS:
        raise ValueError(f"LMG takes at most {MAX_LMG_DRIVERS} drivers, got {p}")
    lead = corr.shape[:-2]
    flat = corr.reshape(-1, p + 1, p + 1)
    r2 = np.zeros((flat.shape[0], 1 << p))
    for k in range(1, p + 1):
        subsets = np.array(list(combinations(range(p), k)), dtype=np.int64)  # (m, k)
        masks = (1 << subsets).sum(axis=1)
        cols = subsets + 1
        # Bound the batch to about 4M numbers: replicates x subsets x k x k.
        step = max(1, 4_000_000 // (len(subsets) * k * k))
        for start in range(0, flat.shape[0], step):
            c = flat[start : start + step]
            rss = c[:, cols[:, :, None], cols[:, None, :]]  # (b, m, k, k)
            rs = c[:, 0, :][:, cols]  # (b, m, k)
            sol = np.linalg.solve(rss, rs[..., None])[..., 0]
            r2[start : start + step, masks] = np.sum(rs * sol, axis=-1)
    popcount = np.array([bin(m).count("1") for m in range(1 << p)])
    weight = np.array([factorial(s) * factorial(p - s - 1) / factorial(p) for s in range(p)])
    out = np.empty((flat.shape[0], p))
    everything = np.arange(1 << p)
    for j in range(p):
        without = everything[(everything >> j) & 1 == 0]
        gain = r2[:, without | (1 << j)] - r2[:, without]
        out[:, j] = gain @ weight[popcount[without]]
    return out.reshape(*lead, p)


def logistic_relative_weights(rxx: Array, coef_std: Array, r_yp: Array) -> Array:
    """Tonidandel & LeBreton's (2010) relative weights of a logistic regression.

    Parameters
    ----------
    rxx : numpy.ndarray, shape (..., p, p)
        Correlation matrices of the drivers.
    coef_std : numpy.ndarray, shape (..., p)
        Logistic regression coefficients on the standardised drivers (raw coefficient times the
        driver's standard deviation), in log-odds per standard deviation.
    r_yp : numpy.ndarray, shape (...)
        Correlation of the binary outcome with the fitted probability.

    Returns
    -------
    numpy.ndarray, shape (..., p)
        Raw weights; they sum to ``r_yp**2`` (the pseudo-R**2 of ``rwa::rwa_logit``).
    """
    lam = sqrtm_psd(rxx)
    b = (lam @ coef_std[..., None])[..., 0]
    sd_logit = np.sqrt(np.sum(coef_std * (rxx @ coef_std[..., None])[..., 0], axis=-1))
    beta = b * (np.asarray(r_yp) / sd_logit)[..., None]
    return np.asarray(((lam**2) @ (beta**2)[..., None])[..., 0], dtype=np.float64)


def pair_correlations(n: Array, s: Array, q: Array, p: Array) -> Array:
    """Correlations from pair counts and sums (stacks of (q, q) matrices).

    ``n[i, j]`` customers have both variables ``i`` and ``j``; over them, ``s[i, j]`` and
    ``q[i, j]`` are the sum and the sum of squares of variable ``i``, and ``p[i, j]`` is the sum
    of the products. Pearson's formula then gives each correlation (``pandas``' pairwise rule).
    """
    st = np.swapaxes(s, -1, -2)
    var = n * q - s**2
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (n * p - s * st) / np.sqrt(var * np.swapaxes(var, -1, -2))
    idx = np.arange(corr.shape[-1])
    corr[..., idx, idx] = 1.0
    return np.asarray(corr, dtype=np.float64)


def positive_definite(corr: Array, tol: float = 1e-8) -> NDArray[np.bool_]:
    """Which of a stack of correlation matrices (outcome and drivers) are positive definite.

    A matrix of pairwise correlations can be indefinite (each pair rests on different customers):
    its R**2 can then exceed 1 and its weights mean nothing, so such bootstrap replicates are left
    out (and such a point estimate is refused).
    """
    finite = np.isfinite(corr).all(axis=(-2, -1))
    ok = np.zeros(corr.shape[:-2], dtype=bool)
    if finite.any():
        ok[finite] = np.linalg.eigvalsh(corr[finite])[..., 0] > tol
    return ok
