"""A bootstrap of group means from sufficient statistics: cheap at a million customers.

The engine returns, per group, the customers' values sorted and cut into at most ``bins``
quantile bins, each with its count ``n``, mean ``mu`` and (population) variance ``var``. A group
with no more customers than bins has one customer per bin, so its statistics are its values.

Each replicate gives every customer a Poisson(1) weight (the Poisson bootstrap: Hanley &
MacGibbon 2006, "Creating non-parametric bootstrap samples using Poisson frequencies", Computer
Methods and Programs in Biomedicine 83; Chamandy et al. 2012, "Estimating uncertainty for massive
data streams", Google). The weights of a bin's ``n`` customers sum to ``M ~ Poisson(n)``, and the
bin's weighted sum given ``M`` has mean ``M mu`` and variance ``M var``; it is drawn as
``M mu + sqrt(M var) Z`` with ``Z`` standard normal (exact when ``var`` is 0, i.e. one customer
or equal values per bin; otherwise exact in its first two moments). The replicate's mean is the
sum over bins divided by the sum of ``M``. The cost is ``replicates x bins`` per group, whatever
the number of customers.

Seed design (what an independent check must repeat): one ``numpy.random.default_rng(seed)``; for
each group in order, ``M = rng.poisson(n, size=(replicates, bins))`` over its bins in order of
increasing value, then, only if some ``var`` > 0, ``Z = rng.standard_normal((replicates, bins))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["bootstrap_means"]


def bootstrap_means(
    bins: pd.DataFrame,
    groups: Sequence[object],
    *,
    replicates: int,
    random_state: int | np.random.Generator | None = None,
) -> dict[object, np.ndarray]:
    """Bootstrap replicates of each group's mean from its bins' sufficient statistics.

    Parameters
    ----------
    bins : pandas.DataFrame
        Columns ``group``, ``bin`` (order of increasing value), ``n`` (customers), ``mu`` (mean)
        and ``var`` (population variance, 0 for one customer).
    groups : sequence
        The groups to draw for, in the order the draws are made.
    replicates : int
        Number of bootstrap replicates.
    random_state : int, Generator or None
        Seed of the draws.

    Returns
    -------
    dict
        Group -> array of ``replicates`` means (NaN where a replicate drew no customer).
    """
    rng = np.random.default_rng(random_state)
    out: dict[object, np.ndarray] = {}
    for group in groups:
        g = bins[bins["group"] == group].sort_values("bin")
        n = g["n"].to_numpy(dtype="float64")
        mu = g["mu"].to_numpy(dtype="float64")
        var = np.clip(g["var"].to_numpy(dtype="float64"), 0.0, None)
        m = rng.poisson(n, size=(replicates, len(n))).astype("float64")
        total = m @ mu
        if (var > 0).any():
            total += (np.sqrt(m * var) * rng.standard_normal((replicates, len(n)))).sum(axis=1)
        count = m.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[group] = np.where(count > 0, total / count, np.nan)
    return out
