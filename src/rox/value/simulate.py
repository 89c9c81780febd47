"""Simulate customers from the BG/NBD and Pareto/NBD models, to check fits recover what they should.

Vectorised numpy, seeded; returns (frequency, recency, T) summaries like :func:`rox.value.rfm`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_bgnbd", "simulate_paretonbd"]


def simulate_bgnbd(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: float | np.ndarray = 52.0,
    *,
    holdout: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Summaries of ``n`` customers drawn from BG/NBD(r, alpha, a, b), observed for ``T``.

    Each customer buys at rate lambda ~ Gamma(r, 1/alpha) (so mean r / alpha) and, after each
    repeat purchase, drops out with probability p ~ Beta(a, b) (Fader, Hardie & Lee 2005). With
    ``holdout`` > 0, the purchases in the following ``holdout`` are counted as
    ``frequency_holdout``.
    """
    rng = np.random.default_rng(seed)
    t_obs = np.broadcast_to(np.asarray(T, dtype="float64"), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    # purchases happen until the observation ends or the customer drops out after one of them
    x = np.zeros(n, dtype="int64")
    later = np.zeros(n, dtype="int64")
    last = np.zeros(n)
    now = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += rng.exponential(1.0 / lam[idx])
        inside = now[idx] <= t_obs[idx]
        after = ~inside & (now[idx] <= t_obs[idx] + holdout)
        active[idx[~inside & ~after]] = False
        buyers = idx[inside]
        x[buyers] += 1
        last[buyers] = now[buyers]
        later[idx[after]] += 1
        bought = idx[inside | after]
        drops = rng.random(len(bought)) < p[bought]
        active[bought[drops]] = False
    out = pd.DataFrame({"frequency": x, "recency": last, "T": t_obs})
    if holdout > 0:
        out["frequency_holdout"] = later
    return out


def simulate_paretonbd(
    n: int,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    T: float | np.ndarray = 52.0,
    *,
    holdout: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Summaries of ``n`` customers drawn from Pareto/NBD(r, alpha, s, beta), observed for ``T``.

    Purchases at rate lambda ~ Gamma(r, 1/alpha) during an exponential lifetime of rate
    mu ~ Gamma(s, 1/beta) (Schmittlein, Morrison & Colombo 1987). With ``holdout`` > 0, the
    purchases in the following ``holdout`` are counted as ``frequency_holdout``.
    """
    rng = np.random.default_rng(seed)
    t_obs = np.broadcast_to(np.asarray(T, dtype="float64"), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    mu = rng.gamma(s, 1.0 / beta, size=n)
    life = rng.exponential(1.0 / mu)
    end = np.minimum(life, t_obs)
    x = rng.poisson(lam * end)
    # given x purchases in (0, end], the last one is the max of x uniforms on (0, end]
    u = rng.random(n) ** (1.0 / np.maximum(x, 1))
    last = np.where(x > 0, u * end, 0.0)
    out = pd.DataFrame({"frequency": x, "recency": last, "T": t_obs})
    if holdout > 0:
        alive_after = np.clip(np.minimum(life, t_obs + holdout) - t_obs, 0.0, None)
        out["frequency_holdout"] = rng.poisson(lam * alive_after)
    return out
