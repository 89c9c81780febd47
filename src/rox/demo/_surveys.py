"""Simulate survey responses: CSAT and CES after touchpoints, NPS after purchase and yearly."""

from __future__ import annotations

import numpy as np

from rox.demo import _catalog as cat
from rox.demo._effects import DemoEffects
from rox.demo._journeys import Brand, delay

#: Metric codes, in the order of :data:`rox.schema.METRICS`.
NPS, CSAT, CES = 0, 1, 2
METRICS: tuple[str, ...] = ("nps", "csat", "ces")
SCALES: tuple[str, ...] = ("0-10", "1-5", "1-7")
_LOW = (0, 1, 1)

#: NPS score probabilities (0..10) of a promoter, a passive and a detractor.
_NPS_P = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0.45, 0.55],
        [0, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0],
        [0.04, 0.03, 0.05, 0.08, 0.12, 0.28, 0.40, 0, 0, 0, 0],
    ]
)
_NPS_CDF = np.cumsum(_NPS_P, axis=1)


def responses(
    rng: np.random.Generator, brand: Brand, end: float, change: float, eff: DemoEffects
) -> dict[str, np.ndarray]:
    """Draw every survey response of ``brand``, sorted by customer and time.

    Parameters
    ----------
    rng : numpy.random.Generator
        The chunk's random stream.
    brand : Brand
        The simulated journeys.
    end : float
        End of the window (seconds after its start); later answers are dropped.
    change : float
        When the service change lands (seconds after the start).
    eff : DemoEffects
        The planted effects.

    Returns
    -------
    dict of numpy.ndarray
        ``cust``, ``t``, ``metric``, ``score``, ``touchpoint``, ``channel``, ``comment``.
    """
    parts = [
        _touchpoint_scores(rng, brand, CSAT, cat.CSAT_STEPS, eff, change),
        _touchpoint_scores(rng, brand, CES, cat.CES_STEPS, eff, change),
        _nps(rng, brand, eff, change),
    ]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out["t"] = np.floor(out["t"])
    keep = out["t"] < end
    out = {k: v[keep] for k, v in out.items()}
    order = np.lexsort((out["metric"], out["t"], out["cust"]))
    out = {k: v[order] for k, v in out.items()}
    out["comment"] = _comments(rng, out["metric"], out["score"], out["touchpoint"], eff)
    return out


def _touchpoint_scores(
    rng: np.random.Generator,
    brand: Brand,
    metric: int,
    steps: tuple[str, ...],
    eff: DemoEffects,
    change: float,
) -> dict[str, np.ndarray]:
    ev = brand.events
    codes = np.array([cat.STEP[s] for s in steps])
    asked = np.isin(ev["step"], codes) & (rng.random(len(ev["step"])) < eff.response_rate[metric])
    idx = np.flatnonzero(asked)
    step = ev["step"][idx]
    cust = ev["cust"][idx]
    t = ev["t"][idx] + delay(rng, len(idx), 600.0, cat.DAY, 0.8)

    usual, financing = (
        (eff.csat_p, eff.csat_p_financing) if metric == CSAT else (eff.ces_p, eff.ces_p_financing)
    )
    cdf = np.where(
        (step == cat.STEP["financing"])[:, None],
        np.cumsum(financing)[None, :],
        np.cumsum(usual)[None, :],
    )
    top = len(usual)
    score = 1 + np.minimum((rng.random(len(idx))[:, None] >= cdf).sum(axis=1), top - 1)
    cls = brand.cls[cust]
    # the planted driver order: one uniform draw per answer, against its touchpoint's chance
    chance = np.zeros(len(cat.STEPS))
    for name in steps:
        chance[cat.STEP[name]] = eff.class_score_shift[name]
    shift = rng.random(len(idx)) < chance[step]
    score = score + shift * ((cls == cat.PROMOTER).astype(int) - (cls == cat.DETRACTOR))
    if metric == CSAT:
        lifted = (step == cat.STEP["service_visit"]) & (t >= change)
        score = score + (lifted & (rng.random(len(idx)) < eff.service_csat_lift))
    return {
        "cust": cust,
        "t": t,
        "metric": np.full(len(idx), metric, np.int8),
        "score": np.clip(score, 1, top).astype(float),
        "touchpoint": step.astype(np.int16),
        "channel": ev["channel"][idx],
    }


def _nps(
    rng: np.random.Generator, brand: Brand, eff: DemoEffects, change: float
) -> dict[str, np.ndarray]:
    inv = brand.nps_invites
    answered = np.flatnonzero(rng.random(len(inv["cust"])) < eff.response_rate[NPS])
    cust = inv["cust"][answered]
    t = inv["t"][answered]
    n = len(answered)
    cls = brand.cls[cust].astype(np.int64)
    noisy = rng.random(n) < eff.class_noise
    cls = np.where(noisy, rng.choice(3, size=n, p=eff.class_p), cls)
    lifted = (t >= change) & (rng.random(n) < eff.nps_lift)
    cls = np.maximum(cls - lifted, 0)
    score = (rng.random(n)[:, None] >= _NPS_CDF[cls]).sum(axis=1)
    channel = np.where(rng.random(n) < 0.7, cat.CHANNEL["email"], cat.CHANNEL["app"])
    return {
        "cust": cust,
        "t": t,
        "metric": np.full(n, NPS, np.int8),
        "score": np.minimum(score, 10).astype(float),
        "touchpoint": inv["touchpoint"][answered],
        "channel": channel.astype(np.int8),
    }


def _comments(
    rng: np.random.Generator,
    metric: np.ndarray,
    score: np.ndarray,
    touchpoint: np.ndarray,
    eff: DemoEffects,
) -> np.ndarray:
    """Pick a template comment per response, by touchpoint and score band (-1: no comment)."""
    low_to = np.select([metric == NPS, metric == CSAT], [6, 2], 3)
    high_from = np.select([metric == NPS, metric == CSAT], [9, 4], 5)
    band = np.where(score <= low_to, 0, np.where(score >= high_from, 2, 1))
    first = cat.COMMENT_FIRST[touchpoint, band]
    count = cat.COMMENT_COUNT[touchpoint, band]
    pick = first + (rng.random(len(score)) * count).astype(np.int64)
    return np.where(rng.random(len(score)) < eff.comment_rate, pick, -1)
