"""Choosing the purchase model (issue #16): by holdout predictions, else by BIC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import ConvergenceError
from rox.value.choice import choose_purchase_model, free_parameters
from rox.value.models import BetaGeoModel, ParetoNBDModel
from rox.value.rfm import RFM
from rox.value.simulate import simulate_bgnbd, simulate_paretonbd

HOLDOUT_END = pd.Timestamp("2024-12-31")


def _summary(truth: str, *, holdout: bool, seed: int = 1) -> RFM:
    """30,000 simulated customers observed 52 weeks (and 39 more as the holdout)."""
    extra = 39.0 if holdout else 0.0
    if truth == "bgnbd":
        frame = simulate_bgnbd(30_000, 0.25, 4.0, 0.8, 2.5, T=52.0, holdout=extra, seed=seed)
    else:
        frame = simulate_paretonbd(30_000, 0.5, 8.0, 0.7, 12.0, T=52.0, holdout=extra, seed=seed)
        frame["recency"] = (frame["recency"] * 7).round() / 7  # days, as rfm() measures them
    frame["customer_id"] = np.arange(len(frame)).astype(str)
    if holdout:
        frame["duration_holdout"] = extra
        return RFM(frame=frame, holdout_end=HOLDOUT_END)
    return RFM(frame=frame)


@pytest.mark.parametrize("truth", ["bgnbd", "paretonbd"])
def test_bic_chooses_the_model_that_generated_the_data(truth):
    model, choice = choose_purchase_model(_summary(truth, holdout=False))
    assert choice.chosen == truth
    assert choice.criterion == "bic"
    assert isinstance(model, {"bgnbd": BetaGeoModel, "paretonbd": ParetoNBDModel}[truth])
    runner_up = choice.frame.iloc[1]
    assert runner_up["bic"] > choice.frame.iloc[0]["bic"]
    assert f"runner-up {runner_up['label']}: {runner_up['bic']:,.1f}" in choice.reason
    assert choice.reason.startswith(f"{choice.frame.iloc[0]['label']} chosen: the lowest BIC")


@pytest.mark.parametrize("truth", ["bgnbd", "paretonbd"])
def test_holdout_chooses_the_model_that_predicts_it(truth):
    _, choice = choose_purchase_model(_summary(truth, holdout=True))
    assert choice.chosen == truth
    assert choice.criterion == "holdout"
    best, runner_up = choice.frame.iloc[0], choice.frame.iloc[1]
    assert best["holdout_mae"] < runner_up["holdout_mae"]
    assert f"runner-up {runner_up['label']}: {runner_up['holdout_mae']:.3f}" in choice.reason
    assert "holdout to 2024-12-31" in choice.reason


def test_holdout_score_is_the_weighted_gap_by_frequency():
    summary = _summary("bgnbd", holdout=True)
    model, choice = choose_purchase_model(summary, "bgnbd")
    f = summary.frame
    predicted = model.expected_purchases(39.0, f)
    bucket = f["frequency"].clip(upper=7)
    by = pd.DataFrame({"b": bucket, "p": predicted, "a": f["frequency_holdout"]}).groupby("b")
    expected = float((by["p"].mean() - by["a"].mean()).abs().mul(by.size()).sum() / len(f))
    assert choice.frame.loc[0, "holdout_mae"] == pytest.approx(expected, rel=1e-12)
    assert choice.criterion == "given"


def test_cdnow_without_holdout_chooses_bgnbd_as_the_published_likelihoods_say(cdnow_rfm):
    # Published: BG/NBD ln L = -9582.4 (Fader, Hardie & Lee 2005), Pareto/NBD -9595.0 (Fader &
    # Hardie 2005 note); 4 parameters each, so the lower BIC is BG/NBD's by 2 x 12.6.
    summary = RFM(frame=cdnow_rfm.frame.drop(columns=["frequency_holdout"]))
    _, choice = choose_purchase_model(summary)
    assert choice.chosen == "bgnbd"
    gap = choice.frame.loc[1, "bic"] - choice.frame.loc[0, "bic"]
    assert gap == pytest.approx(2 * (9595.0 - 9582.4), abs=0.2)


def test_free_parameters_count_the_limit_models_parameters():
    nbd = simulate_bgnbd(20_000, 0.5, 5.0, 0.001, 1000.0, T=52.0, seed=8)
    assert free_parameters(BetaGeoModel().fit(nbd)) == 2  # at no dropout: r, alpha
    common = simulate_bgnbd(20_000, 0.5, 4.0, 0.2e9, 0.8e9, T=52.0, seed=3)
    compressed = common.groupby(["frequency", "recency", "T"]).size().rename("count")
    assert free_parameters(BetaGeoModel().fit(compressed.reset_index())) == 3  # r, alpha, p
    heterogeneous = simulate_bgnbd(20_000, 0.25, 4.0, 0.8, 2.5, T=52.0, seed=1)
    assert free_parameters(BetaGeoModel().fit(heterogeneous)) == 4


def test_a_candidate_that_cannot_be_fitted_is_reported(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise ConvergenceError("planted failure")

    monkeypatch.setattr(ParetoNBDModel, "fit", refuse)
    _, choice = choose_purchase_model(_summary("bgnbd", holdout=False))
    assert choice.chosen == "bgnbd"
    assert "Pareto/NBD could not be fitted (planted failure)" in choice.reason
    monkeypatch.setattr(BetaGeoModel, "fit", refuse)
    with pytest.raises(ConvergenceError, match="no purchase model could be fitted"):
        choose_purchase_model(_summary("bgnbd", holdout=False))


def test_clv_defaults_to_auto_and_says_why(cdnow_ws):
    result = rox.value.clv(cdnow_ws, calibration_end="1997-09-30", holdout_end="1998-06-30")
    assert result.choice is not None
    assert result.choice.criterion == "holdout"
    assert set(result.choice.frame["model"]) == {"bgnbd", "paretonbd"}
    assert result.purchase_model.label == result.choice.frame.iloc[0]["label"]
    with pytest.raises(rox.errors.MetricError, match="expected auto, bgnbd or paretonbd"):
        rox.value.clv(cdnow_ws, model="bg")  # type: ignore[arg-type]


# -- `rox clv --holdout-end` (#16 section 0) -------------------------------------------------------
@pytest.fixture(scope="module")
def cdnow_path(tmp_path_factory, ingest_cdnow):
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.duckdb"
    with rox.open(path) as ws:
        ingest_cdnow(ws)
    return path


def test_cli_chooses_by_the_holdout_and_says_so(cdnow_path, rox_here):
    import io
    import json

    args = ("clv", "--calibration-end", "1997-09-30", "--workspace", cdnow_path)
    code, out, err = rox_here(*args, "--holdout-end", "1998-06-30", "--top", "5", "-f", "json")
    assert code == 0, err
    with rox.open(cdnow_path, read_only=True) as ws:
        expected = rox.value.clv(ws, calibration_end="1997-09-30", holdout_end="1998-06-30")
    assert expected.choice is not None and expected.choice.criterion == "holdout"
    scores = expected.choice.frame.set_index("model")["holdout_mae"]
    chosen = str(scores.idxmin())  # the smaller mean absolute error on the holdout wins
    assert chosen == expected.choice.chosen
    label = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD"}[chosen]
    assert f"note: purchase model: {label} chosen: the closest holdout predictions" in err
    assert "holdout to 1998-06-30" in err and "runner-up" in err
    rows = json.loads(out)
    assert [r["customer_id"] for r in rows] == expected.frame["customer_id"].head(5).tolist()
    assert [r["clv"] for r in rows] == pytest.approx(expected.frame["clv"].head(5).tolist())
    # the table says it too; without --holdout-end the choice is by BIC
    code, out, _ = rox_here(*args, "--holdout-end", "1998-06-30", "--top", "0")
    assert code == 0 and "Purchase model: " + label + " chosen: the closest holdout" in out
    code, out, _ = rox_here(*args, "--top", "0")
    assert code == 0 and "chosen: the lowest BIC" in out and "closest holdout" not in out
    code, out, err = rox_here(*args, "--top", "3", "-f", "csv")
    assert code == 0 and "no holdout period to judge predictions" in err
    assert len(pd.read_csv(io.StringIO(out))) == 3


def test_cli_holdout_end_needs_a_calibration_end_before_it(cdnow_path, rox_here):
    code, _, err = rox_here("clv", "--holdout-end", "1998-06-30", "--workspace", cdnow_path)
    assert code == 2 and "give --calibration-end too" in err
    code, _, err = rox_here(
        "clv", "--calibration-end", "1997-09-30", "--holdout-end", "1997-06-30",
        "--workspace", cdnow_path,
    )  # fmt: skip
    assert code == rox.errors.EXIT_CODES[rox.errors.MetricError]
    assert "holdout_end must be after calibration_end" in err
