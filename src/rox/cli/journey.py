"""``rox journey map|paths|funnel|friction|channels|index`` and ``rox audit``."""

from __future__ import annotations

import enum
import json
from typing import Annotated

import pandas as pd
import typer

import rox
from rox.cli._app import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    app,
    console,
    emit,
)
from rox.journey import (
    JourneyQuery,
    audit,
    build_index,
    channel_switching,
    consistency,
    drop_index,
    friction,
    funnel,
    index_info,
    journey_map,
    paths,
    variants,
)

journey_app = typer.Typer(
    name="journey",
    help="Journey maps, paths, funnels, friction points and channels.",
    no_args_is_help=True,
)
app.add_typer(journey_app)


class FunnelMode(enum.StrEnum):
    """Funnel step order."""

    ordered = "ordered"
    strict = "strict"


class ValueBasis(enum.StrEnum):
    """How ``friction`` and ``audit`` value customers."""

    clv = "clv"
    revenue = "revenue"


ValueOption = Annotated[
    ValueBasis,
    typer.Option(
        "--value",
        help="How customers are valued: their CLV (BG/NBD + Gamma-Gamma, next 52 weeks; revenue "
        "to date if the model cannot be fitted), or their revenue to date.",
    ),
]


class Direction(enum.StrEnum):
    """Paths after or before a step."""

    after = "after"
    before = "before"


JourneyName = Annotated[
    str | None,
    typer.Option("--journey", "-j", help="Only journeys whose journey id contains this text."),
]
Gap = Annotated[
    str | None, typer.Option(help="Split journeys after this long without an event: 30min, 7D.")
]
Exclude = Annotated[str | None, typer.Option(help="Steps to leave out, comma-separated.")]
Collapse = Annotated[bool, typer.Option(help="Collapse immediate repeats of a step.")]
Since = Annotated[str | None, typer.Option(help="Only events at or after this date.")]
Until = Annotated[str | None, typer.Option(help="Only events before this date.")]


def _query(
    journey: str | None,
    gap: str | None,
    exclude: str | None,
    collapse: bool,
    since: str | None,
    until: str | None,
) -> JourneyQuery:
    steps = tuple(s.strip() for s in exclude.split(",")) if exclude else ()
    return JourneyQuery(
        journey=journey, gap=gap, exclude=steps, collapse=collapse, since=since, until=until
    )


def _describe(query: JourneyQuery) -> str:
    """The options of ``query`` that differ from the defaults, in words."""
    options = {k: v for k, v in json.loads(query.key()).items() if v not in (None, [], False)}
    if "gap_seconds" in options:
        options["gap"] = str(pd.Timedelta(seconds=options.pop("gap_seconds")))
    if not options:
        return "as loaded (the journey column, else each customer's history)"
    return "; ".join(f"{k}={v}" for k, v in sorted(options.items()))


@journey_app.command(name="map")
def map_command(
    top: Annotated[int | None, typer.Option(help="Keep the most frequent transitions.")] = 25,
    journey: JourneyName = None,
    gap: Gap = None,
    exclude: Exclude = None,
    collapse: Collapse = False,
    since: Since = None,
    until: Until = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The journey map: transitions between steps, with customers and time between."""
    with rox.open(workspace, read_only=True) as ws:
        result = journey_map(ws, _query(journey, gap, exclude, collapse, since, until), top=top)
    title = f"Journey map: {result.journeys:,} journeys, {result.events:,} events"
    emit(result.to_frame(), fmt, title=title)


@journey_app.command(name="paths")
def paths_command(
    step: Annotated[
        str | None,
        typer.Argument(help="Paths around this step (default: whole journeys, the variants)."),
    ] = None,
    direction: Annotated[Direction, typer.Option(help="After or before the step.")] = (
        Direction.after
    ),
    depth: Annotated[int, typer.Option(help="Steps after/before.")] = 3,
    top: Annotated[int, typer.Option(help="Most common paths to show.")] = 20,
    journey: JourneyName = None,
    gap: Gap = None,
    exclude: Exclude = None,
    collapse: Collapse = False,
    since: Since = None,
    until: Until = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The most common paths: whole journeys (variants), or after/before a step."""
    query = _query(journey, gap, exclude, collapse, since, until)
    with rox.open(workspace, read_only=True) as ws:
        if step is None:
            result = variants(ws, query, top=top)
        else:
            result = paths(ws, step, direction=direction.value, depth=depth, query=query, top=top)
    emit(result.to_frame(), fmt, title="Paths")


@journey_app.command(name="funnel")
def funnel_command(
    steps: Annotated[str, typer.Argument(help="Ordered steps, comma-separated.")],
    mode: Annotated[FunnelMode, typer.Option(help="ordered: later; strict: next event.")] = (
        FunnelMode.ordered
    ),
    window: Annotated[str, typer.Option(help="Conversion window from entry: 30D, 12h.")] = "30D",
    by: Annotated[str | None, typer.Option(help="channel, a period, or a customers column.")] = (
        None
    ),
    journey: JourneyName = None,
    gap: Gap = None,
    exclude: Exclude = None,
    collapse: Collapse = False,
    since: Since = None,
    until: Until = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Conversion and drop-off through ordered steps, with Wilson intervals."""
    names = [s.strip() for s in steps.split(",") if s.strip()]
    with rox.open(workspace, read_only=True) as ws:
        result = funnel(
            ws,
            names,
            mode=mode.value,
            window=window,
            by=by,
            query=_query(journey, gap, exclude, collapse, since, until),
        )
    emit(result.to_frame(), fmt, title=f"Funnel ({result.mode}, window {window})")


@journey_app.command(name="friction")
def friction_command(
    goal: Annotated[str | None, typer.Option(help="The step that counts as success.")] = None,
    journey: JourneyName = None,
    gap: Gap = None,
    exclude: Exclude = None,
    collapse: Collapse = False,
    since: Since = None,
    until: Until = None,
    value: ValueOption = ValueBasis.clv,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Steps ranked by friction: exits, waits, loops, repeat contacts, experience, lost value."""
    with rox.open(workspace, read_only=True) as ws:
        query = _query(journey, gap, exclude, collapse, since, until)
        result = friction(ws, query, goal=goal, value=value.value)
    emit(
        result.to_frame(),
        fmt,
        title=f"Friction points (goal: {result.goal}; value: {result.value_basis})",
    )


@journey_app.command(name="channels")
def channels_command(
    metric: Annotated[str, typer.Option(help="Experience metric compared across channels.")] = (
        "csat"
    ),
    journey: JourneyName = None,
    gap: Gap = None,
    exclude: Exclude = None,
    collapse: Collapse = False,
    since: Since = None,
    until: Until = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Channel switching within journeys, and experience consistency across channels."""
    with rox.open(workspace, read_only=True) as ws:
        moves = channel_switching(ws, _query(journey, gap, exclude, collapse, since, until))
        spread = consistency(ws, metric)
    if fmt is OutputFormat.table:
        console.print(
            f"{moves.cross_channel_share:.0%} of {moves.journeys:,} journeys use more "
            "than one channel.",
            highlight=False,
        )
        matrix = moves.matrix().reset_index()
        emit(matrix, fmt, title="Moves from channel (rows) to channel (columns)")
        emit(spread.drop(columns="verdict"), fmt, title=f"{metric.upper()} across channels")
    else:
        emit(moves.to_frame(), fmt)


@journey_app.command(name="index")
def index_command(
    journey: JourneyName = None,
    gap: Gap = None,
    exclude: Exclude = None,
    collapse: Collapse = False,
    since: Since = None,
    until: Until = None,
    status: Annotated[bool, typer.Option("--status", help="Show the index; change nothing.")] = (
        False
    ),
    drop: Annotated[bool, typer.Option("--drop", help="Drop the index.")] = False,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Keep these journeys ordered in the workspace, rebuilt on every load of events.

    Every journey analysis of the same journeys then reads the index instead of ordering the
    events again.
    """
    if status and drop:
        raise typer.BadParameter("--status and --drop do not go together")
    with rox.open(workspace, read_only=status) as ws:
        if drop:
            dropped = drop_index(ws)
            console.print("Journey index dropped." if dropped else "There was no journey index.")
            return
        if status:
            info = index_info(ws)
        else:
            with console.status("Building the journey index..."):
                info = build_index(ws, _query(journey, gap, exclude, collapse, since, until))
    if info is None:
        console.print("This workspace has no journey index; build one with `rox journey index`.")
        raise typer.Exit(1)
    row = {
        "journeys": _describe(info.query),
        "events": info.events,
        "through_load": info.through_load,
        "built_at": info.built_at,
        "fresh": info.fresh,
    }
    emit(pd.DataFrame([row]), fmt, title="Journey index")


@app.command(name="audit")
def audit_command(
    journey: JourneyName = None,
    goal: Annotated[str | None, typer.Option(help="The step that counts as success.")] = None,
    value: ValueOption = ValueBasis.clv,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Audit one key customer journey and identify its single most costly friction point."""
    with rox.open(workspace, read_only=True) as ws:
        result = audit(ws, journey, goal=goal, value=value.value)
    if fmt is OutputFormat.table:
        for line in result.findings:
            console.print(line, highlight=False, markup=False)
    else:
        emit(result.to_frame(), fmt)
