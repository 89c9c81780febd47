"""BG/NBD's limit of a common dropout probability (issue #16): likelihood, predictions, fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rox.errors import ConvergenceError
from rox.value.models import BetaGeoModel, CommonDropoutModel
from rox.value.models.common_dropout import common_dropout_loglik
from rox.value.models.transactions import bgnbd_loglik
from rox.value.simulate import simulate_bgnbd

R, ALPHA, P = 0.6, 5.0, 0.15
X = np.array([0, 1, 2, 5, 10, 20], dtype="float64")
TX = np.array([0.0, 3.0, 10.0, 25.0, 30.0, 38.0])
T = np.array([20.0, 30.0, 40.0, 40.0, 39.0, 39.0])


def _compressed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.groupby(["frequency", "recency", "T"]).size().rename("count").reset_index()


@pytest.mark.parametrize("size", [1e4, 1e5, 1e6])
def test_bgnbd_loglik_tends_to_the_limit_as_a_plus_b_grows(size):
    # The BG/NBD terms differ from their limits by O(x^2 / (a + b)): B(a, b+x)/B(a, b) is
    # prod_{j<x} (b+j)/(a+b+j) = (1-p)^x (1 + O(x^2/(a+b))), a/(b+x-1) = p/(1-p) (1 + O(x/(a+b))).
    # So |difference| <= c * max(x)^2 / (a + b); c = 1 is a bound with room (the exact
    # coefficient is about p/(2(1-p)) per unit x^2 from the product, plus the second term's).
    # Rounding in gammaln of arguments ~a+b adds about 1e-16 (a+b) log(a+b): negligible here.
    expected = common_dropout_loglik(R, ALPHA, P, X, TX, T)[0]
    result = bgnbd_loglik(R, ALPHA, P * size, (1 - P) * size, X, TX, T)[0]
    assert np.max(np.abs(result - expected)) <= X.max() ** 2 / size
    # and the difference does shrink at that rate (not a tolerance that hides a wrong limit)
    closer = bgnbd_loglik(R, ALPHA, P * size * 10, (1 - P) * size * 10, X, TX, T)[0]
    assert np.max(np.abs(closer - expected)) < 0.2 * np.max(np.abs(result - expected))


def test_limit_loglik_gradient_matches_finite_differences():
    params = np.array([R, ALPHA, P])
    _, *grad = common_dropout_loglik(*params, X, TX, T)
    for j in range(3):
        h = 1e-6 * params[j]
        up, down = params.copy(), params.copy()
        up[j] += h
        down[j] -= h
        expected = (
            common_dropout_loglik(*up, X, TX, T)[0] - common_dropout_loglik(*down, X, TX, T)[0]
        ) / (2 * h)
        np.testing.assert_allclose(grad[j], expected, rtol=1e-6, atol=1e-8)


def test_limit_predictions_equal_bgnbd_predictions_at_large_a_plus_b():
    size = 1e6
    limit = CommonDropoutModel.from_params(r=R, alpha=ALPHA, p=P)
    near = BetaGeoModel.from_params(r=R, alpha=ALPHA, a=P * size, b=(1 - P) * size)
    np.testing.assert_allclose(limit.p_alive(X, TX, T), near.p_alive(X, TX, T), rtol=1e-4)
    np.testing.assert_allclose(
        limit.expected_purchases(26.0, X, TX, T), near.expected_purchases(26.0, X, TX, T), rtol=1e-4
    )
    t = np.array([1.0, 10.0, 52.0])
    np.testing.assert_allclose(
        limit.expected_purchases_new(t), near.expected_purchases_new(t), rtol=1e-4
    )


def test_limit_expected_purchases_of_a_new_customer_by_hand():
    # r = 1, alpha = 1, p = 1/2, t = 2: (1 - (1 / (1 + 1))^1) / (1/2) = 1
    model = CommonDropoutModel.from_params(r=1.0, alpha=1.0, p=0.5)
    assert float(model.expected_purchases_new(2.0)) == pytest.approx(1.0, rel=1e-12)


def test_limit_model_recovers_a_common_dropout_probability():
    # a, b = 1e9 p, 1e9 (1 - p): every simulated customer drops out with probability p
    truth = np.array([0.5, 4.0, 0.2])
    data = _compressed(simulate_bgnbd(30_000, 0.5, 4.0, 0.2e9, 0.8e9, T=52.0, seed=11))
    model = CommonDropoutModel().fit(data)
    z = (model.params_.to_numpy() - truth) / model.standard_errors_.to_numpy()
    assert np.all(np.abs(z) < 3.5), model.summary()


def test_bgnbd_on_common_dropout_data_fits_the_limit_with_a_note():
    # When the truth is the limit, the BG/NBD maximum lies on it for about half of the samples
    # (as for any variance component at its boundary; with seed 11 above it is interior, at
    # a + b = 155). This seed's sample has its maximum on the limit.
    data = _compressed(simulate_bgnbd(20_000, 0.5, 4.0, 0.2e9, 0.8e9, T=52.0, seed=3))
    model = BetaGeoModel().fit(data)
    assert isinstance(model.limit_model_, CommonDropoutModel)
    assert model.notes_[0].startswith("every customer drops out with about the same probability")
    assert model.params_["a"] / (model.params_["a"] + model.params_["b"]) == pytest.approx(
        0.2, abs=0.01
    )
    assert model.limit_model_.params_["p"] == pytest.approx(0.2, abs=0.01)
    assert np.isnan(model.standard_errors_[["a", "b"]]).all()
    np.testing.assert_array_equal(model.p_alive(data), model.limit_model_.p_alive(data))


def test_heterogeneous_dropout_is_not_taken_for_the_limit():
    data = _compressed(simulate_bgnbd(30_000, 0.5, 4.0, 0.8, 2.5, T=52.0, seed=12))
    model = BetaGeoModel().fit(data)
    assert model.limit_model_ is None
    assert model.notes_ == ()


def test_unidentified_fits_are_still_refused():
    data = pd.DataFrame({"frequency": [1], "recency": [5.0], "T": [30.0]})
    with pytest.raises(
        ConvergenceError, match=r"the data do not identify the model|did not converge"
    ):
        BetaGeoModel().fit(data)
