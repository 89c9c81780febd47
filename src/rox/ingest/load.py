"""Atomic, idempotent loads into a workspace's canonical tables.

A load reads its sources with DuckDB, parses and checks every row in DuckDB
(:mod:`rox.ingest.rules`), and then, in one transaction, either writes every valid row or
nothing. On a DuckDB workspace all of it happens inside the workspace. On PostgreSQL and Spark it
happens in a DuckDB staging database on this machine, which first fetches the workspace's rows with
the same keys; the accepted rows, the rejects and the load record are then appended by the engine
(:meth:`rox.engines.Engine.append`: one transaction on PostgreSQL, Parquet write jobs on Spark).

- ``on_error="raise"`` (default): one invalid row and nothing is loaded; the
  :class:`~rox.errors.ValidationError` names the source, row, column, value and rule.
- ``on_error="quarantine"``: the valid rows are loaded, and every rule broken by the others is
  written to the ``rejects`` table with the row as read (JSON), so nothing is lost.

Rows already in the workspace with the same key and the same content are skipped, so loading a
file twice adds nothing the second time; the same key with different content is a rejected row,
never an overwrite. Each load is recorded in ``rox_loads``. A load of events rebuilds the journey
index, if the workspace has one (:mod:`rox.journey.index`).

A load is all or nothing even across a crash: every row carries its ``_load_id``, and before each
load :func:`reconcile` removes what an interrupted load left behind (rows whose load has no record
in ``rox_loads``, or a last load whose record does not match its rows), and numbers the rows a
complete load had not yet numbered (a valid CSV's rows get their ``_seq`` in a second
transaction: :func:`_load_plain`). DuckDB alone does not
guarantee it: killed during the commit of a large load, DuckDB 1.5.6 was seen to keep the big
table's rows and lose the one-row record written in the same transaction (docs/ingest.md).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import ibis
import pandas as pd

from rox import engines
from rox._sql import ident, literal
from rox.errors import (
    IngestError,
    LoadCancelledError,
    MappingError,
    RefreshCancelledError,
    RowProblem,
    RoxError,
    ValidationError,
    WorkspaceError,
    WorkspaceWriteError,
)
from rox.ingest.fingerprint import checksum_sql, file_fingerprint, loaded_as, rows_checksum
from rox.ingest.mapping import ColumnMapping, check_encoding, load_mapping
from rox.ingest.native import NATIVE_MIN_BYTES, native_files, native_load, total_bytes
from rox.ingest.order import last_seq, number_rows, record_order, unnumbered_tables
from rox.ingest.reading import (
    csv_header_notes,
    jsonl_by_lines,
    line_problems,
    read_error,
    text_problems,
    text_problems_condition,
)
from rox.ingest.rules import (
    FLAG_COLUMN,
    ROW_COLUMN,
    TEXT_FLAG_COLUMN,
    LoadPlan,
    compare_hash_sql,
    duplicate_key_rule,
    loaded_key_rule,
    spark_ready,
)
from rox.ingest.sources import (
    CSV_REJECTS,
    Format,
    Source,
    json_with_text_columns,
    open_source,
)
from rox.results import Result
from rox.schema import (
    DERIVED,
    KEY_COLUMN,
    LOAD_COLUMN,
    LOADS_TABLE,
    REJECTS_TABLE,
    SCALES_TABLE,
    SEQ_COLUMN,
    TABLES,
    table_spec,
)

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["LoadReport", "ingest", "reconcile"]

#: How many problems a ValidationError or LoadReport carries (the rejects table keeps them all).
PROBLEMS_KEPT = 20

_RAW, _TYPED, _PROBLEMS, _SKIPPED = "_rox_raw", "_rox_typed", "_rox_problems", "_rox_skipped"
_LINES = "_rox_lines"  # CSV lines the reader could not split into fields
# A source as read, in its order; _RAW is then a view of it numbering its rows (by rowid), or,
# where rows are renumbered (lines set aside) or read line by line, a table of its own.
_SOURCE = "_rox_source"
_DUPLICATES = "_rox_duplicates"  # keys repeated in a source
# Share of a source's load time spent in each step, for the progress callback.
_STEPS = {"read": 0.55, "parse": 0.2, "check": 0.1, "write": 0.15}


@dataclass(frozen=True, eq=False)
class LoadReport(Result):
    """What a load did.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per source: ``source``, ``rows_read``, ``rows_loaded``, ``rows_rejected``
        (rows written to ``rejects``), ``rows_skipped`` (already loaded or repeated).
    load_id : int
        The load's id in ``rox_loads``, ``rejects`` and the ``_load_id`` column.
    table : str
        The canonical table loaded.
    problems : list of RowProblem
        The first problems found (all of them are in the ``rejects`` table).
    notes : list of str
        What the user should know that is not a rejected row: a repeated header name, what
        :func:`reconcile` removed of an interrupted earlier load.
    """

    load_id: int = 0
    table: str = ""
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Rows read from all sources."""
        return int(self.frame["rows_read"].sum())

    @property
    def rows_loaded(self) -> int:
        """Rows written to the table."""
        return int(self.frame["rows_loaded"].sum())

    @property
    def rows_rejected(self) -> int:
        """Invalid rows written to ``rejects`` instead."""
        return int(self.frame["rows_rejected"].sum())

    @property
    def rows_skipped(self) -> int:
        """Rows already in the workspace (or repeated in the source) with the same content."""
        return int(self.frame["rows_skipped"].sum())

    def __str__(self) -> str:
        text = f"Loaded {self.rows_loaded:,} of {self.rows_read:,} rows into {self.table}"
        extra = []
        if self.rows_skipped:
            extra.append(f"{self.rows_skipped:,} skipped as already loaded or repeated")
        if self.rows_rejected:
            extra.append(f"{self.rows_rejected:,} rejected, see `rox rejects {self.load_id}`")
        text += (f" ({'; '.join(extra)})" if extra else "") + f" [load {self.load_id}]"
        return "\n".join([text, *(f"note: {n}" for n in self.notes)])

    def __repr__(self) -> str:
        return str(self)


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
    job = _Job(
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
            rows, problems = _load(ws, job, notes=notes)
        else:
            # validate in a DuckDB staging database next to this process, then append what it
            # accepted to the workspace's engine as one commit
            with tempfile.TemporaryDirectory(prefix="rox-stage-") as folder:
                # a workspace of the same class, on DuckDB (rox.workspace is the layer above)
                url = engines.parse_url(f"duckdb://{folder}/stage.duckdb")
                stage = type(ws)(engines.connect(url))
                try:
                    rows, problems = _stage(ws, stage, job, notes)
                finally:
                    stage.close()
    finally:
        ws.forget()  # what the session kept (ordered journeys) was computed before the load
    frame = pd.DataFrame(
        rows, columns=["source", "rows_read", "rows_loaded", "rows_rejected", "rows_skipped"]
    )
    # (a load of rows all skipped is recorded too: derived tables then say they include it)
    try:
        _refresh_derived(ws, spec.name)
    except KeyboardInterrupt:  # the load stands: say so, not that nothing was written
        raise _refresh_cancelled(job.load_id, spec.name, int(frame["rows_loaded"].sum())) from None
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


def reconcile(ws: Workspace) -> list[str]:
    """Remove what an interrupted load left in a DuckDB workspace; return what was done.

    Every row a load writes carries its ``_load_id`` (``load_id`` in ``rejects``), and the load's
    record in ``rox_loads`` gives its counts. After a crash, a load is kept only when it is whole:

    - rows whose load id is above every recorded load (the record was lost, or never written)
      are removed;
    - the last recorded load must hold exactly the rows and rejects its record counts; if not,
      its rows, rejects and record are removed;
    - a staged copy of a file left in the workspace (``_rox_source``) is dropped;
    - rows a complete load wrote without their recorded order (``_seq``; the process stopped
      between the load's commit and the one numbering its rows) are numbered as that second
      commit would have numbered them (:func:`rox.ingest.order.number_rows`).

    A load that completed is never removed (earlier loads cannot be in flight: one process writes
    a DuckDB file at a time). :func:`ingest` calls this before each load; call it after a crash to
    clean up at once. Other engines commit a load in one engine transaction (PostgreSQL) or write
    the record last (Spark), and are left as they are.

    Returns
    -------
    list of str
        One sentence per repair (empty when the workspace was consistent).
    """
    if ws.engine.name != "duckdb" or ws.read_only:
        return []
    con = ws.backend.con
    notes: list[str] = []
    targets = [(name, LOAD_COLUMN) for name in TABLES] + [(REJECTS_TABLE, "load_id")]
    con.execute("BEGIN TRANSACTION")
    try:
        last = int(
            con.execute(f"SELECT coalesce(max(load_id), 0) FROM {LOADS_TABLE}").fetchone()[0]
        )
        for name, column in targets:
            (n,) = con.execute(
                f"SELECT count(*) FROM {ident(name)} WHERE {ident(column)} > ?", [last]
            ).fetchone()
            if n:
                con.execute(f"DELETE FROM {ident(name)} WHERE {ident(column)} > ?", [last])
                notes.append(
                    f"removed {n:,} rows of {name} written by an interrupted load that was never "
                    "recorded (the process was stopped while it committed)"
                )
        record = con.execute(
            "SELECT any_value(table_name), sum(rows_loaded), sum(rows_rejected) "
            f"FROM {LOADS_TABLE} "
            "WHERE load_id = ?",
            [last],
        ).fetchone()
        if last and record[0] in TABLES:
            table, loaded, rejected = record[0], int(record[1]), int(record[2])
            (have,) = con.execute(
                f"SELECT count(*) FROM {ident(table)} WHERE {LOAD_COLUMN} = ?", [last]
            ).fetchone()
            (have_rejected,) = con.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT source, row FROM {REJECTS_TABLE} "
                "WHERE load_id = ?)",
                [last],
            ).fetchone()
            if (have, have_rejected) != (loaded, rejected):
                con.execute(f"DELETE FROM {ident(table)} WHERE {LOAD_COLUMN} = ?", [last])
                con.execute(f"DELETE FROM {REJECTS_TABLE} WHERE load_id = ?", [last])
                con.execute(f"DELETE FROM {LOADS_TABLE} WHERE load_id = ?", [last])
                notes.append(
                    f"removed load {last} of {table}: its record counts {loaded:,} rows and "
                    f"{rejected:,} rejected, but {have:,} and {have_rejected:,} were found (the "
                    "process was stopped while it committed); load its files again"
                )
        # a file staged in the workspace (_stage_on_disk) is dropped before its load commits, so
        # a crash cannot leave it; a table of that name is nonetheless nothing a user made
        left = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary "
            "AND database_name = current_database()",
            [_SOURCE],
        ).fetchone()
        if left[0]:
            con.execute(f"DROP TABLE {_SOURCE}")
            notes.append("removed the staged copy of a file an interrupted load left behind")
        for name in unnumbered_tables(con, list(TABLES)):
            numbered = number_rows(con, name)
            if numbered:
                notes.append(
                    f"numbered {numbered:,} rows of {name} that a load had written without their "
                    "recorded order (the process was stopped after the load committed)"
                )
        con.execute("COMMIT")
    except BaseException as exc:
        _rollback(con)
        raise _translated(exc, ws) from exc
    return notes


def _refresh_derived(ws: Workspace, table: str) -> None:
    """Rebuild the tables derived from ``table`` (:data:`rox.schema.DERIVED`), by their refresher.

    Every refresh after a load goes through here: :func:`ingest`'s, and each batch's of the
    service (:mod:`rox.ingest.batch`, :mod:`rox.ingest.shared`). The refreshers run while the
    workspace's loads are held still (:meth:`rox.engines.Engine.loads_held`: on PostgreSQL, one
    transaction holding the loads' lock), so that a refresh sees a fixed set of loads and two
    processes never refresh at once; the one that waited finds the tables brought up to date
    and does nothing more. The load is committed before: should a refresh fail, the refresher
    says so (and drops what it could not refresh), and the load stands.

    The refresher is named, not imported, so that the data layer does not reach up into the
    analysis that owns the derived tables; each refresher handles its own failures.
    """
    refreshers = [derived.refresh for derived in DERIVED if derived.source == table]
    if not refreshers:
        return
    with ws.engine.loads_held():
        for refresher in refreshers:
            module, _, name = refresher.partition(":")
            getattr(importlib.import_module(module), name)(ws)


def _refresh_cancelled(load_id: int, table: str, rows_loaded: int) -> RefreshCancelledError:
    """The error of a refresh after load ``load_id`` interrupted (the load itself committed).

    A refresher interrupted leaves its tables behind the load, never wrong: the journey index
    drops its record before it rewrites anything, and an analysis computes without an index that
    is missing or behind its events (:func:`rox.journey.events.indexed_journeys`).
    """
    derived = [d for d in DERIVED if d.source == table]
    names = " and ".join(d.name for d in derived)
    rebuild = "; ".join(f"rebuild the {d.name} with {d.rebuild}" for d in derived)
    return RefreshCancelledError(
        f"load {load_id} is complete ({rows_loaded:,} rows loaded into {table}), but refreshing "
        f"the {names} after it was interrupted; analyses compute without it until then: {rebuild}"
    )


@dataclass(frozen=True)
class _Job:
    """One load's settings, as :func:`ingest` resolved them."""

    table: str
    sources: list[Any]
    mapping: ColumnMapping
    known_scales: Mapping[Any, Any]
    load_id: int
    on_error: str
    progress: Callable[[float], None] | None
    fmt: Format | None
    #: The recorded order (``_seq``) the load's rows start after (staged loads: the workspace's).
    seq_base: int = 0


def _load(
    ws: Workspace,
    job: _Job,
    existing: Callable[[Any], Any] | None = None,
    *,
    notes: list[str] | None = None,
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Read, check and write ``job.sources`` into DuckDB workspace ``ws`` in one transaction.

    ``existing`` (for staged loads) returns the rows of the real table with the given keys, so
    that key checks see what the workspace already holds. ``notes`` receives what the report
    should say besides the counts.
    """
    start = len(notes) if notes is not None else 0
    by_lines: set[int] = set()
    staged: set[int] = set()
    while True:
        try:
            return _load_once(ws, job, existing, notes, by_lines, staged)
        except _ReadByLines as exc:  # rolled back: load again, that source read line by line
            by_lines.add(exc.args[0])
            staged.add(exc.args[0])
        except _NotPlain as exc:  # rolled back: load again, that source staged and checked
            staged.add(exc.args[0])
        if notes is not None:
            del notes[start:]


def _load_once(
    ws: Workspace,
    job: _Job,
    existing: Callable[[Any], Any] | None,
    notes: list[str] | None,
    by_lines: set[int],
    staged: set[int],
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """One try of :func:`_load`: ``staged`` lists the sources that may not take the one pass."""
    con = ws.backend.con
    _check_mapping_on_engine(con, job.mapping)
    tracker = _Progress(con, job.progress, len(job.sources))
    rows: list[dict[str, Any]] = []
    problems: list[RowProblem] = []
    views: list[str] = []
    temporary: list[str] = []
    con.execute("BEGIN TRANSACTION")
    try:
        record_order(con, job.table)
        fingerprints: list[str | None] = []
        # the one pass's rows, written with no recorded order: their _seq, as SQL over rowid
        unnumbered: str | None = None
        # the checksum the one pass computed of its rows, while they are all the load's rows
        folded: str | None = None
        for i, item in enumerate(job.sources):
            fingerprint = file_fingerprint(item, job.table, job.mapping, job.fmt)
            fingerprints.append(fingerprint)
            src = open_source(con, item, fmt=job.fmt, encoding=job.mapping.encoding)
            if src.kind == "frame":
                views.append(src.relation)
            if src.temporary and src.path:
                temporary.append(src.path)
            # the same file and mapping as a load whose rows are all still there: nothing new
            earlier = (
                loaded_as(con, job.table, fingerprint)
                if fingerprint is not None and existing is None
                else None
            )
            if earlier is not None:
                rows.append(_loaded_already(con, src, earlier, notes))
                continue
            if unnumbered is not None:  # later sources' rows come after the one pass's rows
                number_rows(con, job.table)
                unnumbered = None
            if i not in staged and existing is None:
                plain = _load_plain(
                    con,
                    ws,
                    job.table,
                    src,
                    job.mapping,
                    job.known_scales,
                    job.load_id,
                    tracker.at(i),
                    notes if notes is not None else [],
                )
                if plain is not None:
                    rows.append(plain.counts)
                    unnumbered, folded = plain.seq, plain.checksum
                    continue
            counts, first = _load_one(
                con,
                ws,
                job.table,
                src,
                job.mapping,
                job.known_scales,
                job.load_id,
                job.on_error,
                tracker.at(i),
                existing,
                notes if notes is not None else [],
                i in by_lines,
                job.seq_base,
            )
            rows.append(counts)
            problems.extend(first)
            if counts["rows_loaded"]:  # rows of the load that the one pass's checksum lacks
                folded = None
        if rows and job.mapping.scales:
            _declare_scales(con, job.mapping, job.known_scales)
        # the checksum of the rows written, where a later load of the same file may trust it
        # (a load that loaded every row of a file; staged loads' rows are the engine's)
        whole = any(r["rows_loaded"] == r["rows_read"] > 0 for r in rows)
        checksum = (
            (
                folded
                if folded is not None
                else rows_checksum(con, job.table, job.load_id, unnumbered)[1]
            )
            if whole and existing is None
            else None
        )
        con.executemany(
            f"INSERT INTO {LOADS_TABLE} (load_id, table_name, source, loaded_at, rows_read, "
            "rows_loaded, rows_rejected, rows_skipped, fingerprint, checksum) "
            "VALUES (?, ?, ?, now(), ?, ?, ?, ?, ?, ?)",
            [
                [
                    job.load_id,
                    job.table,
                    r["source"],
                    r["rows_read"],
                    r["rows_loaded"],
                    r["rows_rejected"],
                    r["rows_skipped"],
                    fingerprint,
                    checksum,
                ]
                for r, fingerprint in zip(rows, fingerprints, strict=True)
            ],
        )
        con.execute(f"DROP TABLE IF EXISTS {_SOURCE}")
        con.execute("COMMIT")
    except _ReadByLines:
        _rollback(con)
        raise _ReadByLines(i) from None
    except _NotPlain:
        _rollback(con)
        raise _NotPlain(i) from None
    except BaseException as exc:
        _rollback(con)
        translated = _translated(exc, ws)
        if translated is exc:
            raise
        raise translated from exc
    finally:
        tracker.stop()
        # after a failed commit the database may refuse everything: the cause is what matters
        with contextlib.suppress(duckdb.Error):
            con.execute("SET preserve_insertion_order = false")
            for view in views:
                con.unregister(view)
        temps = (_RAW, _SOURCE, _TYPED, _PROBLEMS, _SKIPPED, _LINES, _DUPLICATES, "_rox_order")
        drops = [f"DROP VIEW IF EXISTS {v}" for v in (_TYPED, _RAW)] + [  # (or tables)
            f"DROP TABLE IF EXISTS {temp}" for temp in (*temps, *CSV_REJECTS)
        ]
        for drop in drops:
            with contextlib.suppress(duckdb.Error):
                con.execute(drop)
        for path in temporary:
            with contextlib.suppress(OSError):
                os.unlink(path)
    if unnumbered is not None:
        _number_committed(con, job.table, job.load_id, notes)
    return rows, problems


def _number_committed(con: Any, table: str, load_id: int, notes: list[str] | None) -> None:
    """Number the rows a committed load wrote without a recorded order, in a transaction.

    The load is complete and recorded already: if this fails or is interrupted, the rows are
    numbered the same way the next time the workspace is opened for writing, or by the next load
    (:func:`rox.ingest.order.number_rows`, called by :func:`reconcile`), and the report says so.
    """
    try:
        con.execute("BEGIN TRANSACTION")
        number_rows(con, table)
        con.execute("COMMIT")
    except (duckdb.Error, KeyboardInterrupt) as exc:
        _rollback(con)
        if notes is not None:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc).splitlines()[0]
            notes.append(
                f"load {load_id} is complete, but the recorded order of its rows was not written "
                f"({why}); it is written when the workspace is next opened for writing"
            )


def _loaded_already(
    con: Any, src: Source, earlier: tuple[int, int], notes: list[str] | None
) -> dict[str, Any]:
    """The counts of a source that load ``earlier`` (id, rows) loaded whole: every row skipped.

    The source is not read, except its header (a CSV's repeated header names are still noted).
    """
    load_id, n = earlier
    if notes is not None:
        if src.kind == "csv":
            names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src.relation}").fetchall()]
            notes.extend(csv_header_notes(con, src, names))
        notes.append(
            f"{src.name}: already loaded as load {load_id} (the same bytes, with the same "
            f"mapping, and its {n:,} rows are unchanged): none of its rows is new"
        )
    return {
        "source": src.name,
        "rows_read": n,
        "rows_loaded": 0,
        "rows_rejected": 0,
        "rows_skipped": n,
    }


def _rollback(con: Any) -> None:
    """Roll back the open transaction, if any is left (a failed COMMIT has closed it already)."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


#: Words of the operating system's reasons for a failed write, as DuckDB passes them on.
_WRITE_FAILURES = (
    "No space left on device",
    "Permission denied",
    "Read-only file system",
    "Disk quota exceeded",
    "could not write",
    "Could not write",
)


def _translated(exc: BaseException, ws: Workspace) -> BaseException:
    """The rox error a failed load should raise instead of ``exc`` (``exc`` itself if none)."""
    text = str(exc)
    if isinstance(exc, RoxError):  # said already (a SourceError is an OSError too)
        return exc
    if isinstance(exc, KeyboardInterrupt | duckdb.InterruptException) or (
        isinstance(exc, RuntimeError) and "interrupted" in text.lower()
    ):
        return LoadCancelledError("load cancelled (interrupted); nothing was written")
    if isinstance(exc, duckdb.Error | OSError) and any(w in text for w in _WRITE_FAILURES):
        reason = next(w for w in _WRITE_FAILURES if w in text)
        detail = text.strip().splitlines()[0]
        return WorkspaceWriteError(
            f"cannot write to workspace {ws.url}: {reason} ({detail}); nothing was loaded"
        )
    return exc


def _check_mapping_on_engine(con: Any, mapping: ColumnMapping) -> None:
    """Refuse a time zone or timestamp format that DuckDB does not know, before reading rows."""
    if mapping.timezone.upper() != "UTC":
        (known,) = con.execute(
            "SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [mapping.timezone]
        ).fetchone()
        if not known:
            raise MappingError(
                f"{mapping.origin}: [timestamps] timezone {mapping.timezone!r} is not a time zone "
                "DuckDB knows; expected an IANA name such as 'Europe/Paris' or 'America/New_York'"
            )
    if mapping.timestamp_format:
        try:
            con.execute("SELECT try_strptime('', ?)", [mapping.timestamp_format])
        except duckdb.Error as exc:
            reason = str(exc).strip().splitlines()[0].split("Error: ", 1)[-1]
            raise MappingError(
                f"{mapping.origin}: [timestamps] format {mapping.timestamp_format!r} is not a "
                f"strptime format DuckDB knows ({reason}); e.g. '%d/%m/%Y %H:%M'"
            ) from None


def _stage(
    ws: Workspace, stage: Workspace, job: _Job, notes: list[str]
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Load into DuckDB workspace ``stage``, then append the accepted rows to ``ws``."""
    table, load_id = job.table, job.load_id
    target = ws.table(table).schema()
    have = dict(stage.table(table).schema().items())
    extras = {name: dtype for name, dtype in target.items() if name not in have}
    if extras:
        stage.append_rows({}, new_columns={table: {n: str(d) for n, d in extras.items()}})

    def existing(keys: Any) -> Any:
        wanted = ibis.memtable(keys)
        t = ws.table(table)
        return t.semi_join(wanted, t[KEY_COLUMN] == wanted[KEY_COLUMN]).to_pyarrow()

    # the recorded order continues the workspace's (a workspace older than #21 has none)
    seq_base = (
        int(ws.table(table)[SEQ_COLUMN].max().fill_null(0).execute()) if SEQ_COLUMN in target else 0
    )
    rows, problems = _load(stage, replace(job, seq_base=seq_base), existing, notes=notes)
    loaded = stage.table(table).schema()
    new_columns = {n: str(d) for n, d in loaded.items() if n not in target}

    def of_load(name: str) -> Any:
        t = stage.table(name)
        column = LOAD_COLUMN if name == table else "load_id"
        return t.filter(t[column] == load_id).to_pyarrow()

    ws.append_rows(
        {
            table: of_load(table),
            REJECTS_TABLE: of_load(REJECTS_TABLE),
            SCALES_TABLE: stage.table(SCALES_TABLE).to_pyarrow(),
            LOADS_TABLE: of_load(LOADS_TABLE),  # last: the record that the load happened
        },
        new_columns={table: new_columns} if new_columns else None,
    )
    return rows, problems


@dataclass(frozen=True)
class _OnePass:
    """What the one pass (:func:`_load_plain`) wrote of a source."""

    #: The source's counts, as in :attr:`LoadReport.frame`.
    counts: dict[str, Any]
    #: The recorded order (``_seq``) of its rows, as SQL over ``rowid``; None if it had no rows.
    seq: str | None
    #: The checksum of its rows as numbered so (:func:`rox.ingest.fingerprint.checksum_sql`).
    checksum: str


def _load_plain(
    con: Any,
    ws: Workspace,
    table: str,
    src: Source,
    mapping: ColumnMapping,
    known_scales: Mapping[Any, Any],
    load_id: int,
    step: Callable[[str, str], Any],
    notes: list[str],
) -> _OnePass | None:
    """Load a CSV whose rows are all valid and new in one pass, inside the open transaction.

    The pass reads the file, parses, keys and flags every row (the same
    :meth:`~rox.ingest.rules.LoadPlan.typed_select` as :func:`_load_one`) and inserts it into
    the table, with no staged copy of the file: a flagged row (any rule of the plan, broken text,
    no natural key) stops the statement at once (DuckDB's ``error()``). What the pass cannot see
    row by row is checked on the rows written, by their load id: the reader set no line aside,
    no key repeats in the file, and none was loaded before (a semi-join with the table's other
    rows, only when it had rows). The rows are inserted in the file's order (insertion order
    preserved), so their rowids are consecutive and a row's recorded order is its rowid's
    distance from the first.

    The checks and the checksum the load records (:mod:`rox.ingest.fingerprint`) share one
    scan of the rows written, after one of their rowids for the first: their count, the span
    of their rowids, the number of distinct hashes of their keys (equal keys have equal
    hashes, so as many hashes as rows means no key repeats; two keys with the same hash send
    the file to the staged path, which compares the keys themselves), and the checksum over the
    recorded order the rows will have. The two scans this replaces took 4.4 s of a 10M-row
    load, the one scan 3.3 s, saved by hashing the keys (docs/benchmarks.md).

    The rows are written with no recorded order (``_seq`` null); the caller numbers them (by
    the SQL returned, over ``rowid``, while the transaction is open; by :func:`number_rows`
    after it commits, in a transaction of its own). An ``UPDATE`` of ``_seq`` inside the load's
    transaction makes DuckDB rewrite at the commit every row the insert had written to the file
    (3 CPU-s of a 10M-row load, measured; the same update after the commit costs 0.5):
    docs/benchmarks.md.

    The select is the plan's quick one (``quick=True``): no regular expression per time, the
    epoch instant flagged instead, with the same outcome for the rows it writes
    (``tests/ingest/test_one_pass.py`` loads files of odd values both ways and compares the
    tables). Numbers stay text for the rules' casts: the CSV reader's own ``DOUBLE`` parsing
    (``types=``) cost more CPU than it saved, measured at 1M rows (docs/benchmarks.md).

    Anything else (a rule broken, a repeated or loaded key, a line set aside, a column to redact,
    an ``order`` column, no natural key, an attribute column of another type) raises
    :class:`_NotPlain`: the transaction is rolled back and :func:`_load` loads the source again
    through :func:`_load_one`, which stages it and spells out every problem, so the outcome and
    every message are the staged path's.

    Returns
    -------
    _OnePass or None
        The source's counts, the SQL of its rows' ``_seq`` over ``rowid``, and their checksum;
        None for a source this path does not take.

    Raises
    ------
    _NotPlain
        If the source needs the staged path; the open transaction must be rolled back.
    """
    spec = table_spec(table)
    if src.kind != "csv" or mapping.order is not None or not spec.key:
        return None
    for temp in CSV_REJECTS:  # the CSV reader refuses to reuse them
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    try:
        types = dict(
            con.execute(
                f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {src.relation})"
            ).fetchall()
        )
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.InterruptException) or _translated(exc, ws) is not exc:
            raise
        raise _NotPlain from None  # (the staged path reports why the file cannot be read)
    for temp in CSV_REJECTS:
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    if ROW_COLUMN in types:
        raise _NotPlain
    plan = LoadPlan(spec, mapping, types, src.name, known_scales)
    stored = _stored_types(con, table)
    redacted = mapping.redaction.enabled and any(
        name in mapping.redaction.columns and rule.origin is not None
        for name, rule in plan.columns.items()
    )
    if (
        redacted
        or plan.natural_key_origin() is None
        or _attribute_conflicts(table, plan.extras, stored) is not None
    ):
        raise _NotPlain
    before, ours = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {LOAD_COLUMN} = {load_id}) FROM {ident(table)}"
    ).fetchone()
    if ours:  # an earlier source of this load wrote rows: its keys are the staged path's to check
        return None
    notes.extend(csv_header_notes(con, src, list(types)))
    _add_extra_columns(con, table, plan.extras, stored)
    base = last_seq(con, table)
    text_flag = text_problems_condition(types, src.kind)
    # the row numbers come from the rowids of the rows written (see above)
    numbered = f"(SELECT NULL::BIGINT AS {ROW_COLUMN}, * FROM {src.relation})"
    typed = plan.typed_select(numbered, keys_complete=True, flag=text_flag or "false", quick=True)
    select = ", ".join(f"t.{ident(c)}" for c in plan.insert_columns())
    stop = f"t.{FLAG_COLUMN} OR t.{ident(KEY_COLUMN)} IS NULL"
    con.execute("SET preserve_insertion_order = true")
    try:
        step(
            "read",
            f"INSERT INTO {ident(table)} BY NAME SELECT {select}, CASE WHEN {stop} "
            f"THEN error('rox: this row needs the staged path') ELSE {load_id} END "
            f"AS {LOAD_COLUMN} FROM ({typed}) AS t",
        )
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.InterruptException) or _translated(exc, ws) is not exc:
            raise
        raise _NotPlain from None
    con.execute("SET preserve_insertion_order = false")  # (also reset on failure)
    if line_problems(con, src, _LINES):
        raise _NotPlain
    written = f"FROM {ident(table)} WHERE {LOAD_COLUMN} = {load_id}"
    (low,) = con.execute(f"SELECT min(rowid) {written}").fetchone()
    # a row's recorded order is its rowid's distance from the first, after the table's last
    seq = f"(rowid - {int(low or 0) - 1 - base})::BIGINT"
    high, n, keys, checksum = step(
        "check",
        f"SELECT max(rowid), count(*), count(DISTINCT hash({ident(KEY_COLUMN)})), "
        f"{checksum_sql(con, table, seq)} {written}",
    ).fetchone()
    if n and (keys != n or high - low + 1 != n):
        raise _NotPlain
    if n and before:
        (loaded,) = con.execute(
            f"SELECT count(*) FROM {ident(table)} WHERE {LOAD_COLUMN} = {load_id} AND "
            f"{ident(KEY_COLUMN)} IN (SELECT {ident(KEY_COLUMN)} FROM {ident(table)} "
            f"WHERE {LOAD_COLUMN} <> {load_id})"
        ).fetchone()
        if loaded:
            raise _NotPlain
    counts = {
        "source": src.name,
        "rows_read": int(n),
        "rows_loaded": int(n),
        "rows_rejected": 0,
        "rows_skipped": 0,
    }
    return _OnePass(counts, seq if n else None, str(checksum))


def _load_one(
    con: Any,
    ws: Workspace,
    table: str,
    src: Source,
    mapping: ColumnMapping,
    known_scales: Mapping[Any, Any],
    load_id: int,
    on_error: str,
    step: Callable[[str, str], Any],
    existing: Callable[[Any], Any] | None = None,
    notes: list[str] | None = None,
    by_lines: bool = False,
    seq_base: int = 0,
) -> tuple[dict[str, Any], list[RowProblem]]:
    """Stage, check and write one source inside the open transaction.

    ``by_lines``: read a JSON-lines source line by line (a previous try found a broken line).
    ``seq_base``: the recorded order the source's rows start after, at least (see
    :func:`_recorded_order`).

    Raises
    ------
    _ReadByLines
        If DuckDB's reader refused a JSON-lines source for a malformed line.
    """
    spec = table_spec(table)
    for temp in CSV_REJECTS:  # the CSV reader refuses to reuse them
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    if by_lines:
        # a line is not JSON: read the file line by line, and refuse only that line
        line_problems(con, src, _LINES)  # (creates the table, empty for JSON lines)
        n_lines = jsonl_by_lines(con, src, _RAW, _LINES, ROW_COLUMN, lambda c: _is_id(mapping, c))
    else:
        try:
            if src.kind == "jsonl":
                # ids as JSON values, never through a float (see json_with_text_columns)
                src = json_with_text_columns(con, src, lambda c: _is_id(mapping, c))
            # row numbers are the rows' positions in the file: the staged table keeps the file's
            # order, so a row's number is its rowid + 1 (a window numbering the rows as they are
            # read would run on one thread: 2.5x the time of the read, measured)
            con.execute("SET preserve_insertion_order = true")
            kind = "" if _stage_on_disk(con, src) else "TEMP"
            step(
                "read", f"CREATE OR REPLACE {kind} TABLE {_SOURCE} AS SELECT * FROM {src.relation}"
            )
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.InterruptException) or _translated(exc, ws) is not exc:
                raise
            if src.kind == "jsonl" and "Malformed JSON" in str(exc) and _plain(src):
                raise _ReadByLines from None  # the failed read has aborted the transaction
            raise read_error(src, exc) from None
        n_lines = line_problems(con, src, _LINES)
        con.execute("SET preserve_insertion_order = false")  # (also reset on failure)
        if n_lines:
            # the reader kept the other rows in order: give each its position in the file back
            _number_rows(con)
            if _is_view(con, _RAW):
                con.execute(f"ALTER VIEW {_RAW} RENAME TO _rox_numbered")
                con.execute(f"CREATE TEMP TABLE {_RAW} AS SELECT * FROM _rox_numbered")
                con.execute("DROP VIEW _rox_numbered")
                con.execute(f"DROP TABLE {_SOURCE}")
            con.execute(
                f"UPDATE {_RAW} SET {ROW_COLUMN} = {ROW_COLUMN} + "
                f"(SELECT count(*) FROM {_LINES} AS l WHERE l.before < {_RAW}.{ROW_COLUMN})"
            )
        else:
            _number_rows(con)
    types = _staged_types(con)
    plan = LoadPlan(spec, mapping, types, src.name, known_scales)
    if _redact(con, plan, mapping):  # personal data out of the text before anything is kept
        types = _staged_types(con)
        plan = LoadPlan(spec, mapping, types, src.name, known_scales)
    if notes is not None:
        kept = mapping.redaction.keep_original  # (added by the redaction, not read)
        notes.extend(csv_header_notes(con, src, [c for c in types if c != kept]))
    key = plan.natural_key_origin()
    complete = (
        key is not None
        and not con.execute(f"SELECT count(*) FROM {_RAW} WHERE {key} IS NULL").fetchone()[0]
    )
    # one pass parses every value, keys the rows and flags those that break a rule (any rule of
    # the plan, or broken text), so that the rules are spelled out only for the flagged rows
    text_flag = text_problems_condition(types, src.kind)
    typed = plan.typed_select(_RAW, keys_complete=complete, flag=text_flag or "false")
    if complete and spec.key:
        # A view: the rows are parsed where they are used (flagged here, then written), which
        # costs less than writing them parsed into a table and reading them again (measured).
        # Keys made of content (their hash and a window over the whole source) are kept in a
        # table, to be computed once.
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_TYPED} AS {typed}")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_TYPED} AS {typed}")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_PROBLEMS} "
        '(row BIGINT, "column" VARCHAR, value VARCHAR, rule VARCHAR)'
    )
    # (and whether any key repeats: all distinct, the key checks need not look for repeats)
    flagged = step(
        "parse",
        f"SELECT count(*) FILTER (WHERE {FLAG_COLUMN}), count(*) FILTER (WHERE {TEXT_FLAG_COLUMN}),"
        f" count(DISTINCT {KEY_COLUMN}) < count(*) FROM {_TYPED}",
    ).fetchone()
    if flagged[0]:
        bad = f"(SELECT * FROM {_TYPED} WHERE {FLAG_COLUMN})"
        step("check", f"INSERT INTO {_PROBLEMS} {plan.problems_select(bad)}")
    con.execute(f'INSERT INTO {_PROBLEMS} SELECT row, "column", value, rule FROM {_LINES}')
    if flagged[1]:
        rows = f"(SELECT * FROM {_RAW} WHERE {ROW_COLUMN} IN (SELECT {ROW_COLUMN} FROM {_TYPED} "
        rows += f"WHERE {TEXT_FLAG_COLUMN}))"
        broken = text_problems(types, src.kind, rows, ROW_COLUMN)
        if broken is not None:
            con.execute(f"INSERT INTO {_PROBLEMS} {broken}")
    stored = _stored_types(con, table)
    conflicts = _attribute_conflicts(table, plan.extras, stored)
    if conflicts is not None:
        con.execute(f"INSERT INTO {_PROBLEMS} {conflicts}")
    if existing is not None:
        _copy_existing(con, table, existing)
    _check_keys(con, plan, table, repeats=bool(flagged[2]))
    n_rows = int(con.execute(f"SELECT count(*) FROM {_RAW}").fetchone()[0]) + n_lines
    n_invalid = int(con.execute(f"SELECT count(DISTINCT row) FROM {_PROBLEMS}").fetchone()[0])
    first = [
        RowProblem(src.name, int(r), c, v, rule)
        for r, c, v, rule in con.execute(
            f'SELECT row, "column", value, rule FROM {_PROBLEMS} ORDER BY row, "column" '
            f"LIMIT {PROBLEMS_KEPT}"
        ).fetchall()
    ]
    if n_invalid and on_error == "raise":
        raise ValidationError(first, n_invalid, n_rows)
    if n_invalid:
        record = "json_object(" + ", ".join(f"{literal(c)}, r.{ident(c)}" for c in types) + ")"
        # a line that could not be split into fields is kept as it was read
        record = (
            f"CASE WHEN r.{ROW_COLUMN} IS NULL THEN json_object('line', p.value) ELSE {record} END"
        )
        con.execute(
            f"INSERT INTO {REJECTS_TABLE} SELECT {load_id}, {literal(table)}, {literal(src.name)}, "
            f'p.row, p."column", p.value, p.rule, {record} '
            f"FROM {_PROBLEMS} AS p LEFT JOIN {_RAW} AS r ON r.{ROW_COLUMN} = p.row "
            'ORDER BY p.row, p."column"'
        )
    if mapping.order is not None and mapping.order not in types:  # (checked if nothing is new)
        raise MappingError(
            f"{mapping.origin}: order names column {mapping.order!r}, which {src.name} does not "
            f"have; its columns are {', '.join(types)}"
        )
    _add_extra_columns(con, table, plan.extras, stored)
    (n_skipped,) = con.execute(
        f"SELECT count(*) FROM {_SKIPPED} WHERE row NOT IN (SELECT row FROM {_PROBLEMS})"
    ).fetchone()
    n_skipped = int(n_skipped)
    if n_rows - n_invalid - n_skipped:  # (a file loaded already writes nothing)
        cols = plan.insert_columns()
        select = ", ".join(f"t.{ident(c)}" for c in cols)
        seq, order_join = _recorded_order(con, table, mapping, seq_base)
        # the rows left out, if any (an anti-join of a whole file with nothing costs a scan)
        out = [
            f"SELECT row FROM {name}"
            for name in (_PROBLEMS, _SKIPPED)
            if con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        ]
        where = f" WHERE t.{ROW_COLUMN} NOT IN ({' UNION ALL '.join(out)})" if out else ""
        # (each row has its recorded order in _seq: the order the rows are written in is free)
        step(
            "write",
            f"INSERT INTO {ident(table)} BY NAME SELECT {select}, {load_id} AS {LOAD_COLUMN}, "
            f"{seq} AS {SEQ_COLUMN} FROM {_TYPED} AS t{order_join}{where}",
        )
    counts = {
        "source": src.name,
        "rows_read": n_rows,
        "rows_loaded": n_rows - n_invalid - n_skipped,
        "rows_rejected": n_invalid,
        "rows_skipped": n_skipped,
    }
    return counts, first


def _recorded_order(con: Any, table: str, mapping: ColumnMapping, seq_base: int) -> tuple[str, str]:
    """The ``_seq`` of the source's rows, as SQL over ``_TYPED AS t``, and the join it needs.

    The rows continue the table's recorded order (after ``seq_base`` and every row already in
    the table, whichever is higher): by their row in the source, or, when the mapping names an
    ``order`` column, by that column (empty values last), then by row.
    """
    base = max(last_seq(con, table), seq_base)
    if mapping.order is None:
        return f"({base} + t.{ROW_COLUMN})", ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _rox_order AS SELECT {ROW_COLUMN}, row_number() OVER "
        f"(ORDER BY {ident(mapping.order)} NULLS LAST, {ROW_COLUMN}) AS _rox_pos FROM {_RAW}"
    )
    return f"({base} + o._rox_pos)", f" JOIN _rox_order AS o ON o.{ROW_COLUMN} = t.{ROW_COLUMN}"


#: How many bytes of DuckDB's memory one byte of a text file takes once staged (measured: a
#: 745 MB CSV of responses filled a 2 GB limit; 1M rows, 69 MiB, took 190 MiB).
_STAGED_PER_BYTE = 2.7
_SIZES = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def _stage_on_disk(con: Any, src: Source) -> bool:
    """Whether to stage ``src`` in a table of the workspace file rather than a temporary one.

    A temporary table lives in memory and spills beyond DuckDB's memory limit to its temporary
    folder, which made a 10M-row load 14x slower under a 1 GB limit (docs/benchmarks.md). A table
    of the workspace is written compressed to the file as it fills (DuckDB writes a large
    transaction's rows optimistically) and its blocks leave memory without a spill; it costs
    that write where memory would have sufficed (1M rows: 1.4x the staging time, measured), so
    it is taken only for a file that, staged, would take more than half the memory limit. The
    table is dropped before the load commits: nothing of it is kept but free blocks in the file,
    which later writes reuse. (A gzip file's size understates what it stages.)
    """
    if src.path is None:
        return False
    (setting,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    (path,) = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if path is None:  # an in-memory workspace: either table is in memory
        return False
    number, _, unit = str(setting).partition(" ")
    try:
        limit = float(number) * _SIZES[unit]
    except (KeyError, ValueError):
        return False
    try:
        size = os.path.getsize(src.path)
    except OSError:
        return False
    return size * _STAGED_PER_BYTE > limit / 2


def _number_rows(con: Any) -> None:
    """Make ``_RAW``: the staged source (in its order) with each row's number in it.

    A view numbering the rows by their rowid, which costs nothing: a table filled by one
    statement holds its rows in the order they came (insertion order is preserved while the
    source is read) under consecutive rowids, which start at a large offset inside a
    transaction. Where that does not hold (consecutive rowids), or where the source has a column
    of its own named ``rowid`` (which hides DuckDB's), the rows are numbered into a table.
    """
    names = {
        name.lower()
        for (name,) in con.execute(f"SELECT column_name FROM (DESCRIBE {_SOURCE})").fetchall()
    }
    if "rowid" not in names:
        low, high, n = con.execute(
            f"SELECT min(rowid), max(rowid), count(*) FROM {_SOURCE}"
        ).fetchone()
        if not n or high - low + 1 == n:
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {_RAW} AS "
                f"SELECT rowid - {int(low or 0) - 1} AS {ROW_COLUMN}, * FROM {_SOURCE}"
            )
            return
    con.execute("SET preserve_insertion_order = true")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_RAW} AS "
        f"SELECT row_number() OVER () AS {ROW_COLUMN}, * FROM {_SOURCE}"
    )
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"DROP TABLE {_SOURCE}")


def _staged_types(con: Any) -> dict[str, str]:
    """The staged source's columns and their DuckDB types."""
    return {
        name: dtype
        for name, dtype in con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE {_RAW})"
        ).fetchall()
        if name != ROW_COLUMN
    }


def _redact(con: Any, plan: LoadPlan, mapping: ColumnMapping) -> bool:
    """Redact personal data in the staged source's text columns; whether anything ran.

    The columns are the canonical ones the mapping's ``[redact]`` names (default ``comment``),
    found in the source as the plan matched them (:mod:`rox.ingest.redact`).
    """
    redaction = mapping.redaction
    if not redaction.enabled:
        return False
    origins = [
        rule.origin
        for name, rule in plan.columns.items()
        if name in redaction.columns and rule.origin is not None
    ]
    if not origins:
        return False
    if _is_view(con, _RAW):  # redact the source the view numbers, then number it again
        redaction.apply_to_staged(con, _SOURCE, origins)
        _number_rows(con)
    else:
        redaction.apply_to_staged(con, _RAW, origins)
    return True


def _is_view(con: Any, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND temporary", [name]
    ).fetchone()
    return bool(found[0])


def _copy_existing(
    con: Any, table: str, existing: Callable[[Any], Any], typed: str = _TYPED
) -> None:
    """Copy the workspace's rows with the keys of ``typed`` (the source's) into the stage."""
    keys = con.execute(
        f"SELECT DISTINCT {KEY_COLUMN} FROM {typed} EXCEPT SELECT {KEY_COLUMN} FROM {ident(table)}"
    ).to_arrow_table()
    if not keys.num_rows:
        return
    old = existing(keys)
    if old.num_rows:
        con.register("_rox_existing", old)
        con.execute(f"INSERT INTO {ident(table)} BY NAME SELECT * FROM _rox_existing")
        con.unregister("_rox_existing")


def _check_keys(con: Any, plan: LoadPlan, table: str, *, repeats: bool = True) -> None:
    """Add key problems to the problems table and list the rows to skip.

    A row repeating an earlier row of the source (same key) is skipped when identical and rejected
    when not; a row whose key is already loaded is skipped when identical and rejected when not.

    Rows are compared by a hash of their content (:func:`rox.ingest.rules.compare_hash_sql`),
    computed only for the rows that need it: those whose key repeats in the source or is already
    loaded. A file of new keys costs one aggregate over its keys and a join with an empty
    result; the window that finds each key's first row runs only over the repeated keys.
    ``repeats=False`` says that no key repeats in the source (the caller counted them).
    """
    key = plan.key_label()
    valid = f"(SELECT * FROM {_TYPED} WHERE {ROW_COLUMN} NOT IN (SELECT row FROM {_PROBLEMS}))"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_DUPLICATES} AS SELECT {KEY_COLUMN} FROM {valid} "
        f"GROUP BY {KEY_COLUMN} HAVING count(*) > 1{'' if repeats else ' LIMIT 0'}"
    )
    ours, theirs = compare_hash_sql(plan.spec, "t"), compare_hash_sql(plan.spec, "e")
    loaded = (
        f"(SELECT {KEY_COLUMN}, {theirs} AS _old_hash FROM {ident(table)} AS e "
        f"WHERE {KEY_COLUMN} IN (SELECT {KEY_COLUMN} FROM {_TYPED}))"
    )
    repeated = f"(SELECT {KEY_COLUMN} FROM {_DUPLICATES})"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rox_keys AS
        SELECT row, key, hash, first_value(row) OVER w AS first_row,
               first_value(hash) OVER w AS first_hash, old_hash
        FROM (
            SELECT t.{ROW_COLUMN} AS row, t.{KEY_COLUMN} AS key, {ours} AS hash,
                   e._old_hash AS old_hash
            FROM {valid} AS t LEFT JOIN {loaded} AS e ON e.{KEY_COLUMN} = t.{KEY_COLUMN}
            WHERE t.{KEY_COLUMN} IN {repeated}
        )
        WINDOW w AS (PARTITION BY key ORDER BY row)
        UNION ALL
        SELECT t.{ROW_COLUMN}, t.{KEY_COLUMN}, {ours} AS hash, t.{ROW_COLUMN}, {ours},
               e._old_hash
        FROM {valid} AS t JOIN {loaded} AS e ON e.{KEY_COLUMN} = t.{KEY_COLUMN}
        WHERE t.{KEY_COLUMN} NOT IN {repeated}
        """
    )
    con.execute(
        f"""
        INSERT INTO {_PROBLEMS}
        SELECT row, {literal(key)}, key,
               CASE WHEN hash <> first_hash THEN {duplicate_key_rule(key, "first_row")}
                    ELSE {literal(loaded_key_rule(key))}
               END
        FROM _rox_keys
        WHERE hash <> first_hash OR (old_hash IS NOT NULL AND old_hash <> hash)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_SKIPPED} AS
        SELECT row FROM _rox_keys
        WHERE (row <> first_row AND hash = first_hash) OR old_hash = hash
        """
    )
    con.execute("DROP TABLE _rox_keys")
    con.execute(f"DROP TABLE {_DUPLICATES}")


class _NotPlain(Exception):  # a signal from _load_plain to _load, never raised out of them
    """A source cannot be loaded in one pass: load again, staging and checking it."""


class _ReadByLines(Exception):  # a signal from _load_one to _load, never raised out of them
    """A JSON-lines source has a malformed line: load again, reading it line by line."""


def _plain(src: Source) -> bool:
    """Whether ``src`` is an uncompressed file (which can be read again line by line)."""
    return src.path is not None and not src.path.lower().endswith(".gz")


def _is_id(mapping: ColumnMapping, column: str) -> bool:
    """Whether source ``column`` lands in an id column (``*_id``), by the mapping or its name."""
    return mapping.columns.get(column, column.strip().lower()).endswith("_id")


def _stored_types(con: Any, table: str) -> dict[str, str]:
    """The table's columns, by lower-case name (DuckDB names ignore case), and their types."""
    return {
        name.lower(): dtype
        for name, dtype in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
            [table],
        ).fetchall()
    }


def _attribute_conflicts(
    table: str, extras: Mapping[str, str], stored: Mapping[str, str]
) -> str | None:
    """SELECT of the problems of attribute values that the stored column's type cannot hold.

    An attribute keeps the type of its first load: a later source whose values do not convert
    (``'many'`` into an integer column, ``1.5`` into an integer column) has those rows refused.
    """
    parts = []
    for name, dtype in extras.items():
        have = stored.get(name.lower())
        if have is None or have.upper() == dtype.upper() or have.upper() == "VARCHAR":
            continue
        col = ident(name)
        converted = f"TRY_CAST({col} AS {have})"
        lossy = (
            ""
            if dtype.upper() == "VARCHAR"
            else f" OR CAST({converted} AS {dtype}) IS DISTINCT FROM {col}"
        )
        rule = (
            f"not a value of type {have}, which attribute column {name!r} of {table} holds "
            "(its type was set by its first load)"
        )
        parts.append(
            f'SELECT {ROW_COLUMN} AS row, {literal(name)} AS "column", CAST({col} AS VARCHAR), '
            f"{literal(rule)} FROM {_TYPED} "
            f"WHERE {col} IS NOT NULL AND ({converted} IS NULL{lossy})"
        )
    return "\nUNION ALL\n".join(parts) if parts else None


def _add_extra_columns(
    con: Any, table: str, extras: Mapping[str, str], stored: Mapping[str, str]
) -> None:
    """Add the source's extra columns to the table (kept as attributes) if it lacks them.

    Names ignore case, as in DuckDB: a ``Store`` column fills an existing ``store`` attribute.
    """
    for name, dtype in extras.items():
        if name.lower() not in stored:
            con.execute(f"ALTER TABLE {ident(table)} ADD COLUMN {ident(name)} {dtype}")


def _declare_scales(con: Any, mapping: ColumnMapping, known: Mapping[Any, Any]) -> None:
    for metric, scale in mapping.scales.items():
        if (metric, scale.label) not in known:
            con.execute(
                f"INSERT INTO {SCALES_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                [metric, scale.label, scale.low, scale.high, scale.top_from, scale.bottom_to],
            )


class _Progress:
    """Reports a load's progress: the step reached, refined by DuckDB's own query progress."""

    def __init__(self, con: Any, callback: Callable[[float], None] | None, n_sources: int):
        self.con = con
        self.callback = callback
        self.n = n_sources
        self._done = threading.Event()
        self._span = (0.0, 0.0)
        self._thread: threading.Thread | None = None
        if callback is not None:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()

    def at(self, index: int) -> Callable[[str, str], Any]:
        """A runner of the SQL steps of source ``index`` that tracks where they are."""

        def run(step: str, sql: str) -> Any:
            start = index / self.n
            before = sum(w for s, w in _STEPS.items() if _order(s) < _order(step))
            lo = start + before / self.n
            self._span = (lo, lo + _STEPS[step] / self.n)
            result = self.con.execute(sql)
            self._span = (self._span[1], self._span[1])  # (statements between steps: no progress)
            if self.callback is not None:
                self.callback(self._span[1])
            return result

        return run

    def _poll(self) -> None:
        assert self.callback is not None
        while not self._done.wait(0.2):
            pct = self.con.query_progress()
            if pct >= 0:
                lo, hi = self._span
                self.callback(lo + (hi - lo) * min(pct, 100.0) / 100.0)

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()


def _order(step: str) -> int:
    return list(_STEPS).index(step)
