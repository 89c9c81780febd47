"""``rox nonresponse``: respondents against non-respondents, and the score weighted to the base."""

from __future__ import annotations

import enum
from typing import Annotated

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
from rox.cli.journey import ValueBasis, ValueOption


class Weights(enum.StrEnum):
    """How respondents are weighted back to the customer base."""

    raking = "raking"
    propensity = "propensity"


class Base(enum.StrEnum):
    """The customers who could have answered."""

    buyers = "buyers"
    all = "all"


@app.command(name="nonresponse")
def nonresponse_command(
    metric: Annotated[str, typer.Option(help="nps, csat or ces.")] = "nps",
    weights: Annotated[
        Weights,
        typer.Option(
            help="raking (to the base's margins, iterative proportional fitting) or propensity "
            "(inverse response propensity, logistic on the margins)."
        ),
    ] = Weights.raking,
    margins: Annotated[
        str,
        typer.Option(
            help="Comma-separated columns of customers, and value_band (the CLV quartile)."
        ),
    ] = "segment,region,value_band",
    base: Annotated[
        Base, typer.Option(help="Customers who could answer: buyers, or all.")
    ] = Base.buyers,
    value: ValueOption = ValueBasis.clv,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Who answers and who does not (RFM, CLV, segment); the score unweighted and weighted."""
    with open_workspace(workspace) as ws:
        require(ws, "responses", "transactions")
        currency = ws.currency
        from rox.impact import nonresponse

        result = nonresponse(
            ws,
            metric=metric,
            method=weights.value,
            margins=[m.strip() for m in margins.split(",") if m.strip()],
            base=base.value,
            value=value.value,
        )
    if fmt is not OutputFormat.table:
        for line in result.lines():  # (standard output keeps the machine-readable table only)
            err_console.print(line, highlight=False, markup=False)
        emit(result.to_frame(), fmt)
        return
    emit(result.frame, fmt, title="Respondents and non-respondents", currency=currency)
    emit(result.composition, fmt, title="Shares of the base, the respondents, weighted")
    for line in result.lines():
        console.print(line, highlight=False, markup=False)
