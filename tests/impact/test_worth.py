"""worth(): value by experience group, on the hand-built workspace and on the demo brand.

Hand figures (tests/impact/conftest.py): by latest NPS answer, promoters c1 (CLV 100) and c4
(300), passives c3 (50) and c8 (0, no purchase), detractors c2 (10) and c5 (30), no answer c6 (20)
and c7 (40).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import MetricError

#: Each group's values sorted by value (then customer id): the bootstrap's bin order.
VALUES = {
    "promoter": [100.0, 300.0],
    "passive": [0.0, 50.0],
    "detractor": [10.0, 30.0],
    "no response": [20.0, 40.0],
}


def test_group_means_counts_and_multiple_by_hand(profile):
    result = rox.impact.worth(profile, replicates=200, random_state=1).frame
    expected = pd.DataFrame(
        {
            "nps_group": ["promoter", "passive", "detractor", "no response"],
            "customers": [2, 2, 2, 2],
            "clv": [200.0, 25.0, 20.0, 30.0],
            "clv_ratio": [10.0, 1.25, 1.0, 1.5],
            "p_alive": [0.95, 0.8, 0.4, 0.65],  # c8 has no P(alive)
            "spend": [210.0, 20.0, 20.0, 30.0],
            "clv_total": [400.0, 50.0, 40.0, 60.0],
        }
    )
    pd.testing.assert_frame_equal(result[expected.columns], expected, check_dtype=False)


def test_no_replicates_gives_the_same_point_estimates_without_intervals(profile):
    points = rox.impact.worth(profile, replicates=0).frame
    full = rox.impact.worth(profile, replicates=50, random_state=1).frame
    same = ["nps_group", "customers", "clv", "clv_ratio", "p_alive", "spend", "clv_total"]
    pd.testing.assert_frame_equal(points[same], full[same])
    assert points[["clv_low", "clv_high", "clv_ratio_low", "clv_ratio_high"]].isna().all().all()
    assert full[["clv_low", "clv_high"]].notna().all().all()
    with pytest.raises(MetricError, match="replicates=-1"):
        rox.impact.worth(profile, replicates=-1)


def test_retention_is_the_kaplan_meier_share_after_a_year(profile):
    # promoters: c1 lost at day 151 (no purchase in the last year), c4 censored at day 365 -> 1/2;
    # detractors: c5 lost at day 0, c2 censored -> 1/2; the others all censored -> 1
    result = rox.impact.worth(profile, replicates=10).frame["retention"].tolist()
    assert result == pytest.approx([0.5, 1.0, 0.5, 1.0])


def _poisson_bootstrap(seed, replicates):
    """The Poisson bootstrap written independently: a Poisson(1) weight per customer."""
    rng = np.random.default_rng(seed)
    means = {}
    for group, values in VALUES.items():
        weights = rng.poisson(1.0, size=(replicates, len(values)))
        with np.errstate(invalid="ignore", divide="ignore"):
            means[group] = (weights * np.array(values)).sum(axis=1) / weights.sum(axis=1)
    return means


def test_interval_matches_an_independent_poisson_bootstrap(profile):
    result = rox.impact.worth(profile, replicates=500, random_state=42).frame
    means = _poisson_bootstrap(42, 500)
    for row in result.itertuples():
        lo, hi = np.nanpercentile(means[row.nps_group], [2.5, 97.5])
        ratio = means[row.nps_group] / means["detractor"]
        r_lo, r_hi = np.percentile(ratio[np.isfinite(ratio)], [2.5, 97.5])
        assert (row.clv_low, row.clv_high) == pytest.approx((lo, hi))
        assert (row.clv_ratio_low, row.clv_ratio_high) == pytest.approx((r_lo, r_hi))


def test_same_seed_same_interval_other_seed_other(profile):
    # (the six customers who did not answer CSAT: enough values for the interval to move)
    a = rox.impact.worth(profile, "csat_band", replicates=30, random_state=3).frame
    b = rox.impact.worth(profile, "csat_band", replicates=30, random_state=3).frame
    c = rox.impact.worth(profile, "csat_band", replicates=30, random_state=4).frame
    pd.testing.assert_frame_equal(a, b)
    assert a["clv_low"].iloc[2] != c["clv_low"].iloc[2]


def test_other_groupings_and_reference(profile):
    by_band = rox.impact.worth(profile, "csat_band", replicates=10).frame
    # satisfied: c1 (100); not satisfied: c2 (10); no answer: the other six (440 / 6)
    assert by_band["csat_band"].tolist() == ["satisfied", "not satisfied", "no response"]
    assert by_band["clv"].tolist() == pytest.approx([100.0, 10.0, 440.0 / 6])
    assert by_band["clv_ratio"].tolist() == pytest.approx([10.0, 1.0, 44.0 / 6])
    by_segment = rox.impact.worth(profile, "segment", reference="a", replicates=10).frame
    # a: c1, c2, c5 (140 / 3); b: c3, c4, c6 (370 / 3); c7, c8 have no segment
    assert by_segment["segment"].tolist() == ["a", "b", "(none)"]
    assert by_segment["clv"].tolist() == pytest.approx([140 / 3, 370 / 3, 20.0])
    assert by_segment["clv_ratio"].iloc[1] == pytest.approx(370 / 140)


def test_no_ratio_without_a_reference_group(profile):
    result = rox.impact.worth(profile, "segment", replicates=10)
    assert result.reference is None
    assert result.frame["clv_ratio"].isna().all()


def test_bad_by_names_the_column_and_the_allowed_ones(profile):
    with pytest.raises(MetricError, match=r"'nps'.*nps_group, csat_band, ces_band, friction"):
        rox.impact.worth(profile, "nps")


def test_bad_reference_names_the_groups(profile):
    with pytest.raises(MetricError, match=r"'critic'.*promoter, passive, detractor"):
        rox.impact.worth(profile, reference="critic")


@pytest.mark.parametrize("confidence", [0.0, 1.0])
def test_confidence_outside_zero_one_is_refused(profile, confidence):
    with pytest.raises(MetricError, match="confidence"):
        rox.impact.worth(profile, confidence=confidence)


def test_multiple_and_figure(profile):
    result = rox.impact.worth(profile, replicates=50)
    ratio, low, high = result.multiple("promoter")
    assert ratio == 10.0
    assert low <= ratio <= high
    fig = result.plot()
    assert list(fig.data[0].x) == ["promoter", "passive", "detractor", "no response"]
    assert list(fig.data[0].error_y.array) == pytest.approx(
        result.frame["clv_high"] - [200, 25, 20, 30]
    )


def test_demo_detractors_are_worth_less_than_promoters(demo):
    result = rox.impact.worth(demo, journey="purchase", goal="purchase", random_state=0)
    f = result.frame.set_index("nps_group")
    assert f.loc["detractor", "clv"] < f.loc["promoter", "clv"]
    assert f.loc["detractor", "spend"] < f.loc["promoter", "spend"]
    # the demo plants shorter lives for detractors: their one-year retention is lower
    assert f.loc["detractor", "retention"] < f.loc["promoter", "retention"] - 0.1
    assert f.loc["no response", "customers"] > 0
    assert int(f["customers"].sum()) == 5_000
    assert (f["clv_low"] <= f["clv"]).all()
    assert (f["clv"] <= f["clv_high"]).all()
