"""Loads validated by Spark itself: files already in the lake's storage, read by the executors.

A load into a Spark workspace normally validates in a DuckDB staging database on the driver
(:mod:`rox.ingest.load`), which bounds it by one machine's disk and memory. For CSV or Parquet
files that Spark can read (a file or a folder of them, local or ``s3a://``, ``hdfs://``,
``dbfs:/``), this path runs the whole load in Spark:

1. each file is one source, read by Spark (a CSV's values all as text, as the DuckDB path reads
   them); each row gets its 1-based position in its file from Spark's own numbering
   (``monotonically_increasing_id``) and the start of the file block it was read from
   (``input_file_block_start``): one counting job gives each block's first row;
2. the rules are those of the DuckDB path, :class:`~rox.ingest.rules.LoadPlan`'s SQL, translated
   to Spark SQL by :func:`~rox.ingest.rules.spark_sql`: the same conditions and messages;
3. keys repeated in the source and keys already in the table are found with joins in Spark, with
   the messages of :func:`~rox.ingest.rules.duplicate_key_rule` and
   :func:`~rox.ingest.rules.loaded_key_rule`: an identical row is skipped (loading the same
   folder again loads nothing), a different one rejected;
4. with ``on_error="raise"`` nothing is written when a row is invalid; else the valid rows are
   written by the executors, then the rejects, then the load record (``rox_loads``) last.

Only counts and the first :data:`~rox.ingest.load.PROBLEMS_KEPT` problems come back to the
driver, so its memory does not grow with the rows (docs/benchmarks.md). What it does not do
(the DuckDB path does): JSON lines, data frames, non-UTC time zones and timestamp formats in the
mapping, an ``order`` column, redaction of personal data in the comments, multi-line quoted CSV
fields, lines that cannot be split into fields (Spark reads them with missing values), text
encodings other than UTF-8, and recognising a file loaded before by its fingerprint (its rows are
read again and skipped by key). A mapping or source that needs one of them is refused with the
reason (:class:`~rox.errors.IngestError`), or, when the path was chosen by size, loaded by the
DuckDB path.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rox.errors import IngestError, RowProblem, SourceError, ValidationError
from rox.ingest.rules import (
    FLAG_COLUMN,
    ROW_COLUMN,
    LoadPlan,
    duplicate_key_rule,
    loaded_key_rule,
    spark_ready,
    spark_sql,
)
from rox.schema import (
    KEY_COLUMN,
    LOAD_COLUMN,
    LOADS_TABLE,
    REJECTS_TABLE,
    SCALES_TABLE,
    SEQ_COLUMN,
    table_spec,
)

if TYPE_CHECKING:
    from rox.ingest.mapping import ColumnMapping
    from rox.workspace import Workspace

__all__ = ["NATIVE_MIN_BYTES", "native_files", "native_load"]

#: Sources at least this large (in total) take the Spark path on their own, when they can.
NATIVE_MIN_BYTES = 256 * 2**20
#: The suffixes Spark reads here, and the format of each.
_FORMATS = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet"}
#: Spark column types as the DuckDB type names that :class:`LoadPlan` chooses its parsing by.
_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
}
_names = itertools.count(1)


def native_files(
    ws: Workspace, sources: list[Any], fmt: str | None
) -> list[tuple[str, str]] | None:
    """The files (URI, format) of ``sources`` if Spark can read them all, else None.

    Each source must be a path (``str`` or ``os.PathLike``) to a CSV or Parquet file, or a folder
    of them (its files, by name; names starting with ``_`` or ``.`` are left out, as Spark does).
    Local paths are made absolute; URLs are kept.
    """
    if ws.engine.name != "spark":
        return None
    files: list[tuple[str, str]] = []
    for source in sources:
        if not isinstance(source, str | os.PathLike):
            return None
        found = _listed(ws, _uri(str(source)), fmt)
        if found is None:
            return None
        files.extend(found)
    return files


def _uri(path: str) -> str:
    if "://" in path or path.startswith("dbfs:"):
        return path
    return str(Path(path).expanduser().resolve())


def _format(name: str, fmt: str | None) -> str | None:
    lower = name.lower()
    if fmt is not None:
        return fmt if fmt in ("csv", "parquet") else None
    return next((kind for suffix, kind in _FORMATS.items() if lower.endswith(suffix)), None)


def _listed(ws: Workspace, uri: str, fmt: str | None) -> list[tuple[str, str]] | None:
    """The readable files at ``uri`` (one, or a folder's), asked of Hadoop's file system."""
    session = ws.engine.session  # type: ignore[attr-defined]
    jvm = session._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(session._jsc.hadoopConfiguration())
    if not fs.exists(path):
        raise SourceError(f"{uri}: no such file or folder")
    if not fs.getFileStatus(path).isDirectory():
        kind = _format(uri, fmt)
        return None if kind is None else [(uri, kind)]
    out = []
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if status.isDirectory() or name.startswith(("_", ".")):
            continue
        kind = _format(name, fmt)
        if kind is None:
            return None
        out.append((f"{uri.rstrip('/')}/{name}", kind))
    if not out:
        raise SourceError(f"{uri}: a folder without CSV or Parquet files")
    return sorted(out)


def total_bytes(ws: Workspace, files: list[tuple[str, str]]) -> int:
    """The size of ``files`` in bytes."""
    session = ws.engine.session  # type: ignore[attr-defined]
    conf = session._jsc.hadoopConfiguration()
    total = 0
    for uri, _ in files:
        path = session._jvm.org.apache.hadoop.fs.Path(uri)
        total += int(path.getFileSystem(conf).getFileStatus(path).getLen())
    return total


def native_load(
    ws: Workspace,
    table: str,
    files: list[tuple[str, str]],
    mapping: ColumnMapping,
    known_scales: Mapping[Any, Any],
    load_id: int,
    on_error: str,
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Load ``files`` into ``table`` of Spark workspace ``ws``, validated by Spark.

    Returns the counts of each file (as :func:`rox.ingest.load.ingest` reports them) and the
    first problems.

    Raises
    ------
    IngestError
        If the mapping needs what this path does not do (see the module's notes).
    ValidationError
        If a row is invalid and ``on_error="raise"``; nothing was written.
    """
    reason = spark_ready(mapping)
    if reason is not None:
        raise IngestError(f"a Spark-validated load cannot use the mapping's {reason}")
    engine: Any = ws.engine
    with contextlib.ExitStack() as kept:
        return _load(ws, engine, table, files, mapping, known_scales, load_id, on_error, kept)


def _load(
    ws: Workspace,
    engine: Any,
    table: str,
    files: list[tuple[str, str]],
    mapping: ColumnMapping,
    known_scales: Mapping[Any, Any],
    load_id: int,
    on_error: str,
    kept: contextlib.ExitStack,
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """:func:`native_load`, once the session is set; ``kept`` releases what Spark keeps."""
    from pyspark.sql import functions as F

    session = engine.session
    spec = table_spec(table)
    stored = dict(ws.table(table).schema().items())
    with _described(session, f"rox native load: the rows of {table} loaded before"):
        last = (
            engine.frame(table)
            .agg(F.max(SEQ_COLUMN).alias("seq"), F.count(F.lit(1)).alias("n"))
            .collect()[0]
        )
    seq_base, has_rows = int(last["seq"] or 0), bool(last["n"])
    runs = [_Source(session, uri, kind, spec, mapping, known_scales, kept) for uri, kind in files]
    counts: list[dict[str, Any]] = []
    problems: list[RowProblem] = []
    checked: list[_Source] = []
    content = [KEY_COLUMN, *spec.names]
    for run in runs:
        # the rows loaded, and those this load keeps of its earlier files (as in the DuckDB path,
        # where each file is written before the next is checked)
        pool = [engine.frame(table).select(*content)] if has_rows else []
        pool += [earlier.kept().select(*content) for earlier in checked if earlier.n_loaded]
        existing = None
        for part in pool:
            existing = part if existing is None else existing.unionByName(part)
        run.check(existing)
        counts.append(run.counts())
        problems.extend(run.first)
        checked.append(run)
    n_invalid = sum(c["rows_rejected"] for c in counts)
    if n_invalid and on_error == "raise":
        raise ValidationError(problems[:20], n_invalid, sum(c["rows_read"] for c in counts))
    for run in checked:
        if run.n_loaded:
            frame = run.valid_rows(load_id, seq_base, stored)
            with _described(session, f"rox native load: writing the rows of {run.uri}"):
                engine.write_frame(table, frame, spec.time_column)
            seq_base += run.n_rows
    for run in checked:
        if run.n_invalid:
            with _described(session, f"rox native load: writing the rejects of {run.uri}"):
                engine.write_frame(REJECTS_TABLE, run.rejects(load_id))
    import pyarrow as pa

    if mapping.scales:
        declared = [
            (m, s.label, s.low, s.high, s.top_from, s.bottom_to)
            for m, s in mapping.scales.items()
            if (m, s.label) not in known_scales
        ]
        if declared:
            schema = ws.table(SCALES_TABLE).schema().to_pyarrow()
            ws.append_rows(
                {
                    SCALES_TABLE: pa.Table.from_pylist(
                        [dict(zip(schema.names, row, strict=True)) for row in declared],
                        schema=schema,
                    )
                }
            )
    # last: the record that the load happened
    schema = ws.table(LOADS_TABLE).schema().to_pyarrow()
    now = datetime.now(UTC)
    record = [{"load_id": load_id, "table_name": table, "loaded_at": now, **c} for c in counts]
    ws.append_rows({LOADS_TABLE: pa.Table.from_pylist(record, schema=schema)})
    engine.refresh(table)
    engine.refresh(REJECTS_TABLE)
    return counts, problems


class _Source:
    """One file of a Spark-validated load: its rows numbered, typed, checked."""

    def __init__(
        self,
        session: Any,
        uri: str,
        kind: str,
        spec: Any,
        mapping: ColumnMapping,
        known_scales: Mapping[Any, Any],
        kept: contextlib.ExitStack,
    ) -> None:
        from pyspark.sql import functions as F

        self.session, self.uri, self.spec, self.releases = session, uri, spec, kept
        if kind == "csv":
            read = session.read.options(header=True, inferSchema=False, mode="PERMISSIVE")
            frame = read.csv(uri)
        else:
            frame = session.read.parquet(uri)
        self.columns = list(frame.columns)
        types = {}
        for name, dtype in frame.dtypes:
            base = dtype.split("(")[0]
            if base == "decimal":
                types[name] = dtype.upper()
            elif base in _DUCKDB_TYPES:
                types[name] = _DUCKDB_TYPES[base]
            else:
                raise IngestError(
                    f"{uri}: column {name!r} is of Spark type {dtype}, which a Spark-validated "
                    "load does not read; load it without native"
                )
        self.plan = LoadPlan(spec, mapping, types, uri, known_scales)
        if mapping.redaction.enabled and any(
            r.origin is not None
            for n, r in self.plan.columns.items()
            if n in mapping.redaction.columns
        ):
            raise IngestError(
                f"{uri}: a Spark-validated load does not redact personal data (in "
                f"{', '.join(mapping.redaction.columns)}); set [redact] enabled = false in the "
                "mapping, or load without native"
            )
        self.timestamps = {c.name for c in spec.columns if c.dtype == "timestamp"}
        self.raw_frame = frame.select(
            *[F.col(f"`{c}`") for c in self.columns],
            F.input_file_block_start().alias("_rox_block"),
            F.monotonically_increasing_id().alias("_rox_id"),
        )
        self.first: list[RowProblem] = []
        self.n_rows = self.n_invalid = self.n_skipped = self.n_loaded = 0
        #: the problems (row, column, value, rule), the rows rejected, the rows skipped
        self.problems: Any = None
        self.bad_rows: Any = None
        self.skip: Any = None

    def _sql(self, duckdb_sql: str) -> Any:
        return self.session.sql(spark_sql(duckdb_sql, self.timestamps))

    def _view(self, frame: Any, what: str) -> str:
        name = f"_rox_{what}_{next(_names)}"
        frame.createOrReplaceTempView(name)
        return name

    def check(self, existing: Any | None) -> None:
        """Number, type and check the rows; find the problems and the rows to skip.

        Spark jobs: one counts the rows of each file block (to number them); one types and
        checks every row, keeps the typed rows (:meth:`_persisted`) and counts the flagged rows
        and the distinct keys; only when a row is flagged, a key repeats or the table has rows
        already, one more counts the rows rejected and skipped, and one collects the first
        problems.
        """
        from pyspark.sql import functions as F

        key = self.plan.natural_key_origin()
        no_key = F.expr(spark_sql(f"{key} IS NULL")) if key is not None else F.lit(True)
        raw_view = self._view(self.raw_frame, "read")
        # one job: each file block's rows and first id, and whether every row has its key
        with _described(self.session, f"rox native load: numbering the rows of {self.uri}"):
            blocks = (
                self.session.table(raw_view)
                .groupBy("_rox_block")
                .agg(
                    F.count(F.lit(1)).alias("n"),
                    F.min("_rox_id").alias("first_id"),
                    F.sum(F.when(no_key, 1).otherwise(0)).alias("no_key"),
                )
                .orderBy("_rox_block")
                .collect()
            )
        before, offsets = 0, []
        for b in blocks:
            offsets.append((int(b["_rox_block"]), int(b["first_id"]), before))
            before += int(b["n"])
        self.n_rows = before
        complete = key is not None and not sum(int(b["no_key"] or 0) for b in blocks)
        starts = self.session.createDataFrame(
            offsets, "_rox_block long, _rox_first long, _rox_before long"
        )
        numbered = (
            self.raw_frame.join(F.broadcast(starts), "_rox_block")
            .withColumn(
                ROW_COLUMN, F.col("_rox_id") - F.col("_rox_first") + F.col("_rox_before") + 1
            )
            .drop("_rox_block", "_rox_id", "_rox_first", "_rox_before")
        )
        self.raw = self._view(numbered, "raw")
        typed = self._sql(self.plan.typed_select(self.raw, keys_complete=complete, flag="false"))
        self.typed = self._view(self._persisted(self._problems_only(typed)), "typed")
        # one job: the rows flagged, and the distinct keys (fewer than the rows: a key repeats)
        with _described(self.session, f"rox native load: checking the rows of {self.uri}"):
            stats = (
                self.session.table(self.typed)
                .agg(
                    F.count_if(F.col(FLAG_COLUMN)).alias("bad"),
                    F.count_distinct(F.col(KEY_COLUMN)).alias("keys"),
                )
                .collect()[0]
            )
        flagged_view = self._view(self.session.table(self.typed).where(F.col(FLAG_COLUMN)), "bad")
        parts = []
        if stats["bad"]:
            parts.append(self._sql(self.plan.problems_select(flagged_view)))
        valid = self.session.table(self.typed).where(~F.col(FLAG_COLUMN))
        skipped = []
        label = self.plan.key_label()
        content = [c.name for c in self.spec.columns]
        if int(stats["keys"]) < self.n_rows:
            from pyspark.sql import Window

            w = Window.partitionBy(KEY_COLUMN).orderBy(ROW_COLUMN)
            firsts = valid.select(
                ROW_COLUMN,
                KEY_COLUMN,
                *content,
                F.first(ROW_COLUMN).over(w).alias("_first_row"),
                *[F.first(F.col(c)).over(w).alias(f"_first_{c}") for c in content],
            ).where(F.col(ROW_COLUMN) != F.col("_first_row"))
            same = _same(content, "", "_first_")
            parts.append(
                firsts.where(~same).select(
                    F.col(ROW_COLUMN).alias("row"),
                    F.lit(label).alias("column"),
                    F.col(KEY_COLUMN).alias("value"),
                    F.expr(spark_sql(duplicate_key_rule(label, "_first_row"))).alias("rule"),
                )
            )
            skipped.append(firsts.where(same).select(F.col(ROW_COLUMN).alias("row")))
        if existing is not None:
            old = existing.select(KEY_COLUMN, *[F.col(c).alias(f"_old_{c}") for c in content])
            met = valid.select(ROW_COLUMN, KEY_COLUMN, *content).join(old, KEY_COLUMN)
            same = _same(content, "", "_old_")
            parts.append(
                met.where(~same).select(
                    F.col(ROW_COLUMN).alias("row"),
                    F.lit(label).alias("column"),
                    F.col(KEY_COLUMN).alias("value"),
                    F.lit(loaded_key_rule(label)).alias("rule"),
                )
            )
            skipped.append(met.where(same).select(F.col(ROW_COLUMN).alias("row")))
        columns = ["row", "column", "value", "rule"]
        self.problems = _union([part.toDF(*columns) for part in parts])
        skip = _union(skipped)
        self.n_loaded = self.n_rows
        if self.problems is None and skip is None:
            return
        # one job: the rows rejected (a rule broken) and those skipped (of the others)
        marks = []
        if self.problems is not None:
            marks.append(self.problems.select("row", F.lit(True).alias("bad")))
        if skip is not None:
            marks.append(skip.select("row", F.lit(False).alias("bad")))
        marked = _union(marks)
        assert marked is not None
        with _described(self.session, f"rox native load: counting the rows of {self.uri} kept"):
            outcome = (
                marked.groupBy("row")
                .agg(F.max("bad").alias("bad"))
                .agg(
                    F.count_if(F.col("bad")).alias("rejected"),
                    F.count_if(~F.col("bad")).alias("skipped"),
                )
                .collect()[0]
            )
        self.n_invalid, self.n_skipped = int(outcome["rejected"]), int(outcome["skipped"])
        self.n_loaded = self.n_rows - self.n_invalid - self.n_skipped
        if self.problems is not None and self.n_invalid:
            self.bad_rows = self.problems.select("row").distinct()
            with _described(self.session, f"rox native load: the first problems of {self.uri}"):
                first = self.problems.orderBy("row", "column").limit(20).collect()
            self.first = [
                RowProblem(self.uri, int(r["row"]), r["column"], r["value"], r["rule"])
                for r in first
            ]
        if skip is not None and self.n_skipped:
            if self.bad_rows is not None:
                skip = skip.join(self.bad_rows, "row", "left_anti")
            self.skip = skip.distinct()

    def counts(self) -> dict[str, Any]:
        """The file's counts, as :class:`~rox.ingest.load.LoadReport` reports them."""
        return {
            "source": self.uri,
            "rows_read": self.n_rows,
            "rows_loaded": self.n_loaded,
            "rows_rejected": self.n_invalid,
            "rows_skipped": self.n_skipped,
        }

    def valid_rows(self, load_id: int, seq_base: int, stored: Mapping[str, Any]) -> Any:
        """The rows to write: valid, not skipped, with their load id and recorded order."""
        from ibis.backends.pyspark.datatypes import PySparkType
        from pyspark.sql import functions as F

        rows = self.kept()
        cols = []
        for name in self.plan.insert_columns():
            column = F.col(f"`{name}`")
            if name in stored:  # the type the table holds (an attribute keeps its first type)
                column = column.cast(PySparkType.from_ibis(stored[name]))
            cols.append(column.alias(name))
        return rows.select(
            *cols,
            F.lit(load_id).cast("long").alias(LOAD_COLUMN),
            (F.col(ROW_COLUMN) + seq_base).cast("long").alias(SEQ_COLUMN),
        )

    def kept(self) -> Any:
        """The typed rows to write: valid, not skipped."""
        from pyspark.sql import functions as F

        rows = self.session.table(self.typed).where(~F.col(FLAG_COLUMN))
        for out in (self.bad_rows, self.skip):
            if out is not None:
                rows = rows.join(out.withColumnRenamed("row", ROW_COLUMN), ROW_COLUMN, "left_anti")
        return rows

    def _problems_only(self, typed: Any) -> Any:
        """``typed``, with the columns only the problems read left NULL where no rule broke.

        The problems are spelled out from the flagged rows alone (:meth:`LoadPlan.problems_select`:
        the text as read, the scale's bounds); the rows kept, their keys and the write read only
        the columns written, the row number and the flag. So the rows no rule flags (most) are
        smaller to keep on disk and to read again.
        """
        from pyspark.sql import functions as F

        read = {*self.plan.insert_columns(), ROW_COLUMN, FLAG_COLUMN}
        flagged = F.col(FLAG_COLUMN)
        return typed.withColumns(
            {c: F.when(flagged, F.col(f"`{c}`")) for c in typed.columns if c not in read}
        )

    def _persisted(self, typed: Any) -> Any:
        """``typed``, kept by Spark once computed (released when the load ends).

        The statistics, the problems and the write all read the typed rows: kept, the file is
        read and its rules run once rather than once for each of them. Kept on the executors'
        disks (``DISK_ONLY``), so that the JVM's memory is not taken by them.

        The rules are one wide projection: compiled as one whole stage, its Java code passed the
        JVM's 64 KB per method, and each failed compilation cost seconds before Spark fell back
        (a 10M-row load with it on took 357 s, against 117 s so; docs/benchmarks.md). The typed
        rows' plan is made here, once, with whole-stage code generation off (its expressions are
        still compiled, each on its own); what reads them (statistics, joins, the write) keeps
        it on.
        """
        from pyspark import StorageLevel

        conf = self.session.conf
        before = conf.get("spark.sql.codegen.wholeStage")
        conf.set("spark.sql.codegen.wholeStage", "false")
        try:
            # (Spark plans the kept rows when asked to keep them, with the settings of then)
            kept = typed.persist(StorageLevel.DISK_ONLY)
        finally:
            conf.set("spark.sql.codegen.wholeStage", before)
        self.releases.callback(kept.unpersist, True)  # (blocking: its blocks are gone after)
        return kept

    def rejects(self, load_id: int) -> Any:
        """The rejects of this file: one row per rule broken, with the row as read (JSON)."""
        from pyspark.sql import functions as F

        raw = self.session.table(self.raw)
        record = F.to_json(F.struct(*[F.col(f"`{c}`") for c in self.columns]))
        rows = raw.select(F.col(ROW_COLUMN).alias("row"), record.alias("record"))
        assert self.problems is not None
        return self.problems.join(rows, "row", "left").select(
            F.lit(load_id).cast("long").alias("load_id"),
            F.lit(self.spec.name).alias("table_name"),
            F.lit(self.uri).alias("source"),
            F.col("row").cast("long").alias("row"),
            F.col("column").cast("string").alias("column"),
            F.col("value").cast("string").alias("value"),
            F.col("rule").cast("string").alias("rule"),
            F.col("record"),
        )


def _union(frames: list[Any]) -> Any:
    """The rows of ``frames`` (by column name), or None for no frame."""
    out = None
    for frame in frames:
        out = frame if out is None else out.unionByName(frame)
    return out


@contextlib.contextmanager
def _described(session: Any, what: str) -> Iterator[None]:
    """The Spark jobs started inside carry ``what`` as their description (UI, event log)."""
    context = session.sparkContext
    context.setJobDescription(what)
    try:
        yield
    finally:
        context.setJobDescription(None)


def _same(columns: list[str], left: str, right: str) -> Any:
    """Whether every column of ``columns`` is equal (nulls equal) under the two prefixes."""
    from pyspark.sql import functions as F

    same = F.lit(True)
    for c in columns:
        same = same & F.col(f"`{left}{c}`").eqNullSafe(F.col(f"`{right}{c}`"))
    return same
