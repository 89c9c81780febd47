"""ROI versus ROX of an initiative: one project's money; the value of the experiences it changed.

**Projected** (before, or without, measuring): the initiative's experience change
(:class:`~rox.impact.initiative.Change`) is run through a value model restricted to the target's
customers, whose lifetime value is counted over the initiative's horizon; then::

    ROI = (value gained - cost) / cost
    payback = cost / (value gained / horizon in months)     (value taken to accrue evenly)

The value model is any callable ``(profile, by, move, to) -> (value, low, high)`` (the
:class:`ValueModel` protocol). By default the change runs through **the ROX model**
(:func:`rox.impact.rox_model`, :class:`ROXModelValue`): the covariate Pareto/NBD and the
Gamma-Gamma spend by group are fitted on every buying customer, and only the target's customers
are moved (``within=``), their value counted over the initiative's horizon with the model's
parametric interval (causal under the ROX model's assumptions). Where it cannot be fitted (fewer
than 20 customers with repeat purchases in a group involved, a fit that does not converge), the
projection falls back to :func:`group_move_value`, :func:`rox.impact.counterfactual`'s stratified
difference in means within the target (associational), and the result says so and why
(``value_model``, ``notes``). A change of
``+N NPS points`` moves N% of the target's NPS respondents up one class, detractors first, and
values each move as that share of the whole group's move (its interval: the moves' low and high
ends added, a conservative bound).

**Measured** (after the start): the difference in differences of NPS and of spend per customer
between the target and every other customer (:func:`rox.impact.did`). ROI counts the money: the
spend gained by the target's panel customers in the after window, ``spend effect x customers``,
against the cost. ROX counts the value of all the experiences changed: the measured NPS change,
valued through the same value model over the horizon (the customers whose experience moved hold
that lifetime value, whether or not they have spent it yet).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import pandas as pd

from rox._display import money
from rox.errors import ConvergenceError, MetricError
from rox.impact.counterfactual import counterfactual
from rox.impact.did import DiD, did
from rox.impact.initiative import Change, Initiative
from rox.impact.profile import ExperienceProfile, profile
from rox.impact.rox_model import ROXModel, rox_model
from rox.results import Result
from rox.value import clv

if TYPE_CHECKING:
    from collections.abc import Callable

    from rox.workspace import Workspace

__all__ = [
    "ROI",
    "ROXModelValue",
    "ValueModel",
    "Valued",
    "group_move_value",
    "roi",
    "through_rox_model",
]

_WEEKS_A_YEAR = 52.0


class ValueModel(Protocol):
    """What moving one experience group to another's level is worth, with an interval."""

    def __call__(
        self, p: ExperienceProfile, *, by: str, move: str, to: str
    ) -> tuple[float, float, float]:
        """``(value, low, high)`` of moving every ``move`` customer of ``p`` to ``to``'s level."""
        ...


def group_move_value(
    p: ExperienceProfile, *, by: str, move: str, to: str
) -> tuple[float, float, float]:
    """The fallback value model: :func:`rox.impact.counterfactual` (bootstrap, 500 replicates)."""
    c = counterfactual(p, by=by, move=move, to=to, replicates=500)
    return c.total, c.low, c.high


#: How the result names each value model.
ROX_MODEL = "the ROX model"
DIFFERENCE_IN_MEANS = "the difference in means of the experience groups"
GIVEN_MODEL = "a value model given"
#: What each value model lets the sentence on the measured ROX claim: the ROX model's values
#: are causal under its assumptions, the fallback's are associational, and a model the user gave
#: carries whatever its own assumptions give it (rox cannot tell).
_VALUE_CLAIMS = {
    ROX_MODEL: "the values of the experience changes are causal only under the ROX model's "
    "assumptions (rox.impact.rox_model).",
    DIFFERENCE_IN_MEANS: "the values of the experience changes are associational (experience "
    "groups compared within the target).",
    GIVEN_MODEL: "the values of the experience changes hold only as far as the value model "
    "given holds (its assumptions are its own: rox does not know whether they are causal).",
}

T = TypeVar("T")


@dataclass(frozen=True)
class Valued(Generic[T]):
    """What :func:`through_rox_model` returns: the valuation, and which model made it.

    Attributes
    ----------
    result : T
        What the valuation returned.
    value_model : str
        :data:`ROX_MODEL`, or :data:`DIFFERENCE_IN_MEANS` when it fell back.
    reason : str
        Why the ROX model could not be used ("" when it was).
    model : ROXModelValue
        The ROX model's value model, with its fits (``fits``; empty when it fell back early).
    """

    result: T
    value_model: str
    reason: str
    model: ROXModelValue


def through_rox_model(
    run: Callable[[ValueModel], T],
    whole: ExperienceProfile,
    *,
    horizon_years: float,
    fallback: ValueModel = group_move_value,
    random_state: int = 0,
) -> Valued[T]:
    """Value experience moves through the ROX model, or fall back where it cannot be fitted.

    The one fallback rule of the projections (:func:`roi`) and the report's headline: ``run``
    values its moves with the ROX model (:class:`ROXModelValue` on ``whole``, over
    ``horizon_years``); where that raises :class:`~rox.errors.MetricError` or
    :class:`~rox.errors.ConvergenceError` (fewer than 20 customers with repeat purchases in a group
    involved, a fit that does not converge), ``run`` values them again with ``fallback`` (by
    default :func:`group_move_value`, the stratified difference in means: associational), and
    the reason is kept. ``random_state`` seeds the ROX model's parametric draws.
    """
    model = ROXModelValue(whole, horizon_years=horizon_years, random_state=random_state)
    try:
        return Valued(run(model), ROX_MODEL, "", model)
    except (MetricError, ConvergenceError) as exc:
        return Valued(run(fallback), DIFFERENCE_IN_MEANS, str(exc), model)


class ROXModelValue:
    """The default value model: :func:`rox.impact.rox_model` fitted on every customer.

    Called with the target's profile, it moves only the target's customers (``within=``) and
    returns the ROX over ``horizon_years`` with its parametric interval. Fits are kept per move,
    so the projection and the measured ROX of one initiative share them.

    Parameters
    ----------
    whole : ExperienceProfile
        Every customer's profile (the model is fitted on all who bought).
    horizon_years : float
    draws : int
        Parametric draws for the interval.
    random_state : int
    """

    def __init__(
        self,
        whole: ExperienceProfile,
        *,
        horizon_years: float,
        draws: int = 200,
        random_state: int = 0,
    ) -> None:
        self.whole = whole
        self.horizon_years = horizon_years
        self.draws = draws
        self.random_state = random_state
        self.fits: dict[tuple[str, str, str], ROXModel] = {}

    def __call__(
        self, p: ExperienceProfile, *, by: str, move: str, to: str
    ) -> tuple[float, float, float]:
        """``(value, low, high)`` of moving the ``move`` customers of ``p`` to ``to``'s level."""
        key = (by, move, to)
        if key not in self.fits:
            self.fits[key] = rox_model(
                self.whole,
                by=by,
                move=move,
                to=to,
                within=p.table.select("customer_id"),
                horizon_years=self.horizon_years,
                draws=self.draws,
                placebo=False,
                random_state=self.random_state,
            )
        fit = self.fits[key]
        return fit.total, fit.low, fit.high


@dataclass(frozen=True, eq=False)
class ROI(Result):
    """ROI and ROX of an initiative, projected and measured.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per figure: ``figure``, ``estimate``, ``low``, ``high``, ``unit``, ``basis``.
    initiative : Initiative
    currency : str or None
    projected_value, projected_low, projected_high : float
        The value of the expected experience change over the horizon.
    projected_roi : float
        ``(projected_value - cost) / cost``.
    payback_months : float
        Months for the projected value to repay the cost (NaN if it never does).
    nps, spend : DiD or None
        The measured differences in differences (None before the start or without data).
    measured_money, measured_roi : float
        Spend gained by the target's panel customers in the after window, and its ROI.
    measured_rox, measured_rox_low, measured_rox_high : float
        The value of the measured NPS change over the horizon.
    value_basis : str
    value_model : str
        What valued the experience changes: ``"the ROX model"`` (default), ``"the difference in
        means of the experience groups"`` (its fallback), or ``"a value model given"``.
    notes : tuple of str
        Why a part is missing, and why the value model fell back.
    """

    initiative: Initiative | None = None
    currency: str | None = None
    projected_value: float = float("nan")
    projected_low: float = float("nan")
    projected_high: float = float("nan")
    projected_roi: float = float("nan")
    payback_months: float = float("nan")
    nps: DiD | None = None
    spend: DiD | None = None
    measured_money: float = float("nan")
    measured_roi: float = float("nan")
    measured_rox: float = float("nan")
    measured_rox_low: float = float("nan")
    measured_rox_high: float = float("nan")
    value_basis: str = ""
    value_model: str = ROX_MODEL
    notes: tuple[str, ...] = ()

    _plotter: ClassVar[str | None] = None

    def lines(self) -> list[str]:
        """The answer in plain words."""
        i = self.initiative
        assert i is not None
        cur = self.currency

        def m(x: float) -> str:
            return money(x, cur)

        out = [
            f"{i.name}: costs {m(i.cost)}, targets {i.target}, started {i.start:%Y-%m-%d}; "
            f"expected change {i.change}.",
            f"Projected: {i.change} in the target is worth about {m(self.projected_value)} "
            f"({m(self.projected_low)} to {m(self.projected_high)}) over {i.horizon_years:g} "
            f"years of lifetime value ({self.value_model}): ROI {self.projected_roi:+.0%}"
            + (
                f", paid back in about {self.payback_months:.0f} months."
                if self.payback_months == self.payback_months
                else ", never paid back within the horizon."
            ),
        ]
        if self.nps is not None and self.spend is not None:
            n, s = self.nps, self.spend
            customers = int(s.frame.loc[s.frame["window"] == "after - before", "n"].iloc[0])
            out += [
                f"Measured ROI (the money of this one project): the target's customers spent "
                f"{m(s.effect)} more each ({m(s.low)} to {m(s.high)}) than the others' trend in "
                f"the {(s.after[1] - s.after[0]).days if s.after else 0} days from the start; "
                f"over its {customers:,} buying customers that is {m(self.measured_money)} "
                f"against a cost of {m(i.cost)}: ROI {self.measured_roi:+.0%}.",
                f"Measured ROX (the value of all the experiences it changed): the target's NPS "
                f"moved {n.effect:+.1f} points ({n.low:+.1f} to {n.high:+.1f}) against the others; "
                f"valued through {self.value_model} that is worth about "
                f"{m(self.measured_rox)} ({m(self.measured_rox_low)} to "
                f"{m(self.measured_rox_high)}) over {i.horizon_years:g} years, "
                f"ROX {(self.measured_rox - i.cost) / i.cost:+.0%} on the cost.",
            ]
            for d, what in ((n, "NPS"), (s, "spend")):
                if not d.parallel:
                    out.append(
                        f"Warning: before the start the target's {what} trend differed from the "
                        f"others' (p = {d.trend_p:.2f}): the measured effect may not be causal."
                    )
            out.append(
                "The measured effects are causal only if "
                + "; ".join(n.assumptions)
                + "; "
                + _VALUE_CLAIMS[self.value_model]
            )
        out += list(self.notes)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def roi(
    ws: Workspace,
    initiative: Initiative,
    *,
    value_model: ValueModel | None = None,
    measure: bool = True,
    confidence: float = 0.95,
) -> ROI:
    """Project and measure an initiative's ROI and ROX.

    Parameters
    ----------
    ws : Workspace
    initiative : Initiative
        See :func:`rox.impact.read_initiative`.
    value_model : ValueModel, optional
        What an experience move is worth; default the ROX model (:class:`ROXModelValue`), falling
        back to :func:`group_move_value` where it cannot be fitted (see the module).
    measure : bool
        Also measure by difference in differences (needs data on both sides of the start).
    confidence : float

    Returns
    -------
    ROI

    Examples
    --------
    >>> import rox
    >>> from rox.impact import Initiative, Target, Change
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> plan = Initiative("Family care plan", 150_000, Target("segment", ("family",)),
    ...                   pd.Timestamp("2025-01-01", tz="UTC"), Change.parse("+25 NPS points"))
    >>> result = roi(ws, plan)
    >>> result.spend.effect > 0
    True
    """
    i = initiative
    fitted = clv(ws, horizon=i.horizon_years * _WEEKS_A_YEAR)
    whole = profile(ws, value=fitted)
    treated = i.target.customers(ws)
    t = whole.table
    in_target = t.semi_join(treated, t.customer_id == treated.customer_id)
    target = dataclasses.replace(whole, table=in_target)
    notes: list[str] = []
    n = s = None
    if measure:
        try:
            n = did(
                ws,
                treated,
                i.start,
                outcome="nps",
                window_days=i.window_days,
                confidence=confidence,
            )
            s = did(
                ws, treated, i.start, outcome="spend", window_days=i.window_days,
                products=i.products, confidence=confidence,
            )  # fmt: skip
        except MetricError as exc:
            notes.append(f"Not measured: {exc}.")
            n = s = None
    if value_model is not None:
        name, basis = GIVEN_MODEL, whole.value_basis
        values = _values(target, i.change, n, value_model)
    else:
        name = ROX_MODEL
        basis = (
            f"the ROX model: Pareto/NBD with the experience groups as covariates and "
            f"Gamma-Gamma spend by group, fitted on every buying customer, the target's "
            f"customers moved, over {i.horizon_years:g} years"
        )
        valued = through_rox_model(
            lambda model: _values(target, i.change, n, model),
            whole,
            horizon_years=i.horizon_years,
        )
        values = valued.result
        if valued.reason:
            name, basis = valued.value_model, whole.value_basis
            notes.append(
                f"Valued through {DIFFERENCE_IN_MEANS} within the target "
                "(rox.impact.counterfactual), not the ROX model, which could not be used: "
                f"{valued.reason}."
            )
    (value, low, high), measured = values
    months = i.horizon_years * 12
    payback = i.cost / (value / months) if value > 0 else float("nan")
    if payback > months:
        payback = float("nan")
    rows = [
        _row("projected value", value, low, high, "money", basis),
        _row(
            "projected ROI",
            (value - i.cost) / i.cost,
            (low - i.cost) / i.cost,
            (high - i.cost) / i.cost,
            "ratio",
            "(value - cost) / cost",
        ),
        _row("payback", payback, float("nan"), float("nan"), "months", "cost / value a month"),
    ]
    out: dict[str, Any] = {}
    if n is not None and s is not None and measured is not None:
        buyers = int(s.frame.loc[s.frame["window"] == "after - before", "n"].iloc[0])
        money_gained = s.effect * buyers
        rox, rox_low, rox_high = measured
        out = {
            "nps": n,
            "spend": s,
            "measured_money": money_gained,
            "measured_roi": (money_gained - i.cost) / i.cost,
            "measured_rox": rox,
            "measured_rox_low": rox_low,
            "measured_rox_high": rox_high,
        }
        rows += [
            _row(
                "NPS difference in differences",
                n.effect,
                n.low,
                n.high,
                "NPS points",
                "causal under assumptions",
            ),
            _row(
                "spend difference in differences",
                s.effect,
                s.low,
                s.high,
                "money per customer",
                "causal under assumptions",
            ),
            _row(
                "measured money",
                money_gained,
                s.low * buyers,
                s.high * buyers,
                "money",
                f"{buyers} buying customers of the target",
            ),
            _row(
                "measured ROI",
                (money_gained - i.cost) / i.cost,
                (s.low * buyers - i.cost) / i.cost,
                (s.high * buyers - i.cost) / i.cost,
                "ratio",
                "(money - cost) / cost",
            ),
            _row("measured ROX value", rox, rox_low, rox_high, "money", basis),
        ]
    return ROI(
        frame=pd.DataFrame(rows),
        initiative=i,
        currency=ws.currency,
        projected_value=value,
        projected_low=low,
        projected_high=high,
        projected_roi=(value - i.cost) / i.cost,
        payback_months=payback,
        value_basis=basis,
        value_model=name,
        notes=tuple(notes),
        **out,
    )


def _values(
    target: ExperienceProfile, change: Change, nps: DiD | None, model: ValueModel
) -> tuple[tuple[float, float, float], tuple[float, float, float] | None]:
    """The projected change's value, and the measured NPS change's (None when not measured)."""
    projected = _project(target, change, model)
    if nps is None:
        return projected, None
    rox, rox_low, rox_high = _project(target, Change(points=abs(nps.effect)), model)
    if nps.effect < 0:
        rox, rox_low, rox_high = -rox, -rox_high, -rox_low
    return projected, (rox, rox_low, rox_high)


def _row(
    figure: str, estimate: float, low: float, high: float, unit: str, basis: str
) -> dict[str, Any]:
    return {
        "figure": figure,
        "estimate": estimate,
        "low": low,
        "high": high,
        "unit": unit,
        "basis": basis,
    }


def _project(p: ExperienceProfile, change: Change, model: ValueModel) -> tuple[float, float, float]:
    """The value of ``change`` in ``p`` (see the module for ``+N NPS points``)."""
    if change.points is None:
        assert change.move is not None and change.to is not None
        return model(p, by=change.by, move=change.move, to=change.to)
    t = p.table
    counts = t.group_by("nps_group").aggregate(n=t.count()).execute()
    sizes = dict(zip(counts["nps_group"], counts["n"].astype(int), strict=True))
    respondents = sum(sizes.get(g, 0) for g in ("promoter", "passive", "detractor"))
    if respondents == 0:
        raise MetricError("the target has no NPS respondents to move")
    to_move = change.points / 100 * respondents
    total = [0.0, 0.0, 0.0]
    for move, to in (("detractor", "passive"), ("passive", "promoter")):
        group = sizes.get(move, 0)
        share = min(to_move, group) / group if group else 0.0
        if share > 0:
            v = model(p, by="nps_group", move=move, to=to)
            total = [a + share * b for a, b in zip(total, v, strict=True)]
        to_move -= min(to_move, group)
    if to_move > 1e-9:
        raise MetricError(
            f"+{change.points:g} NPS points is more than the target's respondents can move "
            "(every detractor and passive moved up gives less)"
        )
    return total[0], total[1], total[2]
