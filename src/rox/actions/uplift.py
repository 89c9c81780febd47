"""Uplift from past actions and their holdout: a T-learner, and a doubly-robust average.

The T-learner (two-model approach; Kunzel et al. 2019) fits one classifier of the response on
the customers who got the action and one on those held out, and estimates each customer's
uplift as the difference of the two predicted probabilities,
``tau(x) = P(y = 1 | x, action) - P(y = 1 | x, no action)``. Ranking by ``tau`` targets the
customers the action changes, not those most at risk (Ascarza 2018): "sure things" and "lost
causes" have ``tau`` near 0 whatever their risk.

The doubly-robust (AIPW) estimate of the average uplift, with 2-fold cross-fitting, is
``mean(mu1 - mu0 + T (y - mu1) / e - (1 - T) (y - mu0) / (1 - e))`` with ``e`` the share
acted on (known in a randomised holdout), and its standard error the standard deviation of that
score over ``sqrt(n)`` (Robins, Rotnitzky & Zhao 1994; Chernozhukov et al. 2018).

References
----------
Kunzel, S. R., Sekhon, J. S., Bickel, P. J., Yu, B. (2019). Metalearners for estimating
heterogeneous treatment effects using machine learning. PNAS 116 (10), 4156-4165.
Ascarza, E. (2018). Retention futility: targeting high-risk customers might be ineffective.
Journal of Marketing Research 55 (1), 80-98.
Chernozhukov, V. et al. (2018). Double/debiased machine learning for treatment and structural
parameters. The Econometrics Journal 21 (1), C1-C68.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from rox.errors import ActionError, NotFittedError

__all__ = ["TLearner"]


class TLearner:
    """Two gradient-boosted classifiers, acted on and held out; uplift is their difference.

    Parameters
    ----------
    max_depth : int, default 3
    max_iter : int, default 100
    min_samples_leaf : int, default 20
    learning_rate : float, default 0.1
    random_state : int, default 0
        Settings of each :class:`sklearn.ensemble.HistGradientBoostingClassifier`.

    Attributes
    ----------
    treated_model_, control_model_ : HistGradientBoostingClassifier
    n_treated_, n_control_ : int
    """

    def __init__(
        self,
        max_depth: int = 3,
        max_iter: int = 100,
        min_samples_leaf: int = 20,
        learning_rate: float = 0.1,
        random_state: int = 0,
    ) -> None:
        self.max_depth = max_depth
        self.max_iter = max_iter
        self.min_samples_leaf = min_samples_leaf
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _model(self) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_depth=self.max_depth,
            max_iter=self.max_iter,
            min_samples_leaf=self.min_samples_leaf,
            learning_rate=self.learning_rate,
            random_state=self.random_state,
        )

    def fit(self, x: np.ndarray, treated: np.ndarray, y: np.ndarray) -> TLearner:
        """Fit the two models on features ``x``, the arm ``treated`` (bool) and response ``y``.

        Raises
        ------
        ActionError
            If an arm is empty or its responses are all the same.
        """
        x, t, y = _arrays(x, treated, y)
        for arm, name in ((t, "acted on"), (~t, "held out")):
            if not arm.any() or len(np.unique(y[arm])) < 2:
                raise ActionError(f"the {name} customers need both responses and non-responses")
        # one OpenMP thread: on a few hundred rows, more threads only contend (20 s against
        # 0.3 s measured on a shared 2-core machine)
        with threadpool_limits(limits=1, user_api="openmp"):
            self.treated_model_ = self._model().fit(x[t], y[t])
            self.control_model_ = self._model().fit(x[~t], y[~t])
        self.n_treated_, self.n_control_ = int(t.sum()), int((~t).sum())
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Each row's uplift: P(response | acted on) - P(response | held out)."""
        if not hasattr(self, "treated_model_"):
            raise NotFittedError("this TLearner is not fitted yet: call fit() first")
        x = np.asarray(x, dtype="float64")
        with threadpool_limits(limits=1, user_api="openmp"):
            tau: np.ndarray = (
                self.treated_model_.predict_proba(x)[:, 1]
                - self.control_model_.predict_proba(x)[:, 1]
            )
        return tau

    def doubly_robust(
        self, x: np.ndarray, treated: np.ndarray, y: np.ndarray, *, folds: int = 2
    ) -> tuple[float, float]:
        """The AIPW average uplift and its standard error, cross-fitted over ``folds`` folds."""
        x, t, y = _arrays(x, treated, y)
        e = float(t.mean())
        rng = np.random.default_rng(self.random_state)
        fold = rng.integers(0, folds, len(y))
        psi = np.empty(len(y))
        for k in range(folds):
            test = fold == k
            model = TLearner(
                self.max_depth, self.max_iter, self.min_samples_leaf, self.learning_rate,
                self.random_state,
            ).fit(x[~test], t[~test], y[~test])  # fmt: skip
            with threadpool_limits(limits=1, user_api="openmp"):
                mu1 = model.treated_model_.predict_proba(x[test])[:, 1]
                mu0 = model.control_model_.predict_proba(x[test])[:, 1]
            tt, yy = t[test], y[test]
            psi[test] = mu1 - mu0 + tt * (yy - mu1) / e - (~tt) * (yy - mu0) / (1 - e)
        return float(psi.mean()), float(psi.std(ddof=1) / math.sqrt(len(psi)))


def _arrays(x: Any, treated: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x_ = np.asarray(x, dtype="float64")
    t_ = np.asarray(treated, dtype=bool)
    y_ = np.asarray(y, dtype="int64")
    if not len(x_) == len(t_) == len(y_):
        raise ActionError("features, arms and responses must have the same number of rows")
    return x_, t_, y_
