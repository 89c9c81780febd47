"""Atomic, idempotent loads into a workspace's canonical tables: :func:`ingest`.

A load reads its sources with DuckDB, parses and checks every row in DuckDB
(:mod:`rox.ingest.rules`), and then, in one transaction, either writes every valid row or
nothing (:mod:`rox.ingest.transaction`). On a DuckDB workspace all of it happens inside the
workspace. On PostgreSQL and Spark it happens in a DuckDB staging database on this machine,
which first fetches the workspace's rows with the same keys; the accepted rows, the rejects and
the load record are then appended by the engine (:mod:`rox.ingest.stage_database`). On Spark, a
large load of files Spark can read is validated by Spark itself (:mod:`rox.ingest.native`).

- ``on_error="raise"`` (default): one invalid row and nothing is loaded; the
  :class:`~rox.errors.ValidationError` names the source, row, column, value and rule.
- ``on_error="quarantine"``: the valid rows are loaded, and every rule broken by the others is
  written to the ``rejects`` table with the row as read (JSON), so nothing is lost.

Rows already in the workspace with the same key and the same content are skipped, so loading a
file twice adds nothing the second time; the same key with different content is a rejected row,
never an overwrite (:mod:`rox.ingest.key_checks`). Each load is recorded in ``rox_loads``. A
load of events rebuilds the journey index, if the workspace has one
(:mod:`rox.ingest.derived`, :mod:`rox.journey.index`).

A load is all or nothing even across a crash: every row carries its ``_load_id``, and before each
load :func:`reconcile` (:mod:`rox.ingest.recovery`) removes what an interrupted load left behind.

The steps of a load live in modules of their own: the one pass of a valid CSV
(:mod:`rox.ingest.one_pass`), the staged path of any other source (:mod:`rox.ingest.staged`),
the key checks, attribute columns (:mod:`rox.ingest.attributes`), the errors of a failed or
interrupted load (:mod:`rox.ingest.failures`), the progress callback
(:mod:`rox.ingest.progress`) and the report (:mod:`rox.ingest.report`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from rox.errors import IngestError, WorkspaceError
from rox.ingest.derived import refresh_cancelled, refresh_derived
from rox.ingest.job import LoadJob
from rox.ingest.mapping import ColumnMapping, check_encoding, load_mapping
from rox.ingest.native import NATIVE_MIN_BYTES, native_files, native_load, total_bytes
from rox.ingest.recovery import reconcile
from rox.ingest.report import PROBLEMS_KEPT, LoadReport
from rox.ingest.rules import spark_ready
from rox.ingest.sources import Format
from rox.ingest.stage_database import load_through_stage
from rox.ingest.transaction import load_in_transaction
from rox.schema import LOADS_TABLE, table_spec

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["LoadReport", "ingest", "reconcile"]


def ingest(
    ws: Workspace,
    table: str,
    source: Any,
    *,
    mapping: ColumnMapping | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    on_error: Literal["raise", "quarantine"] = "raise",
    progress: Callable[[float], None] | None = None,
    fmt: Format | None = None,
    encoding: str | None = None,
    native: bool | None = None,
) -> LoadReport:
    """Load ``source`` into canonical table ``table`` of ``ws``, atomically.

    Parameters
    ----------
    ws : Workspace
        Where to load (any engine).
    table : str
        Canonical table: customers, transactions, events, responses or cases.
    source : path, DataFrame, pyarrow Table, or a list of them
        CSV, Parquet or JSON-lines files (format from the suffix), pandas or polars DataFrames.
        A list is one load: all of it or (with errors and ``on_error="raise"``) none of it.
    mapping : ColumnMapping, path to a TOML file, or dict, optional
        How the source's columns map onto the table (see :mod:`rox.ingest.mapping`).
    on_error : {'raise', 'quarantine'}
        What to do with invalid rows: refuse the whole load, or load the valid rows and write the
        invalid ones with their reasons to ``rejects``.
    progress : callable, optional
        Called with the fraction done (0 to 1) while the load runs.
    fmt : {'csv', 'parquet', 'jsonl'}, optional
        Format of files whose suffix does not tell.
    encoding : str, optional
        Text encoding of CSV and JSON-lines files that are not UTF-8 (a Python codec name such
        as ``cp1252``); overrides the mapping's ``encoding``.
    native : bool, optional
        On a Spark workspace, validate and write with Spark itself
        (:mod:`rox.ingest.native`) instead of a DuckDB staging database on this machine: for
        CSV or Parquet files or folders Spark can read (local, ``s3a://``, ``hdfs://``,
        ``dbfs:/``). ``None`` (default) takes it for sources of at least
        :data:`~rox.ingest.native.NATIVE_MIN_BYTES` (256 MiB) when their mapping allows it;
        ``True`` requires it (an error says why it cannot be taken); ``False`` never takes it.

    Returns
    -------
    LoadReport

    Raises
    ------
    ValidationError
        If rows are invalid and ``on_error="raise"``; nothing was loaded.
    SchemaError
        If a source lacks a required column; nothing was loaded.
    SourceError, MappingError
        If a source cannot be read or the mapping is invalid; nothing was loaded.
    WorkspaceWriteError
        If the engine cannot write (no permission, disk full); nothing was loaded.
    LoadCancelledError
        If the load was interrupted (Ctrl-C); nothing was loaded.

    Examples
    --------
    >>> import pandas as pd, rox
    >>> ws = rox.open("duckdb://:memory:")
    >>> frame = pd.DataFrame({"ts": ["2024-05-01"], "metric": ["nps"], "score": [9]})
    >>> print(ws.ingest("responses", frame))
    Loaded 1 of 1 rows into responses [load 1]
    """
    if on_error not in ("raise", "quarantine"):
        raise IngestError(f"on_error must be 'raise' or 'quarantine', not {on_error!r}")
    if ws.read_only:
        raise WorkspaceError(f"workspace {ws.url} is open read-only; cannot load into it")
    spec = table_spec(table)
    plan_mapping = load_mapping(mapping)
    plan_mapping.check(spec)
    if encoding is not None:
        plan_mapping = replace(plan_mapping, encoding=check_encoding(encoding, "encoding option"))
    sources = list(source) if isinstance(source, list | tuple) else [source]
    if not sources:
        raise IngestError("nothing to load: no source given")
    notes = reconcile(ws)
    loads = ws.table(LOADS_TABLE)
    job = LoadJob(
        table=spec.name,
        sources=sources,
        mapping=plan_mapping,
        known_scales=ws.declared_scales(),
        load_id=int(loads.load_id.max().fill_null(0).execute()) + 1,
        on_error=on_error,
        progress=progress,
        fmt=fmt,
    )
    files = _native_files(ws, sources, plan_mapping, fmt, encoding, native)
    try:
        if files is not None:
            rows, problems = native_load(
                ws,
                spec.name,
                files,
                plan_mapping,
                job.known_scales,
                job.load_id,
                on_error,
            )
        elif ws.engine.name == "duckdb":
            # validate and write inside the workspace itself, in one transaction
            rows, problems = load_in_transaction(ws, job, notes=notes)
        else:
            # validate in a DuckDB staging database next to this process, then append what it
            # accepted to the workspace's engine as one commit
            rows, problems = load_through_stage(ws, job, notes)
    finally:
        ws.forget()  # what the session kept (ordered journeys) was computed before the load
    frame = pd.DataFrame(
        rows, columns=["source", "rows_read", "rows_loaded", "rows_rejected", "rows_skipped"]
    )
    # (a load of rows all skipped is recorded too: derived tables then say they include it)
    try:
        refresh_derived(ws, spec.name)
    except KeyboardInterrupt:  # the load stands: say so, not that nothing was written
        raise refresh_cancelled(job.load_id, spec.name, int(frame["rows_loaded"].sum())) from None
    if progress is not None:
        progress(1.0)
    return LoadReport(
        frame=frame,
        load_id=job.load_id,
        table=spec.name,
        problems=problems[:PROBLEMS_KEPT],
        notes=notes,
    )


def _native_files(
    ws: Workspace,
    sources: list[Any],
    mapping: ColumnMapping,
    fmt: Format | None,
    encoding: str | None,
    native: bool | None,
) -> list[tuple[str, str]] | None:
    """The files of a Spark-validated load (:mod:`rox.ingest.native`), or None for staging."""
    if native is False or ws.engine.name != "spark":
        if native:
            raise IngestError(
                f"native=True validates with Spark; workspace {ws.url} is on {ws.engine.name}"
            )
        return None
    files = native_files(ws, sources, fmt)
    why = None
    if files is None:
        why = "its sources are not all CSV or Parquet files or folders given by path"
    elif encoding is not None or mapping.encoding is not None:
        why = "it reads UTF-8 only (an encoding was given)"
    elif spark_ready(mapping) is not None:
        why = f"it cannot use the mapping's {spark_ready(mapping)}"
    if why is not None:
        if native:
            raise IngestError(f"a Spark-validated load (native=True) cannot be taken: {why}")
        return None
    if native is None and total_bytes(ws, files or []) < NATIVE_MIN_BYTES:
        return None
    return files
