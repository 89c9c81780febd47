"""``rox roi``: ROI versus ROX of an initiative (projected and measured)."""

from __future__ import annotations

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


@app.command(name="roi")
def roi_command(
    initiative: Annotated[
        Path,
        typer.Option(
            "--initiative",
            "-i",
            help="The initiative's TOML file (name, cost, target, start, change, horizon_years; "
            "see examples/initiative.toml).",
        ),
    ],
    measure: Annotated[
        bool,
        typer.Option(
            help="Also measure it: difference in differences of NPS and spend, target against "
            "the other customers, with the parallel-trends check."
        ),
    ] = True,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """ROI (the money of one project) and ROX (the value of all the experiences it changed)."""
    from rox.impact import read_initiative, roi

    plan = read_initiative(initiative)
    with open_workspace(workspace) as ws:
        require(ws, "transactions", "responses")
        result = roi(ws, plan, measure=measure)
    if fmt is not OutputFormat.table:
        for line in result.lines():  # (standard output keeps the machine-readable table only)
            err_console.print(line, highlight=False, markup=False)
        emit(result.to_frame(), fmt)
        return
    for line in result.lines():
        console.print(line, highlight=False, markup=False)
    emit(result.to_frame(), fmt, title=f"{plan.name}: ROI and ROX", table=_shown(result.frame))


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The figures as text, each in its unit (ratios as percentages)."""

    def text(value: float, unit: str) -> str:
        if value != value:
            return ""
        if unit == "ratio":
            return f"{value:+.0%}"
        if unit == "NPS points":
            return f"{value:+.1f}"
        if unit == "months":
            return f"{value:.0f}"
        return f"{value:,.0f}"

    cols = {
        c: [text(v, u) for v, u in zip(frame[c], frame["unit"], strict=True)]
        for c in ("estimate", "low", "high")
    }
    return pd.DataFrame({"figure": frame["figure"], **cols, "unit": frame["unit"]})
