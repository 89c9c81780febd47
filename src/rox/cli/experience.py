"""``rox nps|csat|ces``, ``rox compare`` and ``rox sample-size``."""

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
    open_workspace,
    require,
)
from rox.experience import compare as compare_metric
from rox.experience import measure, sample_size
from rox.experience.metrics import DEFAULT_MIN_N


class Period(enum.StrEnum):
    """Periods a metric can be broken down by."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


class MetricName(enum.StrEnum):
    """The experience metrics."""

    nps = "nps"
    csat = "csat"
    ces = "ces"


class Correction(enum.StrEnum):
    """Multiple-comparison corrections."""

    holm = "holm"
    bh = "bh"
    none = "none"


By = Annotated[
    str | None,
    typer.Option(
        "--by", "-b", help="Columns to break down by, comma-separated (e.g. touchpoint,channel)."
    ),
]
PeriodOption = Annotated[
    Period | None, typer.Option("--period", "-p", help="Also by period (UTC).")
]
Since = Annotated[str | None, typer.Option(help="Only responses at or after this date.")]
Until = Annotated[str | None, typer.Option(help="Only responses before this date.")]
Level = Annotated[float, typer.Option(help="Confidence level of the intervals.")]
MinN = Annotated[int, typer.Option("--min-n", help="Flag groups with fewer responses (low_n).")]
Method = Annotated[
    str | None,
    typer.Option(
        help="Interval: adjusted-wald|wald|bootstrap (NPS), wilson|wald|bootstrap (CSAT), "
        "t|bootstrap (CES)."
    ),
]


def _metric_command(metric: str, summary: str) -> None:
    def command(
        by: By = None,
        period: PeriodOption = None,
        since: Since = None,
        until: Until = None,
        method: Method = None,
        level: Level = 0.95,
        min_n: MinN = DEFAULT_MIN_N,
        workspace: WorkspaceOption = None,
        fmt: FormatOption = OutputFormat.table,
    ) -> None:
        with open_workspace(workspace) as ws:
            require(ws, "responses")
            result = measure(
                ws,
                metric,
                by,
                None if period is None else period.value,
                since=since,
                until=until,
                method=method,
                level=level,
                min_n=min_n,
            )
        if result.frame.empty and fmt is OutputFormat.table:
            console.print(f"No {metric} responses match.", highlight=False)
            return
        title = f"{metric.upper()} ({result.method}, {level:.0%} interval)"
        frame = result.to_frame()
        emit(frame, fmt, title=title, table=lambda: _compact(frame))

    command.__doc__ = summary
    app.command(name=metric)(command)


_metric_command("nps", "Net Promoter Score (% promoters - % detractors) with intervals.")
_metric_command("csat", "Customer satisfaction (% satisfied, top-2-box) with Wilson intervals.")
_metric_command("ces", "Customer effort score (mean and % easy) with intervals.")


@app.command()
def compare(
    metric: Annotated[MetricName, typer.Argument(help="nps, csat or ces.")],
    a: Annotated[
        str | None,
        typer.Option("--a", help="First period: 2024Q1, 2024-03, 2024H1, 2024, or START:END."),
    ] = None,
    b: Annotated[
        str | None, typer.Option("--b", help="Second period, compared with the first.")
    ] = None,
    by: By = None,
    groups: Annotated[
        str | None, typer.Option(help="Compare just these two groups of --by: A,B.")
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Compare every group of --by with this one.")
    ] = None,
    paired: Annotated[
        bool, typer.Option(help="Periods only: same customers in both, bootstrap over them.")
    ] = False,
    correction: Annotated[
        Correction, typer.Option(help="Multiple-comparison correction.")
    ] = Correction.holm,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    min_n: MinN = DEFAULT_MIN_N,
    since: Since = None,
    until: Until = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Is a difference real? Compare two periods (--a/--b), or the groups of a column (--by)."""
    if (a is None) != (b is None):
        raise typer.BadParameter("give both --a and --b", param_hint="--a/--b")
    periods = None if a is None else [a, b]
    pair = None if groups is None else [g.strip() for g in groups.split(",")]
    with open_workspace(workspace) as ws:
        require(ws, "responses")
        result = compare_metric(
            ws,
            metric.value,
            periods=periods,
            by=by,
            groups=pair,
            reference=reference,
            paired=paired,
            correction=correction.value,
            alpha=alpha,
            min_n=min_n,
            since=since,
            until=until,
        )
    if fmt is OutputFormat.table:
        frame = result.to_frame()
        frame["interval"] = _interval(frame["ci_low"], frame["ci_high"])
        keep = [c for c in frame.columns if c not in _COMPARE_HIDDEN]
        emit(frame, fmt, title=f"{metric.value.upper()}: {result.test}", table=frame[keep])
        for verdict in result.verdicts:
            console.print(f"• {verdict}", highlight=False, markup=False)
    else:
        emit(result.to_frame(), fmt)


@app.command(name="sample-size")
def sample_size_command(
    metric: Annotated[MetricName, typer.Argument(help="nps, csat or ces.")],
    margin: Annotated[float | None, typer.Option(help="Wanted margin of error, in points.")] = None,
    difference: Annotated[
        float | None, typer.Option(help="Change to detect between two samples, in points.")
    ] = None,
    level: Level = 0.95,
    power: Annotated[float, typer.Option(help="Power to detect --difference.")] = 0.8,
    from_workspace: Annotated[
        bool,
        typer.Option(
            help="Assume the shares (or SD) observed in the workspace, not the worst case."
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Responses needed for a margin of error, or to detect a difference."""
    if from_workspace:
        with open_workspace(workspace) as ws:
            require(ws, "responses")
            plan = sample_size(
                metric.value, margin=margin, difference=difference, ws=ws, level=level, power=power
            )
    else:
        plan = sample_size(
            metric.value, margin=margin, difference=difference, level=level, power=power
        )
    if fmt is OutputFormat.table:
        console.print(plan.explanation, highlight=False)
    else:
        emit(plan.to_frame(), fmt)


_COMPARE_HIDDEN = {"verdict", "ci_low", "ci_high", "estimate_a", "estimate_b", "p_value"}


def _interval(low: pd.Series, high: pd.Series) -> pd.Series:
    return low.map("{:.1f}".format) + " to " + high.map("{:.1f}".format)


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """The metric table for reading: interval as one column, no se, n_eff only if weighted."""
    out = frame.copy()
    out.insert(out.columns.get_loc("ci_low"), "interval", _interval(out["ci_low"], out["ci_high"]))
    drop = ["ci_low", "ci_high", "se", "easy_low", "easy_high"]
    if (out["n_eff"].round(6) == out["n"]).all():
        drop.append("n_eff")
    return out.drop(columns=[c for c in drop if c in out.columns])
