"""The experience profile: one row per customer, experience joined to value, built in the engine.

Every customer appears once: those of the ``customers`` table and anyone with a transaction or a
response. The profile is an Ibis expression (only :meth:`ExperienceProfile.to_frame` brings rows
back), with the columns:

``customer_id``
    The customer.
``nps_latest``, ``nps_mean``
    The customer's latest NPS answer and the mean of their NPS answers (0-10).
``nps_latest_at``, ``nps_touchpoint``
    When the latest NPS answer was given (UTC) and the touchpoint it was about (null when not
    recorded).
``nps_group``
    ``promoter``, ``passive`` or ``detractor`` by the latest NPS answer, with the cut-offs of the
    answer's scale (9-10 / 7-8 / 0-6 by default; declared scales use their declared cut-offs);
    ``no response`` for customers who never answered the NPS question.
``csat_mean``, ``ces_mean``
    Mean CSAT and CES answers, each rescaled linearly to the metric's default scale (CSAT 1-5,
    CES 1-7), as :mod:`rox.experience` does for means.
``csat_band``, ``ces_band``
    ``satisfied`` / ``not satisfied`` (CSAT) and ``easy`` / ``not easy`` (CES) by the latest
    answer and its scale's cut-off (CSAT 4-5, CES 5-7 by default); ``no response`` otherwise.
``responses``, ``days_since_response``
    Survey answers given (any metric), and whole days from the latest one to ``as_of``.
``journeys``, ``friction_points``
    The customer's journeys (:class:`rox.journey.JourneyQuery`), and how many of them ended
    without reaching the goal (the journey's last step is a friction point the customer met; the
    same rule as :func:`rox.journey.friction`'s exits). Null for customers without events.
``friction``
    ``met friction`` (at least one such journey), ``no friction``, or ``no journey``.
``support_contacts``, ``complaints``
    Events at the support steps (default ``support_call``) and complaint steps (``complaint``).
``purchases``, ``spend``
    Transactions and revenue to date (0 without transactions), in the brand's currency.
``clv``, ``p_alive``
    The customer's lifetime value (:func:`rox.value.clv`: BG/NBD and Gamma-Gamma, the next 52
    weeks discounted at 10% a year, unless another :class:`~rox.value.CLV` is given) and the
    probability they are still active. Customers without a transaction have a CLV of 0 and no
    P(alive). Where the model cannot be fitted, ``clv`` is revenue to date and
    :attr:`ExperienceProfile.value_note` says why.
``segment``, ``region``, ...
    The other columns of ``customers`` (``segment``, ``region``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd

from rox.errors import ConvergenceError, MetricError
from rox.journey.events import JourneyQuery
from rox.journey.friction import default_goal
from rox.schema import DEFAULT_SCALES
from rox.value import CLV, CLVExpr, clv

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["NO_RESPONSE", "REVENUE", "ExperienceProfile", "profile", "scored_responses"]

#: The group of customers who never answered the metric's question.
NO_RESPONSE = "no response"
#: The value basis of customers valued by their revenue to date.
REVENUE = "revenue to date"
#: Profile columns that hold experience groups, with their groups in display order.
GROUPS: dict[str, tuple[str, ...]] = {
    "nps_group": ("promoter", "passive", "detractor", NO_RESPONSE),
    "csat_band": ("satisfied", "not satisfied", NO_RESPONSE),
    "ces_band": ("easy", "not easy", NO_RESPONSE),
    "friction": ("no friction", "met friction", "no journey"),
}


#: The profile's own columns, in order (the customers' attributes follow).
PROFILE_COLUMNS = (
    "customer_id",
    "nps_latest",
    "nps_mean",
    "nps_latest_at",
    "nps_touchpoint",
    "nps_group",
    "csat_mean",
    "csat_band",
    "ces_mean",
    "ces_band",
    "responses",
    "days_since_response",
    "journeys",
    "friction_points",
    "friction",
    "support_contacts",
    "complaints",
    "purchases",
    "spend",
    "clv",
    "p_alive",
)


@dataclass(frozen=True, eq=False)
class ExperienceProfile:
    """Each customer's experience and value, as an Ibis table (see the module for the columns).

    Attributes
    ----------
    table : ibis Table
        One row per customer; not executed until asked for.
    value_basis : str
        What ``clv`` holds: a CLV (with its horizon) or revenue to date.
    value_note : str
        Why ``clv`` is not a fitted CLV, or "".
    as_of : pandas.Timestamp
        The day ``days_since_response`` counts to (UTC).
    goal : str or None
        The step a journey reaches to succeed (None without events).
    attributes : tuple of str
        The customers' attribute columns carried along.
    workspace : Workspace
        The workspace it reads.
    """

    table: Any
    value_basis: str = ""
    value_note: str = ""
    as_of: pd.Timestamp | None = None
    goal: str | None = None
    attributes: tuple[str, ...] = ()
    workspace: Any = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Run the profile and return it as a DataFrame, one row per customer."""
        frame = self.table.execute()
        return frame.sort_values("customer_id").reset_index(drop=True)

    def __repr__(self) -> str:
        note = f"; {self.value_note}" if self.value_note else ""
        return (
            f"ExperienceProfile(columns={list(self.table.columns)}, value={self.value_basis!r}"
            f"{note}, goal={self.goal!r})"
        )


def profile(
    ws: Workspace,
    *,
    value: CLV | CLVExpr | str = "clv",
    journey: str | None = None,
    goal: str | None = None,
    support_steps: Sequence[str] = ("support_call",),
    complaint_steps: Sequence[str] = ("complaint",),
    as_of: Any = None,
    columns: Sequence[str] | None = None,
) -> ExperienceProfile:
    """Build each customer's experience profile, joined with their value (in the engine).

    Parameters
    ----------
    ws : Workspace
    value : {'clv', 'revenue'} or CLV
        How customers are valued: ``'clv'`` fits :func:`rox.value.clv` (revenue to date where it
        cannot be fitted, with the reason in ``value_note``), ``'revenue'`` takes revenue to
        date, a :class:`~rox.value.CLV` is used as it is, and so is a
        :class:`~rox.value.CLVExpr` (``rox.value.clv_expr(ws)``: every customer's CLV in the
        engine).
    journey : str, optional
        Keep journeys whose ``journey`` value contains this text (e.g. ``"purchase"``).
    goal : str, optional
        The step that makes a journey a success (default: as :func:`rox.journey.friction`, the
        most common last step of the longest quarter of journeys).
    support_steps, complaint_steps : sequence of str
        Event steps counted as support contacts and as complaints.
    as_of : date-like, optional
        The day to count ``days_since_response`` to (default: the latest transaction, response or
        event).
    columns : sequence of str, optional
        Only these columns, in the profile's order (``customer_id`` is always kept; the
        customers' attributes only when named). What only the other columns need is not built
        (the journeys and their friction, the contacts, the lifetime-value fit; for the latest
        NPS group alone, only the NPS answers are read). The values are those of the whole
        profile. Default: every column.

    Returns
    -------
    ExperienceProfile

    Raises
    ------
    MetricError
        If ``columns`` names a column the profile does not have.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> p = rox.impact.profile(ws, journey="purchase", goal="purchase", value="revenue")
    >>> sorted(p.to_frame()["nps_group"].unique())
    ['detractor', 'no response', 'passive', 'promoter']
    """
    customers = ws.table("customers")
    # (a customers column named like a profile column is left out: the profile's is kept)
    attributes = tuple(
        c for c in customers.columns if not c.startswith("_") and c not in PROFILE_COLUMNS
    )
    wanted = _wanted(columns, attributes)
    attributes = tuple(a for a in attributes if a in wanted)
    base = _customer_ids(ws)
    if attributes:  # (without any, the join with the customers would add nothing)
        base = base.left_join(customers.select("customer_id", *attributes), "customer_id")
        base = base.select("customer_id", *attributes)
    end = _as_of(ws, as_of)
    if not isinstance(value, (CLV, CLVExpr)) and value not in ("clv", "revenue"):
        raise MetricError(f"value={value!r}: expected 'clv', 'revenue' or a rox.value.CLV")
    needs = {part for part, cols in _PARTS.items() if wanted & set(cols)}
    values, basis, note = _values(ws, value) if "values" in needs else (None, "", "")
    fitted = values is not None
    if "values" in needs and not fitted:
        needs.add("spend")  # the value is revenue to date
    parts: list[ir.Table] = []
    if "experience" in needs:
        parts.append(_experience(ws, end, wanted))
    if "journeys" in needs:
        journeys, goal = _friction(ws, journey, goal)
        parts.append(journeys)
    if "contacts" in needs:
        parts.append(_contacts(ws, support_steps, complaint_steps))
    if "spend" in needs:
        t = ws.table("transactions")
        parts.append(t.group_by("customer_id").aggregate(purchases=t.count(), spend=t.amount.sum()))
    if fitted:
        parts.append(values)
    p = base
    for part in parts:
        p = _attach(p, part)
    built: dict[str, Any] = {}
    if "experience" in needs:
        fills: dict[str, Any] = {
            "nps_group": NO_RESPONSE,
            "csat_band": NO_RESPONSE,
            "ces_band": NO_RESPONSE,
            "responses": 0,
        }
        built.update(
            {
                c: p[c].fill_null(fills[c]) if c in fills else p[c]
                for c in _PARTS["experience"]
                if c in wanted
            }
        )
    if "journeys" in needs:
        built.update(
            journeys=p.journeys,
            friction_points=ibis.ifelse(p.journeys.isnull(), ibis.null("int64"), p.friction_points),
            friction=ibis.cases(
                (p.journeys.isnull(), "no journey"),
                (p.friction_points > 0, "met friction"),
                else_="no friction",
            ),
        )
    if "contacts" in needs:
        built.update(
            support_contacts=p.support_contacts.fill_null(0),
            complaints=p.complaints.fill_null(0),
        )
    if "spend" in needs:
        built.update(purchases=p.purchases.fill_null(0), spend=p.spend.fill_null(0.0))
    if "values" in needs:
        built.update(
            clv=p.clv.fill_null(0.0) if fitted else built["spend"],
            p_alive=p.p_alive if fitted else ibis.null("float64"),
        )
    out = p.select(
        "customer_id",
        **{c: built[c] for c in PROFILE_COLUMNS[1:] if c in wanted},
        **{a: p[a] for a in attributes},
    )
    return ExperienceProfile(
        table=out,
        value_basis=basis,
        value_note=note,
        as_of=end,
        goal=goal,
        attributes=attributes,
        workspace=ws,
    )


#: The parts of the profile, and the columns each gives.
_PARTS: dict[str, tuple[str, ...]] = {
    "experience": PROFILE_COLUMNS[1:12],
    "journeys": ("journeys", "friction_points", "friction"),
    "contacts": ("support_contacts", "complaints"),
    "spend": ("purchases", "spend"),
    "values": ("clv", "p_alive"),
}


def _wanted(columns: Sequence[str] | None, attributes: tuple[str, ...]) -> set[str]:
    """The columns asked for (all by default), checked against the profile's."""
    known = (*PROFILE_COLUMNS, *attributes)
    if columns is None:
        return set(known)
    if isinstance(columns, str):
        columns = [columns]
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise MetricError(
            f"the profile has no column {', '.join(map(repr, unknown))}; it has {', '.join(known)}"
        )
    return {"customer_id", *columns}


def _attach(left: ir.Table, right: ir.Table) -> ir.Table:
    """``left`` with ``right``'s columns, matched on ``customer_id`` (null where none)."""
    joined = left.left_join(right, left.customer_id == right.customer_id)
    return joined.select(left, *[right[c] for c in right.columns if c != "customer_id"])


def _customer_ids(ws: Workspace) -> ir.Table:
    """Everyone: the customers table, and anyone with a transaction or a response."""
    parts = [
        ws.table(name).select(customer_id=ws.table(name).customer_id.cast("string"))
        for name in ("customers", "transactions", "responses")
    ]
    ids = ibis.union(*parts, distinct=True)
    return ids.filter(ids.customer_id.notnull())


def _as_of(ws: Workspace, as_of: Any) -> pd.Timestamp:
    if as_of is not None:
        try:
            ts = pd.Timestamp(as_of)
        except (TypeError, ValueError):
            raise MetricError(f"as_of={as_of!r} is not a date") from None
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    latest = [ws.table(n).ts.max().execute() for n in ("transactions", "responses", "events")]
    known = [pd.Timestamp(v) for v in latest if v is not None and not pd.isna(v)]
    if not known:
        raise MetricError("the workspace has no transactions, responses or events to profile")
    return max(k.tz_localize("UTC") if k.tzinfo is None else k.tz_convert("UTC") for k in known)


def scale_columns(ws: Workspace, r: ir.Table) -> dict[str, ir.Value]:
    """Per response: its scale's low, high, top_from and bottom_to (declared scales respected)."""
    pairs = r.select("metric", "scale").distinct().execute()
    lookup = ws.scale_lookup()
    cases: dict[str, list[tuple[ir.Value, float]]] = {
        "low": [],
        "high": [],
        "top_from": [],
        "bottom_to": [],
    }
    for metric, label in pairs.itertuples(index=False):
        if metric not in DEFAULT_SCALES:
            continue
        has_label = label is not None and not pd.isna(label)
        sc = lookup(metric, label if has_label else None)
        cond = (r.metric == metric) & (r.scale == label if has_label else r.scale.isnull())
        bottom = np.nan if sc.bottom_to is None else sc.bottom_to
        for key, number in (
            ("low", sc.low),
            ("high", sc.high),
            ("top_from", sc.top_from),
            ("bottom_to", bottom),
        ):
            cases[key].append((cond, ibis.literal(float(number), "float64")))
    null = ibis.null("float64")
    return {k: ibis.cases(*v, else_=null) if v else null for k, v in cases.items()}


def scored_responses(ws: Workspace) -> ir.Table:
    """Every answer to an NPS, CSAT or CES question of a known customer, scored (an Ibis table).

    The ``responses`` columns with ``customer_id`` as text, ``x`` (the answer rescaled to the
    metric's default scale) and ``category``: the answer's NPS group (``promoter``,
    ``passive``, ``detractor``), CSAT band or CES band by its scale's cut-offs.
    """
    r = ws.table("responses")
    r = r.filter(r.customer_id.notnull(), r.metric.isin(list(DEFAULT_SCALES)))
    s = scale_columns(ws, r)
    d_low = ibis.cases(*((r.metric == m, sc.low) for m, sc in DEFAULT_SCALES.items()))
    d_high = ibis.cases(*((r.metric == m, sc.high) for m, sc in DEFAULT_SCALES.items()))
    x = d_low + (r.score - s["low"]) / (s["high"] - s["low"]) * (d_high - d_low)
    top = r.score >= s["top_from"]
    category = ibis.cases(
        (
            r.metric == "nps",
            ibis.cases(
                (top, "promoter"), (r.score <= s["bottom_to"], "detractor"), else_="passive"
            ),
        ),
        (r.metric == "csat", ibis.ifelse(top, "satisfied", "not satisfied")),
        else_=ibis.ifelse(top, "easy", "not easy"),
    )
    return r.mutate(customer_id=r.customer_id.cast("string"), x=x, category=category)


#: The profile's columns read from each customer's latest answer, and the metric of that answer.
_LATEST = {
    "nps_latest": "nps",
    "nps_latest_at": "nps",
    "nps_touchpoint": "nps",
    "nps_group": "nps",
    "csat_band": "csat",
    "ces_band": "ces",
}


def _experience(ws: Workspace, as_of: pd.Timestamp, wanted: set[str] | None = None) -> ir.Table:
    """Per customer: latest and mean answers, groups and bands, responses, days since the last.

    Only the columns in ``wanted`` (default all); when they are all read from latest answers,
    only the answers to those metrics are read.
    """
    columns = [c for c in _PARTS["experience"] if wanted is None or c in wanted]
    r = scored_responses(ws)
    if set(columns) <= set(_LATEST):
        r = r.filter(r.metric.isin(sorted({_LATEST[c] for c in columns})))
        return _latest_answers(r).select("customer_id", *columns)
    end_day = ibis.literal(as_of.tz_localize(None).date())
    means = r.group_by("customer_id").aggregate(
        nps_mean=r.x.mean(where=r.metric == "nps"),
        csat_mean=r.x.mean(where=r.metric == "csat"),
        ces_mean=r.x.mean(where=r.metric == "ces"),
        responses=r.count(),
        last_response=r.ts.max().date(),
    )
    means = means.mutate(days_since_response=end_day.delta(means.last_response, unit="day"))
    out = means.join(_latest_answers(r), "customer_id")
    return out.select("customer_id", *columns)


def _latest_answers(r: ir.Table) -> ir.Table:
    """Per customer, from each metric's latest answer (ties by the row key): the latest columns."""
    latest_first = ibis.window(
        group_by=[r.customer_id, r.metric], order_by=[ibis.desc(r.ts), ibis.desc(r._key)]
    )
    last = r.mutate(rank=ibis.row_number().over(latest_first)).filter(lambda t: t["rank"] == 0)
    return last.group_by("customer_id").aggregate(
        nps_latest=last.x.max(where=last.metric == "nps"),
        nps_latest_at=last.ts.max(where=last.metric == "nps"),
        nps_touchpoint=last.touchpoint.max(where=last.metric == "nps"),
        nps_group=last.category.max(where=last.metric == "nps"),
        csat_band=last.category.max(where=last.metric == "csat"),
        ces_band=last.category.max(where=last.metric == "ces"),
    )


def _friction(ws: Workspace, journey: str | None, goal: str | None) -> tuple[ir.Table, str | None]:
    """Per customer: journeys, and those that ended without reaching the goal."""
    if not ws.count("events"):
        empty = ws.table("events").select(customer_id=ws.table("events").customer_id.cast("string"))
        return empty.mutate(
            journeys=ibis.literal(0, "int64"), friction_points=ibis.literal(0, "int64")
        ), goal
    # (not prepared: a prepared, cached table would outlive the profile's workspace)
    e = JourneyQuery(journey=journey).events(ws)
    goal = goal or default_goal(e)
    won = e.filter(e.step == goal).select("journey_id").distinct().mutate(won=True)
    ends = e.filter(e.is_last).left_join(won, "journey_id")
    ends = ends.mutate(lost=ends.won.isnull())
    per = ends.group_by(ends.customer_id.cast("string").name("customer_id")).aggregate(
        journeys=ends.count(), friction_points=ends.count(where=ends.lost)
    )
    return per, goal


def _contacts(ws: Workspace, support: Sequence[str], complaint: Sequence[str]) -> ir.Table:
    e = ws.table("events")
    e = e.filter(e.step.isin([*support, *complaint]))
    return e.group_by(e.customer_id.cast("string").name("customer_id")).aggregate(
        support_contacts=e.count(where=e.step.isin(list(support))),
        complaints=e.count(where=e.step.isin(list(complaint))),
    )


def _values(ws: Workspace, value: CLV | CLVExpr | str) -> tuple[ir.Table | None, str, str]:
    """The customers' CLV and P(alive) as a table (None for revenue), its basis, and why not."""
    if isinstance(value, CLVExpr):  # computed in the engine: it stays there
        return value.table.select("customer_id", "clv", "p_alive"), value.basis, ""
    if isinstance(value, CLV):
        f = value.frame[["customer_id", "clv", "p_alive"]].copy()
        f["customer_id"] = f["customer_id"].astype(str)  # ids are text in every workspace
        f["clv"] = f["clv"].astype("float64")
        f["p_alive"] = f["p_alive"].astype("float64")
        return ibis.memtable(f), value.basis, ""
    if value not in ("clv", "revenue"):
        raise MetricError(f"value={value!r}: expected 'clv', 'revenue' or a rox.value.CLV")
    if value == "revenue":
        return None, REVENUE, ""
    if not ws.count("transactions"):
        return None, REVENUE, "there are no transactions to fit a lifetime-value model on"
    try:
        fitted = clv(ws)
    except (ConvergenceError, ValueError) as exc:  # (a MetricError is a ValueError)
        return None, REVENUE, f"the lifetime-value model could not be fitted ({exc})"
    if not np.isfinite(fitted.frame["clv"]).all():
        return None, REVENUE, "the lifetime-value model gave some customers no finite value"
    return _values(ws, fitted)
