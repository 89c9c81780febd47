"""Value models against published estimates, by simulation, on edge cases and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rox.errors import ConvergenceError, NotFittedError
from rox.value.models import BetaGeoModel, GammaGammaModel, ParetoNBDModel, ShiftedBetaGeoModel
from rox.value.simulate import simulate_bgnbd, simulate_paretonbd


def _sig3(values) -> list[float]:
    return [float(f"{v:.3g}") for v in values]


# -- published estimates --------------------------------------------------------------------------
def test_bgnbd_reproduces_fader_hardie_lee_2005(published_summary):
    model = BetaGeoModel().fit(published_summary)
    # FHL (2005), section 4: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    assert _sig3(model.params_) == [0.243, 4.41, 0.793, 2.43]
    assert round(model.log_likelihood_, 1) == -9582.4
    # standard errors as lifetimes reports them on the same data
    assert model.standard_errors_.round(3).tolist() == [0.013, 0.378, 0.186, 0.705]


def test_bgnbd_on_our_own_rfm_matches_the_published_fit(cdnow_rfm):
    model = BetaGeoModel().fit(cdnow_rfm)
    assert _sig3(model.params_) == [0.243, 4.41, 0.793, 2.43]
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.5)


def test_paretonbd_reproduces_fader_hardie_2005_note(published_summary):
    model = ParetoNBDModel().fit(published_summary)
    # Fader & Hardie (2005), "A Note on Implementing the Pareto/NBD Model in MATLAB":
    # r = 0.553, alpha = 10.578, s = 0.606, beta = 11.669, LL = -9594.98
    assert _sig3(model.params_) == [0.553, 10.6, 0.606, 11.7]
    assert model.log_likelihood_ == pytest.approx(-9594.98, abs=0.01)


def test_gamma_gamma_reproduces_fader_hardie_2013(cdnow_rfm):
    model = GammaGammaModel().fit(cdnow_rfm)
    # Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": p = 6.25, q = 3.74,
    # gamma = 15.44 on the 946 CDNOW sample customers with repeat purchases
    assert _sig3(model.params_) == [6.25, 3.74, 15.4]
    assert model.n_customers_ == 946


@pytest.mark.parametrize(
    ("survivors", "expected"),
    [
        ([1000, 631, 468, 382, 326, 289, 262, 241], [0.704, 1.18]),  # "regular"
        ([1000, 869, 743, 653, 593, 551, 517, 491], [0.668, 3.81]),  # "high end"
    ],
)
def test_sbg_reproduces_fader_hardie_2007(survivors, expected):
    model = ShiftedBetaGeoModel().fit(survivors)
    assert _sig3(model.params_) == expected
    # the projection reproduces the fitted years closely
    assert model.projection(7)["survivors"].to_numpy() == pytest.approx(survivors, rel=0.03)


# -- fits on compressed rows and on every customer agree -----------------------------------------
def test_compressed_fit_equals_the_per_customer_fit(published_summary):
    full = BetaGeoModel().fit(published_summary)
    compressed = (
        published_summary.groupby(["frequency", "recency", "T"])
        .size()
        .rename("count")
        .reset_index()
    )
    assert len(compressed) < len(published_summary) / 2
    packed = BetaGeoModel().fit(compressed)
    assert packed.params_.to_numpy() == pytest.approx(full.params_.to_numpy(), rel=1e-6)
    assert packed.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-9)


# -- simulation recovery --------------------------------------------------------------------------
def test_bgnbd_recovers_simulated_parameters():
    truth = np.array([0.25, 4.0, 0.8, 2.5])
    data = simulate_bgnbd(100_000, *truth, T=52.0, seed=1)
    model = BetaGeoModel().fit(
        data.groupby(["frequency", "recency", "T"]).size().rename("count").reset_index()
    )
    z = (model.params_.to_numpy() - truth) / model.standard_errors_.to_numpy()
    assert np.all(np.abs(z) < 3.5), model.summary()


def test_paretonbd_recovers_simulated_parameters():
    truth = np.array([0.5, 8.0, 0.7, 12.0])
    data = simulate_paretonbd(100_000, *truth, T=52.0, seed=2)
    data["recency"] = (data["recency"] * 7).round() / 7  # days, as rfm() measures them
    model = ParetoNBDModel().fit(
        data.groupby(["frequency", "recency", "T"]).size().rename("count").reset_index()
    )
    z = (model.params_.to_numpy() - truth) / model.standard_errors_.to_numpy()
    assert np.all(np.abs(z) < 3.5), model.summary()


def test_covariates_recover_a_planted_effect():
    # group 1 buys twice as often: alpha_1 = alpha / 2 -> coefficient ln 2 on alpha
    g0 = simulate_bgnbd(40_000, 0.5, 6.0, 0.8, 2.5, seed=3).assign(group=0.0)
    g1 = simulate_bgnbd(40_000, 0.5, 3.0, 0.8, 2.5, seed=4).assign(group=1.0)
    model = BetaGeoModel(covariates=["group"]).fit(pd.concat([g0, g1]))
    coef = model.params_["alpha:group"]
    se = model.standard_errors_["alpha:group"]
    assert abs(coef - np.log(2)) < 3.5 * se
    assert abs(model.params_["a:group"]) < 3.5 * model.standard_errors_["a:group"]
    assert model.param_names == ("r", "alpha", "a", "b", "alpha:group", "a:group", "b:group")


def test_paretonbd_covariate_on_dropout():
    g0 = simulate_paretonbd(40_000, 0.6, 8.0, 0.8, 10.0, seed=5).assign(vip=0.0)
    g1 = simulate_paretonbd(40_000, 0.6, 8.0, 0.8, 5.0, seed=6).assign(vip=1.0)
    both = pd.concat([g0, g1])
    both["recency"] = (both["recency"] * 7).round() / 7  # days, as rfm() measures them
    model = ParetoNBDModel(covariates=["vip"]).fit(both)
    coef, se = model.params_["beta:vip"], model.standard_errors_["beta:vip"]
    assert abs(coef - np.log(2)) < 3.5 * se


# -- predictions ----------------------------------------------------------------------------------
def test_bgnbd_predictions_agree_with_simulation():
    truth = {"r": 0.4, "alpha": 5.0, "a": 0.8, "b": 2.5}
    model = BetaGeoModel.from_params(**truth)
    sim = simulate_bgnbd(200_000, *truth.values(), T=39.0, holdout=39.0, seed=11)
    # E[X(t)] of a new customer (FHL eq. 7) = mean repeat purchases in (0, 39]
    assert model.expected_purchases_new(39.0) == pytest.approx(sim["frequency"].mean(), rel=0.02)
    # E[Y(t) | x, t_x, T] (FHL eq. 10): the holdout purchases of each calibration-frequency bucket
    predicted = model.expected_purchases(39.0, sim)
    buckets = sim.assign(predicted=predicted).groupby(sim["frequency"].clip(upper=5))
    got = buckets[["predicted", "frequency_holdout"]].sum()
    assert got["predicted"].to_numpy() == pytest.approx(got["frequency_holdout"], rel=0.05)
    # P(alive) of customers without repeat purchases is 1 in BG/NBD
    assert np.all(model.p_alive(sim[sim["frequency"] == 0]) == 1)


def test_holdout_predictions_track_actuals(cdnow_rfm):
    model = BetaGeoModel().fit(cdnow_rfm)
    frame = cdnow_rfm.frame
    predicted = model.expected_purchases(39, frame)
    # aggregate holdout purchases: the model is within 15% on CDNOW (it under-predicts the
    # holdout somewhat, as the tracking plots of FHL 2005 show around the year-end peak)
    assert predicted.sum() == pytest.approx(frame["frequency_holdout"].sum(), rel=0.15)


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(0, 40),
    tx_share=st.floats(0, 1),
    T=st.floats(0.5, 200),
    t=st.floats(0.1, 100),
)
def test_prediction_invariants(published_summary_model, x, tx_share, T, t):
    model = published_summary_model
    tx = 0.0 if x == 0 else tx_share * T
    frame = pd.DataFrame({"frequency": [x], "recency": [tx], "T": [T]})
    alive = model.p_alive(frame)[0]
    assert 0 <= alive <= 1
    near = model.expected_purchases(t, frame)[0]
    far = model.expected_purchases(2 * t, frame)[0]
    assert 0 <= near <= far


@pytest.fixture(scope="module")
def published_summary_model(published_summary):
    return BetaGeoModel().fit(published_summary)


# -- edge cases -----------------------------------------------------------------------------------
def test_not_fitted_is_a_clear_error():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        _ = BetaGeoModel().params_


def test_no_repeat_purchases_cannot_be_fitted():
    data = pd.DataFrame({"frequency": [0] * 50, "recency": [0.0] * 50, "T": [30.0] * 50})
    with pytest.raises(ConvergenceError, match="do not identify the model"):
        BetaGeoModel().fit(data)
    with pytest.raises(ConvergenceError, match="at least two customers with repeat purchases"):
        GammaGammaModel().fit(data.assign(monetary=np.nan))


def test_no_dropout_is_the_nbd_limit_with_a_note():
    # p ~ Beta(0.001, 1000): practically nobody drops out
    data = simulate_bgnbd(20_000, 0.5, 5.0, 0.001, 1000.0, T=52.0, seed=8)
    model = BetaGeoModel().fit(data)
    assert model.notes_ and model.notes_[0].startswith("no dropout is evident in these data")
    assert model.params_[["r", "alpha"]].to_numpy() == pytest.approx([0.5, 5.0], rel=0.1)
    assert np.all(model.p_alive(data) > 0.999)


def test_single_customer_is_refused_clearly():
    data = pd.DataFrame({"frequency": [1], "recency": [5.0], "T": [30.0]})
    with pytest.raises(ConvergenceError):
        BetaGeoModel().fit(data)


def test_invalid_summaries_are_named():
    bad = pd.DataFrame({"frequency": [1, 0], "recency": [40.0, 0.0], "T": [30.0, 10.0]})
    with pytest.raises(ValueError, match=r"row 0: frequency=1, recency=40, T=30 is not a valid"):
        BetaGeoModel().fit(bad)


def test_sbg_refuses_increasing_survivors():
    with pytest.raises(ValueError, match="non-increasing"):
        ShiftedBetaGeoModel().fit([100, 120, 90])


def test_sklearn_protocol():
    model = BetaGeoModel(covariates=["a"])
    assert model.get_params() == {"covariates": ("a",)}
    model.set_params(covariates=())
    assert model.covariates == ()


# -- the Newton path: exact second derivatives ----------------------------------------------------
def _numeric_hessian(gradient, params: np.ndarray) -> np.ndarray:
    """Central differences of the analytic gradient: (rows, i, j)."""
    cols = []
    for j in range(len(params)):
        h = 1e-6 * params[j]
        step = np.zeros_like(params)
        step[j] = h
        cols.append((gradient(params + step) - gradient(params - step)) / (2 * h))
    return np.stack(cols, axis=2)


def _lower_triangle(hess, n: int) -> np.ndarray:
    k = len(hess)
    out = np.empty((n, k, k))
    for i in range(k):
        for j in range(i + 1):
            out[:, i, j] = out[:, j, i] = np.broadcast_to(hess[i][j], (n,))
    return out


@settings(max_examples=40, deadline=None)
@given(
    params=st.tuples(
        st.floats(0.05, 5), st.floats(0.5, 50), st.floats(0.05, 5), st.floats(0.2, 20)
    ),
    seed=st.integers(0, 10_000),
)
def test_bgnbd_second_derivatives_match_finite_differences(params, seed):
    from rox.value.models.transactions import bgnbd_loglik

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 12, 40).astype(float)
    T = rng.uniform(1, 60, 40)
    tx = np.where(x > 0, rng.uniform(0, 1, 40) * T, 0.0)
    p = np.array(params)
    *_, hess = bgnbd_loglik(*p, x, tx, T, curvature=True)
    numeric = _numeric_hessian(lambda q: np.column_stack(bgnbd_loglik(*q, x, tx, T)[1:]), p)
    assert _lower_triangle(hess, 40) == pytest.approx(numeric, rel=1e-5, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    params=st.tuples(st.floats(0.5, 20), st.floats(1.2, 20), st.floats(0.5, 100)),
    seed=st.integers(0, 10_000),
)
def test_gamma_gamma_totals_are_the_weighted_rows_and_exact_derivatives(params, seed):
    from rox.value.models.spend import _GammaGammaRows

    rng = np.random.default_rng(seed)
    x, m = rng.integers(1, 15, 40).astype(float), rng.uniform(1, 200, 40)
    w = rng.integers(1, 5, 40).astype(float)
    rows = _GammaGammaRows(x, m, w)
    p = np.array(params)
    ll, grad, hess = rows.totals(p)
    per_row, per_row_grad = rows(*p)
    assert ll == pytest.approx(float(w @ per_row), rel=1e-10)
    assert grad == pytest.approx(w @ per_row_grad, rel=1e-8, abs=1e-8)
    numeric = _numeric_hessian(lambda q: rows.totals(q)[1][None, :], p)[0]
    assert hess == pytest.approx(numeric, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("model", [BetaGeoModel, GammaGammaModel, ParetoNBDModel])
def test_newton_and_the_general_path_find_the_same_fit(cdnow_rfm, model, monkeypatch):
    from rox.value.models import fitting

    newton = model().fit(cdnow_rfm)
    assert newton._fit.n_iter < 15  # Newton's handful of steps, not L-BFGS-B's
    monkeypatch.setattr(fitting, "_newton", lambda *args: None)
    general = model().fit(cdnow_rfm)
    assert newton.params_.to_numpy() == pytest.approx(general.params_.to_numpy(), rel=1e-5)
    assert newton.log_likelihood_ == pytest.approx(general.log_likelihood_, rel=1e-10)
    # exact Hessian against central differences of the gradient
    assert newton.standard_errors_.to_numpy() == pytest.approx(
        general.standard_errors_.to_numpy(), rel=1e-3
    )


def test_sbg_without_heterogeneity_is_the_geometric_limit_with_a_note():
    # every customer churns with probability 0.2 per period: no heterogeneity to find
    survivors = np.round(10_000 * 0.8 ** np.arange(10))
    model = ShiftedBetaGeoModel().fit(survivors)
    assert model.notes_ and model.notes_[0].startswith("no heterogeneity is evident")
    a, b = model.params_.to_numpy()
    assert a / (a + b) == pytest.approx(0.2, rel=1e-3) and a + b > 1e3
    assert model.standard_errors_.isna().all()
    assert model.retention_rate(3) == pytest.approx([0.8] * 3, rel=1e-3)
