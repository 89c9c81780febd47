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
"""

from __future__ import annotations

import importlib
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import ibis
import pandas as pd

from rox import engines
from rox._sql import ident, literal
from rox.errors import IngestError, RowProblem, SourceError, ValidationError, WorkspaceError
from rox.ingest.mapping import ColumnMapping, load_mapping
from rox.ingest.rules import ROW_COLUMN, LoadPlan, hash_sql
from rox.ingest.sources import Format, Source, open_source
from rox.results import Result
from rox.schema import (
    DERIVED,
    KEY_COLUMN,
    LOAD_COLUMN,
    LOADS_TABLE,
    REJECTS_TABLE,
    SCALES_TABLE,
    table_spec,
)

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["LoadReport", "ingest"]

#: How many problems a ValidationError or LoadReport carries (the rejects table keeps them all).
PROBLEMS_KEPT = 20

_RAW, _TYPED, _PROBLEMS, _SKIPPED = "_rox_raw", "_rox_typed", "_rox_problems", "_rox_skipped"
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
    """

    load_id: int = 0
    table: str = ""
    problems: list[RowProblem] = field(default_factory=list)

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
        return text + (f" ({'; '.join(extra)})" if extra else "") + f" [load {self.load_id}]"

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
    sources = list(source) if isinstance(source, list | tuple) else [source]
    if not sources:
        raise IngestError("nothing to load: no source given")
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
    if ws.engine.name == "duckdb":
        # validate and write inside the workspace itself, in one transaction
        rows, problems = _load(ws, job)
    else:
        # validate in a DuckDB staging database next to this process, then append what it
        # accepted to the workspace's engine as one commit
        with tempfile.TemporaryDirectory(prefix="rox-stage-") as folder:
            # a workspace of the same class, on DuckDB (rox.workspace is the layer above)
            url = engines.parse_url(f"duckdb://{folder}/stage.duckdb")
            stage = type(ws)(engines.connect(url))
            try:
                rows, problems = _stage(ws, stage, job)
            finally:
                stage.close()
    frame = pd.DataFrame(
        rows, columns=["source", "rows_read", "rows_loaded", "rows_rejected", "rows_skipped"]
    )
    if frame["rows_loaded"].sum():
        _refresh_derived(ws, spec.name)
    if progress is not None:
        progress(1.0)
    return LoadReport(
        frame=frame, load_id=job.load_id, table=spec.name, problems=problems[:PROBLEMS_KEPT]
    )


def _refresh_derived(ws: Workspace, table: str) -> None:
    """Rebuild the tables derived from ``table`` (:data:`rox.schema.DERIVED`), by their refresher.

    The refresher is named, not imported, so that the data layer does not reach up into the
    analysis that owns the derived tables; each refresher handles its own failures.
    """
    for derived in DERIVED:
        if derived.source == table:
            module, _, name = derived.refresh.partition(":")
            getattr(importlib.import_module(module), name)(ws)


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


def _load(
    ws: Workspace, job: _Job, existing: Callable[[Any], Any] | None = None
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Read, check and write ``job.sources`` into DuckDB workspace ``ws`` in one transaction.

    ``existing`` (for staged loads) returns the rows of the real table with the given keys, so
    that key checks see what the workspace already holds.
    """
    con = ws.backend.con
    tracker = _Progress(con, job.progress, len(job.sources))
    rows: list[dict[str, Any]] = []
    problems: list[RowProblem] = []
    views: list[str] = []
    con.execute("BEGIN TRANSACTION")
    try:
        for i, item in enumerate(job.sources):
            src = open_source(con, item, fmt=job.fmt)
            if src.kind == "frame":
                views.append(src.relation)
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
            )
            rows.append(counts)
            problems.extend(first)
        if rows and job.mapping.scales:
            _declare_scales(con, job.mapping, job.known_scales)
        con.executemany(
            f"INSERT INTO {LOADS_TABLE} VALUES (?, ?, ?, now(), ?, ?, ?, ?)",
            [
                [
                    job.load_id,
                    job.table,
                    r["source"],
                    r["rows_read"],
                    r["rows_loaded"],
                    r["rows_rejected"],
                    r["rows_skipped"],
                ]
                for r in rows
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("SET preserve_insertion_order = false")
        tracker.stop()
        for view in views:
            con.unregister(view)
        for temp in (_RAW, _TYPED, _PROBLEMS, _SKIPPED):
            con.execute(f"DROP TABLE IF EXISTS {temp}")
    return rows, problems


def _stage(
    ws: Workspace, stage: Workspace, job: _Job
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

    rows, problems = _load(stage, job, existing)
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


def _load_one(
    con: Any,
    ws: Workspace,
    table: str,
    src: Source,
    mapping: ColumnMapping,
    known_scales: Mapping[Any, Any],
    load_id: int,
    on_error: str,
    step: Callable[[str, str], None],
    existing: Callable[[Any], Any] | None = None,
) -> tuple[dict[str, Any], list[RowProblem]]:
    """Stage, check and write one source inside the open transaction."""
    spec = table_spec(table)
    # row numbers are the rows' positions in the file: keep the file's order while numbering
    con.execute("SET preserve_insertion_order = true")
    try:
        step(
            "read",
            f"CREATE OR REPLACE TEMP TABLE {_RAW} AS "
            f"SELECT row_number() OVER () AS {ROW_COLUMN}, * FROM {src.relation}",
        )
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise SourceError(f"{src.name}: cannot read it as {src.kind}: {first_line}") from None
    con.execute("SET preserve_insertion_order = false")  # (also reset by ingest() on failure)
    types = {
        name: dtype
        for name, dtype in con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE {_RAW})"
        ).fetchall()
        if name != ROW_COLUMN
    }
    plan = LoadPlan(spec, mapping, types, src.name, known_scales)
    key = plan.natural_key_origin()
    complete = (
        key is not None
        and not con.execute(f"SELECT count(*) FROM {_RAW} WHERE {key} IS NULL").fetchone()[0]
    )
    typed = plan.typed_select(_RAW, keys_complete=complete)
    step("parse", f"CREATE OR REPLACE TEMP TABLE {_TYPED} AS {typed}")
    step("check", f"CREATE OR REPLACE TEMP TABLE {_PROBLEMS} AS {plan.problems_select(_TYPED)}")
    if existing is not None:
        _copy_existing(con, table, existing)
    _check_keys(con, plan, table)
    n_rows = int(con.execute(f"SELECT count(*) FROM {_RAW}").fetchone()[0])
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
        con.execute(
            f"INSERT INTO {REJECTS_TABLE} SELECT {load_id}, {literal(table)}, {literal(src.name)}, "
            f'p.row, p."column", p.value, p.rule, {record} '
            f"FROM {_PROBLEMS} AS p JOIN {_RAW} AS r ON r.{ROW_COLUMN} = p.row "
            'ORDER BY p.row, p."column"'
        )
    _add_extra_columns(con, ws, table, plan.extras)
    cols = plan.insert_columns()
    select = ", ".join(ident(c) for c in cols)
    step(
        "write",
        f"INSERT INTO {ident(table)} BY NAME SELECT {select}, {load_id} AS {LOAD_COLUMN} "
        f"FROM {_TYPED} WHERE {ROW_COLUMN} NOT IN (SELECT row FROM {_PROBLEMS}) "
        f"AND {ROW_COLUMN} NOT IN (SELECT row FROM {_SKIPPED}) ORDER BY {ROW_COLUMN}",
    )
    n_skipped = int(
        con.execute(
            f"SELECT count(*) FROM {_SKIPPED} WHERE row NOT IN (SELECT row FROM {_PROBLEMS})"
        ).fetchone()[0]
    )
    counts = {
        "source": src.name,
        "rows_read": n_rows,
        "rows_loaded": n_rows - n_invalid - n_skipped,
        "rows_rejected": n_invalid,
        "rows_skipped": n_skipped,
    }
    return counts, first


def _copy_existing(con: Any, table: str, existing: Callable[[Any], Any]) -> None:
    """Copy the workspace's rows with the source's keys into the staging table."""
    keys = con.execute(
        f"SELECT DISTINCT {KEY_COLUMN} FROM {_TYPED} EXCEPT SELECT {KEY_COLUMN} FROM {ident(table)}"
    ).to_arrow_table()
    if not keys.num_rows:
        return
    old = existing(keys)
    if old.num_rows:
        con.register("_rox_existing", old)
        con.execute(f"INSERT INTO {ident(table)} BY NAME SELECT * FROM _rox_existing")
        con.unregister("_rox_existing")


def _check_keys(con: Any, plan: LoadPlan, table: str) -> None:
    """Add key problems to the problems table and list the rows to skip.

    A row repeating an earlier row of the source (same key) is skipped when identical and rejected
    when not; a row whose key is already loaded is skipped when identical and rejected when not.
    """
    key = plan.key_label()
    existing = (
        f"SELECT {KEY_COLUMN}, {hash_sql(plan.spec)} AS _old_hash FROM {ident(table)} "
        f"WHERE {KEY_COLUMN} IN (SELECT {KEY_COLUMN} FROM {_TYPED})"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rox_keys AS
        SELECT t.{ROW_COLUMN} AS row, t.{KEY_COLUMN} AS key, t._rox_hash AS hash,
               first_value(t.{ROW_COLUMN}) OVER w AS first_row,
               first_value(t._rox_hash) OVER w AS first_hash,
               e._old_hash AS old_hash
        FROM (SELECT * FROM {_TYPED} WHERE {ROW_COLUMN} NOT IN (SELECT row FROM {_PROBLEMS})) t
        LEFT JOIN ({existing}) e ON e.{KEY_COLUMN} = t.{KEY_COLUMN}
        WINDOW w AS (PARTITION BY t.{KEY_COLUMN} ORDER BY t.{ROW_COLUMN})
        """
    )
    con.execute(
        f"""
        INSERT INTO {_PROBLEMS}
        SELECT row, {literal(key)}, key,
               CASE WHEN hash <> first_hash
                    THEN 'duplicate {key}: row ' || first_row || ' has the same {key} with '
                         || 'different values'
                    ELSE '{key} already loaded with different values; rox does not overwrite '
                         || 'loaded rows'
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


def _add_extra_columns(con: Any, ws: Workspace, table: str, extras: Mapping[str, str]) -> None:
    """Add the source's extra columns to the table (kept as attributes) if it lacks them."""
    have = set(ws.table(table).columns)
    for name, dtype in extras.items():
        if name not in have:
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

    def at(self, index: int) -> Callable[[str, str], None]:
        """A runner of the SQL steps of source ``index`` that tracks where they are."""

        def run(step: str, sql: str) -> None:
            start = index / self.n
            before = sum(w for s, w in _STEPS.items() if _order(s) < _order(step))
            lo = start + before / self.n
            self._span = (lo, lo + _STEPS[step] / self.n)
            self.con.execute(sql)
            if self.callback is not None:
                self.callback(self._span[1])

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
