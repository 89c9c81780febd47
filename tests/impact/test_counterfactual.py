"""The counterfactual ROX (detractors moved to the passive level): by hand, and its placebo."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import MetricError
from rox.impact.counterfactual import Counterfactual, _resolved_move
from rox.impact.profile import ExperienceProfile


def _profile(frame: pd.DataFrame) -> ExperienceProfile:
    frame = frame.assign(spend=frame["clv"], p_alive=np.nan)
    return ExperienceProfile(
        table=ibis.memtable(frame), value_basis="hand values", attributes=("segment",)
    )


@pytest.fixture
def hand() -> ExperienceProfile:
    # segment a: detractors 10, 20 (mean 15), passive 40; segment b: detractor 30, passives 60, 80
    rows = [
        ("d1", "detractor", "a", 10.0),
        ("d2", "detractor", "a", 20.0),
        ("p1", "passive", "a", 40.0),
        ("d3", "detractor", "b", 30.0),
        ("p2", "passive", "b", 60.0),
        ("p3", "passive", "b", 80.0),
        ("x1", "promoter", "b", 500.0),
        ("x2", "no response", "a", 0.0),
    ]
    return _profile(pd.DataFrame(rows, columns=["customer_id", "nps_group", "segment", "clv"]))


def test_rox_by_hand(hand):
    result = rox.impact.counterfactual(hand, replicates=50)
    # 3 detractors (mean 20) at the passives' mean (60): 3 x 40
    assert result.total == pytest.approx(120.0)
    assert result.frame["moved"].tolist() == [3]
    assert result.label == "associational"
    assert "no unmeasured confounding" in str(result)


def test_rox_within_strata_by_hand(hand):
    result = rox.impact.counterfactual(hand, strata="segment", replicates=50)
    # a: 2 x (40 - 15) = 50; b: 1 x (70 - 30) = 40
    assert result.frame["stratum"].tolist() == ["a", "b"]
    assert result.frame["rox"].tolist() == pytest.approx([50.0, 40.0])
    assert result.total == pytest.approx(90.0)


def test_interval_is_the_bootstrap_of_the_difference(hand):
    # every value alone in its bin: the exact Poisson bootstrap, written independently; the
    # groups are drawn in label order ("all<sep>detractor" before "all<sep>passive")
    result = rox.impact.counterfactual(hand, replicates=400, random_state=9)
    rng = np.random.default_rng(9)
    means = []
    for values in ([10.0, 20.0, 30.0], [40.0, 60.0, 80.0]):
        w = rng.poisson(1.0, size=(400, 3))
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((w * values).sum(axis=1) / w.sum(axis=1))
    expected = np.nanpercentile(3 * (means[1] - means[0]), [2.5, 97.5])
    assert (result.low, result.high) == pytest.approx(tuple(expected))


@pytest.fixture(scope="module")
def planted() -> ExperienceProfile:
    """4,000 customers; detractors are worth a third less than the others (lognormal values)."""
    rng = np.random.default_rng(2016)
    n = 4_000
    group = rng.choice(
        ["promoter", "passive", "detractor", "no response"], n, p=[0.3, 0.3, 0.2, 0.2]
    )
    value = rng.lognormal(5.0, 1.0, n) * np.where(group == "detractor", 2 / 3, 1.0)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "nps_group": group,
            "segment": rng.choice(["a", "b"], n),
            "clv": value,
        }
    )
    return _profile(frame)


def test_planted_effect_found_and_placebo_vanishes(planted):
    real = rox.impact.counterfactual(planted, random_state=1)
    placebo = rox.impact.counterfactual(planted, placebo=True, random_state=1)
    assert real.low > 0  # detractors moved to passive gain value
    assert placebo.placebo
    assert placebo.low < 0 < placebo.high  # shuffled experience: no effect
    assert abs(placebo.total) < 0.25 * real.total
    # the shuffle keeps the groups' sizes
    assert placebo.frame["moved"].tolist() == real.frame["moved"].tolist()


def test_placebo_within_strata_keeps_strata_sizes(planted):
    real = rox.impact.counterfactual(planted, strata="segment")
    placebo = rox.impact.counterfactual(planted, strata="segment", placebo=True)
    assert placebo.frame["moved"].tolist() == real.frame["moved"].tolist()
    assert placebo.low < 0 < placebo.high


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"move": "critic"}, r"move='critic' is not a nps_group group: expected one of promoter"),
        ({"to": "detractor"}, "nothing to move"),
        ({"move": "promoter"}, r"move='promoter' has no nps_group level above it: name the level"),
        ({"move": "no response"}, r"move='no response' has no nps_group level above it"),
        ({"by": "friction", "move": "no journey"}, "'no journey' has no friction level above"),
        ({"by": "segment"}, "cannot move customers by 'segment'"),
        ({"strata": "colour"}, r"cannot stratify by 'colour'.*segment"),
    ],
)
def test_bad_arguments_are_named(hand, kwargs, message):
    with pytest.raises(MetricError, match=message):
        rox.impact.counterfactual(hand, **kwargs)


@pytest.mark.parametrize(
    ("by", "move", "to"),
    [
        ("nps_group", None, "passive"),  # the default move: detractors to passive
        ("nps_group", "detractor", "passive"),
        ("nps_group", "passive", "promoter"),  # the level just above, not the default's
        ("csat_band", "not satisfied", "satisfied"),
        ("ces_band", "not easy", "easy"),
        ("friction", "met friction", "no friction"),
    ],
)
def test_the_level_moved_to_is_the_one_just_above(by, move, to):
    expected_move = move or {"nps_group": "detractor"}[by]
    assert _resolved_move(by, move, None, "move customers") == (expected_move, to)


def _dealt(ids: list[str], labels: list[str], seed: int) -> dict[str, str]:
    """The placebo's shuffle as the docstring of _shuffled states it, written out.

    Customers numbered k = 0, 1, ... in id order; ordered by (k m + 97531) mod 4294967311 with
    m = 2654435761 (seed + 1) mod 4294967311; the labels, in id order, are dealt in that order.
    """
    prime = 4_294_967_311
    m = 2_654_435_761 * (seed + 1) % prime
    order = sorted(range(len(ids)), key=lambda k: (k * m + 97_531) % prime)
    return {ids[k]: labels[rank] for rank, k in enumerate(order)}


@pytest.mark.parametrize("seed", [0, 5])
def test_placebo_deals_the_labels_by_the_documented_hash(hand, seed):
    ids = ["d1", "d2", "d3", "p1", "p2", "p3", "x1", "x2"]
    labels = ["detractor"] * 3 + ["passive"] * 3 + ["promoter", "no response"]
    values = dict(zip(ids, [10.0, 20.0, 30.0, 40.0, 60.0, 80.0, 500.0, 0.0], strict=True))
    dealt = _dealt(ids, labels, seed)
    moved = [values[c] for c in ids if dealt[c] == "detractor"]
    target = [values[c] for c in ids if dealt[c] == "passive"]
    expected = len(moved) * (np.mean(target) - np.mean(moved))
    result = rox.impact.counterfactual(hand, placebo=True, replicates=20, random_state=seed)
    assert result.total == pytest.approx(expected)
    assert result.frame["moved_mean"].iloc[0] == pytest.approx(np.mean(moved))
    assert result.frame["target_mean"].iloc[0] == pytest.approx(np.mean(target))


def test_strata_without_a_target_or_without_movers():
    # a: detractor 10, passive 40 -> 1 x 30; c: passives only (nobody to move: no row);
    # d: a detractor and no passive (no level to move to: a row without ROX, out of the total)
    rows = [
        ("d1", "detractor", "a", 10.0),
        ("p1", "passive", "a", 40.0),
        ("p2", "passive", "c", 70.0),
        ("d2", "detractor", "d", 5.0),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "nps_group", "segment", "clv"])
    result = rox.impact.counterfactual(_profile(frame), strata="segment", replicates=30)
    assert result.frame["stratum"].tolist() == ["a", "d"]
    assert result.frame["rox"].iloc[0] == pytest.approx(30.0)
    assert np.isnan(result.frame["rox"].iloc[1])
    assert result.frame["moved"].tolist() == [1, 1]
    assert result.total == pytest.approx(30.0)
    assert "Moving the 1 customers" in str(result)  # only the movers with a level to move to


def test_no_stratum_with_a_target_gives_no_rox():
    rows = [("d1", "detractor", "a", 10.0), ("x1", "promoter", "a", 40.0)]
    frame = pd.DataFrame(rows, columns=["customer_id", "nps_group", "segment", "clv"])
    result = rox.impact.counterfactual(_profile(frame), replicates=10)
    assert np.isnan(result.total) and np.isnan(result.low) and np.isnan(result.high)


@pytest.mark.parametrize(
    ("kwargs", "ok"),
    [
        ({"confidence": 0.0}, False),
        ({"confidence": 1.0}, False),
        ({"confidence": 0.001}, True),
        ({"confidence": 0.999}, True),
        ({"replicates": 0}, False),
        ({"replicates": 1}, True),
        ({"resolution": 0.0}, False),
        ({"resolution": 1e-6}, True),
    ],
)
def test_levels_replicates_and_resolution_on_both_sides(hand, kwargs, ok):
    if ok:
        assert rox.impact.counterfactual(hand, **{"replicates": 5, **kwargs}).total == 120.0
    else:
        with pytest.raises(MetricError, match=r"confidence|replicates and resolution"):
            rox.impact.counterfactual(hand, **kwargs)


def test_profile_options_are_refused_with_a_profile(hand):
    with pytest.raises(MetricError, match="pass the profile's options to profile"):
        rox.impact.counterfactual(hand, goal="purchase")


def test_interval_level_follows_confidence(hand):
    # the total's interval is the (1 - c) / 2 and (1 + c) / 2 percentiles of the replicates:
    # a 50% interval lies inside the 95% one, of the same replicates (same seed)
    wide = rox.impact.counterfactual(hand, replicates=400, random_state=9)
    narrow = rox.impact.counterfactual(hand, replicates=400, random_state=9, confidence=0.5)
    assert wide.low < narrow.low < narrow.high < wide.high
    rng = np.random.default_rng(9)
    means = []
    for values in ([10.0, 20.0, 30.0], [40.0, 60.0, 80.0]):
        w = rng.poisson(1.0, size=(400, 3))
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((w * values).sum(axis=1) / w.sum(axis=1))
    expected = np.nanpercentile(3 * (means[1] - means[0]), [25, 75])
    assert (narrow.low, narrow.high) == pytest.approx(tuple(expected))
    row = narrow.frame.iloc[0]
    assert (row["rox_low"], row["rox_high"]) == pytest.approx(tuple(expected))


@pytest.mark.parametrize(
    ("low", "high", "covers"),
    [
        (0.0, 5.0, True),
        (-5.0, 0.0, True),
        (-1.0, 1.0, True),
        (0.5, 2.0, False),
        (-2.0, -0.1, False),
    ],
)
def test_placebo_verdict_is_whether_the_interval_covers_zero(low, high, covers):
    frame = pd.DataFrame({"stratum": ["all"], "moved": [3], "rox": [1.0]})
    result = Counterfactual(frame=frame, total=1.0, low=low, high=high, placebo=True)
    text = str(result)
    assert text.startswith("Placebo (experience shuffled across customers)")
    assert ("it covers 0, as it should" in text) is covers
    assert ("it does not cover 0" in text) is not covers


def test_defaults_are_1000_replicates_and_seed_0(hand):
    default = rox.impact.counterfactual(hand)
    named = rox.impact.counterfactual(hand, replicates=1000, random_state=0)
    assert (default.low, default.high) == (named.low, named.high)
    other = rox.impact.counterfactual(hand, replicates=1001, random_state=0)
    assert (default.low, default.high) != (other.low, other.high)


def test_placebo_without_a_seed_shuffles_as_seed_0(hand):
    # the shuffle reads a missing seed as 0 (its multiplier 2654435761 (0 + 1) mod p)
    ids = ["d1", "d2", "d3", "p1", "p2", "p3", "x1", "x2"]
    labels = ["detractor"] * 3 + ["passive"] * 3 + ["promoter", "no response"]
    values = dict(zip(ids, [10.0, 20.0, 30.0, 40.0, 60.0, 80.0, 500.0, 0.0], strict=True))
    dealt = _dealt(ids, labels, 0)
    moved = [values[c] for c in ids if dealt[c] == "detractor"]
    target = [values[c] for c in ids if dealt[c] == "passive"]
    result = rox.impact.counterfactual(hand, placebo=True, replicates=20, random_state=None)
    assert result.total == pytest.approx(len(moved) * (np.mean(target) - np.mean(moved)))
    # and seed 1 deals otherwise (so the test can tell 0 from 1)
    other = _dealt(ids, labels, 1)
    assert other != dealt
