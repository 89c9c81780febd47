"""``rox info``: what a workspace holds."""

from __future__ import annotations

import rox
from rox.cli._app import FormatOption, OutputFormat, WorkspaceOption, app, emit


@app.command()
def info(workspace: WorkspaceOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Describe the workspace: tables, row counts, columns and time span."""
    with rox.open(workspace, read_only=True) as ws:
        description = ws.describe()
    emit(description.to_frame(), fmt, title=f"Workspace {description.url}")
