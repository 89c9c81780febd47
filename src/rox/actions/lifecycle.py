"""The customer lifecycle: each customer's phase in each month or quarter, and how they move.

Every customer with a purchase is placed, in every period from the one of their first purchase to
the last, in one phase, by these rules taken in order (``signal`` is read at the period's end: its
last day, or the data's last day for the period still running):

``new``
    The customer's first purchase falls in the period (acquisition).
``reactivated``
    The customer buys in the period and was ``lapsed`` at the end of the previous one.
``active``
    The customer buys in the period, or the signal says active.
``at risk``
    The signal says at risk.
``lapsed``
    The signal says lapsed.

The signal (:class:`LifecycleRules`, editable in TOML) is by default **P(alive)** at the period's
end from the fitted lifetime-value model (:func:`rox.value.clv`, ``model="auto"``), evaluated on
the customer's purchases up to that day (:mod:`rox.actions._alive`): active when
``P(alive) >= at_risk_below`` (0.5), at risk when ``lapsed_below <= P(alive) < at_risk_below``,
lapsed when ``P(alive) < lapsed_below`` (0.2). The **recency** rule counts the whole days from
the last purchase to the period's end: active up to ``at_risk_after_days`` (180), at risk up to
``lapsed_after_days`` (365), lapsed beyond. Where no model can be fitted, the recency rule is
used and :attr:`Lifecycle.note` says why.

Computed in the engine: one row per customer and period (purchase days and revenue per period,
running counts by window functions), the phases by ``CASE`` expressions, and three aggregates
(phases, moves between consecutive periods, value); only those aggregates come back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import ibis
import numpy as np
import pandas as pd

from rox import _toml
from rox._stats import wilson
from rox._time import utc_day
from rox.actions._alive import TRIPLE, daily_purchases, p_alive_table, value_table
from rox.errors import ConvergenceError, MetricError
from rox.results import Result
from rox.value import CLV, clv

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from rox.workspace import Workspace

__all__ = ["BEFORE", "PHASES", "Lifecycle", "LifecycleRules", "lifecycle"]

#: The phases, in display order.
PHASES: tuple[str, ...] = ("new", "reactivated", "active", "at risk", "lapsed")
#: Where a new customer comes from in the moves between periods.
BEFORE = "not yet a customer"
#: The periods a lifecycle is read by, with the Ibis truncation unit and pandas frequency.
_PERIODS = {"month": ("M", "M"), "quarter": ("Q", "Q")}


@dataclass(frozen=True)
class LifecycleRules:
    """The rules that place a customer in a phase (see :mod:`rox.actions.lifecycle`).

    Parameters
    ----------
    signal : {'p_alive', 'recency'}
        The risk signal read at each period's end.
    at_risk_below, lapsed_below : float
        P(alive) under which a customer is at risk (0.5), and lapsed (0.2).
    at_risk_after_days, lapsed_after_days : int
        Whole days since the last purchase after which a customer is at risk (180), and lapsed
        (365), for the recency rule.

    Raises
    ------
    MetricError
        If the signal is unknown or the thresholds are out of order.

    Examples
    --------
    >>> LifecycleRules(signal="recency", at_risk_after_days=90).lapsed_after_days
    365
    """

    signal: Literal["p_alive", "recency"] = "p_alive"
    at_risk_below: float = 0.5
    lapsed_below: float = 0.2
    at_risk_after_days: int = 180
    lapsed_after_days: int = 365

    def __post_init__(self) -> None:
        if self.signal not in ("p_alive", "recency"):
            raise MetricError(f"lifecycle signal {self.signal!r}: expected 'p_alive' or 'recency'")
        if not 0 < self.lapsed_below < self.at_risk_below <= 1:
            raise MetricError(
                f"lifecycle thresholds lapsed_below={self.lapsed_below}, at_risk_below="
                f"{self.at_risk_below}: expected 0 < lapsed_below < at_risk_below <= 1"
            )
        if not 0 <= self.at_risk_after_days < self.lapsed_after_days:
            raise MetricError(
                f"lifecycle days at_risk_after_days={self.at_risk_after_days}, lapsed_after_days="
                f"{self.lapsed_after_days}: expected 0 <= at_risk_after_days < lapsed_after_days"
            )

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> LifecycleRules:
        """Rules from a mapping of setting to value (unknown settings are an error).

        Raises
        ------
        MetricError
            Naming an unknown setting, or a value of the wrong type.
        """
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise MetricError(
                f"unknown lifecycle setting(s) {', '.join(unknown)}; the settings are: "
                + ", ".join(known)
            )
        kinds: dict[str, tuple[type, ...]] = {
            "signal": (str,),
            "at_risk_below": (int, float),
            "lapsed_below": (int, float),
            "at_risk_after_days": (int,),
            "lapsed_after_days": (int,),
        }
        for key, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, kinds[key]):
                expected = " or ".join(k.__name__ for k in kinds[key])
                raise MetricError(f"lifecycle setting {key} = {value!r}: expected {expected}")
        return cls(**settings)

    @classmethod
    def from_toml(cls, path: str | Path) -> LifecycleRules:
        """Rules from the ``[lifecycle]`` table of a TOML file.

        Raises
        ------
        MetricError
            If the file cannot be read or parsed, has no ``[lifecycle]`` table, or its settings
            are wrong.
        """
        document = _toml.read(path, what="lifecycle rules", error=MetricError)
        table = document.get("lifecycle")
        if not isinstance(table, dict):
            raise MetricError(f"{path} has no [lifecycle] table (see docs/actions.md)")
        return cls.from_mapping(table)

    def describe(self) -> str:
        """The rules in words."""
        if self.signal == "p_alive":
            return (
                f"P(alive) at the period's end: active from {self.at_risk_below:g}, at risk from "
                f"{self.lapsed_below:g}, lapsed below"
            )
        return (
            f"days since the last purchase at the period's end: active up to "
            f"{self.at_risk_after_days}, at risk up to {self.lapsed_after_days}, lapsed beyond"
        )


@dataclass(frozen=True, eq=False)
class Lifecycle(Result):
    """Customers by lifecycle phase and period, their moves and their value.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per period and phase: ``period`` (label, e.g. ``2024Q3``), ``period_start``,
        ``period_end`` (the day the signal is read), ``phase``, ``customers``, ``share`` (of the
        period's customers), ``spend`` (revenue of the period from these customers, in the
        brand's currency), ``clv`` (the sum of their lifetime value *today*: what the customers
        in that phase then are worth now) and ``clv_mean``.
    migrations : pandas.DataFrame
        One row per period and move: ``period`` (the period moved into), ``from_phase`` (the
        phase at the end of the previous period, or :data:`BEFORE` for a new customer),
        ``to_phase``, ``customers``.
    reactivation : pandas.DataFrame
        Per period: ``lapsed_before`` (customers lapsed at the previous period's end),
        ``reactivated`` and ``rate`` with its Wilson 95% interval (``rate_low``, ``rate_high``).
    rules : LifecycleRules
        The rules applied (the recency rule when P(alive) was asked for but no model could be
        fitted: see ``note``).
    period : str
        ``month`` or ``quarter``.
    value_basis : str
        What ``clv`` is.
    note : str
        Why the rules or the value are not what was asked for, or "".
    table : ibis Table
        One row per customer and period (``customer_id``, ``period_start``, ``phase``,
        ``from_phase``, ...), not executed: the phases of individual customers.
    """

    migrations: pd.DataFrame = field(default_factory=pd.DataFrame)
    reactivation: pd.DataFrame = field(default_factory=pd.DataFrame)
    rules: LifecycleRules = field(default_factory=LifecycleRules)
    period: str = "month"
    value_basis: str = ""
    note: str = ""
    table: Any = field(default=None, repr=False)

    _plotter: ClassVar[str | None] = "rox.viz.actions:plot_lifecycle"

    def counts(self) -> pd.DataFrame:
        """Customers per phase (columns) and period (rows)."""
        wide = self.frame.pivot(index="period", columns="phase", values="customers")
        return wide.reindex(columns=list(PHASES)).fillna(0).astype("int64")

    def matrix(self, period: str | None = None, *, share: bool = False) -> pd.DataFrame:
        """Moves from each phase (rows) to each phase (columns), over all periods or into one.

        With ``share``, each row is divided by its total: the probability of moving from the
        row's phase to each phase in one period.
        """
        m = self.migrations
        if period is not None:
            if period not in set(self.frame["period"]):
                raise MetricError(f"no period {period!r}; the periods are {self._span()}")
            m = m[m["period"] == period]
        rows = [BEFORE, *PHASES]
        wide = m.pivot_table(
            index="from_phase", columns="to_phase", values="customers", aggfunc="sum"
        )
        wide = wide.reindex(index=rows, columns=list(PHASES)).fillna(0).astype("int64")
        wide.index.name, wide.columns.name = "from", "to"
        if share:
            totals = wide.sum(axis=1).replace(0, np.nan)
            return wide.div(totals, axis=0)
        return wide

    def reactivation_rate(self) -> tuple[float, float, float]:
        """Reactivated customers over customers lapsed a period before, all periods pooled.

        Returns ``(rate, low, high)``, with the Wilson 95% interval.
        """
        r = self.reactivation
        n, k = float(r["lapsed_before"].sum()), float(r["reactivated"].sum())
        rate = k / n if n else float("nan")
        _, _, low, high = wilson(rate, n)
        return rate, float(low), float(high)

    def _span(self) -> str:
        labels = self.frame["period"].drop_duplicates().tolist()
        return f"{labels[0]} to {labels[-1]}" if labels else "none"

    def __str__(self) -> str:
        lines = [f"Lifecycle by {self.period} ({self.rules.describe()})"]
        if self.note:
            lines.append(f"note: {self.note}")
        return "\n".join([*lines, self.counts().to_string()])


def lifecycle(
    ws: Workspace,
    period: Literal["month", "quarter"] = "month",
    *,
    rules: LifecycleRules | Mapping[str, Any] | str | Path | None = None,
    value: CLV | None = None,
    as_of: Any = None,
) -> Lifecycle:
    """Place every customer in a lifecycle phase per period; count phases, moves and value.

    Parameters
    ----------
    ws : Workspace
    period : {'month', 'quarter'}
    rules : LifecycleRules, mapping, or path of a TOML file, optional
        The rules (a TOML file's ``[lifecycle]`` table); default P(alive) 0.5 / 0.2.
    value : CLV, optional
        A fitted lifetime value (:func:`rox.value.clv`); its purchase model gives P(alive) and
        its ``clv`` the value per phase. Default: fitted here with ``model="auto"`` on the
        transactions up to ``as_of``.
    as_of : date-like, optional
        The last day counted (default: the day of the last transaction).

    Returns
    -------
    Lifecycle

    Raises
    ------
    MetricError
        If the period or the rules are wrong, or ``value`` has no purchase model for P(alive).
    TableNotFoundError
        If there are no transactions.

    Examples
    --------
    >>> import rox
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000, seed=7)
    >>> result = rox.actions.lifecycle(ws, "quarter")
    >>> result.counts().columns.tolist()
    ['new', 'reactivated', 'active', 'at risk', 'lapsed']
    """
    if period not in _PERIODS:
        raise MetricError(f"lifecycle period {period!r}: expected month or quarter")
    rules = _rules(rules)
    ws.require_rows("transactions")
    end = _as_of(ws, as_of, value)
    fitted, note = _fit(ws, value, end)
    if rules.signal == "p_alive" and (fitted is None or fitted.purchase_model is None):
        if value is not None:
            raise MetricError(
                "the P(alive) signal needs a CLV with its fitted purchase model "
                "(rox.value.clv(ws)); pass rules={'signal': 'recency'} to use recency"
            )
        rules = LifecycleRules(
            signal="recency",
            at_risk_after_days=rules.at_risk_after_days,
            lapsed_after_days=rules.lapsed_after_days,
        )
        note = f"{note}; phases by the recency rule instead of P(alive)"
    grid, periods = _grid(ws, period, end)
    worth = value_table(fitted) if fitted is not None else None
    # the grid (window functions over every customer and period) is built once, P(alive) read
    # on its distinct triples, and the phases (lags over it) once more for both aggregates
    with ws.engine.cache(grid) as built:
        alive = None
        if rules.signal == "p_alive":
            assert fitted is not None
            alive = p_alive_table(built, fitted.purchase_model, fitted.unit)
        with ws.engine.cache(_classify(built, rules, alive, worth)) as cached:
            frame = _phase_counts(cached, periods)
            moves = cached.group_by(["period_start", "from_phase", "phase"]).aggregate(
                customers=cached.count()
            )
            moves = moves.execute()
    table = _classify(grid, rules, alive, worth)  # (for the caller: not cached)
    labels = dict(zip(periods["period_start"], periods["period"], strict=True))
    moves["period"] = moves["period_start"].map(lambda d: labels[pd.Timestamp(d).date()])
    moves = moves.rename(columns={"phase": "to_phase"})
    moves["customers"] = moves["customers"].astype("int64")
    order = {p: i for i, p in enumerate([BEFORE, *PHASES])}
    moves = moves.sort_values(
        ["period_start", "from_phase", "to_phase"],
        key=lambda s: s.map(order) if s.name != "period_start" else s,
    )
    moves = moves[["period", "from_phase", "to_phase", "customers"]].reset_index(drop=True)
    return Lifecycle(
        frame=frame,
        migrations=moves,
        reactivation=_reactivation(moves, periods),
        rules=rules,
        period=period,
        value_basis=fitted.basis if fitted is not None else "",
        note=note.strip("; "),
        table=table,
    )


def _rules(rules: LifecycleRules | Mapping[str, Any] | str | Path | None) -> LifecycleRules:
    if rules is None:
        return LifecycleRules()
    if isinstance(rules, LifecycleRules):
        return rules
    if isinstance(rules, (str, Path)):
        return LifecycleRules.from_toml(rules)
    return LifecycleRules.from_mapping(rules)


def _as_of(ws: Workspace, as_of: Any, value: CLV | None) -> pd.Timestamp:
    """The last day counted: ``as_of``, the CLV's calibration end, or the last transaction."""
    if as_of is not None:
        day = utc_day(as_of, "as_of")
        assert day is not None
        return day
    if value is not None and value.summary is not None and value.summary.calibration_end:
        return pd.Timestamp(value.summary.calibration_end)
    last = ws.table("transactions").ts.max().execute()
    day = utc_day(last)
    assert day is not None
    return day


def _fit(ws: Workspace, value: CLV | None, end: pd.Timestamp) -> tuple[CLV | None, str]:
    """The CLV to use (given, or fitted with ``model="auto"``), and why there is none."""
    if value is not None:
        return value, ""
    try:
        return clv(ws, calibration_end=end, model="auto"), ""
    except (ConvergenceError, ValueError) as exc:  # (a MetricError is a ValueError)
        return None, f"no lifetime-value model could be fitted ({exc})"


def _period_table(first: pd.Timestamp, end: pd.Timestamp, period: str) -> pd.DataFrame:
    """The periods from ``first``'s to ``end``'s: label, first day, day the signal is read."""
    freq = _PERIODS[period][1]
    spans = pd.period_range(first, end, freq=freq)
    return pd.DataFrame(
        {
            "period": [str(p) if period == "quarter" else p.strftime("%Y-%m") for p in spans],
            "period_start": [p.start_time.date() for p in spans],
            "period_end": [min(p.end_time.normalize(), end).date() for p in spans],
        }
    )


def _grid(ws: Workspace, period: str, end: pd.Timestamp) -> tuple[ir.Table, pd.DataFrame]:
    """One row per customer and period from the first purchase's: purchases, running counts."""
    unit = _PERIODS[period][0]
    daily = daily_purchases(ws, end)
    first_day = daily.day.min().execute()
    if first_day is None or pd.isna(first_day):
        raise MetricError(f"there are no transactions up to {end:%Y-%m-%d}")
    periods = _period_table(pd.Timestamp(first_day), end, period)
    daily = daily.mutate(period_start=daily.day.truncate(unit))
    per = daily.group_by(["customer_id", "period_start"]).aggregate(
        days=daily.count(), last_day=daily.day.max(), spend=daily.amount.sum()
    )
    firsts = daily.group_by("customer_id").aggregate(first_day=daily.day.min())
    firsts = firsts.mutate(first_period=firsts.first_day.truncate(unit))
    spans = ibis.memtable(periods[["period_start", "period_end"]])
    grid = firsts.join(spans, spans.period_start >= firsts.first_period)
    grid = grid.select("customer_id", "first_day", "first_period", "period_start", "period_end")
    g = grid.left_join(
        per,
        [grid.customer_id == per.customer_id, grid.period_start == per.period_start],
    ).select(grid, per.days, per.last_day, per.spend)
    running = ibis.window(group_by=g.customer_id, order_by=g.period_start, rows=(None, 0))
    g = g.mutate(
        _purchase_days=g.days.fill_null(0).sum().over(running),
        _last=g.last_day.max().over(running),
    )
    g = g.select(
        "customer_id",
        "period_start",
        "period_end",
        is_first=g.period_start == g.first_period,
        bought=g.days.notnull(),
        spend=g.spend.fill_null(0.0),
        _x=g._purchase_days - 1,
        _tx_days=g._last.delta(g.first_day, unit="day"),
        _t_days=g.period_end.delta(g.first_day, unit="day"),
        days_since_purchase=g.period_end.delta(g._last, unit="day"),
    )
    return g, periods


def _classify(
    g: ir.Table, rules: LifecycleRules, alive: ir.Table | None, worth: ir.Table | None
) -> ir.Table:
    """The grid with each row's phase and the phase a period before (see the module)."""
    if alive is not None:
        g = g.left_join(alive, [g[c] == alive[c] for c in TRIPLE]).select(g, p_alive=alive._p_alive)
        level = ibis.cases(
            (g.p_alive >= rules.at_risk_below, 0), (g.p_alive >= rules.lapsed_below, 1), else_=2
        )
    else:
        g = g.mutate(p_alive=ibis.null("float64"))
        days = g.days_since_purchase
        level = ibis.cases(
            (days <= rules.at_risk_after_days, 0),
            (days <= rules.lapsed_after_days, 1),
            else_=2,
        )
    g = g.mutate(_level=level)
    if worth is not None:
        g = g.left_join(worth, g.customer_id == worth.customer_id).select(g, clv=worth.clv)
    else:
        g = g.mutate(clv=ibis.null("float64"))
    step = ibis.window(group_by=g.customer_id, order_by=g.period_start)
    was_lapsed = (~g.bought.lag().over(step)).fill_null(False) & (
        g._level.lag().over(step) == 2
    ).fill_null(False)
    g = g.mutate(
        phase=ibis.cases(
            (g.is_first, "new"),
            (g.bought & was_lapsed, "reactivated"),
            (g.bought | (g._level == 0), "active"),
            (g._level == 1, "at risk"),
            else_="lapsed",
        )
    )
    g = g.mutate(from_phase=g.phase.lag().over(step).fill_null(BEFORE))
    return g.select(
        "customer_id",
        "period_start",
        "period_end",
        "phase",
        "from_phase",
        "bought",
        "spend",
        "p_alive",
        "days_since_purchase",
        "clv",
    )


def _phase_counts(t: ir.Table, periods: pd.DataFrame) -> pd.DataFrame:
    """Customers, spend and value per period and phase, every phase of every period present."""
    agg = t.group_by(["period_start", "phase"]).aggregate(
        customers=t.count(), spend=t.spend.sum(), clv=t.clv.sum(), clv_n=t.clv.count()
    )
    got = agg.execute()
    got["period_start"] = [pd.Timestamp(d).date() for d in got["period_start"]]
    full = pd.MultiIndex.from_product(
        [periods["period_start"], list(PHASES)], names=["period_start", "phase"]
    ).to_frame(index=False)
    frame = full.merge(got, on=["period_start", "phase"], how="left")
    frame = frame.merge(periods, on="period_start")
    frame["customers"] = frame["customers"].fillna(0).astype("int64")
    frame["spend"] = frame["spend"].fillna(0.0).astype("float64")
    total = frame.groupby("period_start")["customers"].transform("sum")
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["share"] = frame["customers"] / total.replace(0, np.nan)
        has_clv = frame["clv_n"].fillna(0) > 0
        frame["clv"] = np.where(has_clv, frame["clv"], np.where(frame["customers"] > 0, np.nan, 0))
        frame["clv_mean"] = frame["clv"] / frame["customers"].replace(0, np.nan)
    cols = ["period", "period_start", "period_end", "phase", "customers", "share", "spend", "clv"]
    return frame[[*cols, "clv_mean"]].reset_index(drop=True)


def _reactivation(moves: pd.DataFrame, periods: pd.DataFrame) -> pd.DataFrame:
    """Per period: customers lapsed a period before, those of them reactivated, and the rate."""
    lapsed = moves[moves["from_phase"] == "lapsed"]
    n = lapsed.groupby("period")["customers"].sum()
    k = lapsed[lapsed["to_phase"] == "reactivated"].groupby("period")["customers"].sum()
    out = pd.DataFrame({"period": periods["period"].iloc[1:]})
    out["lapsed_before"] = out["period"].map(n).fillna(0).astype("int64")
    out["reactivated"] = out["period"].map(k).fillna(0).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = out["reactivated"] / out["lapsed_before"].replace(0, np.nan)
    _, _, low, high = wilson(rate.to_numpy(), out["lapsed_before"].to_numpy())
    out["rate"], out["rate_low"], out["rate_high"] = rate.to_numpy(), low, high
    return out.reset_index(drop=True)
