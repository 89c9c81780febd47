"""What a failed or interrupted load raises, and the rollback of its transaction.

A load interrupted (Ctrl-C, DuckDB's interrupt) is a :class:`~rox.errors.LoadCancelledError`; a
write the operating system refused (disk full, no permission) is a
:class:`~rox.errors.WorkspaceWriteError`; either way nothing was written, as the transaction is
rolled back. Every DuckDB write path of :mod:`rox.ingest` (a load, :func:`rox.ingest.reconcile`, a
service batch) translates its failures here, so that each says the same.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import duckdb

from rox.errors import LoadCancelledError, RoxError, WorkspaceWriteError

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["WRITE_FAILURES", "rollback", "translated"]

#: Words of the operating system's reasons for a failed write, as DuckDB passes them on.
WRITE_FAILURES = (
    "No space left on device",
    "Permission denied",
    "Read-only file system",
    "Disk quota exceeded",
    "could not write",
    "Could not write",
)


def rollback(con: Any) -> None:
    """Roll back the open transaction, if any is left (a failed COMMIT has closed it already)."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def translated(exc: BaseException, ws: Workspace) -> BaseException:
    """The rox error a failed load should raise instead of ``exc`` (``exc`` itself if none).

    An interruption (:class:`KeyboardInterrupt`, DuckDB's interrupt, or a ``RuntimeError`` saying
    it was interrupted) becomes :class:`~rox.errors.LoadCancelledError`; a DuckDB or OS error
    naming one of :data:`WRITE_FAILURES` becomes :class:`~rox.errors.WorkspaceWriteError`. A rox
    error is returned as it is (it said what went wrong already).
    """
    text = str(exc)
    if isinstance(exc, RoxError):  # said already (a SourceError is an OSError too)
        return exc
    if isinstance(exc, KeyboardInterrupt | duckdb.InterruptException) or (
        isinstance(exc, RuntimeError) and "interrupted" in text.lower()
    ):
        return LoadCancelledError("load cancelled (interrupted); nothing was written")
    if isinstance(exc, duckdb.Error | OSError) and any(w in text for w in WRITE_FAILURES):
        reason = next(w for w in WRITE_FAILURES if w in text)
        detail = text.strip().splitlines()[0]
        return WorkspaceWriteError(
            f"cannot write to workspace {ws.url}: {reason} ({detail}); nothing was loaded"
        )
    return exc
