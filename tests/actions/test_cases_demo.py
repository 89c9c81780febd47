"""The demo brand's past closed loop: the planted holdout and uplift, and rox finding them (#17)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rox
from rox.actions import loop_return
from rox.actions.holdout import assign_arms
from rox.demo import DemoEffects, generate

EFFECTS = DemoEffects()


def _planted(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each case with what the brand would have done without a call (from the simulated rows)."""
    cases = frames["cases"].copy()
    tx = frames["transactions"]
    simulated = tx[~tx["order_id"].str.endswith("-x1")]  # the loop's visits end in -x1
    pairs = cases[["case_id", "customer_id", "opened_at"]].merge(simulated, on="customer_id")
    window = (pairs["ts"] > pairs["opened_at"]) & (
        pairs["ts"] <= pairs["opened_at"] + pd.Timedelta(days=180)
    )
    cases["would_buy"] = cases["case_id"].isin(pairs.loc[window, "case_id"])
    cases["responder"] = cases["value"] >= EFFECTS.responder_value
    return cases


def test_the_demo_loop_is_the_default_rules_with_the_planted_holdout():
    frames = generate(5_000, seed=7)
    cases = frames["cases"]
    assert cases["case_id"].is_unique and cases["customer_id"].is_unique
    assert set(cases["trigger"]) == {"detractor", "low_csat"}
    assert (cases["case_id"] == cases["trigger"] + "-" + cases["response_id"]).all()
    expected = assign_arms(cases["case_id"], EFFECTS.outreach_holdout, seed=17)
    assert list(cases["arm"]) == expected
    held = cases["arm"] == "holdout"
    assert (cases.loc[held, "status"] == "holdout").all() and cases.loc[held, "owner"].isna().all()
    assert (cases.loc[~held, "status"] == "closed").all()
    # a saved customer's visit belongs to an outreach case of a high-value customer
    visits = frames["transactions"][frames["transactions"]["order_id"].str.endswith("-x1")]
    saved = cases[cases["customer_id"].isin(visits["customer_id"])]
    assert len(saved) > 0
    assert (saved["arm"] == "outreach").all()
    assert (saved["value"] >= EFFECTS.responder_value).all()
    assert (saved["resolution"] == "resolved").all()


def test_the_loop_leaves_the_rest_of_the_brand_unchanged():
    with_loop = generate(2_000, seed=7)
    planted = _planted(with_loop)
    tx = with_loop["transactions"]
    assert not tx["order_id"].duplicated().any()
    # the loop's rows come after the simulated ones of the chunk
    simulated = tx[~tx["order_id"].str.endswith("-x1")]
    assert simulated.index.max() < tx.index[tx["order_id"].str.endswith("-x1")].min()
    assert planted["would_buy"].any() and (~planted["would_buy"]).any()


@pytest.mark.slow
def test_the_holdout_recovers_the_planted_save_rate():
    frames = generate(20_000, seed=7)
    planted = _planted(frames)
    end = pd.Timestamp("2026-01-01", tz="UTC")
    observed = planted[planted["opened_at"] + pd.Timedelta(days=180) <= end]
    # the planted effect on the population of cases: a call saves a responder who would not have
    # bought with probability save_p (every visit lands inside the window: months 6-30 + 150 days)
    expected = EFFECTS.save_p * float(np.mean(observed["responder"] & ~observed["would_buy"]))
    with rox.demo.build("duckdb://:memory:", n_customers=20_000, seed=7) as ws:
        result = loop_return(ws, value="revenue")
    assert result.save_low > 0
    assert result.save_low <= expected <= result.save_high, (expected, result)
    # later NPS: only the saved answer as promoters; the interval holds the planted difference
    assert result.frame.set_index("measure").at["retention", "n_outreach"] > 900
