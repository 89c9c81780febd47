"""``rox cases ...`` (the closed loop and its return) and ``rox nba`` (next best action)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

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
from rox.cli.service import WebhooksOption

cases_app = typer.Typer(
    name="cases",
    help="Closed-loop cases: open them from rules, work them, and measure their return.",
    no_args_is_help=True,
)
app.add_typer(cases_app)

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules", help="Case rules (TOML; default: the built-in rules, docs/actions.md)."
    ),
]
AtOption = Annotated[
    str | None, typer.Option("--at", help="When the move happened (UTC; default: now).")
]
CaseId = Annotated[str, typer.Argument(help="The case's id (see `rox cases list`).")]


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def _announcements(webhooks: str | None) -> tuple[Any, Any] | None:
    """The ``announce`` rules of ``--webhooks``: ``(openings, moves)``, or None without it.

    They are the service's own (:mod:`rox.service.arrival`), for the file's outbound webhooks.
    """
    if webhooks is None:
        return None
    try:
        from rox.service.arrival import announce_move, announce_openings
        from rox.service.outbox import Hooks
    except ImportError as exc:
        from rox.errors import MissingDependencyError

        raise MissingDependencyError(
            f"--webhooks writes the service's outbox and needs its optional extra: "
            f"pip install 'rox[service]' ({exc})"
        ) from None
    hooks = Hooks.load(webhooks)
    return announce_openings(hooks), announce_move(hooks)


def _move(
    workspace: str | None,
    move: Callable[..., dict[str, Any]],
    case_id: str,
    *args: Any,
    webhooks: str | None = None,
    **kw: Any,
) -> None:
    """Make ``move`` (a move of :mod:`rox.actions.cases`) on the case and say where it stands.

    With ``webhooks`` (a TOML file of outbound webhooks), the move's announcement goes to the
    outbox in the move's transaction, as when the API makes it.
    """
    found = _announcements(webhooks)
    if found is not None:
        kw["announce"] = found[1]
    with open_workspace(workspace, read_only=False) as ws:
        case = move(ws, case_id, *args, **kw)
    owner = f", owner {case['owner']}" if case.get("owner") else ""
    _say(f"case {case['case_id']} is {case['status']}{owner}")


def _show(result: Any, fmt: OutputFormat, *, title: str, **options: Any) -> None:
    """Print ``result``'s frame in ``fmt``, and, in a table, the result in words after it."""
    emit(result.frame, fmt, title=title, **options)
    if fmt is OutputFormat.table:
        _say(str(result))


@cases_app.command(name="list")
def list_command(
    status: Annotated[
        str | None,
        typer.Option(help="open, in_progress, closed, holdout, or active (open or in progress)."),
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's cases.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's cases.")] = None,
    overdue: Annotated[bool, typer.Option(help="Only active cases past their due time.")] = False,
    top: Annotated[int | None, typer.Option(help="At most this many cases.")] = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List cases, most urgent first."""
    from rox.actions import list_cases

    with open_workspace(workspace) as ws:
        result = list_cases(
            ws, status=status, owner=owner, customer_id=customer, overdue=overdue, limit=top
        )
    frame = result.frame
    compact = frame[
        ["case_id", "customer_id", "status", "owner", "priority", "trigger", "due_at", "overdue"]
    ]
    emit(frame, fmt, title=f"Cases ({len(frame):,})", table=compact)


@cases_app.command(name="open")
def open_command(
    rules: RulesOption = None,
    since: Annotated[
        str | None, typer.Option(help="Only triggers from this time on (e.g. the go-live).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Only triggers before this time.")] = None,
    webhooks: WebhooksOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Open a case for every new trigger of the rules (idempotent), holding out a random share.

    With --webhooks, the cases opened (but the held-out ones) are announced as case.opened,
    written to the service's outbox with the cases; `rox serve` sends them.
    """
    from rox.actions import open_cases

    found = _announcements(webhooks)
    announce = found[0] if found is not None else None
    with open_workspace(workspace, read_only=False) as ws:
        require(ws, "responses")
        result = open_cases(ws, rules, since=since, until=until, announce=announce)
    if fmt is OutputFormat.table:
        _say(str(result))
        if len(result.frame):
            emit(result.frame, fmt, title="Cases opened")
        return
    emit(result.frame, fmt)


@cases_app.command(name="assign")
def assign_command(
    case_id: CaseId,
    owner: Annotated[str, typer.Argument(help="Who takes the case.")],
    at: AtOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Give a case to an owner."""
    from rox.actions import assign

    _move(workspace, assign, case_id, owner, at=at)


@cases_app.command(name="start")
def start_command(
    case_id: CaseId,
    owner: Annotated[str | None, typer.Option(help="Assign it too.")] = None,
    at: AtOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Start work on an open case (its first action)."""
    from rox.actions import start

    _move(workspace, start, case_id, at=at, owner=owner)


@cases_app.command(name="close")
def close_command(
    case_id: CaseId,
    resolution: Annotated[str, typer.Argument(help="resolved, unreachable or declined.")],
    at: AtOption = None,
    webhooks: WebhooksOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Close a case in progress.

    With --webhooks, the close is announced as case.closed, written to the service's outbox in
    the move's transaction; `rox serve` sends it.
    """
    from rox.actions import close

    _move(workspace, close, case_id, resolution, at=at, webhooks=webhooks)


@cases_app.command(name="reopen")
def reopen_command(
    case_id: CaseId,
    reason: Annotated[str, typer.Option(help="Why (kept in the case's log).")] = "",
    at: AtOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Reopen a closed case (due again one SLA from now)."""
    from rox.actions import reopen

    _move(workspace, reopen, case_id, at=at, reason=reason)


@cases_app.command(name="sla")
def sla_command(
    by: Annotated[
        str | None,
        typer.Option(help="owner, team, touchpoint, trigger or priority (default: owner)."),
    ] = "owner",
    escalate: Annotated[
        bool,
        typer.Option(help="First escalate active cases past their due time (per the rules)."),
    ] = False,
    rules: RulesOption = None,
    now: Annotated[str | None, typer.Option(help="Judge due times at this time (UTC).")] = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Time to first action, share closed within SLA and recovery rate, by owner or touchpoint."""
    from rox.actions import escalate_breached, sla_report

    with open_workspace(workspace, read_only=not escalate) as ws:
        require(ws, "cases")
        escalated = escalate_breached(ws, rules, now=now) if escalate else None
        result = sla_report(ws, by, now=now)
    if escalated is not None:
        err_console.print(str(escalated), highlight=False, markup=False)
    _show(result, fmt, title=f"Service levels by {by or 'all cases'}")


@cases_app.command(name="return")
def return_command(
    trigger: Annotated[str | None, typer.Option(help="Only cases of this rule.")] = None,
    horizon: Annotated[float, typer.Option(help="Days after opening outcomes count.")] = 180,
    target: Annotated[
        float, typer.Option(help="Save rate (fraction) the power statement is about.")
    ] = 0.05,
    value: Annotated[str, typer.Option(help="clv or revenue.")] = "clv",
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """What the loop caused: save rate, later score and recovered value, against the holdout."""
    from rox.actions import loop_return

    with open_workspace(workspace) as ws:
        require(ws, "cases")
        currency = ws.currency
        result = loop_return(
            ws, horizon_days=horizon, trigger=trigger, value=value, target_save_rate=target
        )
    _show(result, fmt, title="Outreach against holdout", currency=currency)


@app.command(name="nba")
def nba_command(
    policy: Annotated[
        Path | None,
        typer.Option(help="Action policy (TOML; default: the built-in policy, docs/actions.md)."),
    ] = None,
    actions: Annotated[
        Path | None,
        typer.Option(
            help="Past actions with a holdout (CSV or Parquet: customer_id, action, at, arm)."
        ),
    ] = None,
    top: Annotated[int | None, typer.Option(help="Only the best this many customers.")] = None,
    value: Annotated[str, typer.Option(help="clv or revenue.")] = "clv",
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The next best action of each customer, best expected value first (CSV for a CRM)."""
    from rox.actions import next_best_actions

    history = None
    if actions is not None:
        from rox.errors import ActionError

        if not actions.is_file():
            raise ActionError(f"actions file {actions} does not exist")
        reader = pd.read_parquet if actions.suffix == ".parquet" else pd.read_csv
        history = reader(actions)
    with open_workspace(workspace) as ws:
        require(ws, "transactions")
        currency = ws.currency
        result = next_best_actions(ws, policy, actions=history, top=top, value=value)
    for line in str(result).splitlines()[1:]:
        err_console.print(line.strip(), highlight=False, markup=False)
    frame = result.frame
    compact = frame[["customer_id", "action", "expected_value", "uplift", "uplift_source"]]
    emit(frame, fmt, title=str(result).splitlines()[0], table=compact.head(50), currency=currency)
