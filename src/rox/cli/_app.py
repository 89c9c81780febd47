"""The Typer app, its consoles, and the output formats shared by every command."""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    name="rox",
    help="Return on Experience: measure customer experience, connect it to value, act on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


@app.callback()
def _root() -> None:
    """Return on Experience: measure customer experience, connect it to value, act on it."""


class OutputFormat(enum.StrEnum):
    """How a command prints its result."""

    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output as a rich table, CSV or JSON.")
]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace URL or DuckDB file (default: $ROX_WORKSPACE, else ./rox.duckdb).",
        show_default=False,
    ),
]


def emit(
    frame: pd.DataFrame,
    fmt: OutputFormat,
    *,
    title: str | None = None,
    table: pd.DataFrame | None = None,
) -> None:
    """Print ``frame`` in the requested format on standard output.

    ``table``, when given, is a compact view of ``frame`` used for the rich table only (CSV and
    JSON always carry every column).
    """
    if fmt is OutputFormat.csv:
        typer.echo(frame.to_csv(index=False), nl=False)
    elif fmt is OutputFormat.json:
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        typer.echo(json.dumps(records, indent=2, ensure_ascii=False))
    else:
        console.print(rich_table(frame if table is None else table, title=title))


def rich_table(frame: pd.DataFrame, *, title: str | None = None) -> Table:
    """A rich table of ``frame`` with numbers right-aligned and rounded for reading."""
    table = Table(title=title, header_style="bold")
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(
            frame[col]
        )
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return (
            f"{value:,.1f}"
            if abs(value) >= 100
            else f"{value:.3g}"
            if abs(value) < 0.01
            else f"{value:.2f}"
        )
    if isinstance(value, pd.Timestamp):
        return str(value.strftime("%Y-%m-%d") if value == value.normalize() else value.isoformat())
    return str(value)


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Callable[[float], None]]:
    """Show a rich progress bar on standard error; yields a callback taking the fraction done.

    Nothing is drawn when standard error is not a terminal (pipes, CI logs).
    """
    if not err_console.is_terminal:
        yield lambda done: None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=1.0)
        yield lambda done: bar.update(task, completed=min(max(done, 0.0), 1.0))
