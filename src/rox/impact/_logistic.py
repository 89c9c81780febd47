"""The logistic regression behind the relative weights of a binary outcome, fitted in the engine.

Newton-Raphson (iteratively reweighted least squares): each iteration is one aggregation of the
score and the information, per block of customers, over the per-customer table; the drivers are
standardised with the full-sample means and standard deviations. The bootstrap takes one Newton
step from the full-data fit on each resample's score and information (the estimating-function
bootstrap: Hu, F., & Kalbfleisch, J. D. (2000), *Canadian Journal of Statistics*, 28(3),
449-481), so replicates need no query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np

from rox.errors import ConvergenceError, MetricError
from rox.impact import _importance as imp

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from numpy.typing import NDArray

__all__ = ["Logit", "bootstrap_logistic", "fit_logistic"]

_MAX_NEWTON = 50


@dataclass(frozen=True)
class Logit:
    """A logistic fit on the standardised drivers, with its per-block score and information."""

    coef_std: NDArray[np.float64]  # slopes per standard deviation of each driver
    theta: NDArray[np.float64]  # intercept and slopes on the standardised drivers
    mean: NDArray[np.float64]
    sd: NDArray[np.float64]
    r_yp: float
    score_b: NDArray[np.float64]  # (blocks, 1 + p)
    info_b: NDArray[np.float64]  # (blocks, 1 + p, 1 + p)
    yp_b: NDArray[np.float64]  # (blocks, 5): sums of y, y**2, p, p**2, y*p


def fit_logistic(
    table: ir.Table, p: int, total: dict[str, NDArray[np.float64]], blocks: NDArray[np.int64]
) -> Logit:
    """Newton-Raphson for the logistic regression of ``v0`` on the drivers, in the engine.

    ``blocks`` are the block numbers of the sufficient statistics, in order; the per-block score
    and information come back in the same order (zero for a block without complete cases).
    """
    n = total["N"][0, 0]
    mean = total["S"].diagonal()[1:] / n
    sd = np.sqrt((total["P"].diagonal()[1:] - n * mean**2) / (n - 1))
    z = [ibis.literal(1.0)] + [(table[f"v{j + 1}"] - mean[j]) / sd[j] for j in range(p)]
    y = table.v0
    ybar = total["S"][0, 0] / n
    if not 0 < ybar < 1:
        raise MetricError(f"every customer analysed has the outcome = {ybar:g}; nothing to explain")
    theta = np.zeros(p + 1)
    theta[0] = np.log(ybar / (1 - ybar))
    for _ in range(_MAX_NEWTON):
        eta = sum((float(theta[i]) * z[i] for i in range(1, p + 1)), ibis.literal(float(theta[0])))
        prob = 1.0 / (1.0 + (-eta).exp())
        w = prob * (1.0 - prob)
        agg: dict[str, ir.Value] = {}
        for i in range(p + 1):
            agg[f"u{i}"] = ((y - prob) * z[i]).sum()
            for j in range(i, p + 1):
                agg[f"h{i}_{j}"] = (w * z[i] * z[j]).sum()
        agg |= {
            "y1": y.sum(),
            "y2": (y * y).sum(),
            "p1": prob.sum(),
            "p2": (prob * prob).sum(),
            "yp": (y * prob).sum(),
        }
        frame = (
            table.group_by("_block")
            .aggregate(**agg)
            .execute()
            .set_index("_block")
            .reindex(blocks, fill_value=0.0)
        )
        score_b = frame[[f"u{i}" for i in range(p + 1)]].to_numpy(dtype=float)
        info_b = np.zeros((len(frame), p + 1, p + 1))
        for i in range(p + 1):
            for j in range(i, p + 1):
                info_b[:, i, j] = info_b[:, j, i] = frame[f"h{i}_{j}"]
        try:
            step = np.linalg.solve(info_b.sum(axis=0), score_b.sum(axis=0))
        except np.linalg.LinAlgError:
            step = np.full(p + 1, np.inf)
        if not np.isfinite(step).all() or np.abs(theta + step).max() > 30:
            break
        theta = theta + step
        if np.abs(step).max() < 1e-8:
            yp_b = frame[["y1", "y2", "p1", "p2", "yp"]].to_numpy(dtype=float)
            r_yp = _corr_yp(yp_b.sum(axis=0), n)
            return Logit(theta[1:].copy(), theta, mean, sd, r_yp, score_b, info_b, yp_b)
    raise ConvergenceError(
        "the logistic regression of the outcome on the drivers did not converge (coefficients "
        "grow without bound: some driver separates churned from retained, or detractors from "
        "the others, perfectly). Try: fewer drivers; dropping a driver that only one group has; "
        "more customers."
    )


def _corr_yp(sums: NDArray[np.float64], n: NDArray[np.float64] | float) -> Any:
    """Correlation of outcome and fitted probability from the sums of y, y**2, p, p**2, y*p."""
    y1, y2, p1, p2, yp = np.moveaxis(sums, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n * yp - y1 * p1) / np.sqrt((n * y2 - y1**2) * (n * p2 - p1**2))


def bootstrap_logistic(
    stats: dict[str, NDArray[np.float64]], fit: Logit, weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Replicates of the logistic relative weights: one Newton step per resample (Hu & K. 2000)."""
    if not len(weights):
        return np.empty((0, len(fit.coef_std)))
    n = weights @ stats["N"][:, 0, 0]
    corr = imp.pair_correlations(*(np.einsum("bk,k...->b...", weights, stats[k]) for k in "NSQP"))
    info = np.einsum("bk,kij->bij", weights, fit.info_b)
    score = weights @ fit.score_b
    with np.errstate(invalid="ignore"):
        theta = fit.theta + np.linalg.solve(info, score[..., None])[..., 0]
    s = np.einsum("bk,k...->b...", weights, stats["S"])[:, 1:, 0]
    p2 = np.einsum("bk,k...->b...", weights, stats["P"]).diagonal(axis1=1, axis2=2)[:, 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt((p2 - s**2 / n[:, None]) / (n[:, None] - 1))
    coef_std = theta[:, 1:] * sd / fit.sd
    r_yp = _corr_yp(weights @ fit.yp_b, n)
    ok = imp.positive_definite(corr) & np.isfinite(coef_std).all(axis=1) & np.isfinite(r_yp)
    out = np.full(coef_std.shape, np.nan)
    out[ok] = imp.logistic_relative_weights(corr[ok][:, 1:, 1:], coef_std[ok], r_yp[ok])
    return out
