"""Friction points: where journeys stall, loop, come back for help, or end, and what it costs.

For each step of the journeys (computed in the engine):

``exit_rate``
    journeys whose last event is this step, among the journeys reaching it (the goal excluded:
    ending there is success);
``median_wait_hours``
    median time from a visit of the step to the journey's next event (dwell / wait), over the
    step's visits, as the journey map's times between steps and pm4py's performance DFG;
``loop_rate``
    share of journeys reaching the step that visit it more than once;
``repeat_contact_rate``
    share of the step's events followed by the same step for the same customer within
    ``repeat_within`` (a second support call within 7 days);
``csat``, ``ces``
    the experience recorded at that touchpoint (``responses.touchpoint`` equal to the step);
``customers_affected``, ``value_at_risk``
    the customers with a journey that ends at the step without reaching the goal (they may have
    reached it in another journey), and the sum of their value; a customer can count at several
    steps, so these do not add up across steps;
``lost_value``
    exits x (share of the journeys going on from the step that reach the goal) x (mean value of
    a customer whose journey reaches the goal): the value the exits would have brought had they
    continued like the others.

The values and the touchpoints' experience come from outside the journeys: this module measures
the steps, and :func:`rox.impact.friction` prices them (it fits the customers' lifetime values and
reads CSAT and CES by touchpoint, then calls :func:`friction` with ``values=`` and
``experience=``). Without values, ``value_at_risk`` and ``lost_value`` are 0 and the lost
conversions rank the steps.

Steps are ranked by ``lost_value``. :func:`audit` states the top friction point, its evidence and
its cost in plain words (the seed question: "audit one key customer journey, identify a single
friction point").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ibis
import numpy as np
import pandas as pd

from rox._display import money
from rox.errors import MetricError
from rox.journey.events import JourneyQuery, Journeys, journey_events
from rox.results import Result

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["REVENUE", "Audit", "FrictionTable", "audit", "friction"]

#: The value basis of customers valued by their revenue to date.
REVENUE = "revenue to date"


@dataclass(frozen=True, eq=False)
class FrictionTable(Result):
    """Steps ranked by friction (see the module docstring for the columns).

    Attributes
    ----------
    goal : str
    journeys : int
    conversion : float
        Share of the journeys reaching the goal.
    value_basis : str
        What a customer's value is: a CLV (with its horizon), revenue to date, or "" (not valued).
    value_note : str
        Why the value is not the one asked for (the model could not be fitted), or "".
    """

    goal: str | None = None
    journeys: int = 0
    conversion: float = float("nan")
    value_basis: str = ""
    value_note: str = ""

    _plotter: ClassVar[str | None] = "rox.viz.journey:plot_friction"


def default_goal(e: Any) -> str:
    """The success step assumed when none is given.

    The most common last step of the longest quarter of journeys; ``e`` is the ordered journey
    events (:meth:`JourneyQuery.events`).
    """
    lengths = e.n_events
    cutoff = e.filter(e.is_last).n_events.quantile(0.75).execute()
    last = e.filter(e.is_last & (lengths >= cutoff))
    top = last.group_by("step").aggregate(n=last.count()).order_by(ibis.desc("n")).limit(1)
    got = top.execute()
    if got.empty:
        raise MetricError("no journeys to audit")
    return str(got["step"].iloc[0])


def friction(
    ws: Workspace | Journeys,
    query: JourneyQuery | None = None,
    *,
    goal: str | None = None,
    repeat_within: Any = "7D",
    values: pd.Series | ir.Table | None = None,
    value_basis: str = "",
    value_note: str = "",
    experience: pd.DataFrame | None = None,
    **options: Any,
) -> FrictionTable:
    """Rank the steps of the journeys by friction.

    Parameters
    ----------
    goal : str, optional
        The step that counts as success (default: the most common last step of the longest
        quarter of journeys).
    repeat_within : duration
        Window of a repeated contact.
    values : pandas.Series or ibis Table, optional
        Each customer's value: a table of the engine with ``customer_id`` and ``value``, or a
        Series indexed by ``customer_id`` (text; sent to the engine as a table). Either is joined
        to the journeys in the engine: no customer comes to Python. Without it, nothing is
        priced. :func:`rox.impact.friction` supplies it (a CLV, a stored
        :class:`~rox.value.CLVTable`, or revenue to date).
    value_basis, value_note : str
        What the values are, and why not the ones asked for ("" when they are).
    experience : pandas.DataFrame, optional
        ``step``, ``csat``, ``ces``: the experience recorded at each touchpoint (without it, the
        columns are empty).
    query, **options
        How journeys are built (e.g. ``journey="purchase"``).

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> table = rox.journey.friction(ws, journey="purchase", goal="purchase")
    >>> table.frame["step"].iloc[0], table.value_basis
    ('financing', '')
    """
    ws, e = journey_events(ws, query, options)
    if values is None:
        value_basis = ""
    goal = goal or default_goal(e)
    within = pd.Timedelta(repeat_within).total_seconds()
    # Per journey and step: visits, whether the journey ends there, whether it reached the goal.
    # Every journey ends at exactly one step, so the totals are sums of the ended pairs.
    p = e.group_by(["journey_id", "step"]).aggregate(visits=e.count(), ended=e.is_last.max())
    won = e.filter(e.step == goal).select("journey_id").distinct().mutate(won=True)
    p = p.left_join(won, "journey_id").mutate(won=lambda t: t.won.fill_null(False))
    per_step = p.group_by("step").aggregate(
        journeys=p.count(),
        ended=p.count(where=p.ended),
        ended_won=p.count(where=p.ended & p.won),
        exits=p.count(where=p.ended & ~p.won),
        continued=p.count(where=~p.ended),
        continued_won=p.count(where=~p.ended & p.won),
        loops=p.count(where=p.visits > 1),
    )
    # Per event: the wait before the next step (median of whole seconds, then hours: exact on
    # every engine) and repeated contacts, the same customer at the same step again within the
    # window (one window over each customer's visits of each step).
    visits = ibis.window(group_by=[e.customer_id, e.step], order_by=e.epoch_s)
    v = e.mutate(next_visit_epoch_s=e.epoch_s.lead().over(visits))
    per_event = v.group_by("step").aggregate(
        events=v.count(),
        # (never null: a conditional count of nulls alone is null on Spark)
        repeats=v.count(
            where=v.next_visit_epoch_s.notnull() & ((v.next_visit_epoch_s - v.epoch_s) <= within)
        ),
        median_wait_hours=(v.next_epoch_s - v.epoch_s).median() / 3600.0,
    )
    # The customers whose journeys end at a step without the goal, counted in the same query.
    lost = e.filter(e.is_last).anti_join(won, "journey_id").select("step", "customer_id")
    lost = lost.distinct()
    affected = lost.group_by("step").aggregate(customers_affected=lost.count())
    steps = per_step.join(per_event, "step").left_join(affected, "step").execute()
    steps["customers_affected"] = pd.to_numeric(steps["customers_affected"]).fillna(0)
    steps["customers_affected"] = steps["customers_affected"].astype("int64")
    journeys, won_journeys = int(steps["ended"].sum()), int(steps["ended_won"].sum())
    # What they are worth, joined in the engine (#20: no customer comes to Python); customers
    # without a value count for nothing
    steps["value_at_risk"], per_goal = 0.0, 0.0
    if isinstance(values, pd.Series):  # values from Python: to the engine, as a table
        given = values.dropna().astype("float64")
        ids = pd.Series(given.index.astype(str), dtype=object)
        frame = pd.DataFrame({"customer_id": ids, "value": given.to_numpy()})
        values = ibis.memtable(frame, schema={"customer_id": "string", "value": "float64"})
        if given.empty:
            values = None
    if values is not None:
        winners = e.filter(e.step == goal).select("customer_id").distinct()
        risk = lost.join(values, "customer_id")
        at_risk = risk.group_by("step").aggregate(value_at_risk=risk.value.sum()).execute()
        at_risk = at_risk.set_index("step")["value_at_risk"].astype("float64")
        steps["value_at_risk"] = steps["step"].map(at_risk).fillna(0.0).astype("float64")
        mean = winners.join(values, "customer_id").value.mean().execute()
        per_goal = 0.0 if mean is None or pd.isna(mean) else float(mean)
    steps["exit_rate"] = np.where(steps["step"] == goal, np.nan, steps["exits"] / steps["journeys"])
    steps["loop_rate"] = steps["loops"] / steps["journeys"]
    steps["repeat_contact_rate"] = steps["repeats"] / steps["events"]
    go_on = steps["continued_won"] / steps["continued"].replace(0, np.nan)
    steps["lost_conversions"] = np.where(
        steps["step"] == goal, 0.0, steps["exits"] * go_on.fillna(0)
    )
    steps["lost_value"] = steps["lost_conversions"] * per_goal
    if experience is None:
        experience = pd.DataFrame({"step": pd.Series(dtype=str), "csat": [], "ces": []})
    steps = steps.merge(experience[["step", "csat", "ces"]], on="step", how="left")
    # (without values, lost_value is 0 everywhere: the lost conversions rank the steps)
    steps = steps.sort_values(
        ["lost_value", "lost_conversions", "exit_rate", "step"],
        ascending=[False, False, False, True],
        na_position="last",
    )
    cols = [
        "step",
        "journeys",
        "exits",
        "exit_rate",
        "median_wait_hours",
        "loop_rate",
        "repeat_contact_rate",
        "csat",
        "ces",
        "customers_affected",
        "value_at_risk",
        "lost_conversions",
        "lost_value",
    ]
    return FrictionTable(
        frame=steps[cols].reset_index(drop=True),
        goal=goal,
        journeys=journeys,
        conversion=won_journeys / journeys if journeys else np.nan,
        value_basis=value_basis,
        value_note=value_note,
    )


@dataclass(frozen=True, eq=False)
class Audit(Result):
    """The top friction point of a journey, with its evidence and cost.

    Attributes
    ----------
    frame : pandas.DataFrame
        The friction table it was chosen from.
    step : str
    findings : tuple of str
        The answer in plain words, most important first.
    friction : FrictionTable
        The full ranking (for its figure).
    """

    step: str = ""
    findings: tuple[str, ...] = ()
    friction: FrictionTable | None = None

    def __str__(self) -> str:
        return "\n".join(self.findings)


def audit(
    ws: Workspace,
    journey: str | None = None,
    *,
    goal: str | None = None,
    table: FrictionTable | None = None,
    **options: Any,
) -> Audit:
    """Audit one key journey and identify its single most costly friction point.

    Parameters
    ----------
    journey : str, optional
        Keep the journeys whose ``journey`` value contains this text.
    goal : str, optional
        The step that counts as success (see :func:`friction`).
    table : FrictionTable, optional
        The friction table to read (default: :func:`friction` of the journeys, not priced;
        :func:`rox.impact.audit` passes a priced one).
    **options
        :func:`friction`'s other options (``repeat_within=``, how journeys are built).

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=5_000, seed=7)
    >>> rox.journey.audit(ws, "purchase", goal="purchase").step
    'financing'
    """
    if table is None:
        table = friction(ws, journey=journey, goal=goal, **options)
    f = table.frame
    ranked = f[f["step"] != table.goal]
    if ranked.empty:
        raise MetricError("the journeys have no step besides the goal")
    top = ranked.iloc[0]
    others = ranked.iloc[1:]
    name = f"the {journey} journey" if journey else "the journeys"
    lines = [
        f"In {name} ({table.journeys:,} journeys, {table.conversion:.0%} reach "
        f"{table.goal}), the biggest friction point is {top['step']}.",
        f"{top['exit_rate']:.0%} of the {int(top['journeys']):,} journeys that reach "
        f"{top['step']} end there, against a median of {others['exit_rate'].median():.0%} at the "
        "other steps.",
    ]
    rest = ranked[ranked["step"] != top["step"]]
    for metric, label, unit in (("csat", "CSAT", "% satisfied"), ("ces", "CES", " (1-7)")):
        if pd.notna(top[metric]) and rest[metric].notna().any():
            fmt = "{:.0f}" if metric == "csat" else "{:.2f}"
            lines.append(
                f"{label} at {top['step']} is {fmt.format(top[metric])}{unit}, against "
                f"{fmt.format(rest[metric].median())}{unit} at the other touchpoints (median)."
            )
    if top["median_wait_hours"] == top["median_wait_hours"]:
        lines.append(
            f"Visits there wait a median {top['median_wait_hours']:.0f} hours for the next step."
        )
    worth = "revenue" if table.value_basis == REVENUE else "lifetime value"
    cost = (
        f"Cost: {int(top['exits']):,} journeys lost; had they gone on like the others, about "
        f"{top['lost_conversions']:,.0f} more would have reached {table.goal}"
    )
    currency = (ws.ws if isinstance(ws, Journeys) else ws).currency
    lost, at_risk = (money(top[c], currency) for c in ("lost_value", "value_at_risk"))
    cost += f", worth about {lost} in {worth}." if top["lost_value"] else "."
    if top["value_at_risk"] > 0:
        cost += (
            f" The {int(top['customers_affected']):,} customers whose journeys ended there hold "
            f"{at_risk} in {table.value_basis}."
        )
    lines.append(cost)
    if table.value_basis and table.value_note:
        lines.append(f"Customers are valued by {table.value_basis}: {table.value_note}.")
    return Audit(frame=f, step=str(top["step"]), findings=tuple(lines), friction=table)
