"""``rox worth``: customer value by experience group (what experience is worth)."""

from __future__ import annotations

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
from rox.cli.journey import JourneyName, ValueBasis, ValueOption


@app.command(name="worth")
def worth_command(
    by: Annotated[
        str,
        typer.Option(
            help="Group customers by nps_group, csat_band, ces_band, friction, or a column of "
            "customers (segment, region, ...)."
        ),
    ] = "nps_group",
    reference: Annotated[
        str | None,
        typer.Option(
            help="Group the CLV ratios divide by (default: detractor, not satisfied, not easy, "
            "met friction)."
        ),
    ] = None,
    journey: JourneyName = None,
    goal: Annotated[
        str | None,
        typer.Option(help="Step that makes a journey a success (for friction points met)."),
    ] = None,
    value: ValueOption = ValueBasis.clv,
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    rox_: Annotated[
        bool,
        typer.Option(
            "--rox",
            help="Also say what moving the worse group to the better level is worth (detractors to "
            "passive, ...), with its placebo (shuffled experience).",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Mean CLV (95% bootstrap interval), P(alive), spend and retention by experience group."""
    with open_workspace(workspace) as ws:
        require(ws, "transactions")
        currency = ws.currency
        from rox.impact import counterfactual, profile, worth

        profiled = profile(ws, value=value.value, journey=journey, goal=goal)
        result = worth(profiled, by, reference=reference, replicates=replicates, random_state=seed)
        moves = [
            counterfactual(
                profiled, by=by, placebo=placebo, replicates=replicates, random_state=seed
            )
            for placebo in ((False, True) if rox_ else ())
        ]
    if result.value_note:
        err_console.print(
            f"note: customers are valued by {result.value_basis}: {result.value_note}",
            highlight=False,
            markup=False,
        )
    if fmt is not OutputFormat.table:
        for move in moves:  # (standard output keeps the machine-readable table only)
            err_console.print(str(move), highlight=False, markup=False)
        emit(result.to_frame(), fmt)
        return
    frame = result.frame
    level = f"{result.confidence:.0%}"
    compact = pd.DataFrame(
        {
            by: frame[by],
            "customers": frame["customers"],
            "mean CLV": frame["clv"],
            f"{level} interval": [
                f"{lo:,.0f}–{hi:,.0f}"
                for lo, hi in zip(frame["clv_low"], frame["clv_high"], strict=True)
            ],
            "ratio": frame["clv_ratio"],
            "P(alive)": frame["p_alive"],
            "spend": frame["spend"],
            "retention": frame["retention"],
        }
    )
    title = f"Value by {by} ({result.value_basis}; ratio to {result.reference})"
    emit(frame, fmt, title=title, table=compact, currency=currency)
    if result.reference is not None:
        best = frame[frame[by] != result.reference].iloc[0]
        console.print(
            f"Mean value of {best[by]}: {best['clv_ratio']:.2f}× that of {result.reference} "
            f"({result.confidence:.0%} interval {best['clv_ratio_low']:.2f}–"
            f"{best['clv_ratio_high']:.2f}); associational, not causal.",
            highlight=False,
            markup=False,
        )
    for move in moves:
        console.print(str(move), highlight=False, markup=False)
