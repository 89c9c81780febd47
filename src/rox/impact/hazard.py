"""Churn hazard with time-varying experience: a Cox model where each NPS answer counts from its day.

**Churn, defined.** The rule of :func:`rox.value.survival` (:func:`rox.value.lifetimes`): a
customer is lost at their last purchase when no purchase followed within ``inactive_after`` days
(default 365) before the end of the data; otherwise they are censored at the end. Time runs from
the first purchase, in days plus one (the first day counts: a customer lost on their first day has
time 1; a Cox model depends only on the order of the times, which the shift keeps). The rule
dates a churn at the last purchase, which is known only ``inactive_after`` days later, and treats
a lost customer as gone for good (the contractual reading of non-contractual data).

**The model.** lifelines' ``CoxTimeVaryingFitter`` (Cox 1972, with the counting-process data of
Andersen & Gill 1982): each customer's time is cut at every NPS answer, and from the day of an
answer their covariates are those of their latest answer: ``promoter``, ``detractor`` and ``no
response`` (no NPS answer yet) against passives. ``exp(coef)`` is the hazard ratio of churning:
above 1, the group leaves faster than passives at the same time since their first purchase.

**Asymmetry** (Gupta & Zeithaml 2006; Anderson & Mittal 2000: a fall in satisfaction costs more
retention than an equal rise gains). A second model has, from each answer on, the group of the
previous answer (the customer's own level before the change) and ``nps_drop`` / ``nps_rise``:
the NPS groups fallen or risen since that answer (0-2; a first answer counts as no change). With
``b_drop`` and ``b_rise`` their coefficients, a symmetric effect has ``b_drop = -b_rise``; the
asymmetry ``b_drop + b_rise`` is tested by its Wald statistic (variance from the fit's
covariance). Positive: a drop hurts more than a rise helps.

**E-value** (VanderWeele & Ding 2017, "Sensitivity Analysis in Observational Research:
Introducing the E-Value", Annals of Internal Medicine 167(4)): the minimum strength of
association, on the risk-ratio scale, that an unmeasured confounder would need with both the
group and churn to explain the hazard ratio away. ``E = RR + sqrt(RR (RR - 1))`` for ``RR >= 1``
(for ``RR < 1``, of ``1/RR``). A hazard ratio is a risk ratio when the outcome is rare (under
15% by the end of follow-up); otherwise it is first converted, ``RR = (1 - 0.5^sqrt(HR)) / (1 -
0.5^sqrt(1/HR))`` (VanderWeele 2017, "On a square-root transformation of the odds ratio for a
common outcome" and its hazard-ratio analogue in VanderWeele & Ding 2017, table). For the
interval, the E-value of the limit nearer 1 (1 when the interval covers 1).

**Baseline and per-customer risk.** The group model's baseline cumulative hazard is Breslow's
estimate (Breslow 1972, discussion of Cox 1972; Kalbfleisch & Prentice 2002, eq. 4.34) computed
here from the counting-process rows, at the reference covariates (a passive, every covariate 0)::

    H0(t) = sum over churn times s <= t of  d(s) / sum_{rows j: start_j < s <= stop_j} exp(b'z_j)

with d(s) the churns at s (lifelines' ``baseline_cumulative_hazard_`` is the same sum at the mean
covariates, i.e. ``H0(t) exp(b'z_mean)``). A customer not lost by the rule, at time t since their
first purchase (days plus one) with the covariates of their latest NPS answer z, then churns
within the next h days with probability (:func:`churn_risk`)::

    P(churn in (t, t+h] | at risk at t, z) = 1 - exp(-(H0(t+h) - H0(t)) exp(b'z))

The baseline is known only up to the last churn time observed (a churn is seen only
``inactive_after`` days after it): where t + h passes it, the window is read as the last h days
that are observed (a hazard past the follow-up that stays at its latest level), and the frame
says so (``extrapolated``).

Every hazard ratio is **associational**: who answers what is not randomised, and a customer
drifting away may answer worse because they are leaving (reverse causation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from rox.errors import ConvergenceError, MetricError
from rox.impact.profile import NO_RESPONSE, scored_responses
from rox.results import Result
from rox.value import lifetimes

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = [
    "ChurnHazard",
    "ChurnRisk",
    "breslow",
    "churn_hazard",
    "churn_probability",
    "churn_risk",
    "cumulative_hazard_at",
    "e_value",
]

#: Share of churners below which a hazard ratio is read as a risk ratio (VanderWeele & Ding 2017).
RARE_OUTCOME = 0.15
#: Churn events needed after a fall and after a rise of NPS group for the asymmetry model.
MIN_CHANGE_EVENTS = 10
_LEVEL = {"detractor": 0, "passive": 1, "promoter": 2}
_COVARIATES = ("promoter", "detractor", NO_RESPONSE)

ASSUMPTIONS = (
    "associational: customers are not assigned to NPS groups, so anything that moves both their "
    "answers and their churn (including leaving first and answering worse because of it) is in "
    "the ratios",
    "proportional hazards: a group's hazard ratio is the same at every time since the first "
    "purchase",
    "churn is the last purchase followed by no purchase within the window (see the module)",
)


def e_value(estimate: float, low: float, high: float, *, rare: bool = True) -> tuple[float, float]:
    """E-value of a hazard (or risk) ratio and of its confidence limit nearer 1.

    Parameters
    ----------
    estimate, low, high : float
        The ratio and its interval.
    rare : bool
        Whether the outcome is rare (under 15%): the hazard ratio is then read as a risk ratio;
        otherwise each ratio is converted by ``(1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``.

    Returns
    -------
    (float, float)
        The E-value of the estimate and of the interval (1 when the interval covers 1).

    Examples
    --------
    VanderWeele & Ding (2017)'s example: a risk ratio of 3.9 (1.8 to 8.7).

    >>> [round(v, 2) for v in e_value(3.9, 1.8, 8.7)]
    [7.26, 3.0]
    """
    for name, v in (("estimate", estimate), ("low", low), ("high", high)):
        if not v > 0:
            raise MetricError(f"e_value: {name}={v}: a ratio must be positive")
    if not low <= estimate <= high:
        raise MetricError(
            f"e_value: expected low <= estimate <= high, got {low}, {estimate}, {high}"
        )

    def as_rr(hr: float) -> float:
        if rare:
            return hr
        return float((1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr)))

    def e(rr: float) -> float:
        rr = 1 / rr if rr < 1 else rr
        return rr + math.sqrt(rr * (rr - 1))

    point = e(as_rr(estimate))
    if low <= 1 <= high:
        return point, 1.0
    nearer = low if estimate > 1 else high
    return point, e(as_rr(nearer))


@dataclass(frozen=True, eq=False)
class ChurnHazard(Result):
    """Hazard ratios of churning by NPS group, with the asymmetry check and E-values.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per covariate of the group model and of the asymmetry model: ``model``
        (``group`` or ``asymmetry``), ``covariate``, ``hazard_ratio``, ``low``, ``high``, ``p``,
        ``e_value``, ``e_value_ci``, ``label`` (``associational``).
    customers, churned : int
        Customers in the model and those lost.
    inactive_after : int
        The churn window in days.
    asymmetry, asymmetry_low, asymmetry_high, asymmetry_p : float
        ``b_drop + b_rise`` (log hazard ratios per NPS group step) with its interval and p-value.
    rare : bool
        Whether the churn share was under 15% (hazard ratios read as risk ratios for the E-value).
    confidence : float
    notes : tuple of str
        What could not be estimated, and why.
    baseline : pandas.DataFrame or None
        The group model's baseline cumulative hazard (:func:`breslow`, a passive's): ``time``
        (days since the first purchase, plus one) and ``cumulative_hazard``.
    label : str
    assumptions : tuple of str
    """

    customers: int = 0
    churned: int = 0
    inactive_after: int = 365
    asymmetry: float = float("nan")
    asymmetry_low: float = float("nan")
    asymmetry_high: float = float("nan")
    asymmetry_p: float = float("nan")
    rare: bool = False
    confidence: float = 0.95
    notes: tuple[str, ...] = ()
    baseline: pd.DataFrame | None = field(default=None, repr=False)
    label: str = "associational"
    assumptions: tuple[str, ...] = field(default=ASSUMPTIONS)

    _plotter: ClassVar[str | None] = "rox.viz.impact:plot_churn_hazard"

    def hazard_ratio(self, covariate: str, model: str = "group") -> tuple[float, float, float]:
        """``(hazard ratio, low, high)`` of ``covariate`` (e.g. ``detractor``)."""
        rows = self.frame[(self.frame["model"] == model) & (self.frame["covariate"] == covariate)]
        if rows.empty:
            known = ", ".join(self.frame.loc[self.frame["model"] == model, "covariate"])
            raise MetricError(f"no covariate {covariate!r} in the {model} model: {known}")
        r = rows.iloc[0]
        return float(r["hazard_ratio"]), float(r["low"]), float(r["high"])

    def __str__(self) -> str:
        level = f"{self.confidence:.0%}"
        lines = [
            f"Churn (no purchase within {self.inactive_after} days): {self.churned:,} of "
            f"{self.customers:,} customers. Hazard ratios against passives (associational):"
        ]
        for r in self.frame[self.frame["model"] == "group"].itertuples():
            lines.append(  # noqa: PERF401 (one line per covariate, formatted)
                f"  {r.covariate}: {r.hazard_ratio:.2f} ({level} {r.low:.2f}–{r.high:.2f}); "
                f"E-value {r.e_value:.2f} (interval {r.e_value_ci:.2f})"
            )
        if not math.isnan(self.asymmetry):
            drop, rise = (self.hazard_ratio(c, "asymmetry") for c in ("nps_drop", "nps_rise"))
            covers = self.asymmetry_low <= 0 <= self.asymmetry_high
            verdict = (
                "no evidence that a drop hurts more than a rise helps"
                if covers
                else (
                    "a drop hurts more than a rise helps"
                    if self.asymmetry > 0
                    else "a rise helps more than a drop hurts"
                )
            )
            lines.append(
                f"Asymmetry: each NPS group fallen multiplies the hazard by {drop[0]:.2f}, each "
                f"risen by {rise[0]:.2f}; b_drop + b_rise = {self.asymmetry:+.2f} ({level} "
                f"{self.asymmetry_low:+.2f} to {self.asymmetry_high:+.2f}): {verdict}."
            )
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def churn_hazard(
    ws: Workspace,
    *,
    inactive_after: int = 365,
    as_of: Any = None,
    confidence: float = 0.95,
) -> ChurnHazard:
    """Fit the time-varying Cox model of churn on NPS groups (see the module).

    Parameters
    ----------
    ws : Workspace
    inactive_after : int
        Days without a purchase after which a customer is lost (at their last purchase).
    as_of : date-like, optional
        The end of the data (default: the last transaction).
    confidence : float
        Level of the intervals.

    Returns
    -------
    ChurnHazard

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=4_000, seed=7)
    >>> hazard = rox.impact.churn_hazard(ws)
    >>> bool(hazard.hazard_ratio("detractor")[0] > 1)
    True
    """
    if not 0 < confidence < 1:
        raise MetricError(f"confidence={confidence}: expected a level between 0 and 1")
    if inactive_after < 1:
        raise MetricError(f"inactive_after={inactive_after}: expected a positive number of days")
    data = _intervals(ws, inactive_after, as_of)
    customers = int(data["id"].nunique())
    churned = int(data["event"].sum())
    if churned == 0:
        raise MetricError("no customer churned under the rule: nothing to model")
    rare = churned / customers < RARE_OUTCOME
    group = _fit(data, list(_COVARIATES), confidence)
    asym_cols = ["before_promoter", "before_detractor", NO_RESPONSE, "nps_drop", "nps_rise"]
    events = data["event"] == 1
    changed = {c: int((events & (data[c] > 0)).sum()) for c in ("nps_drop", "nps_rise")}
    frames = [_rows(group, "group", confidence, rare)]
    asym = (float("nan"),) * 4
    notes = []
    if min(changed.values()) < MIN_CHANGE_EVENTS:
        notes.append(
            f"the asymmetry is not estimated: churn followed a fall in NPS group "
            f"{changed['nps_drop']} times and a rise {changed['nps_rise']} times (at least "
            f"{MIN_CHANGE_EVENTS} each are needed)"
        )
    else:
        model = _fit(data, asym_cols, confidence)
        frames.append(_rows(model, "asymmetry", confidence, rare))
        b = model.summary["coef"]
        cov = pd.DataFrame(np.asarray(model.variance_matrix_), index=b.index, columns=b.index)
        diff = float(b["nps_drop"] + b["nps_rise"])
        var = float(
            cov.loc["nps_drop", "nps_drop"]
            + cov.loc["nps_rise", "nps_rise"]
            + 2 * cov.loc["nps_drop", "nps_rise"]
        )
        se = math.sqrt(var)
        z = stats.norm.ppf(0.5 + confidence / 2)
        asym = (diff, diff - z * se, diff + z * se, float(2 * stats.norm.sf(abs(diff) / se)))
    return ChurnHazard(
        frame=pd.concat(frames, ignore_index=True),
        customers=customers,
        churned=churned,
        inactive_after=inactive_after,
        asymmetry=asym[0],
        asymmetry_low=asym[1],
        asymmetry_high=asym[2],
        asymmetry_p=asym[3],
        rare=rare,
        confidence=confidence,
        notes=tuple(notes),
        baseline=_baseline(data, group),
    )


def breslow(
    start: np.ndarray, stop: np.ndarray, event: np.ndarray, risk: np.ndarray
) -> pd.DataFrame:
    """Breslow's baseline cumulative hazard from counting-process rows (see the module).

    Parameters
    ----------
    start, stop : array of float
        Each row's interval (start, stop] (start < stop).
    event : array of bool
        Whether the row ends in the event (at ``stop``).
    risk : array of float
        Each row's relative risk exp(b'z) against the reference covariates.

    Returns
    -------
    pandas.DataFrame
        ``time`` (the distinct event times, ascending) and ``cumulative_hazard`` H0(time):
        the sum over event times s up to it of (events at s) / (summed risk of the rows at risk
        at s, those with start < s <= stop). Ties count every event at s (Breslow's handling).

    Examples
    --------
    Two rows at risk at time 2, one churns: 1/(1+2); then one row, which churns at 5: 1/2.

    >>> breslow(np.array([0.0, 0.0]), np.array([2.0, 5.0]), np.array([True, True]),
    ...         np.array([1.0, 2.0])).cumulative_hazard.round(4).tolist()
    [0.3333, 0.8333]
    """
    start, stop = np.asarray(start, "float64"), np.asarray(stop, "float64")
    event, risk = np.asarray(event, bool), np.asarray(risk, "float64")
    if len({len(start), len(stop), len(event), len(risk)}) != 1:
        raise MetricError("breslow: start, stop, event and risk must have one value per row")
    if np.any(stop <= start):
        raise MetricError("breslow: every row needs start < stop")
    times, deaths = np.unique(stop[event], return_counts=True)
    # rows at risk at s: stop >= s minus start >= s (a row starting at or after s ends after it)
    by_stop, by_start = np.argsort(stop, kind="stable"), np.argsort(start, kind="stable")
    tail_stop = np.append(np.cumsum(risk[by_stop][::-1])[::-1], 0.0)
    tail_start = np.append(np.cumsum(risk[by_start][::-1])[::-1], 0.0)
    at_risk = (
        tail_stop[np.searchsorted(stop[by_stop], times, "left")]
        - tail_start[np.searchsorted(start[by_start], times, "left")]
    )
    return pd.DataFrame({"time": times, "cumulative_hazard": np.cumsum(deaths / at_risk)})


def _baseline(data: pd.DataFrame, fitter: Any) -> pd.DataFrame:
    """The fitted model's baseline cumulative hazard at the reference covariates (Breslow)."""
    b = fitter.params_
    risk = np.exp(data[list(b.index)].to_numpy(float) @ b.to_numpy(float))
    event = data["event"].to_numpy(bool)
    return breslow(data["start"].to_numpy(), data["stop"].to_numpy(), event, risk)


def cumulative_hazard_at(baseline: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """H0 at each ``t``: the step function of :func:`breslow` (0 before the first event)."""
    times = baseline["time"].to_numpy(float)
    steps = np.append(0.0, baseline["cumulative_hazard"].to_numpy(float))
    return np.asarray(steps[np.searchsorted(times, np.asarray(t, float), "right")])


def churn_probability(
    baseline: pd.DataFrame, time: np.ndarray, hazard_ratio: np.ndarray, horizon: float
) -> tuple[np.ndarray, np.ndarray]:
    """P(churn in (t, t+h]) = 1 - exp(-(H0(t+h) - H0(t)) hr), and where it was extrapolated.

    Where ``t + h`` passes the baseline's last time (the last churn observed), the window is
    the last ``h`` observed instead, (last - h, last] (from 0 when ``h`` is longer than the
    follow-up): see the module.

    Returns
    -------
    (ndarray, ndarray of bool)
        The probabilities, and which windows were moved back.
    """
    t = np.asarray(time, dtype="float64")
    end = float(baseline["time"].iloc[-1])
    past = t + horizon > end
    lo = np.where(past, max(end - horizon, 0.0), t)
    hi = np.where(past, end, t + horizon)
    gained = cumulative_hazard_at(baseline, hi) - cumulative_hazard_at(baseline, lo)
    return -np.expm1(-gained * np.asarray(hazard_ratio, dtype="float64")), past


@dataclass(frozen=True, eq=False)
class ChurnRisk(Result):
    """Each customer's probability of churning within a horizon, from the churn hazard model.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per customer not lost by the churn rule: ``customer_id``, ``time`` (days since
        the first purchase, plus one), ``nps_group`` (their latest NPS answer's group, or ``no
        response``), ``hazard_ratio`` (against a passive), ``p_churn`` (within ``horizon_days``)
        and ``extrapolated`` (the window passed the last churn observed; see the module).
    baseline : pandas.DataFrame
        :func:`breslow` of the group model: ``time``, ``cumulative_hazard``.
    coefficients : pandas.Series
        The group model's log hazard ratios (``promoter``, ``detractor``, ``no response``).
    horizon_days, inactive_after : int
    last_churn : float
        The last churn time observed (days plus one): the baseline's end.
    label : str
    """

    baseline: pd.DataFrame | None = None
    coefficients: pd.Series | None = None
    horizon_days: int = 90
    inactive_after: int = 365
    last_churn: float = float("nan")
    label: str = "associational"

    def __str__(self) -> str:
        f = self.frame
        by = f.groupby("nps_group")["p_churn"].mean()
        groups = ", ".join(f"{g} {by[g]:.1%}" for g in (*_LEVEL, NO_RESPONSE) if g in by)
        return (
            f"P(churn within {self.horizon_days} days) of {len(f):,} customers still active "
            f"(churn: no purchase within {self.inactive_after} days): mean "
            f"{f['p_churn'].mean():.1%}; by NPS group: {groups} (associational)"
        )


def churn_risk(
    ws: Workspace,
    *,
    horizon_days: int = 90,
    inactive_after: int = 365,
    as_of: Any = None,
) -> ChurnRisk:
    """P(churn within ``horizon_days``) of each customer not yet lost, by the churn hazard.

    The group model of :func:`churn_hazard` (time-varying NPS group), its Breslow baseline
    (:func:`breslow`), and each customer's time since the first purchase and latest NPS group
    (see the module for the formula and the reading past the last churn observed).

    Parameters
    ----------
    ws : Workspace
    horizon_days : int
        The window ahead, in days.
    inactive_after : int
        The churn rule's days without a purchase.
    as_of : date-like, optional
        The end of the data (default: the last transaction).

    Returns
    -------
    ChurnRisk

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=4_000, seed=7)
    >>> risk = rox.impact.churn_risk(ws, horizon_days=90)
    >>> by = risk.frame.groupby("nps_group")["p_churn"].mean()
    >>> bool(by["detractor"] > by["promoter"])
    True
    """
    if horizon_days < 1:
        raise MetricError(f"horizon_days={horizon_days}: expected a positive number of days")
    if inactive_after < 1:
        raise MetricError(f"inactive_after={inactive_after}: expected a positive number of days")
    data = _intervals(ws, inactive_after, as_of)
    if int(data["event"].sum()) == 0:
        raise MetricError("no customer churned under the rule: no churn hazard to read")
    group = _fit(data, list(_COVARIATES), 0.95)
    baseline = _baseline(data, group)
    b = group.params_
    # each customer's last row: their current time and covariates
    last = data.groupby("id", sort=False).tail(1)
    active = last[~last["lost"].to_numpy(bool)]
    t = active["stop"].to_numpy(float)
    hr = np.exp(active[list(b.index)].to_numpy(float) @ b.to_numpy(float))
    end = float(baseline["time"].iloc[-1])
    p_churn, past = churn_probability(baseline, t, hr, horizon_days)
    level = active["level"].to_numpy(float)
    names = np.array(["detractor", "passive", "promoter"], dtype=object)
    nps_group = np.where(np.isnan(level), NO_RESPONSE, names[np.nan_to_num(level).astype(int)])
    frame = pd.DataFrame(
        {
            "customer_id": active["customer_id"].astype(str).to_numpy(),
            "time": t,
            "nps_group": nps_group,
            "hazard_ratio": hr,
            "p_churn": p_churn,
            "extrapolated": past,
        }
    )
    return ChurnRisk(
        frame=frame.sort_values("customer_id").reset_index(drop=True),
        baseline=baseline,
        coefficients=b.copy(),
        horizon_days=horizon_days,
        inactive_after=inactive_after,
        last_churn=end,
    )


def _fit(data: pd.DataFrame, covariates: list[str], confidence: float) -> Any:
    from lifelines import CoxTimeVaryingFitter

    columns = ["id", "start", "stop", "event", *covariates]
    fitter = CoxTimeVaryingFitter(alpha=1 - confidence)
    try:
        fitter.fit(
            data[columns], id_col="id", event_col="event", start_col="start", stop_col="stop"
        )
    except Exception as exc:  # lifelines raises its own convergence errors and numpy's
        raise ConvergenceError(f"the churn hazard model could not be fitted: {exc}") from None
    return fitter


def _rows(fitter: Any, model: str, confidence: float, rare: bool) -> pd.DataFrame:
    s = fitter.summary
    level = round(100 * confidence)
    low = s[f"exp(coef) lower {level}%"]
    high = s[f"exp(coef) upper {level}%"]
    out = pd.DataFrame(
        {
            "model": model,
            "covariate": s.index.astype(str),
            "hazard_ratio": s["exp(coef)"].to_numpy(),
            "low": low.to_numpy(),
            "high": high.to_numpy(),
            "p": s["p"].to_numpy(),
        }
    )
    values = [
        e_value(h, lo, hi, rare=rare) if 0 < lo <= h <= hi < np.inf else (np.nan, np.nan)
        for h, lo, hi in zip(out["hazard_ratio"], out["low"], out["high"], strict=True)
    ]
    out["e_value"] = [v[0] for v in values]
    out["e_value_ci"] = [v[1] for v in values]
    out["label"] = "associational"
    return out


def _intervals(ws: Workspace, inactive_after: int, as_of: Any) -> pd.DataFrame:
    """The counting-process rows: one per customer and stretch between NPS answers.

    The engine returns each buying customer's life and their NPS answers as days since the first
    purchase (the latest answer of a day kept); the stretches are cut here, per customer.
    """
    life = lifetimes(ws, inactive_after=inactive_after, as_of=as_of)
    life = life.mutate(customer_id=life.customer_id.cast("string"))
    r = scored_responses(ws)
    r = r.filter(r.metric == "nps")
    joined = r.join(life, r.customer_id == life.customer_id)
    answers = joined.select(
        customer_id=r.customer_id,
        day=r.ts.date().delta(life["first"], unit="day"),
        ts=r.ts,
        key=r._key,
        group=r.category,
    )
    people = life.select("customer_id", "duration", "lost").execute()
    got = answers.execute()
    people = people.sort_values("customer_id").reset_index(drop=True)
    people["stop"] = people["duration"].astype("float64") + 1.0
    got["day"] = got["day"].astype("float64").clip(lower=0.0)
    got = got.sort_values(["customer_id", "day", "ts", "key"])
    got = got.drop_duplicates(["customer_id", "day"], keep="last")
    got = got.merge(people[["customer_id", "stop"]], on="customer_id")
    got = got[got["day"] < got["stop"]]
    got["level"] = got["group"].map(_LEVEL)
    got["before"] = got.groupby("customer_id")["level"].shift(1)
    got["before"] = got["before"].fillna(got["level"])
    got["start"] = got["day"]
    # one row per customer before the first answer (or the whole life without one)
    first_answer = got.groupby("customer_id")["day"].min()
    lead = people.copy()
    lead["start"] = 0.0
    lead["end"] = lead["customer_id"].map(first_answer).fillna(lead["stop"])
    lead = lead[lead["end"] > 0]
    rows = [
        pd.DataFrame(
            {
                "customer_id": lead["customer_id"],
                "start": 0.0,
                "stop": lead["end"],
                "level": np.nan,
                "before": np.nan,
            }
        )
    ]
    got["stop"] = got.groupby("customer_id")["day"].shift(-1).fillna(got["stop"])
    rows.append(got[["customer_id", "start", "stop", "level", "before"]])
    out = pd.concat(rows, ignore_index=True)
    out = out[out["stop"] > out["start"]]
    out = out.merge(people[["customer_id", "stop", "lost"]].rename(columns={"stop": "end"}))
    out["event"] = (out["lost"].astype(bool) & (out["stop"] >= out["end"])).astype(int)
    level, before = out["level"], out["before"]
    out["promoter"] = (level == 2).astype(float)
    out["detractor"] = (level == 0).astype(float)
    out[NO_RESPONSE] = level.isna().astype(float)
    out["before_promoter"] = (before == 2).astype(float)
    out["before_detractor"] = (before == 0).astype(float)
    out["nps_drop"] = (before - level).clip(lower=0).fillna(0.0)
    out["nps_rise"] = (level - before).clip(lower=0).fillna(0.0)
    codes = {c: i for i, c in enumerate(people["customer_id"])}
    out["id"] = out["customer_id"].map(codes)
    return out.sort_values(["id", "start"]).reset_index(drop=True)
