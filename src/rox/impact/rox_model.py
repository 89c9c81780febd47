"""The ROX model: what a change of experience is worth in money, through a fitted value model.

Where :func:`rox.impact.counterfactual` compares the mean values of two experience groups (a
model-free, associational difference in means), the ROX model prices a change of experience
through the mechanisms of customer value:

1. **Purchases and dropout.** A Pareto/NBD model (Schmittlein, Morrison & Colombo 1987) is fitted
   with the experience groups as time-invariant covariates (Fader & Hardie 2007, "Incorporating
   Time-Invariant Covariates into the Pareto/NBD and BG/NBD Models"; :mod:`rox.value.models`):
   one 0/1 column per group of ``by`` except the target group ``to``, which is the reference.
   Customer i's purchase rate is ``lambda_i = lambda0_i exp(g_alpha . z_i)`` and dropout rate
   ``mu_i = mu0_i exp(g_beta . z_i)`` with ``lambda0 ~ Gamma(r, alpha)``, ``mu0 ~ Gamma(s,
   beta)``. Pareto/NBD, not BG/NBD, because its covariates multiply each customer's own rates:
   "the same customer with another experience" is then defined (the same lambda0_i, mu0_i,
   scaled), whereas BG/NBD's covariates reshape the distribution of the dropout probability.
2. **Spend.** Gamma-Gamma (Fader, Hardie & Lee 2005; Fader & Hardie 2013) with a scale per group
   of ``by``: the customers' spend per purchase is Gamma(p, nu), ``nu ~ Gamma(q, gamma_g)``
   with p and q shared and ``gamma_g`` the group's, so a group's mean spend is ``gamma_g p /
   (q - 1)`` and experience scales it (separate fits per group fail on small groups: one
   likelihood, :func:`rox.value.models.spend.gamma_gamma_loglik`, fitted by the same core). A
   moved customer's expected spend per purchase is multiplied by ``gamma_to / gamma_move``.
3. **The counterfactual.** Every customer of group ``move`` gets group ``to``'s covariates from
   now on: their rates are multiplied by ``c_alpha = exp(-g_alpha[move])`` and ``c_beta =
   exp(-g_beta[move])``. Their past is kept: P(alive) now is the fitted model's. Given alive,
   the posterior rates are ``lambda ~ Gamma(r + x, alpha_i + T)`` and ``mu ~ Gamma(s, beta_i +
   T)``, independent, so the expected purchases in the next t are (Fader & Hardie 2005 note,
   eq. 21, with the rates scaled)::

       E[Y(t)] = P(alive) c_alpha (r + x)/(alpha_i + T) B/(s - 1) [1 - (B/(B + t))^(s-1)],
       B = (beta_i + T) / c_beta          (B ln((B + t)/B) at s = 1)

   The value over ``horizon_years`` is the margin x expected spend x the purchases summed month
   by month and discounted (as :func:`rox.value.clv`). ROX = value under the counterfactual -
   value under the observed experience, per customer and in total.
4. **Channels.** The ROX splits exactly into more purchases (``c_alpha``), lower dropout
   (``c_beta``) and higher spend, by the Shapley value of the three changes (each channel's gain
   averaged over the six orders of switching them on; Shapley 1953): the channels sum to the
   total whatever the interactions.
5. **Intervals: parametric.** The parameters are drawn ``draws`` times from their asymptotic
   normal (the inverse observed information of each fit, on the log scale for positive
   parameters; Krinsky & Robb 1986) and the whole valuation is repeated per draw; the interval
   is the percentiles of the draws. Parametric, not a bootstrap over customers, because each
   bootstrap replicate would refit the covariate model (seconds per fit), whereas a draw costs a
   re-evaluation of closed forms; it carries the uncertainty of the estimated effects, not of
   which customers happen to be in each group (the moved customers are the observed ones).
6. **The value of one NPS point.** With ``by="nps_group"``, moving a customer from detractor to
   passive (or passive to promoter) raises the NPS of the customers valued by 100 / respondents
   points; the ROX divided by the points gained is the value of one NPS point (linear: the
   average over the move, not the margin of the first point).
7. **Refutation and plausibility.** With ``placebo=True`` the groups are shuffled across the
   customers (seeded), the model refitted and the ROX recomputed: its interval should cover 0.
   The dropout channel is checked against the retention elasticity of CLV: with annual retention
   r and discount rate i, a perpetuity's value is proportional to r / (1 + i - r), so retention
   0.80 -> 0.85 at i = 10% is worth +27.5% (:func:`retention_elasticity`). The model's relative
   gain from lower dropout (of the moved customers' value) is flagged when its sign differs from
   that of the retention change or it exceeds 1.5 times the perpetuity's gain (a finite horizon
   gains less than a perpetuity).

8. **Non-response weights** (``weights=``, :func:`rox.impact.nonresponse`). The moved customers
   are respondents (a group of ``by``); respondents may not be like the customers who did not
   answer. The weights enter **the totals, not the fit**: each moved customer's ROX counts
   ``weight`` times (so the ROX is that of moving every such customer of the base, the
   non-respondents represented by the respondents like them), and the value of one NPS point
   counts respondents and moves the same way. The fit stays unweighted because the experience
   groups are its covariates: the rates are modelled conditionally on the group, which is what
   weighting for who answered would correct (a regression conditional on the variables that
   drive selection needs no weights; DuMouchel & Duncan 1983, JASA 78, 535-543), and every
   buying customer, respondent or not, is already in the fit (non-respondents as ``no
   response``). ``unweighted_total`` keeps the ROX of the moved respondents alone.

The ROX is **causal under assumptions** (:data:`ASSUMPTIONS`); observational data cannot check
them, and the placebo only catches a model that finds effects where there are none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
import pandas as pd

from rox._display import money
from rox._time import utc_day
from rox.errors import ConvergenceError, MetricError
from rox.impact.counterfactual import _resolved_move
from rox.impact.profile import GROUPS, NO_RESPONSE, ExperienceProfile, profile
from rox.results import Result
from rox.value.models import ParetoNBDModel, fitting
from rox.value.models.spend import gamma_gamma_loglik
from rox.value.models.transactions import paretonbd_loglik
from rox.value.rfm import UNITS, rfm_expr

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.impact.nonresponse import NonResponse
    from rox.workspace import Workspace

__all__ = [
    "ASSUMPTIONS",
    "CHANNELS",
    "ROXModel",
    "retention_elasticity",
    "rox_model",
    "shapley",
]

#: The channels of the ROX, in order, with what each means.
CHANNELS: dict[str, str] = {
    "purchases": "more purchases (purchase rate)",
    "dropout": "lower dropout (longer active life)",
    "spend": "higher spend per purchase",
}

ASSUMPTIONS = (
    "no unmeasured confounding: nothing that differs between the experience groups other than "
    "experience drives their purchase rate, dropout and spend (including no reverse causation: "
    "customers drifting away do not answer worse because they are leaving)",
    "experience multiplies each customer's own purchase and dropout rates, the same factor for "
    "everyone in a group and constant over the horizon (the Pareto/NBD covariate model)",
    "a customer's latest answer stands for their experience over the whole period observed",
    "a moved customer's spend per purchase moves by the ratio of the groups' mean spend",
    "the target group's level is reachable by changing experience alone, and one customer's "
    "experience does not change another's value (no interference)",
)

#: Customers with repeat purchases needed in the moved group and in the target group.
MIN_REPEAT_CUSTOMERS = 20
#: NPS of one customer of each group, for the points a move gains.
_NPS_SCORE = {"promoter": 1, "passive": 0, "detractor": -1}
_WEEKS_PER_YEAR = 365.25 / 7
_PLACEBO_OFFSET = 7_919  # the placebo's shuffle: its own stream, seeded random_state + this


@dataclass(frozen=True, eq=False)
class ROXModel(Result):
    """What moving every customer of one experience group to another's level is worth.

    Attributes
    ----------
    frame : pandas.DataFrame
        The ROX by channel (:data:`CHANNELS`): ``channel``, ``meaning``, ``rox``, ``rox_low``,
        ``rox_high``, ``share`` (of the total); the channels sum to :attr:`total`.
    total, low, high : float
        The ROX over all moved customers with its parametric interval, in ``currency``; with
        non-response weights, each moved customer counted ``weight`` times.
    weighted : bool
        Whether non-response weights were given (``weights=``).
    unweighted_total, unweighted_low, unweighted_high : float
        The ROX with every moved customer counted once (equal to ``total`` without weights).
    by, move, to : str
        The grouping, the group moved and the group whose level it gets.
    moved, customers : int
        Customers moved, and customers valued (those with a transaction).
    observed_value : float
        The moved customers' value under their observed experience.
    nps_point_value, nps_point_low, nps_point_high : float
        The value of one NPS point with its interval (NaN unless ``by`` is ``nps_group`` and
        both groups are NPS groups).
    coefficients : pandas.DataFrame
        The fitted model's parameters: ``parameter``, ``estimate``, ``standard_error``, the
        95% Wald interval, and ``rate_ratio`` (exp of a covariate's coefficient: the factor on
        the purchase rate for ``alpha:`` and on the dropout rate for ``beta:``).
    spend_levels : pandas.DataFrame
        Per group: ``gamma`` (its scale) and ``mean_spend``, the population mean spend per
        purchase ``gamma p / (q - 1)`` of the Gamma-Gamma fit.
    placebo_total, placebo_low, placebo_high : float
        The ROX with the groups shuffled across customers (NaN when not run).
    retention_observed, retention_counterfactual : float
        The moved customers' annual retention given alive, observed and counterfactual.
    elasticity_gain, dropout_gain : float
        The perpetuity's relative value gain from that retention change, and the model's
        relative gain from lower dropout (of :attr:`observed_value`).
    plausible : bool
        False when the dropout channel falls outside the plausibility band (see the module).
    horizon_years, discount_rate, margin : float
    currency : str
    confidence : float
    draws : int
        Parametric draws behind the intervals.
    interval_method : str
    notes : tuple of str
        What the reader must know (pooled spend fits, the plausibility flag, ...).
    label : str
        ``"causal under assumptions"``.
    assumptions : tuple of str
    """

    total: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    weighted: bool = False
    unweighted_total: float = float("nan")
    unweighted_low: float = float("nan")
    unweighted_high: float = float("nan")
    by: str = "nps_group"
    move: str = "detractor"
    to: str = "passive"
    moved: int = 0
    customers: int = 0
    observed_value: float = float("nan")
    nps_point_value: float = float("nan")
    nps_point_low: float = float("nan")
    nps_point_high: float = float("nan")
    coefficients: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    spend_levels: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    placebo_total: float = float("nan")
    placebo_low: float = float("nan")
    placebo_high: float = float("nan")
    retention_observed: float = float("nan")
    retention_counterfactual: float = float("nan")
    elasticity_gain: float = float("nan")
    dropout_gain: float = float("nan")
    plausible: bool = True
    horizon_years: float = 3.0
    discount_rate: float = 0.1
    margin: float = 1.0
    currency: str = ""
    confidence: float = 0.95
    draws: int = 0
    interval_method: str = (
        "parametric: the fitted parameters drawn from their asymptotic normal (inverse observed "
        "information), the valuation repeated per draw"
    )
    notes: tuple[str, ...] = ()
    label: str = "causal under assumptions"
    assumptions: tuple[str, ...] = ASSUMPTIONS
    _customers: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    _plotter: ClassVar[str | None] = "rox.viz.impact:plot_rox_model"

    @property
    def by_channel(self) -> pd.DataFrame:
        """The ROX by channel (the result's frame)."""
        return self.frame.copy()

    def per_customer(self) -> pd.DataFrame:
        """One row per customer valued.

        Columns: ``customer_id``, the ``by`` group, ``moved``, ``value`` (observed experience),
        ``counterfactual``, ``rox`` with ``rox_low`` / ``rox_high`` (0 for customers not moved),
        and the channels ``purchases``, ``dropout``, ``spend``.
        """
        return self._customers.copy()

    @property
    def placebo_vanishes(self) -> bool | None:
        """Whether the placebo's interval covers 0 (None when it was not run)."""
        if math.isnan(self.placebo_total):
            return None
        return bool(self.placebo_low <= 0 <= self.placebo_high)

    def __str__(self) -> str:
        years = f"{self.horizon_years:g} year" + ("" if self.horizon_years == 1 else "s")
        lead = ""
        if len(self.frame) and self.total:
            main = self.frame.loc[self.frame["rox"].abs().idxmax()]
            what = str(main["meaning"]).split(" (")[0]
            share = float(main["share"])
            lead = (
                f"; most of it from {what}"
                if share > 0.5
                else f"; the largest part ({share:.0%}) from {what}"
            )
        lines = [
            f"Moving every {self.move} to the level of {self.to} ({self.moved:,} customers) is "
            f"worth about {_short(self.total, self.currency)} "
            f"({_short(self.low)}–{_short(self.high)}, {self.confidence:.0%} interval) over "
            f"{years}{lead}."
        ]
        if self.weighted:
            lines.append(
                "Weighted to the customer base (non-response weights: each respondent moved "
                "counts for the customers like them who did not answer); unweighted, the moved "
                f"respondents alone: {_short(self.unweighted_total, self.currency)} "
                f"({_short(self.unweighted_low)}–{_short(self.unweighted_high)})."
            )
        if not math.isnan(self.nps_point_value):
            lines.append(
                f"One NPS point is worth about {_short(self.nps_point_value, self.currency)} "
                f"({_short(self.nps_point_low)}–{_short(self.nps_point_high)})."
            )
        if self.placebo_vanishes is not None:
            verdict = (
                "it covers 0, as it should"
                if self.placebo_vanishes
                else "it does not cover 0: read the ROX with suspicion"
            )
            lines.append(
                f"Placebo (experience shuffled across customers): {_short(self.placebo_total)} "
                f"({_short(self.placebo_low)}–{_short(self.placebo_high)}); {verdict}."
            )
        lines.extend(f"note: {n}" for n in self.notes)
        lines.append(
            f"{self.label[0].upper()}{self.label[1:]}: an effect only if "
            + "; ".join(self.assumptions)
            + f". Interval: {self.interval_method}."
        )
        return "\n".join(lines)


def _short(amount: float, currency: str = "") -> str:
    """Money in short words: 2.1M, 350k, 870 (with the currency code when given)."""
    if amount is None or math.isnan(amount):
        return "n/a"
    size = abs(amount)
    if size >= 1e6:
        text = f"{amount / 1e6:.1f}M"
    elif size >= 1e4:
        text = f"{amount / 1e3:.0f}k"
    else:
        return money(amount, currency or None)
    return f"{currency} {text}" if currency else text


def retention_elasticity(before: float, after: float, discount_rate: float) -> float:
    """Relative change of a perpetuity's value when annual retention moves ``before -> after``.

    With retention r and discount rate i, a customer's expected discounted margin is
    proportional to ``r / (1 + i - r)`` (Gupta, Lehmann & Stuart 2004, "Valuing Customers"; the
    retention elasticity of CLV). At i = 10%, 0.80 -> 0.85 gives 3.4 / 2.667 - 1 = +27.5%.

    >>> round(retention_elasticity(0.80, 0.85, 0.10), 4)
    0.275
    """
    for name, r in (("before", before), ("after", after)):
        if not 0 <= r < 1 + discount_rate:
            raise MetricError(f"retention {name}={r}: expected a share in [0, 1]")

    def value(r: float) -> float:
        return r / (1 + discount_rate - r)

    return value(after) / value(before) - 1 if before > 0 else float("inf")


def shapley(value: Callable[[frozenset[str]], Any], players: tuple[str, ...]) -> dict[str, Any]:
    """Shapley value of each player of a game ``value(coalition)`` (Shapley 1953).

    ``phi_i = sum over coalitions S without i of |S|! (n - |S| - 1)! / n! (v(S + i) - v(S))``:
    each player's marginal gain averaged over every order of adding the players; the values sum
    to ``v(all) - v(none)``. ``value`` may return arrays (one game per element).

    >>> gains = shapley(lambda s: (2 if "x" in s else 1) * (3 if "y" in s else 1), ("x", "y"))
    >>> gains["x"], gains["y"]
    (2.0, 3.0)
    """
    n = len(players)
    cache: dict[frozenset[str], Any] = {}

    def v(s: frozenset[str]) -> Any:
        if s not in cache:
            cache[s] = value(s)
        return cache[s]

    out: dict[str, Any] = {}
    for p in players:
        others = [q for q in players if q != p]
        total: Any = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for members in combinations(others, size):
                s = frozenset(members)
                total = total + weight * (v(s | {p}) - v(s))
        out[p] = total
    return out


def rox_model(
    ws: Workspace | ExperienceProfile,
    *,
    by: str = "nps_group",
    move: str | None = None,
    to: str | None = None,
    horizon_years: float = 3.0,
    discount_rate: float = 0.1,
    margin: float = 1.0,
    spend_by_group: bool = True,
    draws: int = 200,
    confidence: float = 0.95,
    placebo: bool = True,
    random_state: int | None = 0,
    within: ir.Table | Sequence[str] | None = None,
    weights: NonResponse | pd.Series | None = None,
    **options: Any,
) -> ROXModel:
    """The ROX of moving every customer of group ``move`` to the level of group ``to``.

    Parameters
    ----------
    ws : Workspace or ExperienceProfile
        A workspace (profiled with ``options``; ``value="revenue"`` is used unless given, as the
        profile's own CLV is not needed) or a profile.
    by : {'nps_group', 'csat_band', 'ces_band', 'friction'}
        The experience grouping: its groups are the model's covariates.
    move, to : str, optional
        The group moved and the level it is moved to (default: detractor to passive, not
        satisfied to satisfied, not easy to easy, met friction to no friction; ``to`` defaults
        to the level just above ``move``, e.g. passive to promoter).
    horizon_years : float
        How far ahead the value is counted (default 3 years).
    discount_rate : float
        Annual discount rate.
    margin : float
        Share of revenue that is profit.
    spend_by_group : bool
        Give the Gamma-Gamma spend model a scale per group (True), or one for everyone (no spend
        channel).
    draws : int
        Parametric draws for the intervals.
    confidence : float
        Level of the intervals.
    placebo : bool
        Also run the placebo (groups shuffled across customers, the model refitted).
    random_state : int or None
        Seed of the draws and of the placebo's shuffle.
    within : ibis Table with ``customer_id``, or sequence of str, optional
        Move only the customers of ``move`` among these (an initiative's target): the model is
        fitted on every customer, and the ROX, its channels, intervals, the placebo and the value
        of one NPS point count the moves within (the points among the respondents within).
    weights : rox.impact.NonResponse or pandas.Series, optional
        Non-response weights (:meth:`rox.impact.NonResponse.weights`, or any weight per
        ``customer_id``) for every respondent of ``by``: each moved customer's ROX counts
        ``weight`` times in the totals, channels, intervals and the value of one NPS point (the
        respondents then stand for the customer base). The fit is unweighted (see the module);
        ``unweighted_total`` keeps the figure without weights.
    **options
        :func:`rox.impact.profile`'s options, with a workspace.

    Returns
    -------
    ROXModel

    Raises
    ------
    MetricError
        On an unknown grouping or group, or when the moved or the target group has fewer than
        :data:`MIN_REPEAT_CUSTOMERS` customers with repeat purchases.
    ConvergenceError
        When the purchase model cannot be fitted with the covariates.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=4_000, seed=7)
    >>> result = rox.impact.rox_model(ws, draws=50, placebo=False)
    >>> result.frame["channel"].tolist()
    ['purchases', 'dropout', 'spend']
    >>> bool(result.total > 0)
    True
    """
    if not 0 < confidence < 1:
        raise MetricError(f"confidence={confidence}: expected a level between 0 and 1")
    if draws < 2:
        raise MetricError(f"draws={draws}: expected at least 2 parametric draws")
    if not horizon_years > 0 or margin < 0 or discount_rate < 0:
        raise MetricError("horizon_years must be positive, margin and discount_rate non-negative")
    move, to = _resolved_move(by, move, to, "model experience")
    if isinstance(ws, ExperienceProfile) and options:
        raise MetricError("pass the profile's options to profile(), not here, with a profile")
    p = ws if isinstance(ws, ExperienceProfile) else profile(ws, **{"value": "revenue", **options})
    if p.workspace is None:
        raise MetricError("the profile has no workspace to read the transactions from")
    data = _customer_rows(p, by)
    valued = _within(data, within)
    counts = data[data["frequency"] > 0]["group"].value_counts()
    for name, group in (("move", move), ("to", to)):
        if counts.get(group, 0) < MIN_REPEAT_CUSTOMERS:
            raise MetricError(
                f"{by} group {group!r} ({name}) has {counts.get(group, 0)} customers with repeat "
                f"purchases: the ROX model needs at least {MIN_REPEAT_CUSTOMERS} in each of the "
                "two groups to estimate their purchase and dropout rates"
            )
    currency = str(getattr(p.workspace, "currency", "") or "")
    weight = _weights(data, weights, by, valued)
    model = _Valuation.fit(
        data, move, to, horizon_years, discount_rate, margin, spend_by_group, valued, weight
    )
    point = model.evaluate(model.purchase.params_.to_numpy(), model.spend.params)
    rng_seed = 0 if random_state is None else random_state
    sample = model.draws(draws, rng_seed)
    notes = list(model.notes)
    finite = [d for d in sample if np.isfinite(d.total)]
    if len(finite) < len(sample):
        notes.append(
            f"{len(sample) - len(finite)} of {draws} parametric draws gave no finite value (an "
            "extreme draw of a poorly determined parameter) and are left out of the intervals"
        )
    if len(finite) < 2:
        raise ConvergenceError(
            "the ROX model's parameters are too poorly determined for intervals: fewer than two "
            "parametric draws gave a finite value"
        )
    sample = finite
    alpha = (1 - confidence) / 2
    q = [100 * alpha, 100 * (1 - alpha)]
    totals = np.array([s.total for s in sample])
    low, high = (float(v) for v in np.percentile(totals, q))
    u_low, u_high = (float(v) for v in np.percentile([s.unweighted for s in sample], q))
    rows = []
    for c, meaning in CHANNELS.items():
        values = np.array([s.channels[c] for s in sample])
        lo, hi = np.percentile(values, q)
        rows.append(
            {
                "channel": c,
                "meaning": meaning,
                "rox": point.channels[c],
                "rox_low": lo,
                "rox_high": hi,
                "share": point.channels[c] / point.total if point.total else float("nan"),
            }
        )
    per = model.per_customer(point, np.array([s.per_moved for s in sample]), q)
    nps = _nps_point(data[valued], weight[valued], by, move, to, point.total, low, high)
    observed = float((point.observed * weight)[model.moved].sum())
    r0, r1 = model.retention(point)
    elastic = retention_elasticity(r0, r1, discount_rate) if r0 > 0 else float("nan")
    gain = point.channels["dropout"] / observed if observed else float("nan")
    plausible = _plausible(gain, elastic)
    if not plausible:
        notes.append(_implausible(gain, elastic, r0, r1))
    p_total = p_low = p_high = float("nan")
    if placebo:
        shuffled = data.copy()
        rng = np.random.default_rng(rng_seed + _PLACEBO_OFFSET)
        shuffled["group"] = rng.permutation(shuffled["group"].to_numpy())
        try:
            fake = _Valuation.fit(
                shuffled,
                move,
                to,
                horizon_years,
                discount_rate,
                margin,
                spend_by_group,
                valued,
                weight,
            )
            fake_point = fake.evaluate(fake.purchase.params_.to_numpy(), fake.spend.params)
            fake_totals = np.array([s.total for s in fake.draws(draws, rng_seed)])
            fake_totals = fake_totals[np.isfinite(fake_totals)]
            p_total = fake_point.total
            p_low, p_high = (float(v) for v in np.percentile(fake_totals, q))
        except (ConvergenceError, IndexError) as exc:
            notes.append(f"the placebo model could not be fitted ({exc})")
    return ROXModel(
        frame=pd.DataFrame(rows),
        total=point.total,
        low=low,
        high=high,
        weighted=weights is not None,
        unweighted_total=point.unweighted,
        unweighted_low=u_low,
        unweighted_high=u_high,
        by=by,
        move=move,
        to=to,
        moved=int(model.moved.sum()),
        customers=len(data),
        observed_value=observed,
        nps_point_value=nps[0],
        nps_point_low=nps[1],
        nps_point_high=nps[2],
        coefficients=model.coefficients(),
        spend_levels=model.spend_levels(),
        placebo_total=p_total,
        placebo_low=p_low,
        placebo_high=p_high,
        retention_observed=r0,
        retention_counterfactual=r1,
        elasticity_gain=elastic,
        dropout_gain=gain,
        plausible=plausible,
        horizon_years=horizon_years,
        discount_rate=discount_rate,
        margin=margin,
        currency=currency,
        confidence=confidence,
        draws=draws,
        notes=tuple(notes),
        _customers=per,
    )


def _implausible(gain: float, elastic: float, before: float, after: float) -> str:
    """The note flagging a dropout channel outside the band of :func:`_plausible`."""
    return (
        f"outside the plausible band: lower dropout adds {gain:+.1%} to the moved customers' "
        f"value, where their annual retention moving {before:.2f} -> {after:.2f} would add "
        f"{elastic:+.1%} even to a perpetuity (CLV proportional to r / (1 + i - r)); read the "
        "dropout channel as a warning about the model, not as fact"
    )


def _plausible(gain: float, elastic: float) -> bool:
    """Whether the dropout channel's relative gain lies in the band the elasticity allows."""
    if math.isnan(gain) or math.isnan(elastic):
        return True
    if abs(gain) < 1e-3 and abs(elastic) < 1e-3:
        return True
    if gain * elastic < 0:
        return False
    return abs(gain) <= 1.5 * abs(elastic) + 1e-3


def _nps_point(
    data: pd.DataFrame,
    weight: np.ndarray,
    by: str,
    move: str,
    to: str,
    total: float,
    low: float,
    high: float,
) -> tuple[float, float, float]:
    """The ROX per NPS point gained by the move (NaN when the move is not between NPS groups).

    Customers count ``weight`` times (1 each without non-response weights). The interval is the
    ROX's interval over the same points (the ends swapped for a move down, which loses points).
    """
    if by != "nps_group" or move not in _NPS_SCORE or to not in _NPS_SCORE:
        return float("nan"), float("nan"), float("nan")
    respondents = float(weight[(data["group"] != NO_RESPONSE).to_numpy()].sum())
    moved = float(weight[(data["group"] == move).to_numpy()].sum())
    points = 100 * moved * (_NPS_SCORE[to] - _NPS_SCORE[move]) / respondents
    ends = sorted((low / points, high / points))  # a move down loses points: the ends swap
    return total / points, ends[0], ends[1]


def _customer_rows(p: ExperienceProfile, by: str) -> pd.DataFrame:
    """Per customer with a transaction: frequency, recency, T (weeks), monetary and the group.

    The RFM summary (:func:`rox.value.rfm_expr`, up to the last transaction) joined with the
    profile's group in the engine; one row per buying customer comes back, as for
    :func:`rox.value.clv`.
    """
    ws = p.workspace
    transactions = ws.table("transactions")
    last = transactions.ts.max().execute()
    if last is None or pd.isna(last):
        raise MetricError("there are no transactions to fit the ROX model on")
    end = utc_day(last, "calibration_end")
    assert end is not None
    summary = rfm_expr(
        transactions,
        calibration_end=end,
        unit="weeks",
        utc_date=ws.engine.utc_date,
    )
    summary = summary.mutate(customer_id=summary.customer_id.cast("string"))
    groups = p.table.select("customer_id", group=p.table[by].cast("string"))
    joined = summary.left_join(groups, summary.customer_id == groups.customer_id)
    expr = joined.select(
        customer_id=summary.customer_id,
        frequency=summary.frequency,
        recency=summary.recency,
        T=summary["T"],
        monetary=summary.monetary,
        group=ibis.coalesce(joined.group, ibis.literal(GROUPS[by][-1])),
    )
    frame = expr.execute().sort_values("customer_id").reset_index(drop=True)
    frame["frequency"] = frame["frequency"].astype("int64")
    for c in ("recency", "T", "monetary"):
        frame[c] = frame[c].astype("float64")
    frame["group"] = frame["group"].astype(str)
    return frame


def _within(data: pd.DataFrame, within: ir.Table | Sequence[str] | None) -> np.ndarray:
    """Which rows of ``data`` may be moved: those whose customer is ``within`` (all without)."""
    if within is None:
        return np.ones(len(data), dtype=bool)
    if isinstance(within, ibis.Table):
        if "customer_id" not in within.columns:
            raise MetricError("within= needs a customer_id column")
        ids = within.select(customer_id=within.customer_id.cast("string")).execute()
        chosen = set(ids["customer_id"].astype(str))
    elif isinstance(within, str):
        raise MetricError("within= expects customer ids (a list or a table), not one string")
    else:
        chosen = {str(c) for c in within}
    return np.asarray(data["customer_id"].astype(str).isin(chosen).to_numpy(), dtype=bool)


def _weights(
    data: pd.DataFrame, weights: NonResponse | pd.Series | None, by: str, valued: np.ndarray
) -> np.ndarray:
    """Each row's weight in the totals: 1 without weights; else the respondent's, 0 for others.

    Raises
    ------
    MetricError
        If a respondent of ``by`` among the valued customers has no weight, or a weight is
        negative or not finite.
    """
    if weights is None:
        return np.ones(len(data))
    if hasattr(weights, "weights") and callable(weights.weights):
        weights = weights.weights()
    if not isinstance(weights, pd.Series):
        raise MetricError("weights= expects a NonResponse or a pandas Series by customer_id")
    by_id = pd.Series(weights.to_numpy(dtype="float64"), index=weights.index.astype(str))
    if by_id.index.duplicated().any():
        raise MetricError("weights= gives some customer two weights")
    w = data["customer_id"].astype(str).map(by_id).to_numpy(dtype="float64")
    respondent = (data["group"] != NO_RESPONSE).to_numpy() & valued
    lacking = int((respondent & np.isnan(w)).sum())
    if lacking:
        raise MetricError(
            f"weights=: {lacking:,} respondents of {by} among the customers valued have no "
            "weight; weigh the respondents of the same metric (rox.impact.nonresponse(metric=...))"
        )
    w = np.where(respondent, w, 0.0)
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise MetricError("weights= must be finite and non-negative")
    return np.asarray(w, dtype="float64")


def _slug(group: str) -> str:
    return "is_" + "".join(ch if ch.isalnum() else "_" for ch in group)


@dataclass
class _Evaluation:
    """One valuation: per-customer observed and counterfactual value, and the channels."""

    observed: np.ndarray
    counterfactual: np.ndarray
    parts: dict[str, np.ndarray]  # per customer, by channel
    channels: dict[str, float]
    total: float
    unweighted: float
    per_moved: np.ndarray
    b_observed: np.ndarray
    b_counterfactual: np.ndarray
    s: float
    p_alive: np.ndarray


@dataclass
class _Valuation:
    """The fitted models and the data they value (see the module)."""

    data: pd.DataFrame
    covariates: list[str]
    z: np.ndarray
    moved: np.ndarray
    move_index: int
    purchase: ParetoNBDModel
    spend: fitting.FitResult
    spend_groups: list[str]
    move: str
    to: str
    horizon_years: float
    discount_rate: float
    margin: float
    notes: list[str]
    weight: np.ndarray  # each customer's count in the totals (1; or a non-response weight)

    @classmethod
    def fit(
        cls,
        data: pd.DataFrame,
        move: str,
        to: str,
        horizon_years: float,
        discount_rate: float,
        margin: float,
        spend_by_group: bool,
        valued: np.ndarray | None = None,
        weight: np.ndarray | None = None,
    ) -> _Valuation:
        groups = [g for g in sorted(data["group"].unique()) if g != to]
        covariates = [_slug(g) for g in groups]
        frame = data.copy()
        for g, c in zip(groups, covariates, strict=True):
            frame[c] = (frame["group"] == g).astype("float64")
        notes: list[str] = []
        try:
            purchase = ParetoNBDModel(covariates=covariates)
            purchase.fit(frame)
            if purchase._fitted().covariance is None:
                raise ConvergenceError("; ".join(purchase.notes_) or "no covariance")
            s_fitted = float(purchase.params_["s"])
            if s_fitted > HOMOGENEOUS_S:
                raise ConvergenceError(
                    f"s = {s_fitted:.3g}, beyond {HOMOGENEOUS_S:g}: the dropout rates hardly vary "
                    "within a group, and draws along that ridge overflow the likelihood's terms"
                )
        except ConvergenceError as exc:
            purchase = _homogeneous_dropout(frame, covariates, groups, exc)
            notes.append(purchase.notes_[0])
        spend_groups = sorted(frame["group"].unique()) if spend_by_group else [""]
        spend = _fit_spend(frame, spend_groups)
        z = frame[covariates].to_numpy(dtype="float64")
        moved = (frame["group"] == move).to_numpy()
        if valued is not None:
            moved &= valued
        return cls(
            data=frame,
            covariates=covariates,
            z=z,
            moved=moved,
            move_index=covariates.index(_slug(move)),
            purchase=purchase,
            spend=spend,
            spend_groups=spend_groups,
            move=move,
            to=to,
            horizon_years=horizon_years,
            discount_rate=discount_rate,
            margin=margin,
            notes=notes,
            weight=np.ones(len(frame)) if weight is None else weight,
        )

    def draws(self, n: int, seed: int) -> list[_Evaluation]:
        purchase = self.purchase.parameter_draws(n, seed)
        positive = [True] * len(self.spend.params)
        spend = fitting.parameter_draws(self.spend, positive, n, seed + 1)
        return [self.evaluate(purchase[j], spend[j]) for j in range(n)]

    def evaluate(self, params: np.ndarray, spend: np.ndarray) -> _Evaluation:
        """Value every customer under the observed and the counterfactual experience."""
        f, z, k = self.data, self.z, len(self.covariates)
        x = f["frequency"].to_numpy(dtype="float64")
        tx = f["recency"].to_numpy(dtype="float64")
        t = f["T"].to_numpy(dtype="float64")
        r, alpha, s, beta = params[:4]
        g_alpha, g_beta = params[4 : 4 + k], params[4 + k : 4 + 2 * k]
        alpha_i = alpha * np.exp(-(z @ g_alpha))
        beta_i = beta * np.exp(-(z @ g_beta))
        with np.errstate(all="ignore"):
            _, log_term1, log_term2 = paretonbd_loglik(r, alpha_i, s, beta_i, x, tx, t)
            p_alive = 1.0 / (1.0 + np.exp(log_term2 - log_term1))
        base = p_alive * (r + x) / (alpha_i + t)
        c_alpha = np.where(self.moved, np.exp(-g_alpha[self.move_index]), 1.0)
        c_beta = np.where(self.moved, np.exp(-g_beta[self.move_index]), 1.0)
        b0 = beta_i + t
        b1 = b0 / c_beta
        life0 = _discounted_life(b0, s, self.horizon_years, self.discount_rate)
        life1 = _discounted_life(b1, s, self.horizon_years, self.discount_rate)
        spend0, spend1 = self._spend(spend)

        def value(on: frozenset[str]) -> np.ndarray:
            return np.asarray(
                self.margin
                * (spend1 if "spend" in on else spend0)
                * base
                * (c_alpha if "purchases" in on else 1.0)
                * (life1 if "dropout" in on else life0)
            )

        parts = shapley(value, tuple(CHANNELS))
        observed, counterfactual = value(frozenset()), value(frozenset(CHANNELS))
        return _Evaluation(
            observed=observed,
            counterfactual=counterfactual,
            parts=parts,
            channels={c: float((v * self.weight).sum()) for c, v in parts.items()},
            total=float(((counterfactual - observed) * self.weight).sum()),
            unweighted=float((counterfactual - observed).sum()),
            per_moved=(counterfactual - observed)[self.moved],
            b_observed=b0,
            b_counterfactual=b1,
            s=float(s),
            p_alive=p_alive,
        )

    def _spend(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each customer's expected spend per purchase, observed and counterfactual.

        Gamma-Gamma (Fader & Hardie 2013, eq. 5): ``(1 - w) gamma_g p/(q - 1) + w m`` with ``w =
        p x / (p x + q - 1)`` and ``gamma_g`` the customer's group's scale; a moved customer's
        times ``gamma_to / gamma_move``.
        """
        f = self.data
        x = f["frequency"].to_numpy(dtype="float64")
        m = np.nan_to_num(f["monetary"].to_numpy(dtype="float64"))
        p, q, gammas = params[0], params[1], params[2:]
        index = {g: i for i, g in enumerate(self.spend_groups)}
        if self.spend_groups == [""]:
            gamma = np.full(len(f), gammas[0])
            ratio = 1.0
        else:
            gamma = gammas[f["group"].map(index).to_numpy()]
            ratio = gammas[index[self.to]] / gammas[index[self.move]]
        w = p * x / (p * x + q - 1)
        out = (1 - w) * gamma * p / (q - 1) + w * m
        return out, np.where(self.moved, out * ratio, out)

    def retention(self, point: _Evaluation) -> tuple[float, float]:
        """Moved customers' mean annual retention given alive (weighted by P(alive)).

        Given alive, ``mu ~ Gamma(s, B)``, so the chance of staying a year is ``(B / (B +
        52.18))^s`` (weeks).
        """
        w = point.p_alive[self.moved]
        if not w.sum() > 0:
            return float("nan"), float("nan")
        year = _WEEKS_PER_YEAR

        def stay(b: np.ndarray) -> float:
            return float(np.average((b / (b + year)) ** point.s, weights=w))

        return stay(point.b_observed[self.moved]), stay(point.b_counterfactual[self.moved])

    def per_customer(self, point: _Evaluation, draws: np.ndarray, q: list[float]) -> pd.DataFrame:
        f = self.data
        out = pd.DataFrame(
            {
                "customer_id": f["customer_id"].to_numpy(),
                "group": f["group"].to_numpy(),
                "moved": self.moved,
                "value": point.observed,
                "counterfactual": point.counterfactual,
                "rox": point.counterfactual - point.observed,
                "rox_low": 0.0,
                "rox_high": 0.0,
            }
        )
        lo, hi = np.percentile(draws, q, axis=0)
        out.loc[self.moved, "rox_low"] = lo
        out.loc[self.moved, "rox_high"] = hi
        for c in CHANNELS:
            out[c] = point.parts[c]
        return out

    def coefficients(self) -> pd.DataFrame:
        summary = self.purchase.summary().reset_index(names="parameter")
        summary = summary.rename(columns={"ci_low": "low", "ci_high": "high"})
        is_coef = summary["parameter"].str.contains(":")
        with np.errstate(over="ignore"):  # a coefficient run off along a flat ridge: inf
            ratio = np.exp(summary["estimate"].to_numpy(dtype="float64"))
        summary["rate_ratio"] = np.where(is_coef, ratio, np.nan)
        return summary

    def spend_levels(self) -> pd.DataFrame:
        p, q, gammas = self.spend.params[0], self.spend.params[1], self.spend.params[2:]
        return pd.DataFrame(
            {
                "group": [g or "(everyone)" for g in self.spend_groups],
                "gamma": gammas,
                "mean_spend": gammas * p / (q - 1) if q > 1 else np.inf,
            }
        )


def _fit_spend(frame: pd.DataFrame, groups: list[str]) -> fitting.FitResult:
    """Gamma-Gamma with p and q shared and a scale gamma per group (``[""]``: one for all).

    Fitted on the customers with repeat purchases (as Gamma-Gamma is) by the one fitting core;
    the parameters are ``p, q, gamma_1, ..., gamma_G``.
    """
    rows = frame[frame["frequency"] > 0]
    if len(rows) < 2:
        raise ConvergenceError("the spend model needs at least two customers with repeat purchases")
    x = rows["frequency"].to_numpy(dtype="float64")
    m = rows["monetary"].to_numpy(dtype="float64")
    code = (
        np.zeros(len(rows), dtype=np.int64)
        if groups == [""]
        else rows["group"].map({g: i for i, g in enumerate(groups)}).to_numpy()
    )
    k = len(groups)

    def loglik(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p, q, gammas = params[0], params[1], params[2:]
        ll, grad = gamma_gamma_loglik(p, q, gammas[code], x, m)
        out = np.zeros((len(x), 2 + k))
        out[:, :2] = grad[:, :2]
        out[np.arange(len(x)), 2 + code] = grad[:, 2]
        return ll, out

    start = [1.0, 2.0] + [float(np.mean(m))] * k
    try:
        found = fitting.fit(
            loglik,
            start,
            np.ones(len(x)),
            names=["p", "q", *(f"gamma:{g}" if g else "gamma" for g in groups)],
        )
    except ConvergenceError as exc:
        raise ConvergenceError(f"the ROX model's spend model could not be fitted: {exc}") from None
    if found.covariance is None or not found.params[1] > 1:
        raise ConvergenceError(
            "the ROX model's spend model has no finite mean spend (q <= 1) or no covariance"
        )
    return found


#: The dropout heterogeneity of the homogeneous-dropout fit: s fixed here, a coefficient of
#: variation of the dropout rates within a group of 1/sqrt(s) = 10% (beyond a few hundred the
#: hypergeometric terms of the likelihood overflow).
HOMOGENEOUS_S = 100.0


def _homogeneous_dropout(
    frame: pd.DataFrame, covariates: list[str], groups: list[str], error: Exception
) -> ParetoNBDModel:
    """Pareto/NBD with s fixed at :data:`HOMOGENEOUS_S`: nearly one dropout rate per group.

    Where the covariates explain the customers' dropout (the demo: every customer of a latent
    class has the same mean life), the likelihood rises along the ridge s, beta -> infinity at a
    fixed s/beta (the dropout rates' spread shrinks to nothing) and the free fit has no
    well-defined maximum. With s fixed, the rest is fitted by the same likelihood and core
    (:mod:`rox.value.models.fitting`); s has no variance in the draws.
    """
    model = ParetoNBDModel(covariates=covariates)
    x, tx, t, w, z = model._data(frame)
    model._rows = (x, tx, t, w)

    def loglik(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        full = np.concatenate([q[:2], [HOMOGENEOUS_S], q[2:]])
        ll, grad = model._loglik(full, x, tx, t, z)
        return ll, np.delete(grad, 2, axis=1)

    start = model._start(x, tx, t, w)
    k = len(covariates)
    names = [n for n in model.param_names if n != "s"]
    try:
        found = fitting.fit(
            loglik,
            [start[0], start[1], start[1] * HOMOGENEOUS_S / start[2]] + [0.0] * (2 * k),
            w,
            names=names,
            positive=[True, True, True] + [False] * (2 * k),
        )
    except ConvergenceError as exc:
        raise ConvergenceError(
            f"the ROX model's Pareto/NBD with the {', '.join(groups)} covariates could not be "
            f"fitted ({error}), nor with a common dropout rate per group ({exc})"
        ) from None
    if found.covariance is None:
        raise ConvergenceError(
            "the ROX model's Pareto/NBD with a common dropout rate per group has no covariance"
        )
    params = np.insert(found.params, 2, HOMOGENEOUS_S)
    se = np.insert(found.standard_errors, 2, np.nan)
    cov = np.insert(np.insert(found.covariance, 2, 0.0, axis=0), 2, 0.0, axis=1)
    note = (
        f"the free Pareto/NBD fit ran along the ridge where every customer of a group has the "
        f"same dropout rate ({error}); it was refitted with s fixed at {HOMOGENEOUS_S:g} (the "
        f"dropout rates' spread within a group 1/sqrt(s) = {HOMOGENEOUS_S**-0.5:.0%})"
    )
    model._fit = fitting.FitResult(
        params, se, found.log_likelihood, found.n_iter, found.gradient_norm, (note,), cov
    )
    model.n_customers_ = float(w.sum())
    return model


def _discounted_life(b: np.ndarray, s: float, horizon_years: float, rate: float) -> np.ndarray:
    """Discounted expected time-integral of staying alive, per unit purchase rate, given alive.

    ``F(t) = E[(1 - exp(-mu t)) / mu]`` with ``mu ~ Gamma(s, b)`` is ``b/(s-1) (1 - (b/(b+t))^
    (s-1))`` (``b ln((b+t)/b)`` at s = 1); summed month by month over the horizon (weeks) with
    each month's increment discounted at its end, as :func:`rox.value.discounted_value` does.
    """
    days = UNITS["weeks"]
    horizon = horizon_years * _WEEKS_PER_YEAR
    month = 365.25 / 12 / days
    ends = np.append(np.arange(month, horizon - 1e-9, month), horizon)
    total = np.zeros_like(b)
    before = np.zeros_like(b)
    for t in ends:
        if abs(s - 1) < 1e-8:
            cumulative = b * np.log((b + t) / b)
        else:
            cumulative = b / (s - 1) * (1 - (b / (b + t)) ** (s - 1))
        total += (cumulative - before) / (1 + rate) ** (t * days / 365.25)
        before = cumulative
    return total
