"""The profile and worth on CDNOW (where BG/NBD fits), with synthetic NPS answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rox


@pytest.fixture(scope="module")
def cdnow(cdnow_transactions):
    with rox.open("duckdb://:memory:") as ws:
        tx = cdnow_transactions
        ws.ingest("transactions", tx, mapping={"timestamps": {"format": "%Y%m%d"}})
        ids = np.sort(tx["customer_id"].unique())
        # every third customer answers once: 10 for the even ones, 3 for the odd ones
        who = ids[::3]
        scores = np.where(np.arange(len(who)) % 2 == 0, 10.0, 3.0)
        ws.ingest(
            "responses",
            pd.DataFrame(
                {
                    "response_id": [f"r{i}" for i in range(len(who))],
                    "customer_id": who,
                    "ts": "1998-01-15",
                    "metric": "nps",
                    "score": scores,
                }
            ),
        )
        yield ws


def test_profile_carries_the_fitted_clv_of_every_buyer(cdnow):
    fitted = rox.value.clv(cdnow)
    p = rox.impact.profile(cdnow)
    assert p.value_note == ""
    assert p.value_basis == fitted.basis
    result = p.to_frame().set_index("customer_id")
    expected = fitted.frame.set_index("customer_id")
    assert len(result) == len(expected) == 2_357
    # two fits of the same data agree to about 1e-12, not bit for bit (the sums' order may differ)
    for column in ("clv", "p_alive"):
        np.testing.assert_allclose(
            result[column].loc[expected.index].to_numpy(), expected[column].to_numpy(), rtol=1e-9
        )


def test_worth_by_group_is_the_mean_of_the_profile(cdnow):
    p = rox.impact.profile(cdnow)
    frame = p.to_frame()
    result = rox.impact.worth(p, replicates=200).frame.set_index("nps_group")
    expected = frame.groupby("nps_group")["clv"].agg(["size", "mean"])
    assert result["customers"].to_dict() == expected["size"].to_dict()
    assert result["clv"].to_dict() == pytest.approx(expected["mean"].to_dict())
    assert "passive" not in result.index  # nobody answered 7-8
    multiple = expected.loc["promoter", "mean"] / expected.loc["detractor", "mean"]
    assert result.loc["promoter", "clv_ratio"] == pytest.approx(multiple)
