"""``rox worth``: customer value by experience group, and with ``--rox`` the ROX model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

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
from rox.errors import ConvergenceError, MetricError

if TYPE_CHECKING:
    from rox.impact import ROXModel


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
            help="Say what moving the worse group to the better level is worth (detractors to "
            "passive, ...) through the ROX model, by channel, with its placebo; CSV and JSON "
            "then carry the ROX by channel.",
        ),
    ] = False,
    move: Annotated[
        str | None, typer.Option(help="With --rox: the group moved (default: the worse one).")
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="With --rox: the level it is moved to (default: the next).")
    ] = None,
    horizon_years: Annotated[float, typer.Option(help="With --rox: years of value counted.")] = 3.0,
    draws: Annotated[
        int, typer.Option(help="With --rox: parametric draws behind the intervals.")
    ] = 200,
    weighted: Annotated[
        bool,
        typer.Option(
            "--weighted",
            help="With --rox: also weight the moved respondents to the customer base (raking on "
            "segment, region and value band, as `rox nonresponse`) and report the ROX weighted "
            "and unweighted.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Mean CLV (95% bootstrap interval), P(alive), spend and retention by experience group."""
    from rox.impact import counterfactual, nonresponse, profile, rox_model, worth
    from rox.impact.nonresponse import VALUE_BAND
    from rox.impact.profile import GROUPS

    if rox_ and by not in GROUPS:
        raise typer.BadParameter(
            f"--rox moves customers between experience groups: --by must be one of "
            f"{', '.join(GROUPS)}, not {by!r}"
        )
    if weighted and not rox_:
        raise typer.BadParameter("--weighted weights the ROX: use it with --rox")
    model: ROXModel | None = None
    with open_workspace(workspace) as ws:
        require(ws, "transactions")
        currency = ws.currency
        profiled = profile(ws, value=value.value, journey=journey, goal=goal)
        result = worth(profiled, by, reference=reference, replicates=replicates, random_state=seed)
        comparison = (
            counterfactual(
                profiled, by=by, move=move, to=to, replicates=replicates, random_state=seed
            )
            if rox_
            else None
        )
        failure = ""
        if rox_:
            try:
                weights = None
                if weighted:
                    metric = {"nps_group": "nps", "csat_band": "csat", "ces_band": "ces"}.get(by)
                    if metric is None:
                        raise MetricError(
                            f"--weighted weighs the respondents of a metric; --by {by} has none"
                        )
                    margins = [m for m in ("segment", "region") if m in profiled.attributes]
                    weights = nonresponse(
                        profiled, metric=metric, margins=[*margins, VALUE_BAND]
                    ).weights()
                model = rox_model(
                    profiled,
                    by=by,
                    move=move,
                    to=to,
                    horizon_years=horizon_years,
                    draws=draws,
                    random_state=seed,
                    weights=weights,
                )
            except (ConvergenceError, MetricError) as exc:
                if fmt is not OutputFormat.table:
                    raise
                failure = str(exc)
    if result.value_note:
        err_console.print(
            f"note: customers are valued by {result.value_basis}: {result.value_note}",
            highlight=False,
            markup=False,
        )
    if fmt is not OutputFormat.table:
        if model is not None:
            err_console.print(str(model), highlight=False, markup=False)
            emit(_channels(model), fmt)
            return
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
    if model is not None:
        emit(
            _channels(model),
            fmt,
            title=f"ROX by channel ({model.horizon_years:g} years, {model.label}"
            + (", weighted to the customer base)" if model.weighted else ")"),
            currency=currency,
        )
        console.print(str(model), highlight=False, markup=False)
    elif failure:
        err_console.print(
            f"note: the ROX model could not be fitted ({failure}); the model-free comparison "
            "follows",
            highlight=False,
            markup=False,
        )
    if comparison is not None:
        console.print(
            "Model-free comparison (difference in group means, associational): " + str(comparison),
            highlight=False,
            markup=False,
        )


def _channels(model: ROXModel) -> pd.DataFrame:
    """The ROX by channel with a total row (and the unweighted total when weighted)."""
    rows = model.frame[["channel", "rox", "rox_low", "rox_high", "share"]]
    totals = [
        {
            "channel": "total",
            "rox": model.total,
            "rox_low": model.low,
            "rox_high": model.high,
            "share": 1.0,
        }
    ]
    if model.weighted:
        totals.append(
            {
                "channel": "total unweighted",
                "rox": model.unweighted_total,
                "rox_low": model.unweighted_low,
                "rox_high": model.unweighted_high,
                "share": float("nan"),
            }
        )
    return pd.concat([rows, pd.DataFrame(totals)], ignore_index=True)
