"""``rox journey map|paths|funnel|friction|channels|index`` and ``rox audit``."""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

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

if TYPE_CHECKING:
    from rox.journey import JourneyQuery

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


GoalOption = Annotated[
    str | None,
    typer.Option(
        help="The step that counts as success (default: the usual last step of the longest "
        "journeys); --end cuts journeys instead."
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
Start = Annotated[
    str | None,
    typer.Option(help="Keep each journey from its first visit of this step (others dropped)."),
]
End = Annotated[
    str | None, typer.Option(help="Cut each journey after its first visit of this step.")
]
Merge = Annotated[
    list[str] | None,
    typer.Option(
        help="Rename steps matching a regular expression: PATTERN=STEP (repeatable), "
        "e.g. '^service_=service'."
    ),
]
Exclude = Annotated[str | None, typer.Option(help="Steps to leave out, comma-separated.")]
Collapse = Annotated[bool, typer.Option(help="Collapse immediate repeats of a step.")]
Since = Annotated[str | None, typer.Option(help="Only events at or after this date.")]
Until = Annotated[str | None, typer.Option(help="Only events before this date.")]

#: How journeys are built (:class:`rox.journey.JourneyQuery`): declared once, added to every
#: journey command by :func:`journey_options`.
_JOURNEY_OPTIONS = tuple(
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
    for name, kind, default in (
        ("journey", JourneyName, None),
        ("gap", Gap, None),
        ("start", Start, None),
        ("end", End, None),
        ("merge", Merge, None),
        ("exclude", Exclude, None),
        ("collapse", Collapse, False),
        ("since", Since, None),
        ("until", Until, None),
    )
)
#: Options every command ends with.
_LAST = ("value", "workspace", "fmt")


def journey_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the journey options; it receives them as one ``query: JourneyQuery``."""
    # the annotations, evaluated without importing rox.journey (imported when a command runs)
    hints = get_type_hints(command, localns={"JourneyQuery": object}, include_extras=True)
    signature = inspect.signature(command)
    keyword = inspect.Parameter.KEYWORD_ONLY  # typer passes every parameter by name
    own = [
        p.replace(kind=keyword, annotation=hints[p.name])
        for p in signature.parameters.values()
        if p.name != "query"
    ]
    first = [p for p in own if p.name not in _LAST]
    last = [p for p in own if p.name in _LAST]
    names = [p.name for p in _JOURNEY_OPTIONS]

    @functools.wraps(command)
    def with_query(**kwargs: Any) -> None:
        query = _query(**{name: kwargs.pop(name) for name in names})
        command(query=query, **kwargs)

    parameters = [*first, *_JOURNEY_OPTIONS, *last]
    with_query.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_query.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return with_query


def _query(
    journey: str | None,
    gap: str | None,
    start: str | None,
    end: str | None,
    merge: list[str] | None,
    exclude: str | None,
    collapse: bool,
    since: str | None,
    until: str | None,
) -> JourneyQuery:
    from rox.journey import JourneyQuery

    steps = tuple(s.strip() for s in exclude.split(",")) if exclude else ()
    renames: dict[str, str] = {}
    for rule in merge or ():
        pattern, sep, step = rule.rpartition("=")
        if not sep or not pattern or not step:
            raise typer.BadParameter(
                f"{rule!r} is not PATTERN=STEP (e.g. '^service_=service')", param_hint="--merge"
            )
        renames[pattern] = step
    return JourneyQuery(
        journey=journey,
        gap=gap,
        start=start,
        end=end,
        merge=renames,
        exclude=steps,
        collapse=collapse,
        since=since,
        until=until,
    )


def _describe(query: JourneyQuery) -> str:
    """The options of ``query`` that differ from the defaults, in words."""
    from rox.journey.events import HOW_BUILT

    options = {k: v for k, v in json.loads(query.key()).items() if v not in (None, [], False)}
    for entry in HOW_BUILT:  # how this rox builds journeys: not an option
        options.pop(entry, None)
    if "gap_seconds" in options:
        options["gap"] = str(pd.Timedelta(seconds=options.pop("gap_seconds")))
    if not options:
        return "as loaded (the journey column, else each customer's history)"
    return "; ".join(f"{k}={v}" for k, v in sorted(options.items()))


@journey_app.command(name="map")
@journey_options
def map_command(
    top: Annotated[int | None, typer.Option(help="Keep the most frequent transitions.")] = 25,
    query: JourneyQuery | None = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The journey map: transitions between steps, with customers and time between."""
    from rox.journey import journey_map

    with open_workspace(workspace) as ws:
        require(ws, "events")
        result = journey_map(ws, query, top=top)
    title = f"Journey map: {result.journeys:,} journeys, {result.events:,} events"
    emit(result.to_frame(), fmt, title=title)
    if fmt is OutputFormat.table and result.ties is not None and result.ties.tied:
        console.print(f"Note: {result.ties}", highlight=False, markup=False)


@journey_app.command(name="paths")
@journey_options
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
    query: JourneyQuery | None = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The most common paths: whole journeys (variants), or after/before a step."""
    from rox.journey import paths, variants

    with open_workspace(workspace) as ws:
        require(ws, "events")
        if step is None:
            result = variants(ws, query, top=top)
        else:
            result = paths(ws, step, direction=direction.value, depth=depth, query=query, top=top)
    emit(result.to_frame(), fmt, title="Paths")


@journey_app.command(name="funnel")
@journey_options
def funnel_command(
    steps: Annotated[str, typer.Argument(help="Ordered steps, comma-separated.")],
    mode: Annotated[FunnelMode, typer.Option(help="ordered: later; strict: next event.")] = (
        FunnelMode.ordered
    ),
    window: Annotated[str, typer.Option(help="Conversion window from entry: 30D, 12h.")] = "30D",
    by: Annotated[str | None, typer.Option(help="channel, a period, or a customers column.")] = (
        None
    ),
    query: JourneyQuery | None = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Conversion and drop-off through ordered steps, with Wilson intervals."""
    from rox.journey import funnel

    names = [s.strip() for s in steps.split(",") if s.strip()]
    with open_workspace(workspace) as ws:
        require(ws, "events")
        result = funnel(
            ws,
            names,
            mode=mode.value,
            window=window,
            by=by,
            query=query,
        )
    emit(result.to_frame(), fmt, title=f"Funnel ({result.mode}, window {window})")


@journey_app.command(name="friction")
@journey_options
def friction_command(
    goal: GoalOption = None,
    query: JourneyQuery | None = None,
    value: ValueOption = ValueBasis.clv,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Steps ranked by friction: exits, waits, loops, repeat contacts, experience, lost value."""
    from rox.impact import friction

    with open_workspace(workspace) as ws:
        require(ws, "events")
        currency = ws.currency
        result = friction(ws, query, goal=goal, value=value.value)
    emit(
        result.to_frame(),
        fmt,
        title=f"Friction points (goal: {result.goal}; value: {result.value_basis})",
        currency=currency,
    )


@journey_app.command(name="channels")
@journey_options
def channels_command(
    metric: Annotated[str, typer.Option(help="Experience metric compared across channels.")] = (
        "csat"
    ),
    query: JourneyQuery | None = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Channel switching within journeys, and experience consistency across channels."""
    from rox.journey import channel_switching, consistency

    with open_workspace(workspace) as ws:
        require(ws, "events")
        moves = channel_switching(ws, query)
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
@journey_options
def index_command(
    query: JourneyQuery | None = None,
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
    from rox.journey import build_index, drop_index, index_info

    if status and drop:
        raise typer.BadParameter("--status and --drop do not go together")
    with open_workspace(workspace, read_only=status) as ws:
        if drop:
            dropped = drop_index(ws)
            console.print("Journey index dropped." if dropped else "There was no journey index.")
            return
        if status:
            info = index_info(ws)
        else:
            require(ws, "events")
            with console.status("Building the journey index..."):
                info = build_index(ws, query)
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
@journey_options
def audit_command(
    goal: GoalOption = None,
    query: JourneyQuery | None = None,
    value: ValueOption = ValueBasis.clv,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Audit one key customer journey and identify its single most costly friction point.

    The friction point is priced in lifetime value, with what removing it is worth.
    """
    from rox.impact import audit

    fields = dataclasses.fields(query) if query is not None else ()
    options = {f.name: getattr(query, f.name) for f in fields}
    journey = options.pop("journey", None)
    with open_workspace(workspace) as ws:
        require(ws, "events")
        result = audit(ws, journey, goal=goal, value=value.value, **options)
    if fmt is OutputFormat.table:
        for line in result.findings:
            console.print(line, highlight=False, markup=False)
    else:
        emit(result.to_frame(), fmt)
