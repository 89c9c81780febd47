"""The T-learner's and the AIPW estimate's rules, on data where every number is a hand count (#22).

With one constant feature a gradient-boosted classifier can make no split, so it predicts its
training data's response rate (its baseline, the log-odds of that rate). Then the T-learner's
uplift is the difference of the two arms' response rates, and the cross-fitted AIPW score of
every customer is written out from counts: ``mu1`` and ``mu0`` are the rates of the other
folds' acted-on and held-out customers, ``e`` the share acted on, and
``psi = mu1 - mu0 + T (y - mu1) / e - (1 - T) (y - mu0) / (1 - e)``; the estimate is the mean of
``psi`` and its standard error ``sd(psi, ddof=1) / sqrt(n)`` (Chernozhukov et al. 2018).
The folds are the method's stated draw: fold ``k`` of each row from
``numpy.random.default_rng(random_state).integers(0, folds, n)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rox.actions.uplift import TLearner
from rox.errors import ActionError

#: 40 acted on (12 respond) and 20 held out (4 respond), in an interleaved order.
TREATED = np.array([i % 3 != 2 for i in range(60)])
RESPONSE = np.zeros(60, dtype=int)
RESPONSE[np.flatnonzero(TREATED)[:12]] = 1
RESPONSE[np.flatnonzero(~TREATED)[:4]] = 1
X = np.zeros((60, 1))


def test_uplift_is_the_difference_of_the_arms_response_rates():
    learner = TLearner().fit(X, TREATED, RESPONSE)
    assert learner.n_treated_ == 40 and learner.n_control_ == 20
    tau = learner.predict(np.zeros((3, 1)))
    np.testing.assert_allclose(tau, [12 / 40 - 4 / 20] * 3, atol=1e-12)


def test_a_learner_that_helps_has_positive_uplift_and_one_that_harms_negative():
    y = RESPONSE.copy()
    y[TREATED] = 0
    y[np.flatnonzero(TREATED)[:2]] = 1  # 2 of 40 acted on respond, 4 of 20 held out
    tau = TLearner().fit(X, TREATED, y).predict(np.zeros((1, 1)))
    assert tau[0] == pytest.approx(2 / 40 - 4 / 20, abs=1e-12)


def test_the_models_get_the_stated_settings():
    learner = TLearner().fit(X, TREATED, RESPONSE)
    stated = {
        "max_depth": 3,
        "max_iter": 100,
        "min_samples_leaf": 20,
        "learning_rate": 0.1,
        "random_state": 0,
    }
    for model in (learner.treated_model_, learner.control_model_):
        params = model.get_params()
        assert {k: params[k] for k in stated} == stated
    own = {
        "max_depth": 2,
        "max_iter": 7,
        "min_samples_leaf": 5,
        "learning_rate": 0.3,
        "random_state": 4,
    }
    learner = TLearner(**own).fit(X, TREATED, RESPONSE)
    params = learner.control_model_.get_params()
    assert {k: params[k] for k in own} == own


def test_each_arm_needs_both_responses():
    all_acted = np.ones(60, dtype=bool)
    with pytest.raises(ActionError, match="held out customers need both"):
        TLearner().fit(X, all_acted, RESPONSE)
    with pytest.raises(ActionError, match="acted on customers need both"):
        TLearner().fit(X, ~all_acted, RESPONSE)
    y = RESPONSE.copy()
    y[~TREATED] = 0  # the held out never respond
    with pytest.raises(ActionError, match="held out customers need both"):
        TLearner().fit(X, TREATED, y)
    y = RESPONSE.copy()
    y[TREATED] = 1  # the acted on all respond
    with pytest.raises(ActionError, match="acted on customers need both"):
        TLearner().fit(X, TREATED, y)


def test_features_arms_and_responses_need_one_length():
    for x, t, y in (
        (X[:59], TREATED, RESPONSE),
        (X, TREATED[:59], RESPONSE),
        (X, TREATED, RESPONSE[:59]),
    ):
        with pytest.raises(ActionError, match="same number of rows"):
            TLearner().fit(x, t, y)
        with pytest.raises(ActionError, match="same number of rows"):
            TLearner().doubly_robust(x, t, y)


def _aipw_by_hand(t: np.ndarray, y: np.ndarray, folds: int, seed: int) -> tuple[float, float]:
    n = len(y)
    fold = np.random.default_rng(seed).integers(0, folds, n)
    e = t.sum() / n
    psi = []
    for i in range(n):
        others = fold != fold[i]
        mu1 = y[others & t].sum() / (others & t).sum()
        mu0 = y[others & ~t].sum() / (others & ~t).sum()
        if t[i]:
            psi.append(mu1 - mu0 + (y[i] - mu1) / e)
        else:
            psi.append(mu1 - mu0 - (y[i] - mu0) / (1 - e))
    mean = sum(psi) / n
    sd = math.sqrt(sum((p - mean) ** 2 for p in psi) / (n - 1))
    return mean, sd / math.sqrt(n)


@pytest.mark.parametrize(("folds", "seed"), [(2, 0), (3, 5)])
def test_doubly_robust_is_the_cross_fitted_aipw_mean_and_its_standard_error(folds, seed):
    estimate, se = TLearner(random_state=seed).doubly_robust(X, TREATED, RESPONSE, folds=folds)
    want, want_se = _aipw_by_hand(TREATED, RESPONSE, folds, seed)
    assert estimate == pytest.approx(want, abs=1e-12)
    assert se == pytest.approx(want_se, rel=1e-12)


def test_doubly_robust_uses_two_folds_by_default():
    estimate, se = TLearner().doubly_robust(X, TREATED, RESPONSE)
    want, want_se = _aipw_by_hand(TREATED, RESPONSE, 2, 0)
    assert (estimate, se) == (pytest.approx(want, abs=1e-12), pytest.approx(want_se, rel=1e-12))
