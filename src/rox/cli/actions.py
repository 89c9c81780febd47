"""``rox lifecycle`` and ``rox at-risk``: customers by lifecycle phase, and those at risk."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from rox.cli._app import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    app,
    console,
    emit,
    err_console,
    open_workspace,
    require,
)
from rox.cli.journey import JourneyName


class LifecyclePeriod(enum.StrEnum):
    """The periods a lifecycle is read by."""

    month = "month"
    quarter = "quarter"


class LifecycleView(enum.StrEnum):
    """What ``rox lifecycle`` prints."""

    phases = "phases"
    migration = "migration"
    reactivation = "reactivation"


@app.command(name="lifecycle")
def lifecycle_command(
    period: Annotated[
        LifecyclePeriod, typer.Option(help="Read the lifecycle by month or by quarter.")
    ] = LifecyclePeriod.month,
    rules: Annotated[
        Path | None,
        typer.Option(
            help="TOML file whose [lifecycle] table sets the rules (signal = 'p_alive' or "
            "'recency', at_risk_below, lapsed_below, at_risk_after_days, lapsed_after_days).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    show: Annotated[
        LifecycleView,
        typer.Option(
            help="Customers per phase and period (with spend and CLV), the moves between "
            "phases, or the reactivation rate per period."
        ),
    ] = LifecycleView.phases,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Customers per lifecycle phase (new, reactivated, active, at risk, lapsed) and period."""
    from rox.actions import lifecycle

    with open_workspace(workspace) as ws:
        require(ws, "transactions")
        currency = ws.currency
        result = lifecycle(ws, period.value, rules=rules)
    if result.note:
        err_console.print(f"note: {result.note}", highlight=False, markup=False)
    if show is LifecycleView.migration:
        matrix = result.matrix()
        frame = matrix.reset_index()
        emit(frame, fmt, title=f"Moves between phases, one {result.period} to the next")
        return
    if show is LifecycleView.reactivation:
        emit(result.reactivation, fmt, title="Reactivation: lapsed customers buying again")
        if fmt is OutputFormat.table:
            rate, low, high = result.reactivation_rate()
            console.print(
                f"Pooled over periods: {rate:.1%} of lapsed customers reactivated the next "
                f"{result.period} (95% interval {low:.1%}–{high:.1%}).",
                highlight=False,
                markup=False,
            )
        return
    frame = result.frame.drop(columns=["period_start"])
    title = f"Lifecycle by {result.period}: {result.rules.describe()}"
    emit(frame, fmt, title=title, table=result.counts().reset_index(), currency=currency)


class RiskSignal(enum.StrEnum):
    """The churn signal of ``rox at-risk``."""

    alive = "alive"
    hazard = "hazard"


@app.command(name="at-risk")
def at_risk_command(
    top: Annotated[int, typer.Option(help="How many customers to list.", min=1)] = 100,
    signal: Annotated[
        RiskSignal,
        typer.Option(
            help="The churn signal: the fall in P(alive) over --lookback days, or P(churn "
            "within --horizon days) by the churn hazard (Cox model with time-varying NPS)."
        ),
    ] = RiskSignal.alive,
    lookback: Annotated[
        int, typer.Option(help="Days over which the fall in P(alive) is measured.", min=1)
    ] = 90,
    horizon: Annotated[
        int, typer.Option(help="With --signal hazard: days ahead of the churn risk.", min=1)
    ] = 90,
    contact_days: Annotated[
        int, typer.Option(help="Days of support calls and complaints among the reasons.", min=1)
    ] = 30,
    min_clv: Annotated[float, typer.Option(help="Leave out customers worth less.")] = 0.0,
    journey: JourneyName = None,
    goal: Annotated[
        str | None,
        typer.Option(help="Step that makes a journey a success (for friction points met)."),
    ] = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Customers ranked by value at risk (CLV × the fall in P(alive), or × P(churn))."""
    from rox.actions import at_risk

    with open_workspace(workspace) as ws:
        require(ws, "transactions")
        currency = ws.currency
        result = at_risk(
            ws,
            top=top,
            lookback_days=lookback,
            contact_days=contact_days,
            min_clv=min_clv,
            journey=journey,
            goal=goal,
            signal=signal.value,
            horizon_days=horizon,
        )
    if fmt is OutputFormat.json:
        emit(pd.DataFrame(result.records()), fmt)
        return
    frame = result.frame.assign(reasons=result.frame["reasons"].map("; ".join))
    why = (
        f"P(alive) since {result.since:%Y-%m-%d}"
        if result.since is not None
        else f"P(churn within {result.horizon_days} days)"
    )
    title = (
        f"{result.customers_at_risk:,} customers at risk on {result.as_of:%Y-%m-%d} "
        f"({why}); top {len(frame)}"
    )
    risk = "p_alive" if result.signal == "alive" else "p_churn"
    compact = frame[["rank", "customer_id", "value_at_risk", "clv", risk, "reasons"]]
    emit(frame, fmt, title=title, table=compact, currency=currency)
