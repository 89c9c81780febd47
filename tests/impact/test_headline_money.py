"""The report's headline leads with the ROX model's money, or says why it fell back (#16).

The expected figures come from separate calls of :func:`rox.impact.rox_model` and
:func:`rox.impact.counterfactual` with the headline's documented settings (detractors moved to
passive, 3 years, 200 parametric draws, seed 0; 500 bootstrap replicates for the fallback), not
from the report's code.
"""

from __future__ import annotations

import pytest

import rox
from rox._display import money
from rox.impact import Counterfactual, ROXModel
from rox.report.headline import experience_worth


@pytest.mark.slow
def test_headline_leads_with_the_rox_models_total_on_the_demo(demo):
    from rox.value import clv

    result = experience_worth(demo)
    assert result is not None
    assert result.value_model == "the ROX model" and result.fallback_reason == ""
    assert isinstance(result.rox, ROXModel)
    p = rox.impact.profile(demo, value=clv(demo))  # the demo's CLV fits (#16 section 0)
    expected = rox.impact.rox_model(
        p, move="detractor", to="passive", draws=200, placebo=False, random_state=0
    )
    assert result.rox.total == pytest.approx(expected.total, rel=1e-9)
    assert (result.rox.low, result.rox.high) == pytest.approx((expected.low, expected.high))
    assert expected.low < expected.total < expected.high
    lead = result.lead()
    assert lead.startswith(
        f"Moving every detractor to the passive level is worth about "
        f"{money(expected.total, demo.currency)} ({money(expected.low, demo.currency)} to "
        f"{money(expected.high, demo.currency)}) over 3 years (the ROX model, causal under "
        "assumptions); "
    )
    line = next(x for x in result.lines() if "through the ROX model" in x)
    assert f"Moving the {expected.moved:,} detractors who bought" in line
    for channel in expected.frame.itertuples():  # the channels, each with its money
        assert money(channel.rox, demo.currency) in line


def test_headline_falls_back_to_the_difference_in_means_and_says_why(small):
    # eight customers: too few with repeat purchases for the ROX model (it needs 20 per group)
    with pytest.raises(rox.errors.MetricError) as refused:
        rox.impact.rox_model(small, draws=10, placebo=False)
    result = experience_worth(small)
    assert result is not None
    assert result.value_model == "the difference in means of the experience groups"
    assert result.fallback_reason == str(refused.value)
    assert isinstance(result.rox, Counterfactual)
    p = rox.impact.profile(small, value="revenue")  # (no CLV fits on eight customers either)
    assert result.worth.value_basis == p.value_basis
    expected = rox.impact.counterfactual(p, replicates=500)
    assert result.rox.total == pytest.approx(expected.total, rel=1e-12)
    assert result.lead().startswith(
        f"Moving every detractor to the passive level is worth about {money(expected.total)} "
        f"({money(expected.low)} to {money(expected.high)}) in {p.value_basis}"
    )
    assert "associational" in result.lead()
    line = next(x for x in result.lines() if x.startswith("Moving the "))
    assert f"not the ROX model, which could not be fitted ({refused.value})" in line
