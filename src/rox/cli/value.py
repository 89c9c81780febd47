"""``rox clv``, ``rox retention`` and ``rox pareto``: customer value from the transactions."""

from __future__ import annotations

import enum
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


class PurchaseModel(enum.StrEnum):
    """Purchase models (``auto``: the better of BG/NBD and Pareto/NBD, see rox.value.choice)."""

    auto = "auto"
    bgnbd = "bgnbd"
    paretonbd = "paretonbd"


class CohortPeriod(enum.StrEnum):
    """Periods of cohorts."""

    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


class RetentionView(enum.StrEnum):
    """What ``rox retention`` shows."""

    matrix = "matrix"
    counts = "counts"
    churn = "churn"


@app.command(name="clv")
def clv_command(
    horizon: Annotated[float, typer.Option(help="Weeks ahead to value.")] = 52.0,
    margin: Annotated[float, typer.Option(help="Share of revenue that is profit.")] = 1.0,
    discount_rate: Annotated[float, typer.Option(help="Annual discount rate.")] = 0.1,
    model: Annotated[
        PurchaseModel,
        typer.Option(
            help="Purchase model (auto: the better of bgnbd and paretonbd, by the holdout's "
            "predictions with --holdout-end, else by BIC)."
        ),
    ] = PurchaseModel.auto,
    calibration_end: Annotated[
        str | None, typer.Option(help="Fit on transactions up to this day (default: all).")
    ] = None,
    holdout_end: Annotated[
        str | None,
        typer.Option(
            help="With --calibration-end: end of the holdout period on which --model auto "
            "judges the candidates' predicted repeat purchases (default: none, by BIC)."
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="Customers to list (0: only the totals).")] = 20,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Fit BG/NBD or Pareto/NBD (the better, by default) and Gamma-Gamma; value every customer."""
    from rox.value import clv

    if holdout_end is not None and calibration_end is None:
        raise typer.BadParameter(
            "--holdout-end ends the period after the calibration: give --calibration-end too"
        )
    with open_workspace(workspace) as ws:
        require(ws, "transactions")
        currency = ws.currency
        result = clv(
            ws,
            calibration_end=calibration_end,
            holdout_end=holdout_end,
            horizon=horizon,
            margin=margin,
            discount_rate=discount_rate,
            model=model.value,
        )
    for note in result.purchase_model.notes_ + result.spend_model.notes_:
        err_console.print(f"note: {note}", highlight=False, markup=False)
    if fmt is not OutputFormat.table:
        if result.choice is not None:  # (the output stays the customers' rows)
            err_console.print(
                f"note: purchase model: {result.choice}", highlight=False, markup=False
            )
        emit(result.to_frame() if top == 0 else result.to_frame().head(top), fmt)
        return
    if result.choice is not None:
        console.print(f"Purchase model: {result.choice}", highlight=False, markup=False)
    console.print(repr(result.purchase_model), highlight=False, markup=False)
    console.print(repr(result.spend_model), highlight=False, markup=False)
    emit(result.aggregate(), fmt, title="Customer base", currency=currency)
    if top:
        emit(
            result.to_frame().head(top),
            fmt,
            title=f"Top {top} customers by CLV",
            currency=currency,
        )


@app.command()
def retention(
    period: Annotated[CohortPeriod, typer.Option(help="Cohort and period length.")] = (
        CohortPeriod.month
    ),
    view: Annotated[RetentionView, typer.Option(help="Rates, counts, or churn per period.")] = (
        RetentionView.matrix
    ),
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Acquisition-cohort retention (cohort x period), or churn rates per period."""
    from rox.value import churn_rates, cohorts

    with open_workspace(workspace) as ws:
        require(ws, "transactions")
        if view is RetentionView.churn:
            emit(churn_rates(ws, period.value), fmt, title=f"Churn by {period.value}")
            return
        result = cohorts(ws, period.value)
    if fmt is not OutputFormat.table:
        emit(result.to_frame(), fmt)
        return
    values = "retention" if view is RetentionView.matrix else "active"
    matrix = result.matrix(values)
    matrix.columns = [str(c) for c in matrix.columns]
    table = matrix.reset_index()
    table["cohort"] = table["cohort"].dt.strftime("%Y-%m-%d")
    emit(table, fmt, title=f"{values.capitalize()} by {period.value} since acquisition")


@app.command()
def pareto(
    top: Annotated[float, typer.Option(help="Top share of customers to report.")] = 0.2,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """How concentrated is revenue? Share of the top customers, Gini, Lorenz curve."""
    from rox.value import concentration

    with open_workspace(workspace) as ws:
        require(ws, "transactions")
        result = concentration(ws, top=top)
    if fmt is OutputFormat.table:
        console.print(str(result), highlight=False)
        points = result.frame.iloc[::10].reset_index(drop=True)
        emit(points, fmt, title="Lorenz curve")
    else:
        summary = pd.DataFrame(
            [
                {
                    "customers": result.customers,
                    "total": result.total,
                    "top": result.top,
                    "top_share": result.top_share,
                    "gini": result.gini,
                }
            ]
        )
        emit(summary if fmt is OutputFormat.json else result.to_frame(), fmt)
