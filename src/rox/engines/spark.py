"""Apache Spark: the canonical tables as Parquet in a lake folder, queried through Ibis's PySpark.

Each table is a folder ``<lake>/<table>/``; tables with a time column are partitioned by its UTC
day (``rox_day=YYYY-MM-DD``, the default) or month (``rox_month=YYYY-MM``, for lakes whose days are
small: every partition is at least one file, and many tiny files make Spark slow), or not at all.

The session sees each table as a temporary view over its folder (read with schema merging, so
columns added by later loads appear), re-registered after every append. The view leaves out the
partition column, so a table has the same columns on every engine. The views of each workspace
carry its own number (``responses__rox1``, :meth:`SparkEngine.view`): several workspaces can be
open in one session, and closing one drops only its own views.

An append writes the data tables first and the load record (``rox_loads``) last, each as one
Spark write job (whose files appear only when the job commits). A failure between two jobs can
leave rows without their load record; loading the same source again skips the rows already there
(rox's loads are idempotent) and writes the record.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rox.engines import Engine, EngineURL, lake_path
from rox.errors import WorkspaceError
from rox.schema import DERIVED_TABLES, RESULT_TABLES, SYSTEM_TABLES, TABLES

if TYPE_CHECKING:
    from collections.abc import Mapping

    import ibis
    import ibis.expr.types as ir
    import pyarrow as pa

#: Numbers the workspaces of this process, whose views carry it (:meth:`SparkEngine.view`).
_workspaces = itertools.count(1)

#: The hive-style partition column of each layout, and the format of its values (no leading
#: underscore: Arrow and other Parquet readers skip folders named ``_*``).
PARTITIONS = {"day": ("rox_day", "yyyy-MM-dd"), "month": ("rox_month", "yyyy-MM")}


def local_session(master: str) -> Any:
    """Build (or reuse) a SparkSession for ``master`` with rox's settings.

    An empty master means the running session (as is, or ``local[*]`` if there is none). Local
    sessions bind to 127.0.0.1, run without the web UI and use few shuffle partitions
    (adaptive execution coalesces them further).
    """
    from pyspark.sql import SparkSession

    if not master:
        # spark-submit, Databricks, a notebook: the running session, with its own settings
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        master = "local[*]"
    if "://" not in master and not master.startswith(("local", "yarn")):
        master = f"spark://{master}"  # a standalone master given as host:port
    builder = SparkSession.builder.appName("rox").master(master)
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.driver.memory", os.environ.get("ROX_SPARK_DRIVER_MEMORY", "4g"))
            .config("spark.ui.showConsoleProgress", "false")
            # rox keeps tables in its lake; Spark's own warehouse folder stays out of the way
            .config("spark.sql.warehouse.dir", str(Path(tempfile.gettempdir()) / "rox-spark"))
        )
    session = builder.getOrCreate()
    if master.startswith("local"):
        session.sparkContext.setLogLevel(os.environ.get("ROX_SPARK_LOG_LEVEL", "ERROR"))
    return session


class SparkEngine(Engine):
    """A Spark session over a Parquet lake folder."""

    name = "spark"

    def __init__(
        self,
        url: EngineURL,
        backend: Any,
        session: Any,
        lake: str,
        partition: str = "day",
        *,
        read_only: bool = False,
    ) -> None:
        super().__init__(url, backend)
        self.session = session
        self.lake = lake.rstrip("/")
        self.partition = partition
        self.read_only = read_only
        self._schemas: dict[str, Any] = {}
        #: columns the lake's files of a table may lack (added since): shown as nulls
        self._added: dict[str, dict[str, str]] = {}
        #: the tables whose views this workspace registered (named by :meth:`view`)
        self._views: set[str] = set()
        self._number = next(_workspaces)

    @classmethod
    def open(cls, url: EngineURL, *, read_only: bool = False) -> SparkEngine:
        """Start or reuse the session named by ``url`` and register the lake's tables."""
        try:
            session = local_session(url.location)
        except Exception as exc:  # Java missing, bad master URL, ...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkspaceError(f"cannot start Spark for {url}: {first}") from None
        lake, partition = url.option("lake") or "", url.option("partition", "day") or "day"
        return cls.from_session(session, lake, partition=partition, url=url, read_only=read_only)

    @classmethod
    def from_session(
        cls,
        session: Any,
        lake: str,
        *,
        partition: str = "day",
        url: EngineURL | None = None,
        read_only: bool = False,
    ) -> SparkEngine:
        """Use an existing SparkSession (spark-submit, Databricks) with tables under ``lake``."""
        import ibis

        if not lake:
            raise WorkspaceError("a Spark workspace needs a lake folder for its Parquet tables")
        lake = lake_path(lake)
        backend = ibis.pyspark.connect(session)
        url = url or EngineURL("spark", "", (("lake", lake), ("partition", partition)))
        return cls(url, backend, session, lake, partition, read_only=read_only)

    def path(self, table: str) -> str:
        """Folder of ``table`` in the lake."""
        return f"{self.lake}/{table}"

    def list_tables(self) -> set[str]:
        """Tables of the lake (registering each as a view of this session)."""
        return {name for name in _table_names() if self._register(name)}

    def has_table(self, name: str) -> bool:
        """Whether the lake has table ``name`` (registering its view if it has not been yet)."""
        return name in self._views or (name in _table_names() and self._register(name))

    def declare_missing(self, schemas: Mapping[str, ibis.Schema]) -> None:
        """Show the tables of ``schemas`` without a folder yet as empty views (writing nothing).

        The others are registered when first used (:meth:`has_table`, :meth:`table`): reading a
        table's schema from its Parquet files costs a Spark job, and a command reads few tables.
        """
        for name, schema in schemas.items():
            self._schemas[name] = schema
            if not self._exists(self.path(name)):
                self._empty(name).createOrReplaceTempView(self.view(name))
                self._views.add(name)

    def _writable(self, what: str) -> None:
        """Refuse ``what`` on a workspace opened read-only."""
        if self.read_only:
            raise WorkspaceError(f"workspace {self.url} is open read-only; cannot {what}")

    def _register(self, table: str) -> bool:
        """(Re-)register the view of ``table``; False if the lake has no such table yet."""
        from pyspark.errors import AnalysisException

        if not self._exists(self.path(table)):
            if table in self._schemas:  # created in this session, no rows yet
                self._empty(table).createOrReplaceTempView(self.view(table))
                self._views.add(table)
                return True
            return False
        try:
            frame = self.session.read.option("mergeSchema", "true").parquet(self.path(table))
        except AnalysisException as exc:
            if "PATH_NOT_FOUND" in str(exc) or "UNABLE_TO_INFER_SCHEMA" in str(exc):
                if table in self._schemas:  # created in this session, no rows yet
                    self._empty(table).createOrReplaceTempView(self.view(table))
                    self._views.add(table)
                    return True
                return False
            raise
        frame = frame.drop(*(column for column, _ in PARTITIONS.values()))
        frame = self._with_added(table, frame)
        frame.createOrReplaceTempView(self.view(table))
        self._views.add(table)
        return True

    def table(self, name: str) -> ibis.Table:
        """Table ``name``, its timestamps marked as UTC (Spark's are instants shown in UTC)."""
        if name not in self._views:
            self._register(name)
        t = self.backend.table(self.view(name))
        naive = [
            c for c, dtype in t.schema().items() if dtype.is_timestamp() and not dtype.timezone
        ]
        if not naive:
            return t
        return t.mutate(**{c: t[c].cast("timestamp('UTC')") for c in naive})

    def add_columns(self, name: str, columns: Mapping[str, str]) -> None:
        """Show ``columns`` as nulls where the lake's files lack them (nothing is rewritten).

        Files written from now on carry them; Parquet's merged schema reads both.
        """
        self._added.setdefault(name, {}).update(columns)
        self._register(name)

    def _with_added(self, table: str, frame: Any) -> Any:
        """``frame`` with the columns of :meth:`add_columns` it lacks, as typed nulls."""
        import ibis
        from ibis.backends.pyspark.datatypes import PySparkType
        from pyspark.sql import functions as F

        for column, dtype in self._added.get(table, {}).items():
            if column not in frame.columns:
                spark_type = PySparkType.from_ibis(ibis.dtype(dtype))
                frame = frame.withColumn(column, F.lit(None).cast(spark_type))
        return frame

    def _exists(self, path: str) -> bool:
        """Whether ``path`` exists (asked of Hadoop's file system, which knows every lake)."""
        jvm = getattr(self.session, "_jvm", None)
        if jvm is None:  # Spark Connect: reading a missing folder raises PATH_NOT_FOUND instead
            return True
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        conf = self.session._jsc.hadoopConfiguration()
        return bool(hadoop_path.getFileSystem(conf).exists(hadoop_path))

    def _empty(self, table: str) -> Any:
        from ibis.backends.pyspark.datatypes import PySparkSchema

        schema = PySparkSchema.from_ibis(self._schemas[table])
        return self.session.createDataFrame([], schema)

    def create_table(self, name: str, schema: ibis.Schema) -> None:
        """Declare ``name``; its folder appears with the first rows written to it."""
        self._writable(f"create table {name!r}")
        self._schemas[name] = schema
        self._empty(name).createOrReplaceTempView(self.view(name))
        self._views.add(name)

    def append(
        self,
        rows: Mapping[str, pa.Table],
        *,
        new_columns: Mapping[str, Mapping[str, str]] | None = None,
        partition: Mapping[str, str] | None = None,
    ) -> None:
        """Write ``rows`` as Parquet (partitioned by day where a time column is given)."""
        self._writable(f"write to {', '.join(sorted(rows))}")
        time_columns = partition or {}
        for table, data in rows.items():
            if data.num_rows:
                self.write_frame(table, self.session.createDataFrame(data), time_columns.get(table))
        for table in {*rows, *(new_columns or {})}:
            self._register(table)

    def write_frame(self, table: str, frame: Any, time_column: str | None = None) -> None:
        """Append Spark DataFrame ``frame`` to ``table``'s folder, as one write job.

        The rows are written by the executors (nothing passes through this process),
        partitioned by day or month of ``time_column`` as the lake's layout says. The view is
        not re-registered: call :meth:`refresh` after the last write of a load.
        """
        from pyspark.sql import functions as F

        self._writable(f"write to {table}")
        layout = PARTITIONS.get(self.partition)
        if layout is None or time_column is None:
            frame.write.mode("append").parquet(self.path(table))
            return
        column, pattern = layout
        frame = frame.withColumn(column, F.date_format(F.col(time_column), pattern))
        # one file per partition and load, written by as many tasks as there are partitions
        frame = frame.repartition(column)
        frame.write.mode("append").partitionBy(column).parquet(self.path(table))

    def refresh(self, table: str) -> None:
        """Register ``table``'s view again, to show what was written to its folder."""
        self._register(table)

    def frame(self, table: str) -> Any:
        """Table ``table`` as a Spark DataFrame (its view; registered if it is not yet)."""
        if table not in self._views:
            self._register(table)
        return self.session.table(self.view(table))

    def replace_table(self, name: str, expr: ibis.Table, *, codes: bool = False) -> None:
        """Write the result of ``expr`` as the lake folder of ``name`` (overwritten).

        ``codes``: nothing to keep (Parquet stores a text column of few values by dictionary).
        """
        self._writable(f"write table {name!r}")
        self._fixed.pop(name, None)
        self.backend._run_pre_execute_hooks(expr)  # registers in-memory tables
        frame = self.session.sql(self.backend.compile(expr))
        frame.write.mode("overwrite").parquet(self.path(name))
        self._register(name)

    def drop_table(self, name: str) -> None:
        """Delete the lake folder of ``name`` and its view."""
        self._writable(f"drop table {name!r}")
        self._fixed.pop(name, None)
        jvm = self.session._jvm
        path = jvm.org.apache.hadoop.fs.Path(self.path(name))
        path.getFileSystem(self.session._jsc.hadoopConfiguration()).delete(path, True)
        self.session.catalog.dropTempView(self.view(name))
        self._views.discard(name)

    def reused(self, expr: ir.Table) -> contextlib.AbstractContextManager[ir.Table]:
        """``expr`` kept by Spark (:meth:`cache`), dropped on exit.

        Spark SQL inlines a common table expression used several times, and would compute it
        once for each use.
        """
        kept: contextlib.AbstractContextManager[ir.Table] = self.cache(expr)
        return kept

    def epoch_seconds(self, ts: ir.TimestampValue) -> ir.NumericValue:
        """Seconds since 1970 with their fraction: Spark's ``unix_micros(ts) / 1e6``.

        Ibis compiles ``epoch_seconds`` to Spark's ``unix_timestamp``, which drops the fraction
        of a second, so durations between times with fractions differed from DuckDB's and
        PostgreSQL's (by up to a second each).
        """
        return _unix_micros()(ts) / 1_000_000

    def close(self) -> None:
        """Drop this workspace's views, not another's; the session stays (it may be shared)."""
        for name in self._views:
            self.session.catalog.dropTempView(self.view(name))  # False if there is none
        self._views.clear()

    def view(self, table: str) -> str:
        """The name of ``table``'s temporary view in the session: ``<table>__rox<n>``.

        Each workspace's views carry its own number, so two workspaces open in one session (two
        lakes, or one lake opened twice) neither replace nor drop each other's views.
        """
        return f"{table}__rox{self._number}"


def _table_names() -> tuple[str, ...]:
    """The canonical, bookkeeping, derived and result tables a workspace may have."""
    return (*TABLES, *SYSTEM_TABLES, *DERIVED_TABLES, *RESULT_TABLES)


@functools.cache
def _unix_micros() -> Any:
    """Spark's ``unix_micros`` as an Ibis function (made on first use: Ibis loads lazily here)."""
    import ibis
    import ibis.expr.datatypes as dt

    # (the signature given, not annotated: annotations are strings in this module)
    @ibis.udf.scalar.builtin(name="unix_micros", signature=((dt.timestamp,), dt.int64))  # type: ignore[untyped-decorator]
    def unix_micros(ts: Any) -> Any:
        """Microseconds since 1970-01-01 UTC."""

    return unix_micros
