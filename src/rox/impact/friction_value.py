"""Friction priced: the journeys' friction points, valued by what their customers are worth.

:func:`rox.journey.friction` measures the steps (exits, waits, loops, repeated contacts); this
module prices them, in the impact layer where experience and value meet:

- each customer's value is their lifetime value (:func:`rox.value.clv`: the model chosen by
  ``model="auto"``, the next 52 weeks discounted at 10% a year), or a :class:`~rox.value.CLV`
  given, or revenue to date where the model cannot be fitted or revenue is asked for
  (:func:`customer_values`);
- the experience at each touchpoint is the CSAT (% satisfied) and CES (mean) recorded there
  (:func:`touchpoint_experience`, from :func:`rox.experience.scorecard`).

:func:`friction` returns the journey's friction table with ``value_at_risk`` and ``lost_value``
filled in; :func:`audit` states the top friction point in plain words and adds what removing it
is worth (:func:`step_rox`) through the ROX model (:func:`rox.impact.rox_model` with
``by="friction"``: the customers whose journeys ended at the step without reaching the goal get
the purchase, dropout and spend of the customers who reached the step and went on, over three
years, with its parametric interval and its channels; causal under the model's assumptions).
Where the model cannot be fitted (too few customers with repeat purchases in either group, a fit
that does not converge), it falls back, by the rule of :func:`rox.impact.roi`
(:func:`rox.impact.roi.through_rox_model`), to :func:`rox.impact.counterfactual`: the stratified
difference in means of the two groups (associational, with its bootstrap interval), and says why.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from rox._display import money
from rox.errors import ConvergenceError, MetricError
from rox.experience import scorecard
from rox.impact.counterfactual import Counterfactual, counterfactual
from rox.impact.profile import ExperienceProfile, profile
from rox.impact.roi import Valued, through_rox_model
from rox.impact.rox_model import ROXModel
from rox.journey.events import JourneyQuery, Journeys, journey_events
from rox.journey.friction import REVENUE, Audit, FrictionTable, default_goal
from rox.journey.friction import audit as journey_audit
from rox.journey.friction import friction as journey_friction
from rox.value import CLV, CLVExpr, CLVTable, clv_expr

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["audit", "customer_values", "friction", "step_rox", "touchpoint_experience"]


@dataclasses.dataclass(frozen=True)
class _Valued:
    """Customers' values (``customer_id``, ``value``), their basis, and why not the one asked.

    ``values`` is a table of the engine (a CLV computed there, a stored CLVTable, revenue to
    date), or a Series for a :class:`~rox.value.CLV` given from Python; ``asked`` is how the ROX
    line of :func:`audit` values the customers the same way (the CLV computed in the engine, the
    CLV given, or the word).
    """

    values: pd.Series | ir.Table
    basis: str
    note: str
    asked: CLV | CLVExpr | CLVTable | str


def customer_values(ws: Workspace, value: CLV | str = "clv") -> tuple[pd.Series, str, str]:
    """Each customer's value (by ``customer_id``, text), its basis, and why not the one asked for.

    ``value`` is ``'clv'`` (fit :func:`rox.value.clv`; revenue to date where it cannot be
    fitted, with the reason), ``'revenue'`` (revenue to date) or a :class:`~rox.value.CLV` used
    as it is. The reason is "" when the value is the one asked for. Customers without
    transactions have none. (One row per customer comes to Python: :func:`friction` keeps them
    in the engine.)
    """
    v = _valued(ws, value)
    values = v.values
    if not isinstance(values, pd.Series):
        got = values.execute()
        values = got.set_index("customer_id")["value"].astype("float64")
        values.index = values.index.astype(str)
    return values, v.basis, v.note


def _valued(ws: Workspace, value: CLV | CLVTable | str) -> _Valued:
    """The customers' values, kept in the engine unless they come from Python (#20)."""
    if isinstance(value, CLVTable):  # stored in the engine (#20): it stays there
        stored = ws.table(value.table)
        return _Valued(stored.select("customer_id", value=stored.clv), value.basis, "", value)
    if isinstance(value, CLV):
        values = value.frame.set_index("customer_id")["clv"].astype("float64")
        values.index = values.index.astype(str)  # customer ids are text in every workspace
        return _Valued(values, value.basis, "", value)
    if value not in ("clv", "revenue"):
        raise MetricError(
            f"value={value!r}: expected 'clv', 'revenue', a rox.value.CLV or a rox.value.CLVTable"
        )
    note = ""
    if value == "clv":
        if not ws.count("transactions"):
            note = "there are no transactions to fit a lifetime-value model on"
        else:
            try:
                # the values of rox.value.clv(ws), computed in the engine (rox.value.clv_expr)
                fitted = clv_expr(ws)
            except (ConvergenceError, ValueError) as exc:  # (a MetricError is a ValueError)
                note = f"the lifetime-value model could not be fitted ({exc})"
            else:
                t = fitted.table
                infinite = t.count(where=t.clv.isnull() | t.clv.isnan() | t.clv.isinf())
                if not infinite.execute():
                    return _Valued(t.select("customer_id", value=t.clv), fitted.basis, "", fitted)
                note = "the lifetime-value model gave some customers no finite value"
    t = ws.table("transactions")
    revenue = t.group_by(customer_id=t.customer_id.cast("string")).aggregate(value=t.amount.sum())
    return _Valued(revenue, REVENUE, note, value)


def _no_values(values: pd.Series | ir.Table) -> bool:
    """Whether no customer has a value (no transactions)."""
    if isinstance(values, pd.Series):
        return bool(values.empty)
    return int(values.count().execute()) == 0


def touchpoint_experience(ws: Workspace) -> pd.DataFrame:
    """CSAT (% satisfied) and CES (mean) by touchpoint: ``step``, ``csat``, ``ces``."""
    if "touchpoint" not in ws.table("responses").columns or ws.count("responses") == 0:
        return pd.DataFrame(columns=["step", "csat", "ces"])
    card = scorecard(ws, by="touchpoint", metrics=("csat", "ces"))
    out: pd.DataFrame | None = None
    for metric in ("csat", "ces"):
        f = (
            card[metric]
            .frame[["touchpoint", "estimate"]]
            .rename(columns={"touchpoint": "step", "estimate": metric})
        )
        out = f if out is None else out.merge(f, on="step", how="outer")
    assert out is not None
    return out


def friction(
    ws: Workspace | Journeys,
    query: JourneyQuery | None = None,
    *,
    goal: str | None = None,
    repeat_within: Any = "7D",
    value: CLV | CLVTable | str = "clv",
    **options: Any,
) -> FrictionTable:
    """The friction table of :func:`rox.journey.friction`, priced, with each touchpoint's CSAT/CES.

    Parameters
    ----------
    value : {'clv', 'revenue'}, CLV or CLVTable
        How customers are valued (see :func:`customer_values`); a
        :class:`~rox.value.CLVTable` (``rox.value.clv_table(ws)``) is joined to the customers in
        the engine, so that no customer comes to Python.
    query, goal, repeat_within, **options
        As :func:`rox.journey.friction`.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> table = rox.impact.friction(ws, journey="purchase", goal="purchase", value="revenue")
    >>> table.frame["step"].iloc[0], table.value_basis
    ('financing', 'revenue to date')
    """
    return _priced(ws, query, goal, repeat_within, _valued(_workspace(ws), value), options)


def _workspace(ws: Workspace | Journeys) -> Workspace:
    return ws.ws if isinstance(ws, Journeys) else ws


def _priced(
    ws: Workspace | Journeys,
    query: JourneyQuery | None,
    goal: str | None,
    repeat_within: Any,
    valued: _Valued,
    options: dict[str, Any],
) -> FrictionTable:
    return journey_friction(
        ws,
        query,
        goal=goal,
        repeat_within=repeat_within,
        values=valued.values,
        value_basis=valued.basis,
        value_note=valued.note,
        experience=touchpoint_experience(_workspace(ws)),
        **options,
    )


#: Years over which the ROX model values removing a friction point (the model's default).
HORIZON_YEARS = 3.0


def step_rox(
    ws: Workspace,
    step: str,
    *,
    journey: str | None = None,
    goal: str | None = None,
    value: CLV | str = "clv",
    replicates: int = 500,
    random_state: int | None = 0,
    **options: Any,
) -> ROXModel | Counterfactual:
    """What removing the friction at ``step`` is worth: through the ROX model, or its fallback.

    The customers with a journey that ended at ``step`` without reaching ``goal`` (``met
    friction``) are moved to the level of the customers who reached ``step`` and did not end there
    (``no friction``): :func:`rox.impact.rox_model` with ``by="friction"`` over
    :data:`HORIZON_YEARS` years (200 parametric draws, seed ``random_state``, 0 when None; no
    placebo); where it cannot be fitted, :func:`rox.impact.counterfactual` on those two groups
    (``replicates`` bootstrap replicates; the others are left out). See the module.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> rox.impact.step_rox(ws, "financing", journey="purchase", goal="purchase",
    ...                     value="revenue").total > 0
    True
    """
    # (rox.impact.profile values the customers as asked, revenue where a CLV cannot be fitted)
    move, _ = _step_rox(ws, step, journey, goal, value, replicates, random_state, options)
    return move


def _step_rox(
    ws: Workspace,
    step: str,
    journey: str | None,
    goal: str | None,
    value: CLV | CLVExpr | str,
    replicates: int,
    random_state: int | None,
    options: dict[str, Any],
) -> tuple[ROXModel | Counterfactual, Valued[tuple[float, float, float]]]:
    _, e = journey_events(ws, None, {"journey": journey, **options})
    goal = goal or default_goal(e)
    won = e.filter(e.step == goal).select("journey_id").distinct().mutate(won=True)
    ends = e.filter(e.is_last & (e.step == step)).left_join(won, "journey_id")
    ends = ends.filter(ends.won.isnull())
    met = ends.select(customer_id=ends.customer_id.cast("string")).distinct()
    met = met.mutate(_met=ibis.literal(True))
    reached = e.filter(e.step == step)
    reached = reached.select(customer_id=reached.customer_id.cast("string")).distinct()
    reached = reached.mutate(_reached=ibis.literal(True))
    p = profile(ws, value=value, journey=journey, goal=goal)
    t = p.table
    j = t.left_join(met, t.customer_id == met.customer_id)
    j = j.select(t, met._met)
    k = j.left_join(reached, j.customer_id == reached.customer_id)
    k = k.select(j, reached._reached)
    labelled = k.mutate(
        friction=ibis.cases(
            (k._met.fill_null(False), "met friction"),
            (k._reached.fill_null(False), "no friction"),
            else_="no journey",
        )
    ).drop("_met", "_reached")
    moved = dataclasses.replace(p, table=labelled)
    fallbacks: list[Counterfactual] = []

    def difference_in_means(
        p: ExperienceProfile, *, by: str, move: str, to: str
    ) -> tuple[float, float, float]:
        c = counterfactual(
            p, by=by, move=move, to=to, replicates=replicates, random_state=random_state
        )
        fallbacks.append(c)
        return c.total, c.low, c.high

    valued = through_rox_model(
        lambda model: model(moved, by="friction", move="met friction", to="no friction"),
        moved,
        horizon_years=HORIZON_YEARS,
        fallback=difference_in_means,
        random_state=0 if random_state is None else random_state,
    )
    fit = fallbacks[-1] if valued.reason else next(iter(valued.model.fits.values()))
    return fit, valued


def audit(
    ws: Workspace,
    journey: str | None = None,
    *,
    goal: str | None = None,
    value: CLV | CLVTable | str = "clv",
    repeat_within: Any = "7D",
    rox: bool = True,
    **options: Any,
) -> Audit:
    """The audit priced: the top friction point, its cost, and what removing it is worth.

    Parameters
    ----------
    journey, goal, repeat_within, **options
        As :func:`rox.journey.audit` (``options``: how journeys are built).
    value : {'clv', 'revenue'} or CLV
        How customers are valued (see :func:`customer_values`).
    rox : bool
        Add what removing the friction is worth (:func:`step_rox`).

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> rox.impact.audit(ws, "purchase", goal="purchase", value="revenue").step
    'financing'
    """
    valued = _valued(ws, value)
    table = _priced(ws, None, goal, repeat_within, valued, {"journey": journey, **options})
    found = journey_audit(ws, journey, goal=table.goal, table=table)
    # (the ROX line's profile takes a CLV or a word: a stored CLVTable prices the table only)
    asked = valued.asked
    if not rox or isinstance(asked, CLVTable) or _no_values(valued.values):
        return found
    if valued.basis == REVENUE:  # asked for, or where a CLV could not be fitted
        asked = "revenue"
    move, how = _step_rox(ws, found.step, journey, table.goal, asked, 500, 0, options)
    if move.total != move.total:  # nobody reached the step and went on: nothing to compare with
        return found
    worth = (
        f"Removing the {found.step} friction is worth about {money(move.total, ws.currency)} "
        f"({move.confidence:.0%} interval {money(move.low, ws.currency)} to "
        f"{money(move.high, ws.currency)})"
    )
    if isinstance(move, ROXModel):
        line = (
            f"{worth} over {move.horizon_years:g} years through the ROX model: the customers "
            f"whose journeys ended there given the purchases, dropout and spend of those who "
            f"reached {found.step} and went on ({move.label})."
        )
    else:
        line = (
            f"{worth} in {move.value_basis}: the customers whose journeys ended there valued "
            f"like those who reached {found.step} and went on (associational; not through the "
            f"ROX model, which could not be fitted: {how.reason})."
        )
    return dataclasses.replace(found, findings=(*found.findings, line))
