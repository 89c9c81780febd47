"""Rules of the purchase-model choice checked on stand-in fits with hand-set likelihoods (#22).

The stand-ins return a fixed log-likelihood, parameter count and number of customers, so the
information criteria are written out by hand here: AIC = 2k - 2 ln L (Akaike 1974) and
BIC = k ln(n) - 2 ln L (Schwarz 1978).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rox.value import choice
from rox.value.choice import choose_purchase_model
from rox.value.rfm import RFM


def _stand_in(label: str, ll: float, k: int, n: int, notes: list[str] | None = None) -> type:
    """A model class whose fit has log-likelihood ``ll``, ``k`` finite standard errors, ``n``."""

    class StandIn:
        def fit(self, summary: Any) -> StandIn:
            self.log_likelihood_ = ll
            self.n_customers_ = n
            self.standard_errors_ = pd.Series([0.1] * k + [np.nan])  # the NaN: not free
            self.limit_model_ = None
            self.notes_ = list(notes or [])
            return self

    StandIn.label = label  # type: ignore[attr-defined]
    return StandIn


SUMMARY = RFM(frame=pd.DataFrame({"customer_id": ["a"], "frequency": [0]}))


def test_aic_and_bic_are_written_out_from_likelihood_parameters_and_customers(monkeypatch):
    # A: ln L = -1000, k = 4, n = 500; B: ln L = -1010, k = 2, n = 500
    monkeypatch.setattr(
        choice,
        "CANDIDATES",
        {"a": _stand_in("A", -1000.0, 4, 500), "b": _stand_in("B", -1010.0, 2, 500)},
    )
    _, made = choose_purchase_model(SUMMARY)
    rows = made.frame.set_index("model")
    assert rows.loc["a", "parameters"] == 4
    assert rows.loc["a", "aic"] == pytest.approx(2 * 4 + 2000.0)  # 2008
    assert rows.loc["b", "aic"] == pytest.approx(2 * 2 + 2020.0)  # 2024
    # BIC: 4 ln 500 + 2000 = 2024.858...; 2 ln 500 + 2020 = 2032.429...
    assert rows.loc["a", "bic"] == pytest.approx(4 * 6.2146080984221914 + 2000.0)
    assert rows.loc["b", "bic"] == pytest.approx(2 * 6.2146080984221914 + 2020.0)
    assert math.log(500) == pytest.approx(6.2146080984221914)  # the logarithm used above


def test_bic_decides_where_aic_would_not(monkeypatch):
    # n = 10,000: A (k = 4, ln L = -1000) has AIC 2008 < B's 2012 (k = 2, ln L = -1004), but
    # BIC 4 ln(1e4) + 2000 = 2036.84 > 2 ln(1e4) + 2008 = 2026.42: the BIC chooses B.
    monkeypatch.setattr(
        choice,
        "CANDIDATES",
        {"a": _stand_in("A", -1000.0, 4, 10_000), "b": _stand_in("B", -1004.0, 2, 10_000)},
    )
    _, made = choose_purchase_model(SUMMARY)
    assert made.chosen == "b"
    assert made.criterion == "bic"
    assert list(made.frame["aic"]) == pytest.approx([2012.0, 2008.0])
    assert list(made.frame["bic"]) == pytest.approx([2026.4206807, 2036.8413615])


def test_the_table_has_exactly_its_documented_columns(monkeypatch):
    monkeypatch.setattr(
        choice,
        "CANDIDATES",
        {"a": _stand_in("A", -1000.0, 4, 500), "b": _stand_in("B", -1010.0, 2, 500)},
    )
    _, made = choose_purchase_model(SUMMARY)
    assert list(made.frame.columns) == [
        "model",
        "label",
        "log_likelihood",
        "parameters",
        "aic",
        "bic",
        "holdout_mae",
        "error",
    ]
    assert list(made.frame.index) == [0, 1]


def test_a_lone_candidate_is_chosen_with_no_runner_up(monkeypatch):
    # one candidate: the reason names its BIC (2 ln 100 + 200 = 209.2) and no runner-up
    monkeypatch.setattr(choice, "CANDIDATES", {"a": _stand_in("A", -100.0, 2, 100)})
    _, made = choose_purchase_model(SUMMARY)
    assert made.reason == "A chosen: the lowest BIC (209.2; no holdout period to judge predictions)"


@pytest.mark.parametrize(
    ("notes", "label"),
    [
        (["no dropout: b ran to its bound"], "A at its limit: NBD (no dropout)"),
        (["some other note"], "A"),
        ([], "A"),
        (["some other note", "no dropout: later"], "A"),  # only the first note tells the limit
    ],
)
def test_a_fit_at_no_dropout_is_labelled_so_by_its_first_note(notes, label):
    model = _stand_in("A", -1.0, 2, 10, notes)().fit(SUMMARY)
    assert choice._label(model) == label
