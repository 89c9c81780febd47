"""The ROX model's plausibility check against the retention elasticity of CLV, on both sides (#16).

A dropout channel is flagged when its relative gain has the other sign than the retention change,
or exceeds 1.5 times the gain the same retention change gives a perpetuity, r / (1 + i - r)
(Gupta, Lehmann & Stuart 2004), with 0.001 of slack. At i = 10%, retention 0.80 -> 0.85 takes a
perpetuity from 0.80 / 0.30 = 2.6667 to 0.85 / 0.25 = 3.4: +27.5%, so the band ends at
1.5 x 0.275 + 0.001 = 0.4135.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import rox
from rox.impact.rox_model import _implausible, _plausible, retention_elasticity

#: The elasticity of the hand case (0.80 -> 0.85 at 10%), worked out above.
ELASTIC = 3.4 / (0.80 / 0.30) - 1
#: Where the band ends for it.
EDGE = 1.5 * ELASTIC + 0.001


def test_the_band_by_hand_on_both_sides():
    assert retention_elasticity(0.80, 0.85, 0.10) == pytest.approx(ELASTIC) == pytest.approx(0.275)
    assert pytest.approx(0.4135) == EDGE
    assert _plausible(0.41, ELASTIC)  # inside
    assert _plausible(0.4134, ELASTIC)
    assert not _plausible(0.4136, ELASTIC)  # just outside
    assert not _plausible(0.60, ELASTIC)
    assert not _plausible(-0.05, ELASTIC)  # lower dropout that loses value: the other sign
    assert _plausible(0.0005, 0.0)  # no retention change, no dropout gain (within the slack)
    assert not _plausible(0.01, 0.0)  # a gain from dropout where retention does not move
    assert _plausible(float("nan"), ELASTIC)  # nothing to check (no moved customer valued)


def test_the_flag_says_it_is_a_warning_not_a_fact():
    note = _implausible(0.60, ELASTIC, 0.80, 0.85)
    assert note == (
        "outside the plausible band: lower dropout adds +60.0% to the moved customers' value, "
        "where their annual retention moving 0.80 -> 0.85 would add +27.5% even to a perpetuity "
        "(CLV proportional to r / (1 + i - r)); read the dropout channel as a warning about the "
        "model, not as fact"
    )


# -- through rox_model -----------------------------------------------------------------------------
def _simulated(ws: rox.Workspace, n: int = 100, seed: int = 3) -> rox.Workspace:
    """``n`` detractors (NPS 3) and ``n`` passives (NPS 7) who buy and leave, Pareto/NBD-like.

    Each customer buys at 6 x rate x lambda a year (lambda ~ Gamma(1, 1); rate 0.5 for
    detractors, 1 for passives) for an exponential life of mean 1 (detractors) or 2.5 years
    (passives) times a Gamma(1.5, 1/1.5) factor, from a first purchase in the first half of 2023
    to the end of 2025; spend Gamma(4, 25) per purchase.
    """
    rng = np.random.default_rng(seed)
    start, end = pd.Timestamp("2023-01-01"), pd.Timestamp("2025-12-31")
    tx, answers = [], []
    for group, (rate, life, score) in {
        "detractor": (0.5, 1.0, 3.0),
        "passive": (1.0, 2.5, 7.0),
    }.items():
        for i in range(n):
            c = f"{group[0]}{i:03d}"
            lam = rng.gamma(1.0, 1.0)
            first = start + pd.Timedelta(days=int(rng.integers(0, 180)))
            alive = rng.exponential(life * 365 * rng.gamma(1.5, 1 / 1.5))
            t = 0.0
            while True:
                t += rng.exponential(365 / (rate * 6 * lam))
                if t > alive or first + pd.Timedelta(days=t) > end:
                    break
                tx.append((c, first + pd.Timedelta(days=t), float(rng.gamma(4, 25))))
            tx.append((c, first, float(rng.gamma(4, 25))))
            answers.append((c, first + pd.Timedelta(days=20), "nps", score))
    t = pd.DataFrame(tx, columns=["customer_id", "ts", "amount"])
    t["order_id"] = [f"o{i}" for i in range(len(t))]
    ws.ingest("transactions", t)
    r = pd.DataFrame(answers, columns=["customer_id", "ts", "metric", "score"])
    r["response_id"] = [f"r{i}" for i in range(len(r))]
    ws.ingest("responses", r)
    return ws


@pytest.mark.slow  # two fits of the covariate Pareto/NBD (seconds each, more on a busy machine)
def test_rox_model_flags_a_dropout_channel_outside_the_band(monkeypatch):
    with rox.open("duckdb://:memory:") as ws:
        _simulated(ws)
        fair = rox.impact.rox_model(ws, draws=20, placebo=False, random_state=0)
        # inside the band: no flag, no note
        assert fair.plausible
        assert 0 < fair.dropout_gain <= 1.5 * fair.elasticity_gain + 0.001
        assert fair.elasticity_gain == pytest.approx(
            retention_elasticity(fair.retention_observed, fair.retention_counterfactual, 0.10)
        )
        assert "outside the plausible band" not in str(fair)
        # the same fit against a perpetuity said to gain only +5% from that retention change: the
        # dropout channel (above 1.5 x 5% + 0.1%) is then outside the band, and flagged
        assert fair.dropout_gain > 1.5 * 0.05 + 0.001
        module = sys.modules["rox.impact.rox_model"]
        monkeypatch.setattr(module, "retention_elasticity", lambda before, after, rate: 0.05)
        flagged = rox.impact.rox_model(ws, draws=20, placebo=False, random_state=0)
    assert not flagged.plausible
    assert flagged.total == pytest.approx(fair.total)  # the figures are the same; only the flag
    note = (
        f"outside the plausible band: lower dropout adds {fair.dropout_gain:+.1%} to the moved "
        f"customers' value, where their annual retention moving {fair.retention_observed:.2f} -> "
        f"{fair.retention_counterfactual:.2f} would add +5.0% even to a perpetuity"
    )
    assert any(n.startswith(note) for n in flagged.notes)
    assert f"note: {note}" in str(flagged)
    assert "read the dropout channel as a warning about the model, not as fact" in str(flagged)
