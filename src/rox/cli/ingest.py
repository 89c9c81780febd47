"""``rox ingest`` and ``rox rejects``: load files into a workspace, and see what was refused."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

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
    progress_bar,
)
from rox.errors import LoadCancelledError
from rox.schema import TABLES


class OnError(enum.StrEnum):
    """What a load does with invalid rows."""

    refuse = "raise"
    quarantine = "quarantine"


class InputFormat(enum.StrEnum):
    """File formats, for files whose suffix does not tell."""

    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


@app.command()
def ingest(
    table: Annotated[str, typer.Argument(help=f"Canonical table: {', '.join(TABLES)}.")],
    # text, not Path: rox itself says why a file cannot be read (an I/O error, not a usage
    # error), and a lake URL keeps its "//" (Path("s3a://b/x") is "s3a:/b/x")
    files: Annotated[
        list[str],
        typer.Argument(help="CSV, Parquet or JSON-lines files or folders (or lake URLs on Spark)."),
    ],
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", "-m", help="TOML column mapping.", readable=False),
    ] = None,
    on_error: Annotated[
        OnError,
        typer.Option(
            "--on-error",
            help="raise: refuse the load if any row is invalid; quarantine: load the valid rows "
            "and write the others with their reasons to the 'rejects' table.",
        ),
    ] = OnError.refuse,
    input_format: Annotated[
        InputFormat | None,
        typer.Option(
            "--input-format", help="csv, parquet or jsonl, when the suffix does not tell."
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="Text encoding of the files when not UTF-8, e.g. cp1252 (Windows, Western "
            "Europe), latin-1, utf-16.",
        ),
    ] = None,
    native: Annotated[
        bool | None,
        typer.Option(
            "--native/--no-native",
            help="On Spark: validate and write with Spark itself (CSV or Parquet files or "
            "folders Spark can read), not in a DuckDB staging database here. Default: for "
            "sources of 256 MiB or more, when the mapping allows it.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Load FILES into TABLE as one atomic load; re-loading the same rows adds nothing."""
    try:
        with (
            open_workspace(workspace, read_only=False, create=True) as ws,
            progress_bar(f"Loading {table}") as advance,
        ):
            from rox.ingest import ingest as load

            report = load(
                ws,
                table,
                files,
                mapping=mapping,
                on_error=on_error.value,
                progress=advance,
                fmt=None if input_format is None else input_format.value,
                encoding=encoding,
                native=native,
            )
    except KeyboardInterrupt:  # outside the load's transaction: nothing was written
        raise LoadCancelledError("load cancelled (interrupted); nothing was written") from None
    if fmt is OutputFormat.table:
        console.print(str(report), highlight=False, markup=False)
        for problem in report.problems[:5]:
            console.print(f"  rejected: {problem}", highlight=False, markup=False)
    else:  # the frame goes to standard output; what else the report says, to standard error
        for note in report.notes:
            err_console.print(f"note: {note}", highlight=False, markup=False)
    emit(report.to_frame(), fmt, title=f"Load {report.load_id}")


@app.command()
def rejects(
    load: Annotated[
        int | None, typer.Argument(help="Load id (default: every load's rejects).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Show rows refused by quarantining loads: source, row, column, value and the rule broken."""
    with open_workspace(workspace) as ws:
        t = ws.table("rejects")
        if load is not None:
            t = t.filter(t.load_id == load)
        frame = t.order_by(["load_id", "source", "row"]).limit(limit).execute()
    if frame.empty and fmt is OutputFormat.table:
        which = "" if load is None else f" in load {load}"
        console.print(
            f"No rejected rows{which}: rows are kept here only by `rox ingest ... "
            "--on-error quarantine`.",
            highlight=False,
        )
        return
    emit(frame, fmt, title="Rejected rows")
