"""``rox demo`` and ``rox report``: build the demo brand, analyse a workspace, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import rox
from rox.cli._app import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    app,
    console,
    emit,
    err_console,
    open_workspace,
    progress_bar,
    workspace_file,
)
from rox.errors import TableNotFoundError, WorkspaceError
from rox.workspace import DEMO_SETTING

DEFAULT_REPORT = "rox-report.html"

ReportOption = Annotated[
    Path, typer.Option("--report", "-o", help="Where to write the HTML report.")
]


@app.command()
def demo(
    workspace: WorkspaceOption = None,
    customers: Annotated[
        int, typer.Option(min=1_000, max=10_000_000, help="Number of customers to simulate.")
    ] = 20_000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed builds the same brand.")
    ] = 7,
    currency: Annotated[
        str, typer.Option(help="ISO 4217 code of the brand's money, kept in the workspace.")
    ] = "EUR",
    report: ReportOption = Path(DEFAULT_REPORT),
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace the workspace (a DuckDB file), even one rox demo did not build.",
        ),
    ] = False,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Build the demo brand, run every analysis, write the HTML report, print the headline.

    The workspace is the one every other command uses (./rox.duckdb unless --workspace or
    ROX_WORKSPACE names another), so `rox nps` and the rest work on the demo right after. A
    workspace `rox demo` built before is reused; an empty one is built in; one holding other data
    is left alone (--force replaces it).
    """
    from rox import demo as demo_brand

    path = workspace_file(workspace)
    if force and path is None:
        raise WorkspaceError("--force removes a DuckDB file; name one with --workspace")
    if force and path is not None:
        _remove(path)
    reuse = False
    if path is None or path.exists():
        with open_workspace(workspace) as ws:
            built = ws.settings().get(DEMO_SETTING)
            rows = ws.describe().to_frame().set_index("table")["rows"]
            url = ws.url
        reuse = built is not None
        if reuse:
            err_console.print(
                f"Using the demo brand built earlier in {url} ({built}; --force rebuilds it).",
                highlight=False,
            )
        elif rows.sum() == 0:
            err_console.print(
                f"Found an empty workspace {url}, not built by rox demo; building the demo "
                "brand in it.",
                highlight=False,
            )
        else:
            held = ", ".join(f"{n:,} {t}" for t, n in rows.items() if n)
            raise WorkspaceError(
                f"{url} holds data rox demo did not build ({held}); it is left as it is. "
                "Build the demo in another workspace (--workspace rox-demo.duckdb), or replace "
                "this one with --force"
            )
    if not reuse:
        try:
            with progress_bar(f"Building the demo brand ({customers:,} customers)") as advance:
                ws = demo_brand.build(
                    workspace, n_customers=customers, seed=seed, progress=advance, currency=currency
                )
        except BaseException:
            if path is not None:
                _remove(path)
            raise
        ws.close()
    with open_workspace(workspace) as ws:
        _analyse(ws, report, fmt)
        url = ws.url
    if fmt is OutputFormat.table:
        console.print(f"Workspace: {url}", highlight=False)


def _remove(path: Path) -> None:
    """Remove DuckDB file ``path`` and its write-ahead log."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)


@app.command()
def report(
    output: ReportOption = Path(DEFAULT_REPORT),
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Run every analysis on the workspace, write the HTML report, print the headline."""
    with open_workspace(workspace) as ws:
        _analyse(ws, output, fmt)


#: What each table adds to the report, for the notes on a partly filled workspace.
_SECTIONS_OF = {
    "responses": "the experience metrics",
    "transactions": "customer value",
    "events": "the journeys",
}


def _analyse(ws: rox.Workspace, output: Path, fmt: OutputFormat) -> None:
    from rox.report.headline import headline
    from rox.report.workspace_report import write_report

    missing = [t for t in _SECTIONS_OF if ws.count(t) == 0]
    if len(missing) == len(_SECTIONS_OF):
        raise TableNotFoundError(
            f"the workspace {ws.url} holds no responses, transactions or events, so there is "
            "nothing to report; load them with `rox ingest TABLE FILE` (see docs/ingest.md), or "
            "try `rox demo`"
        )
    for table in missing:
        err_console.print(
            f"note: no {table}, so the report leaves out {_SECTIONS_OF[table]}; load them with "
            f"`rox ingest {table} FILE`",
            highlight=False,
            markup=False,
        )

    with progress_bar("Analysing") as advance:
        result = headline(ws)
        advance(0.5)
        out = write_report(ws, output.expanduser().resolve(), headline=result)
        advance(1.0)
    if fmt is OutputFormat.table:
        for line in result.findings:
            console.print(f"• {line}", highlight=False, markup=False)
    emit(result.to_frame(), fmt, title="Headline")
    if fmt is OutputFormat.table:
        console.print(f"Report: {out}", highlight=False)
