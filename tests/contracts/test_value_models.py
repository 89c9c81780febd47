"""The estimator contract, checked on every customer-value model (scikit-learn's
``parametrize_with_checks`` pattern; house rule 1).

Every model in ``rox.value.models.__all__`` must have an entry in ``CASES`` (data to fit on and
one call of each public method that needs a fit), and passes every check:

- ``fit`` returns the model itself;
- ``__init__`` stores its arguments and nothing else (no data-dependent state before ``fit``);
- what ``fit`` learns is public only under a name ending in ``_`` (private state starts with ``_``);
- before ``fit``, every prediction and fitted attribute raises :class:`NotFittedError`;
- ``get_params`` / ``set_params`` round-trip, and an unknown parameter is refused;
- a model rebuilt from ``get_params()`` and fitted on the same data learns the same parameters;
- a model made with ``from_params(**params_)`` predicts as the fitted model does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rox.errors import NotFittedError
from rox.value import models
from rox.value.simulate import simulate_bgnbd

#: Methods of the scikit-learn protocol and constructors: not predictions.
PROTOCOL = {"fit", "get_params", "set_params", "from_params"}


def _rfm() -> pd.DataFrame:
    # seed fixed: 400 customers of a BG/NBD population like CDNOW's (FHL 2005, Table 1 scale)
    return simulate_bgnbd(400, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=14)


def _spend() -> pd.DataFrame:
    frame = _rfm()
    rng = np.random.default_rng(14)
    frame["monetary"] = np.where(frame["frequency"] > 0, rng.gamma(6.0, 6.0, len(frame)), 0.0)
    return frame


#: Customers still active at the start of years 0..7: the "regular" cohort of Fader & Hardie
#: (2007), "How to project customer retention", J. Interactive Marketing 21(1), Table 1.
SURVIVORS = np.array([1000, 631, 468, 382, 326, 289, 262, 241], dtype="float64")


@dataclass(frozen=True)
class Case:
    """How to fit one model class, and one call of each of its public methods needing a fit."""

    data: Callable[[], Any]
    predictions: dict[str, Callable[[Any, Any], Any]]
    #: Public methods that work unfitted (they only read the data).
    unfitted_ok: frozenset[str] = frozenset()


_TRANSACTIONS = Case(
    data=_rfm,
    predictions={
        "p_alive": lambda m, d: m.p_alive(d),
        "expected_purchases": lambda m, d: m.expected_purchases(10.0, d),
        "expected_purchases_new": lambda m, d: m.expected_purchases_new([1.0, 10.0]),
        "summary": lambda m, d: m.summary(),
        "parameter_draws": lambda m, d: m.parameter_draws(5),
    },
    unfitted_ok=frozenset({"distinct_rows"}),
)

CASES: dict[type, Case] = {
    models.BetaGeoModel: _TRANSACTIONS,
    models.ParetoNBDModel: _TRANSACTIONS,
    models.CommonDropoutModel: _TRANSACTIONS,
    models.GammaGammaModel: Case(
        data=_spend,
        predictions={
            "expected_spend": lambda m, d: m.expected_spend(d),
            "population_mean_spend": lambda m, d: m.population_mean_spend(),
            "summary": lambda m, d: m.summary(),
            "parameter_draws": lambda m, d: m.parameter_draws(5),
        },
    ),
    models.ShiftedBetaGeoModel: Case(
        data=lambda: SURVIVORS,
        predictions={
            "survival": lambda m, d: m.survival(7),
            "retention_rate": lambda m, d: m.retention_rate(7),
            "projection": lambda m, d: m.projection(10, cohort_size=1000.0),
            "summary": lambda m, d: m.summary(),
            "parameter_draws": lambda m, d: m.parameter_draws(5),
        },
    ),
}

MODELS = [getattr(models, name) for name in models.__all__]


def _constructor_args(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs"}


def _public_methods(cls: type) -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and callable(value) and not isinstance(value, type)
    } - PROTOCOL


def check_every_model_has_a_case(cls: type) -> None:
    assert cls in CASES, f"{cls.__name__}: add its data and predictions to CASES"


def check_every_public_method_is_checked(cls: type) -> None:
    case = CASES[cls]
    result = _public_methods(cls) - set(case.predictions) - case.unfitted_ok
    assert result == set(), f"{cls.__name__}: unchecked public methods {sorted(result)}"


def check_fit_returns_self(cls: type) -> None:
    model = cls()
    assert model.fit(CASES[cls].data()) is model


def check_init_stores_only_its_arguments(cls: type) -> None:
    model = cls()
    expected = _constructor_args(cls)
    assert set(vars(model)) == expected
    assert set(model.get_params()) == expected


def check_learned_attributes_end_in_underscore(cls: type) -> None:
    model = cls()
    before = set(vars(model))
    model.fit(CASES[cls].data())
    learned = set(vars(model)) - before
    assert learned, f"{cls.__name__}.fit stored nothing on the model"
    public = {name for name in learned if not name.startswith("_")}
    assert all(name.endswith("_") for name in public), sorted(public)
    assert set(model.get_params()) == before  # fitting adds no parameter


def check_unfitted_model_refuses_to_predict(cls: type) -> None:
    model, data = cls(), CASES[cls].data()
    for name, call in CASES[cls].predictions.items():
        with pytest.raises(NotFittedError, match="not fitted"):
            call(model, data)
            pytest.fail(f"{cls.__name__}.{name} ran unfitted")
    for attribute in ("params_", "standard_errors_", "log_likelihood_", "notes_"):
        with pytest.raises(NotFittedError):
            getattr(model, attribute)


def check_params_round_trip(cls: type) -> None:
    model = cls()
    params = model.get_params()
    assert cls(**params).get_params() == params
    assert model.set_params(**params) is model
    assert model.get_params() == params
    with pytest.raises(ValueError, match="no parameter 'nonsense'"):
        model.set_params(nonsense=1)


def check_refit_from_params_learns_the_same(cls: type) -> None:
    data = CASES[cls].data()
    first = cls().fit(data)
    second = cls(**first.get_params()).fit(data)
    np.testing.assert_allclose(second.params_.to_numpy(), first.params_.to_numpy(), rtol=1e-9)


def check_from_params_predicts_as_fitted(cls: type) -> None:
    case = CASES[cls]
    data = case.data()
    fitted = cls().fit(data)
    given = cls.from_params(**fitted.params_.to_dict())
    for name, call in case.predictions.items():
        if name in ("summary", "parameter_draws"):  # a given model has no standard errors
            continue
        result, expected = call(given, data), call(fitted, data)
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(result, expected)
        else:
            np.testing.assert_allclose(result, expected, rtol=1e-12)


CHECKS = [
    check_every_model_has_a_case,
    check_every_public_method_is_checked,
    check_fit_returns_self,
    check_init_stores_only_its_arguments,
    check_learned_attributes_end_in_underscore,
    check_unfitted_model_refuses_to_predict,
    check_params_round_trip,
    check_refit_from_params_learns_the_same,
    check_from_params_predicts_as_fitted,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_estimator_contract(cls: type, check: Callable[[type], None]) -> None:
    if check is not check_every_model_has_a_case and cls not in CASES:
        pytest.fail(f"{cls.__name__}: add its data and predictions to CASES")
    check(cls)
