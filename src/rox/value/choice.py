"""Choosing the purchase model: BG/NBD or Pareto/NBD (with their limits), by holdout or BIC.

Both models (and the limits they reduce to: no dropout, a common dropout probability) are fitted
on the calibration period. The choice then follows the standard check of buy-till-you-die models
(Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way", fig. 4; Schmittlein, Morrison
& Colombo 1987): when the summary has a holdout period, the model whose predicted holdout repeat
purchases come closest to what customers did, measured as the customer-weighted mean absolute
error of the mean purchases per calibration frequency (0, 1, ..., 7+)::

    holdout_mae = sum_k n_k |predicted_k - actual_k| / sum_k n_k

(in purchases per customer). Without a holdout, the model with the lowest Bayesian information
criterion, BIC = k ln(n) - 2 ln L (Schwarz 1978), n customers and k free parameters (a fit at a
limit counts the limit model's parameters: 2 for the NBD, 3 for the common dropout). Holdout
predictions judge what a CLV is used for, forecasting; the BIC judges only the fit to the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rox.errors import ConvergenceError
from rox.results import Result
from rox.value.holdout import validate
from rox.value.models import BetaGeoModel, ParetoNBDModel

if TYPE_CHECKING:
    from rox.value.models.purchase_base import _TransactionModel
    from rox.value.rfm import RFM

__all__ = ["ModelChoice", "choose_purchase_model", "free_parameters"]

#: The candidate purchase models, by the name ``clv(model=...)`` takes.
CANDIDATES: dict[str, type[_TransactionModel]] = {
    "bgnbd": BetaGeoModel,
    "paretonbd": ParetoNBDModel,
}


@dataclass(frozen=True, eq=False)
class ModelChoice(Result):
    """Which purchase model was chosen, and why.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per candidate: ``model`` (name), ``label`` (what was fitted, with the limit it
        reduced to), ``log_likelihood``, ``parameters`` (free), ``aic``, ``bic``,
        ``holdout_mae`` (NaN without a holdout) and ``error`` (why it could not be fitted, or
        empty); the chosen model first.
    chosen : str
        ``"bgnbd"`` or ``"paretonbd"``.
    criterion : str
        ``"holdout"`` or ``"bic"`` (or ``"given"`` when the model was named by the caller).
    reason : str
        The choice in words, with the runner-up's score.
    """

    chosen: str = ""
    criterion: str = ""
    reason: str = ""

    def __str__(self) -> str:
        return self.reason


def free_parameters(model: _TransactionModel) -> int:
    """Parameters a fit estimated: those with a standard error, plus p at the common-dropout limit.

    At a limit, the parameters that ran to it have undefined standard errors and are not free
    (BG/NBD at no dropout is the 2-parameter NBD); at the limit of a common dropout probability
    a and b collapse into one, p.
    """
    defined = int(np.isfinite(model.standard_errors_.to_numpy()).sum())
    return defined + (1 if model.limit_model_ is not None else 0)


def _label(model: _TransactionModel) -> str:
    if model.limit_model_ is not None:
        return f"{model.label} at its limit: {model.limit_model_.label}"
    if model.notes_ and model.notes_[0].startswith("no dropout"):
        return f"{model.label} at its limit: NBD (no dropout)"
    return model.label


def choose_purchase_model(
    summary: RFM, model: str = "auto"
) -> tuple[_TransactionModel, ModelChoice]:
    """Fit the candidate purchase models on ``summary`` and choose one (see module).

    Parameters
    ----------
    summary : RFM
        Calibration summary (with a holdout, the choice is by holdout predictions).
    model : {'auto', 'bgnbd', 'paretonbd'}
        ``auto`` fits both and chooses; a name fits only that model.

    Returns
    -------
    (fitted model, ModelChoice)

    Raises
    ------
    ConvergenceError
        If no candidate could be fitted (every reason is given).
    """
    names = list(CANDIDATES) if model == "auto" else [model]
    fitted: dict[str, _TransactionModel] = {}
    rows: list[dict[str, Any]] = []
    holdout = "frequency_holdout" in summary.frame
    for name in names:
        try:
            candidate = CANDIDATES[name]().fit(summary)
        except ConvergenceError as exc:
            rows.append({"model": name, "label": CANDIDATES[name].label, "error": str(exc)})
            continue
        fitted[name] = candidate
        k = free_parameters(candidate)
        n = candidate.n_customers_
        ll = candidate.log_likelihood_
        row = {
            "model": name,
            "label": _label(candidate),
            "log_likelihood": ll,
            "parameters": k,
            "aic": 2 * k - 2 * ll,
            "bic": k * np.log(n) - 2 * ll,
            "holdout_mae": np.nan,
            "error": "",
        }
        if holdout:
            table = validate(candidate, summary).frame
            gap = (table["predicted"] - table["actual"]).abs()
            row["holdout_mae"] = float((gap * table["customers"]).sum() / table["customers"].sum())
        rows.append(row)
    frame = pd.DataFrame(
        rows,
        columns=[
            "model",
            "label",
            "log_likelihood",
            "parameters",
            "aic",
            "bic",
            "holdout_mae",
            "error",
        ],
    )
    frame["error"] = frame["error"].fillna("")
    if not fitted:
        raise ConvergenceError(
            "no purchase model could be fitted: "
            + "; ".join(f"{r['model']}: {r['error']}" for r in rows)
        )
    criterion = "given" if model != "auto" else ("holdout" if holdout else "bic")
    score = "holdout_mae" if criterion == "holdout" else "bic"
    ok = frame[frame["error"] == ""].sort_values(score, kind="stable")
    chosen = str(ok["model"].iloc[0])
    frame = pd.concat([ok, frame[frame["error"] != ""]]).reset_index(drop=True)
    reason = _reason(frame, criterion, summary)
    return fitted[chosen], ModelChoice(
        frame=frame, chosen=chosen, criterion=criterion, reason=reason
    )


def _reason(frame: pd.DataFrame, criterion: str, summary: RFM) -> str:
    """The choice in words."""
    best = frame.iloc[0]
    if criterion == "given":
        return f"{best['label']}, as asked"
    if criterion == "holdout":
        how = (
            f"the closest holdout predictions (mean absolute error {best['holdout_mae']:.3f} "
            f"repeat purchases per customer by calibration frequency, holdout to "
            f"{summary.holdout_end:%Y-%m-%d})"
        )
        score, fmt = "holdout_mae", "{:.3f}"
    else:
        how = f"the lowest BIC ({best['bic']:,.1f}; no holdout period to judge predictions)"
        score, fmt = "bic", "{:,.1f}"
    text = f"{best['label']} chosen: {how}"
    if len(frame) > 1:
        other = frame.iloc[1]
        if other["error"]:
            text += f"; {other['label']} could not be fitted ({other['error']})"
        else:
            text += f"; runner-up {other['label']}: {fmt.format(other[score])}"
    return text
