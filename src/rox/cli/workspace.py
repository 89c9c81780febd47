"""``rox info`` and ``rox config``: what a workspace holds, and its settings."""

from __future__ import annotations

from typing import Annotated

import typer

from rox.cli._app import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    app,
    console,
    emit,
    open_workspace,
)


@app.command()
def info(workspace: WorkspaceOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Describe the workspace: tables, row counts, columns and time span."""
    from rox.journey.events import time_ties

    with open_workspace(workspace) as ws:
        description = ws.describe()
        settings = ws.settings()
        ties = time_ties(ws)
    emit(description.to_frame(), fmt, title=f"Workspace {description.url}")
    if fmt is OutputFormat.table and ties.total:
        console.print(f"Events: {ties}", highlight=False, markup=False)
    if fmt is OutputFormat.table and settings:
        shown = ", ".join(f"{k} = {v}" for k, v in sorted(settings.items()))
        console.print(f"Settings: {shown}", highlight=False, markup=False)


@app.command()
def config(
    key: Annotated[str | None, typer.Argument(help="Setting: currency.")] = None,
    value: Annotated[
        str | None, typer.Argument(help="New value (e.g. EUR); omit it to show the setting.")
    ] = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Show or change the workspace's settings (currency: the ISO 4217 code of its money)."""
    import pandas as pd

    if key is not None and key not in SETTINGS:
        raise typer.BadParameter(
            f"unknown setting {key!r}; settings: {', '.join(SETTINGS)}", param_hint="KEY"
        )
    if key is None or value is None:
        with open_workspace(workspace) as ws:
            settings = ws.settings()
        keys = [key] if key is not None else list(SETTINGS)
        rows = [{"setting": k, "value": settings.get(k, "")} for k in keys]
        emit(pd.DataFrame(rows, columns=["setting", "value"]), fmt, title="Settings")
        return
    with open_workspace(workspace, read_only=False, create=True) as ws:
        ws.set_setting(key, value)
        stored = ws.settings()[key]
    console.print(f"{key} = {stored}", highlight=False, markup=False)


#: The settings ``rox config`` changes, with what they mean.
SETTINGS = {"currency": "ISO 4217 code of the money amounts (EUR, USD, GBP...)"}
