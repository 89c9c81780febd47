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
    progress_bar,
)

DEFAULT_DEMO_FILE = "rox-demo.duckdb"
DEFAULT_REPORT = "rox-report.html"

ReportOption = Annotated[
    Path, typer.Option("--report", "-o", help="Where to write the HTML report.")
]


@app.command()
def demo(
    workspace: Annotated[
        Path, typer.Option("--workspace", "-w", help="DuckDB file to build the demo brand in.")
    ] = Path(DEFAULT_DEMO_FILE),
    customers: Annotated[
        int, typer.Option(min=1_000, max=10_000_000, help="Number of customers to simulate.")
    ] = 20_000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed builds the same brand.")
    ] = 7,
    report: ReportOption = Path(DEFAULT_REPORT),
    force: Annotated[
        bool, typer.Option(help="Rebuild the workspace if it already exists.")
    ] = False,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Build the demo brand, run every analysis, write the HTML report, print the headline."""
    from rox import demo as demo_brand

    path = workspace.expanduser().resolve()
    if path.exists() and force:
        path.unlink()
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    if path.exists():
        console.print(
            f"Using the existing demo workspace {path} (--force rebuilds it).", highlight=False
        )
        ws = rox.open(path)
    else:
        with progress_bar(f"Building the demo brand ({customers:,} customers)") as advance:
            ws = demo_brand.build(path, n_customers=customers, seed=seed, progress=advance)
    with ws:
        _analyse(ws, report, fmt)
    if fmt is OutputFormat.table:
        console.print(f"Workspace: {path}", highlight=False)


@app.command()
def report(
    output: ReportOption = Path(DEFAULT_REPORT),
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Run every analysis on the workspace, write the HTML report, print the headline."""
    with rox.open(workspace, read_only=True) as ws:
        _analyse(ws, output, fmt)


def _analyse(ws: rox.Workspace, output: Path, fmt: OutputFormat) -> None:
    from rox.report.headline import headline
    from rox.report.workspace_report import write_report

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
