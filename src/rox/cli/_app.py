"""The Typer app, its consoles, the workspace it works on, and the output formats."""

from __future__ import annotations

import contextlib
import enum
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from rox.workspace import Workspace

#: How the workspace is chosen, said once for ``rox --help`` and the docs.
WORKSPACE_HELP = (
    "Every command works on one workspace: the one named by --workspace (-w), else by the "
    "ROX_WORKSPACE environment variable, else the file rox.duckdb in the current folder. "
    "`rox demo` builds the demo brand there, so the other commands find it with no flag."
)

app = typer.Typer(
    name="rox",
    help="Return on Experience: measure customer experience, connect it to value, act on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: rich help prints a "<bool>" type beside every flag (typer 0.29)
    rich_markup_mode=None,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


@app.callback(help=f"Return on Experience: measure customer experience, connect it to value, "
              f"act on it.\n\n{WORKSPACE_HELP}")  # fmt: skip
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

# -- how the comments are analysed (rox themes, rox comments, rox drivers --themes) --------------
RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="TOML file of keyword themes ([themes] name = [keywords]); they take precedence.",
        show_default=False,
    ),
]
LanguagesOption = Annotated[
    str,
    typer.Option(help="Languages to detect among, comma-separated (ISO 639-1)."),
]
ThemesOption = Annotated[
    int | None,
    typer.Option(
        "--n-themes",
        help="Themes per language (default: from the number of comments).",
        show_default=False,
    ),
]


def comment_options(rules: Path | None, languages: str, n_themes: int | None) -> dict[str, object]:
    """The options of :func:`rox.voice.analyse` from the three options above."""
    from rox.voice import load_rules

    return {
        "rules": None if rules is None else load_rules(rules),
        "languages": [c.strip() for c in languages.split(",") if c.strip()],
        "n_themes": "auto" if n_themes is None else n_themes,
    }


def workspace_file(workspace: str | None) -> Path | None:
    """The DuckDB file ``workspace`` names (default: $ROX_WORKSPACE, else ./rox.duckdb), if any."""
    from rox import engines

    url = engines.parse_url(workspace if workspace is not None else engines.default_url())
    return Path(url.location) if url.engine == "duckdb" and url.location != ":memory:" else None


@contextlib.contextmanager
def open_workspace(
    workspace: str | None, *, read_only: bool = True, create: bool = False
) -> Iterator[Workspace]:
    """Open the workspace a command works on (see :data:`WORKSPACE_HELP`).

    Parameters
    ----------
    workspace : str, optional
        The ``--workspace`` option.
    read_only : bool, default True
        Open for reading only.
    create : bool, default False
        Create a missing DuckDB workspace (for commands that write data). If the command then
        fails, the file it created is removed again: a failed command leaves nothing behind.

    Raises
    ------
    WorkspaceError
        If the workspace does not exist and ``create`` is false.
    """
    import rox
    from rox.errors import WorkspaceError

    path = workspace_file(workspace)
    new = path is not None and not path.exists()
    if new and not create:
        raise WorkspaceError(
            f"workspace {path} does not exist; create it with `rox demo` or `rox ingest` "
            "(or name another with --workspace or ROX_WORKSPACE)"
        )
    try:
        with rox.open(workspace, read_only=read_only and not new) as ws:
            yield ws
    except BaseException:
        if new and path is not None:
            for leftover in (path, path.with_name(path.name + ".wal")):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(leftover)
        raise


#: The command that loads each canonical table, for the messages about missing data.
_HOW_TO_LOAD = "load it with `rox ingest {table} FILE` (see docs/ingest.md), or try `rox demo`"


def require(ws: Workspace, *tables: str) -> None:
    """Refuse to go on when a table the command needs holds no rows, saying how to load it.

    Raises
    ------
    TableNotFoundError
        Naming the first empty table (exit code 4).
    """
    from rox.errors import TableNotFoundError

    for table in tables:
        # one row is enough to know (a full count costs a scan on some engines)
        if not ws.engine.has_table(table) or ws.table(table).limit(1).count().execute() == 0:
            raise TableNotFoundError(
                f"the workspace {ws.url} has no {table}; {_HOW_TO_LOAD.format(table=table)}"
            )


def emit(
    frame: pd.DataFrame,
    fmt: OutputFormat,
    *,
    title: str | None = None,
    table: pd.DataFrame | Callable[[], pd.DataFrame] | None = None,
    currency: str | None = None,
) -> None:
    """Print ``frame`` in the requested format on standard output.

    Tables and CSV are rounded for reading by :mod:`rox._display`; JSON keeps full precision.
    ``table``, when given, is a compact view of ``frame`` (or a function making one) used for
    the rich table only (CSV and JSON always carry every column). ``currency`` is shown with
    money in tables.
    """
    from rox._display import display_frame

    if fmt is OutputFormat.csv:
        typer.echo(display_frame(frame, "csv").to_csv(index=False), nl=False)
    elif fmt is OutputFormat.json:
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        typer.echo(json.dumps(records, indent=2, ensure_ascii=False))
    else:
        view = frame if table is None else table() if callable(table) else table
        console.print(rich_table(view, title=title, currency=currency))


def rich_table(
    frame: pd.DataFrame, *, title: str | None = None, currency: str | None = None
) -> Table:
    """A rich table of ``frame`` with numbers right-aligned and rounded for reading."""
    import pandas as pd

    from rox._display import display_frame

    shown = display_frame(frame, "table", currency=currency)
    table = Table(title=title, header_style="bold")
    for col in frame.columns:
        s = frame[col]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in shown.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


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
