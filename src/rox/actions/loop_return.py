"""The loop measures its own return: cases with outreach against the randomised holdout.

Because the holdout is drawn at random among eligible triggers (:mod:`rox.actions.holdout`),
the difference between the two arms is the causal effect of the outreach (an intention-to-treat
effect: every case of the outreach arm counts, reached or not). Over the cases whose horizon
has passed:

Save rate
    The share who bought again within the horizon, outreach minus holdout, with Newcombe's
    hybrid score interval for a difference of proportions (Newcombe 1998, method 10).
Later score
    The mean of the first later NPS answer, outreach minus holdout, among those who answered,
    with Welch's t interval.
Recovered value
    The mean customer value (CLV from :func:`rox.impact.profile`, or revenue to date), outreach
    minus holdout, with Welch's interval; times the number of outreach cases it is the value
    the outreach recovered.
Power
    The cases needed to detect a given save rate at the loop's holdout share, from the
    sample-size planner (:func:`rox.experience.sample_size`, proportions): with ``n`` per arm
    for equal arms, ``N = n / 2 * (1 / h + 1 / (1 - h))`` cases in all for a holdout share
    ``h`` (the variance of a difference grows as ``1 / (h N) + 1 / ((1 - h) N)``).

References
----------
Newcombe, R. G. (1998). Interval estimation for the difference between independent
proportions. Statistics in Medicine 17, 873-890.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox._stats import newcombe_difference, t_quantile
from rox.actions.holdout import HOLDOUT, OUTREACH
from rox.actions.outcomes import DEFAULT_HORIZON_DAYS, case_outcomes
from rox.errors import ActionError
from rox.experience.planning import sample_size
from rox.impact.profile import profile
from rox.results import Result

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["LoopReturn", "cases_needed", "loop_return"]


@dataclass(frozen=True, eq=False)
class LoopReturn(Result):
    """What the loop's outreach caused, against its holdout.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per measure (``retention``, ``later_nps``, ``value``): ``outreach``,
        ``holdout`` (the arms' means), ``n_outreach``, ``n_holdout``, ``difference``, ``low``,
        ``high`` (the interval of the difference).
    save_rate, save_low, save_high : float
        The causal save rate (share points, as a fraction) and its interval.
    recovered_value, recovered_low, recovered_high : float
        Value recovered by the outreach cases in all (brand's currency), with its interval.
    value_basis : str
        What the value is (a CLV or revenue to date).
    horizon_days : float
    level : float
        The intervals' confidence level.
    cases_needed : int
        Cases (both arms) needed to detect ``target_save_rate`` at the holdout share.
    target_save_rate : float
    holdout_share : float
        The observed share of held-out cases.
    """

    save_rate: float = math.nan
    save_low: float = math.nan
    save_high: float = math.nan
    recovered_value: float = math.nan
    recovered_low: float = math.nan
    recovered_high: float = math.nan
    value_basis: str = ""
    horizon_days: float = DEFAULT_HORIZON_DAYS
    level: float = 0.95
    cases_needed: int = 0
    target_save_rate: float = 0.05
    holdout_share: float = math.nan

    def __str__(self) -> str:
        row = self.frame.set_index("measure")
        n1, n0 = int(row.at["retention", "n_outreach"]), int(row.at["retention", "n_holdout"])
        verdict = (
            "the outreach saves customers"
            if self.save_low > 0
            else "no save is shown (the interval includes zero)"
        )
        return (
            f"Save rate {self.save_rate:+.1%} ({self.level:.0%} interval {self.save_low:+.1%} to "
            f"{self.save_high:+.1%}): {verdict}; bought again within {self.horizon_days:g} days "
            f"{row.at['retention', 'outreach']:.1%} of {n1:,} outreach cases against "
            f"{row.at['retention', 'holdout']:.1%} of {n0:,} held out. Recovered value "
            f"{self.recovered_value:,.0f} ({self.recovered_low:,.0f} to "
            f"{self.recovered_high:,.0f}; "
            f"{self.value_basis}). {self.cases_needed:,} cases are needed to detect a save rate of "
            f"{self.target_save_rate:.0%} with a {self.holdout_share:.0%} holdout "
            f"(power 80%, two-sided 5%)."
        )


def cases_needed(
    save_rate: float,
    baseline: float,
    holdout_share: float,
    *,
    level: float = 0.95,
    power: float = 0.8,
) -> int:
    """Cases in all (outreach and holdout) needed to detect ``save_rate``.

    Parameters
    ----------
    save_rate : float
        The difference in retention to detect (a fraction, e.g. 0.05).
    baseline : float
        Retention without outreach (a fraction).
    holdout_share : float
        Share of cases held out, in (0, 1).
    level, power : float
        1 - the test's significance level (two-sided), and its power.

    Examples
    --------
    Equal arms need twice the planner's per-arm count:

    >>> cases_needed(0.10, 0.30, 0.5)
    660
    """
    if not 0 < holdout_share < 1:
        raise ActionError(f"the holdout share must be in (0, 1), got {holdout_share}")
    if not 0 < save_rate < 1 or not 0 < baseline < 1:
        raise ActionError("save_rate and baseline must be fractions in (0, 1)")
    per_arm = sample_size(
        "csat", difference=save_rate * 100, satisfied=baseline * 100, level=level, power=power
    ).n
    return math.ceil(per_arm / 2 * (1 / holdout_share + 1 / (1 - holdout_share)))


def _welch(
    m1: float, v1: float, n1: int, m0: float, v0: float, n0: int, level: float
) -> tuple[float, float]:
    if n1 < 2 or n0 < 2:
        return math.nan, math.nan
    a, b = v1 / n1, v0 / n0
    se = math.sqrt(a + b)
    if se == 0:
        return m1 - m0, m1 - m0
    df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n0 - 1))
    t = float(t_quantile(0.5 + level / 2, df))
    return m1 - m0 - t * se, m1 - m0 + t * se


def loop_return(
    ws: Workspace,
    *,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    trigger: str | None = None,
    value: str = "clv",
    target_save_rate: float = 0.05,
    level: float = 0.95,
    as_of: Any = None,
) -> LoopReturn:
    """The causal return of the loop: save rate, later score and recovered value, with intervals.

    Parameters
    ----------
    ws : Workspace
    horizon_days : float, default 180
        Outcomes count within this many days of a case's opening; only cases whose horizon has
        passed by ``as_of`` are compared.
    trigger : str, optional
        Only cases of this rule (e.g. ``"detractor"``).
    value : {'clv', 'revenue'}
        How customers are valued (see :func:`rox.impact.profile`).
    target_save_rate : float, default 0.05
        The save rate the power statement is about.
    level : float, default 0.95
    as_of : date-like, optional
        When outcomes were last seen (default: the latest transaction or response).

    Raises
    ------
    ActionError
        If either arm has no case whose horizon has passed.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> r = rox.actions.loop_return(ws, value="revenue")
    >>> r.save_low < r.save_rate < r.save_high
    True
    """
    o = case_outcomes(ws, horizon_days=horizon_days, as_of=as_of)
    o = o.filter(o.observed & o.arm.isin([OUTREACH, HOLDOUT]))
    if trigger is not None:
        o = o.filter(o.trigger == trigger)
    counted = o.group_by("arm").aggregate(
        n=o.count(),
        kept=o.bought_again.ifelse(1, 0).sum(),  # PostgreSQL: no boolean -> bigint cast
        n_nps=o.later_nps.count(),
        nps_mean=o.later_nps.mean(),
        nps_var=o.later_nps.var(how="sample"),
    )
    p = profile(ws, value=value)
    v = p.table.select("customer_id", _v=p.table.clv)
    joined = o.select("arm", "customer_id").left_join(v, "customer_id")
    valued = joined.group_by("arm").aggregate(
        v_mean=joined._v.fill_null(0.0).mean(), v_var=joined._v.fill_null(0.0).var(how="sample")
    )
    stats = counted.execute().merge(valued.execute(), on="arm").set_index("arm")
    if OUTREACH not in stats.index or HOLDOUT not in stats.index:
        raise ActionError(
            "the loop's return needs cases in both arms whose horizon has passed: "
            f"found {sorted(stats.index)}; open cases with a holdout share (case rules "
            "[loop] holdout) and wait the horizon"
        )
    s1, s0 = stats.loc[OUTREACH], stats.loc[HOLDOUT]
    n1, n0 = int(s1["n"]), int(s0["n"])
    p1, p0 = s1["kept"] / n1, s0["kept"] / n0
    low, high = newcombe_difference(p0, n0, p1, n1, level)
    nps_low, nps_high = _welch(
        float(s1["nps_mean"]), float(s1["nps_var"]), int(s1["n_nps"]),
        float(s0["nps_mean"]), float(s0["nps_var"]), int(s0["n_nps"]), level,
    )  # fmt: skip
    v_low, v_high = _welch(
        float(s1["v_mean"]), float(s1["v_var"]), n1, float(s0["v_mean"]), float(s0["v_var"]), n0,
        level,
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "measure": ["retention", "later_nps", "value"],
            "outreach": [p1, s1["nps_mean"], s1["v_mean"]],
            "holdout": [p0, s0["nps_mean"], s0["v_mean"]],
            "n_outreach": [n1, int(s1["n_nps"]), n1],
            "n_holdout": [n0, int(s0["n_nps"]), n0],
            "difference": [p1 - p0, s1["nps_mean"] - s0["nps_mean"], s1["v_mean"] - s0["v_mean"]],
            "low": [float(low), nps_low, v_low],
            "high": [float(high), nps_high, v_high],
        }
    )
    share = n0 / (n0 + n1)
    baseline = min(max(float(p0), 0.01), 0.99)
    return LoopReturn(
        frame=frame,
        save_rate=float(p1 - p0),
        save_low=float(low),
        save_high=float(high),
        recovered_value=float((s1["v_mean"] - s0["v_mean"]) * n1),
        recovered_low=v_low * n1,
        recovered_high=v_high * n1,
        value_basis=p.value_basis,
        horizon_days=horizon_days,
        level=level,
        cases_needed=cases_needed(target_save_rate, baseline, share, level=level),
        target_save_rate=target_save_rate,
        holdout_share=share,
    )
