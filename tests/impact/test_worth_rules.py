"""worth()'s rules, each stated and checked on hand figures (#22: mutation testing's survivors).

The hand workspace is tests/impact/conftest.py's: c1 bought on 2023-01-01 and 2023-06-01 (day
151) and nothing in the last year of the data, so it is lost at day 151; c5 bought once, on
2023-01-01, so it is lost at day 0; c4 (2024-01-01 to 2024-12-31) is censored at day 365.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import MetricError
from rox.impact.worth import Worth
from rox.value import CLV

#: The no-response customers c6 and c7 get 20 and 22: in two value bins at the default resolution
#: 0.05 (ln 21 / 0.05 = 60.9, ln 23 / 0.05 = 62.7) but in one bin at 1.05 (2.9 and 2.99: bin 2).
CLOSE = {"c1": 100.0, "c2": 10.0, "c3": 50.0, "c4": 300.0, "c5": 30.0, "c6": 20.0, "c7": 22.0}
#: Each NPS group's values (c8, a passive without a purchase, has CLV 0).
CLOSE_GROUPS = {
    "promoter": [100.0, 300.0],
    "passive": [0.0, 50.0],
    "detractor": [10.0, 30.0],
    "no response": [20.0, 22.0],
}


@pytest.fixture
def close_profile(small):
    frame = pd.DataFrame({"customer_id": list(CLOSE), "clv": list(CLOSE.values()), "p_alive": 0.5})
    return rox.impact.profile(small, value=CLV(frame=frame, horizon=52.0), goal="purchase")


def _poisson_bootstrap(groups: dict[str, list[float]], seed: int, replicates: int) -> dict:
    """The exact Poisson bootstrap, written independently: a Poisson(1) weight per customer.

    With one customer per value bin (every group's values here are in bins of their own) this is
    what the binned bootstrap draws, in the same order (groups in order, values increasing).
    """
    rng = np.random.default_rng(seed)
    means = {}
    for group, values in groups.items():
        weights = rng.poisson(1.0, size=(replicates, len(values)))
        with np.errstate(invalid="ignore", divide="ignore"):
            means[group] = (weights * np.array(values)).sum(axis=1) / weights.sum(axis=1)
    return means


def test_defaults_are_1000_replicates_seed_0_resolution_005_and_a_year(close_profile):
    # worth()'s documented defaults: 1000 replicates, seed 0, bins 0.05 wide on the log scale
    # (so 20 and 22 are resampled apart, as the exact Poisson bootstrap does), retention at 365 days
    result = rox.impact.worth(close_profile)
    assert (result.replicates, result.retention_days, result.confidence) == (1000, 365, 0.95)
    means = _poisson_bootstrap(CLOSE_GROUPS, seed=0, replicates=1000)
    for row in result.frame.itertuples():
        assert (row.clv_low, row.clv_high) == pytest.approx(
            np.nanpercentile(means[row.nps_group], [2.5, 97.5])
        )
    # retention read at a year: promoters 1/2 (c1 lost at day 151), detractors 1/2 (c5 at day 0)
    assert result.frame["retention"].tolist() == pytest.approx([0.5, 1.0, 0.5, 1.0])
    # the seed shows on a group of six (the customers without a CSAT answer), whose 2.5% and
    # 97.5% points are not the extremes of its values, as they are for the groups of two
    by_band = rox.impact.worth(close_profile, "csat_band").frame
    bands = {
        "satisfied": [100.0],
        "not satisfied": [10.0],
        "no response": [0.0, 20.0, 22.0, 30.0, 50.0, 300.0],
    }
    means = _poisson_bootstrap(bands, seed=0, replicates=1000)
    other = _poisson_bootstrap(bands, seed=1, replicates=1000)
    expected = np.nanpercentile(means["no response"], [2.5, 97.5])
    assert by_band["csat_band"].tolist() == list(bands)
    assert by_band[["clv_low", "clv_high"]].iloc[2].tolist() == pytest.approx(expected)
    assert expected != pytest.approx(np.nanpercentile(other["no response"], [2.5, 97.5]))


def test_a_coarser_resolution_pools_close_values_into_one_bin(close_profile):
    # at resolution 1.05, 20 and 22 share a bin: a normal draw of its spread is added, so the
    # no-response interval is no longer the exact Poisson bootstrap's (the other groups still are)
    fine = rox.impact.worth(close_profile, replicates=1000, resolution=0.05, random_state=0)
    coarse = rox.impact.worth(close_profile, replicates=1000, resolution=1.05, random_state=0)
    means = _poisson_bootstrap(CLOSE_GROUPS, seed=0, replicates=1000)
    exact = np.nanpercentile(means["no response"], [2.5, 97.5])
    assert fine.frame[["clv_low", "clv_high"]].iloc[3].tolist() == pytest.approx(exact)
    assert coarse.frame[["clv_low", "clv_high"]].iloc[3].tolist() != pytest.approx(exact)


@pytest.mark.parametrize(("confidence", "levels"), [(0.5, [25.0, 75.0]), (0.8, [10.0, 90.0])])
def test_interval_levels_are_the_two_tails_of_one_minus_confidence(profile, confidence, levels):
    # a level c takes the percentiles 100 (1 - c) / 2 and 100 (1 + c) / 2 of the replicates, for
    # the means and for the ratios to the reference (detractors), finite ratios only
    values = {
        "promoter": [100.0, 300.0],
        "passive": [0.0, 50.0],
        "detractor": [10.0, 30.0],
        "no response": [20.0, 40.0],
    }
    result = rox.impact.worth(profile, confidence=confidence, replicates=400, random_state=9)
    means = _poisson_bootstrap(values, seed=9, replicates=400)
    for row in result.frame.itertuples():
        assert (row.clv_low, row.clv_high) == pytest.approx(
            np.nanpercentile(means[row.nps_group], levels)
        )
        ratio = means[row.nps_group] / means["detractor"]
        assert (row.clv_ratio_low, row.clv_ratio_high) == pytest.approx(
            np.percentile(ratio[np.isfinite(ratio)], levels)
        )


@pytest.mark.parametrize("resolution", [0.0, -0.05])
def test_a_resolution_not_above_zero_is_refused(profile, resolution):
    for replicates in (0, 10):
        with pytest.raises(MetricError, match=rf"resolution={resolution}: expected"):
            rox.impact.worth(profile, replicates=replicates, resolution=resolution)


def test_any_positive_resolution_and_zero_replicates_are_allowed(profile):
    small_bins = rox.impact.worth(profile, replicates=10, resolution=1e-9)
    assert small_bins.frame["clv"].tolist() == pytest.approx([200.0, 25.0, 20.0, 30.0])
    none = rox.impact.worth(profile, replicates=0, resolution=1e-9)
    assert none.replicates == 0
    with pytest.raises(MetricError, match=r"replicates=-1, resolution=0.05: expected"):
        rox.impact.worth(profile, replicates=-1)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        # c5 is lost at day 0, c1 at day 151: the curve's last point on or before the day
        (0, [1.0, 1.0, 0.5, 1.0]),
        (150, [1.0, 1.0, 0.5, 1.0]),
        (151, [0.5, 1.0, 0.5, 1.0]),
        (365, [0.5, 1.0, 0.5, 1.0]),
    ],
)
def test_retention_reads_the_curve_on_or_before_the_day(profile, days, expected):
    result = rox.impact.worth(profile, replicates=0, retention_days=days)
    assert result.frame["retention"].tolist() == pytest.approx(expected)


def test_retention_before_any_point_of_the_curve_is_missing(profile):
    # a negative day lies before every point of a group's curve: no retention, not 1
    result = rox.impact.worth(profile, replicates=0, retention_days=-1)
    assert result.frame["retention"].isna().all()


def test_a_profile_without_its_workspace_has_no_retention(profile):
    detached = dataclasses.replace(profile, workspace=None)
    result = rox.impact.worth(detached, replicates=0)
    assert result.frame["retention"].isna().all()
    assert result.frame["clv"].tolist() == pytest.approx([200.0, 25.0, 20.0, 30.0])


def test_str_is_the_basis_the_note_and_the_table_without_its_index():
    frame = pd.DataFrame({"segment": ["a", "b"], "clv": [1.5, 2.0]})
    with_note = Worth(frame=frame, by="segment", value_basis="revenue to date", value_note="why")
    assert str(with_note) == (
        "Value by segment (revenue to date)\nnote: why\nsegment  clv\n      a  1.5\n      b  2.0"
    )
    without = Worth(frame=frame, by="segment", value_basis="CLV")
    assert str(without) == "Value by segment (CLV)\nsegment  clv\n      a  1.5\n      b  2.0"


@pytest.mark.parametrize("max_bins", [0, -1])
def test_max_bins_below_one_is_refused(close_profile, max_bins):
    with pytest.raises(MetricError, match=rf"max_bins={max_bins}: expected at least one bin"):
        rox.impact.worth(close_profile, max_bins=max_bins)


def test_one_bin_per_group_is_the_least_max_bins_allowed(close_profile):
    # max_bins=1 (the boundary's allowed side; 0 is refused above): each group's bins pool into
    # one, and the point estimates are still the groups' mean values, by hand from CLOSE_GROUPS
    got = rox.impact.worth(close_profile, max_bins=1, replicates=50).frame.set_index("nps_group")
    for group, values in CLOSE_GROUPS.items():
        assert got.loc[group, "clv"] == pytest.approx(sum(values) / len(values))


@pytest.mark.parametrize(("max_bins", "exact"), [(6, True), (5, False)])
def test_a_group_with_more_than_max_bins_bins_is_pooled(close_profile, max_bins, exact):
    # the six customers without a CSAT answer have six value bins (0, 20, 22, 30, 50, 300 at
    # 0.05): with max_bins=6 they are drawn one by one (the exact Poisson bootstrap); with 5, bins
    # 0, 60, 62, 68, 78, 114 (span 115) are pooled 23 at a time, 20, 22 and 30 together, so a
    # normal draw of their spread is added and the interval is no longer the exact one
    bands = {
        "satisfied": [100.0],
        "not satisfied": [10.0],
        "no response": [0.0, 20.0, 22.0, 30.0, 50.0, 300.0],
    }
    got = rox.impact.worth(close_profile, "csat_band", max_bins=max_bins).frame
    means = _poisson_bootstrap(bands, seed=0, replicates=1000)
    expected = np.nanpercentile(means["no response"], [2.5, 97.5])
    row = got[["clv_low", "clv_high"]].iloc[2].tolist()
    assert (row == pytest.approx(expected)) is exact
