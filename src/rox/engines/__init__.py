"""Engines: the only place that knows how each backend is opened, stores tables and its quirks.

A workspace is named by a URL:

=============================================  ===================================================
``duckdb:///abs/path/file.duckdb``             a DuckDB file (the embedded default)
``duckdb://relative/file.duckdb``              a DuckDB file relative to the current folder
``duckdb://:memory:``                          an in-memory DuckDB database
``path/to/file.duckdb``                        a plain path means a DuckDB file
``postgres://user:password@host:port/db``      a PostgreSQL database (``postgresql://`` too)
``spark://local[2]?lake=/data/rox``            Apache Spark in local mode, tables in a Parquet lake
``spark://yarn?lake=hdfs:///rox``              Spark on a cluster manager (``yarn``, ``k8s://...``,
                                               ``host:7077`` for a standalone master)
``spark://?lake=/data/rox``                    the active Spark session (spark-submit, Databricks)
``spark://local[2]?lake=/x&partition=month``   lay tables out by month (``day``, the default;
                                               ``month``; ``none``)
=============================================  ===================================================

Every engine gives an Ibis backend (all analyses are Ibis expressions) and an :class:`Engine` that
creates the canonical tables and appends validated rows to them: inside one transaction on DuckDB
and PostgreSQL, as Parquet files partitioned by day on Spark.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from rox._sql import ident
from rox.errors import EngineNotSupportedError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    import ibis
    import ibis.expr.types as ir
    import pyarrow as pa

__all__ = ["Engine", "EngineURL", "connect", "default_url", "parse_url"]

DEFAULT_FILE = "rox.duckdb"
ENV_VAR = "ROX_WORKSPACE"


@dataclass(frozen=True)
class EngineURL:
    """A parsed workspace URL.

    Attributes
    ----------
    engine : {'duckdb', 'postgres', 'spark'}
    location : str
        DuckDB: the file path or ``:memory:``. PostgreSQL: the connection URL. Spark: the master
        (empty for the active session).
    options : tuple of (str, str)
        Query options (``lake=`` for Spark).
    """

    engine: str
    location: str
    options: tuple[tuple[str, str], ...] = ()

    def option(self, name: str, default: str | None = None) -> str | None:
        """Value of query option ``name``."""
        return dict(self.options).get(name, default)

    def __str__(self) -> str:
        if self.engine == "postgres":
            # never show a password in messages, reprs or reports
            parts = urlsplit(self.location)
            netloc = parts.netloc
            if parts.password is not None:
                netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
        query = "&".join(f"{k}={v}" for k, v in self.options)
        # An absolute path starts with "/", which makes the usual three slashes of a file URL.
        return f"{self.engine}://{self.location}" + (f"?{query}" if query else "")


def default_url() -> str:
    """The workspace used when none is named: ``$ROX_WORKSPACE``, else ``rox.duckdb`` here."""
    return os.environ.get(ENV_VAR) or DEFAULT_FILE


def parse_url(url: str | os.PathLike[str]) -> EngineURL:
    """Parse a workspace URL (see the module docstring).

    Raises
    ------
    EngineNotSupportedError
        If the scheme names an engine rox does not know, or a Spark URL has no ``lake``.
    """
    text = os.fspath(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return EngineURL("duckdb", str(Path(text).expanduser().resolve()))
    scheme = scheme.lower()
    if scheme == "duckdb":
        if rest in (":memory:", "memory", ""):
            return EngineURL("duckdb", ":memory:")
        return EngineURL("duckdb", str(Path(rest).expanduser().resolve()))
    if scheme in ("postgres", "postgresql"):
        return EngineURL("postgres", f"postgresql://{rest}")
    if scheme == "spark":
        master, _, query = rest.partition("?")
        options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        unknown = sorted(set(options) - {"lake", "partition"})
        if unknown:
            raise EngineNotSupportedError(
                f"unknown option {unknown[0]!r} in {text!r}; a Spark workspace takes "
                "?lake=FOLDER and optionally &partition=day|month|none"
            )
        partition = options.get("partition", "day")
        if partition not in ("day", "month", "none"):
            raise EngineNotSupportedError(
                f"partition={partition!r} in {text!r}: expected day, month or none"
            )
        lake = options.get("lake")
        if not lake:
            raise EngineNotSupportedError(
                f"{text!r} names no lake: a Spark workspace keeps its tables as Parquet in a "
                "folder, e.g. spark://local[2]?lake=/data/rox"
            )
        lake = lake_path(lake)
        extra = (("partition", partition),) if "partition" in options else ()
        return EngineURL("spark", master, (("lake", lake), *extra))
    raise EngineNotSupportedError(
        f"unknown workspace URL scheme {scheme!r} in {text!r}; "
        "expected duckdb:///path/file.duckdb, duckdb://:memory:, a plain file path, "
        "postgres://user@host/db or spark://local[2]?lake=/folder"
    )


def lake_path(lake: str) -> str:
    """A lake folder as Spark should see it.

    Local paths are made absolute (relative to this process's folder, not the JVM's, which may
    have started elsewhere); URLs (``hdfs://``, ``s3a://``, ``dbfs:/``) are kept as given.
    """
    if "://" in lake or lake.startswith("dbfs:"):
        return lake
    return str(Path(lake).expanduser().resolve())


class Engine:
    """How one engine stores the canonical tables.

    Attributes
    ----------
    url : EngineURL
    backend : ibis backend
        The connection every analysis runs on.
    """

    name = ""
    #: Whether the engine runs in this process (DuckDB): its rows reach Python as Arrow without
    #: a network or a serialisation, so that the journey map and variants fetch the events and
    #: order them in numpy (:mod:`rox.journey.arrays`) rather than with a window in the engine.
    in_process = False

    def __init__(self, url: EngineURL, backend: Any) -> None:
        self.url = url
        self.backend = backend
        self._fixed: dict[str, ibis.Table] = {}

    def list_tables(self) -> set[str]:
        """Names of the tables the workspace has."""
        return set(self.backend.list_tables())

    def has_table(self, name: str) -> bool:
        """Whether the connection has table ``name``."""
        return name in self.backend.list_tables()

    def table(self, name: str) -> ibis.Table:
        """Table ``name`` as an Ibis expression."""
        return self.backend.table(name)

    def fixed_table(self, name: str) -> ibis.Table:
        """Table ``name``, for a table whose columns never change once it exists.

        The expression is kept (asking for a table's schema costs a query on most backends): for
        the bookkeeping tables and the tables written by :meth:`replace_table`, whose expressions
        are forgotten when replaced or dropped.
        """
        if name not in self._fixed:
            self._fixed[name] = self.table(name)
        return self._fixed[name]

    def create_table(self, name: str, schema: ibis.Schema) -> None:
        """Create empty table ``name``."""
        self.backend.create_table(name, schema=schema)

    def add_columns(self, name: str, columns: Mapping[str, str]) -> None:
        """Add ``columns`` (name → Ibis type) that existing table ``name`` lacks, as nulls.

        How a workspace made by an earlier rox gains the columns a bookkeeping table has grown
        since (:data:`rox.schema.ADDED_COLUMNS`).
        """
        raise NotImplementedError

    def declare_missing(self, schemas: Mapping[str, ibis.Schema]) -> None:
        """Show the tables of ``schemas`` the workspace lacks as empty, without writing anything.

        For a workspace opened read-only. Databases do nothing (a missing table stays missing);
        a lake (Spark) has no folder for a table no rows were ever written to, and shows it as an
        empty view, as the session that created the workspace did.
        """

    def append(
        self,
        rows: Mapping[str, pa.Table],
        *,
        new_columns: Mapping[str, Mapping[str, str]] | None = None,
        partition: Mapping[str, str] | None = None,
    ) -> None:
        """Append ``rows`` (table name → Arrow rows with the table's columns) as one commit.

        Parameters
        ----------
        rows : mapping of str to pyarrow.Table
        new_columns : mapping of str to mapping of str to str, optional
            Columns to add first, per table: name → Ibis type.
        partition : mapping of str to str, optional
            The time column of each table, for engines that lay tables out by day.
        """
        raise NotImplementedError

    def update(
        self,
        table: str,
        key: Mapping[str, Any],
        expected: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        append: Mapping[str, pa.Table] | None = None,
    ) -> bool:
        """Change one row in place if it still holds ``expected``, and append rows, as one commit.

        A compare-and-set: the row of ``table`` matching ``key`` (column → value) gets
        ``values`` only if its ``expected`` columns still hold those values (nulls compare equal),
        and ``append`` (table → Arrow rows) is written in the same transaction. When no row
        matches, nothing is written and the result is False: another process moved it first.

        Raises
        ------
        EngineNotSupportedError
            On engines that cannot change a row in place (Spark's Parquet lake).
        """
        raise EngineNotSupportedError(
            f"the {self.name} engine cannot change rows in place; closed-loop cases are kept on "
            "DuckDB or PostgreSQL (analyse them on any engine)"
        )

    def replace_table(self, name: str, expr: ir.Table, *, codes: bool = False) -> None:
        """Store the result of ``expr`` as table ``name``, replacing any table of that name.

        For tables rox derives from the canonical ones (the journey index), never for those.
        ``codes``: keep the columns :meth:`coded` coded (here: there are none).
        """
        self._fixed.pop(name, None)
        self.backend.create_table(name, expr, overwrite=True)

    def replace_rows(self, name: str, column: str, values: Sequence[int], rows: ir.Table) -> None:
        """Replace the rows of derived table ``name`` whose ``column`` is in ``values``.

        By ``rows`` (the table's columns), as one commit: how the journey index refreshes the
        journeys a load touched. Here (a lake, which cannot delete rows in place) the table is
        written anew through a staged copy; databases delete and insert in one transaction.
        """
        table = self.table(name)
        kept = table.filter(~table[column].isin(list(values))) if values else table
        staged = f"{name}__staged"
        # (as the table reads back: a lake's Parquet may narrow or drop a type's details)
        rows = rows.select(*table.columns).cast(table.schema())
        self.replace_table(staged, kept.union(rows))
        self.replace_table(name, self.table(staged))
        self.drop_table(staged)

    def _replace_rows_sql(
        self, name: str, column: str, values: Sequence[int], rows: ir.Table
    ) -> list[str]:
        """The statements of :meth:`replace_rows` for a SQL database (to run in a transaction)."""
        self.backend._register_in_memory_tables(rows)
        columns = ", ".join(ident(c) for c in self.fixed_table(name).columns)
        statements = []
        if values:
            listed = ", ".join(str(int(v)) for v in values)
            statements.append(f"DELETE FROM {ident(name)} WHERE {ident(column)} IN ({listed})")
        statements.append(
            f"INSERT INTO {ident(name)} ({columns}) SELECT {columns} "
            f"FROM ({self.backend.compile(rows)}) AS _rows"
        )
        return statements

    def drop_table(self, name: str) -> None:
        """Drop table ``name`` if there is one (a derived table, never a canonical one)."""
        self._fixed.pop(name, None)
        self.backend.drop_table(name, force=True)

    def epoch_seconds(self, ts: ir.TimestampValue) -> ir.NumericValue:
        """Seconds since 1970-01-01 UTC of a UTC timestamp column, for durations."""
        return ts.epoch_seconds()

    def hash_mod(self, value: ir.StringValue, modulus: int) -> ir.IntegerValue:
        """A hash of ``value`` modulo ``modulus`` (an ``int64``; its sign is the engine's).

        For keys summed over rows (the journeys' variants); the engine's own hash, equal for
        equal values within one engine.
        """
        return value.hash() % modulus

    def position_hash(
        self, step: ir.StringValue, position: ir.IntegerValue, modulus: int
    ) -> ir.IntegerValue:
        """A hash of a step at a position, modulo ``modulus`` (:meth:`hash_mod`'s kind of value).

        Summed over a journey's events, the key of its variant
        (:func:`rox.journey.events.journey_summary`): equal for the same step text at the same
        position within one engine, whatever codes (:meth:`coded`) the step is stored as. Here:
        the hash of ``"step@position"``.
        """
        return self.hash_mod(step.concat("@", position.cast("string")), modulus)

    def coded(self, expr: ir.Table, columns: Sequence[str]) -> ir.Table:
        """``expr`` with its text ``columns`` held as codes, where the engine has such a type.

        For columns of a few distinct values (steps, channels) kept in a large derived table
        (the journey index): the values read back as text, compare with text, and only the
        engine's storage of them changes. Here (no such type): ``expr`` itself. A table written
        from the result (``replace_table(..., codes=True)``) stores only the values it was coded
        with, until :meth:`admit` adds others.
        """
        return expr

    @contextlib.contextmanager
    def loads_held(self) -> Iterator[None]:
        """Hold the workspace's loads still while the block runs: no other process commits one.

        For what must see a fixed set of loads, such as the refresh of the tables derived from
        a table after a load (:func:`rox.ingest.load.ingest`, the service's batches). Here
        nothing is taken: a DuckDB file has one writing process, and a Spark lake's loads are
        not shared while they run; :class:`~rox.engines.postgres.PostgresEngine` takes the
        loads' lock.
        """
        yield

    def admit(self, name: str, values: Mapping[str, Sequence[str | None] | None]) -> None:
        """Let the coded columns of table ``name`` store these values too (here: nothing to do).

        ``values``: column -> the text values that rows about to be written there hold.
        """

    def cache(self, expr: ir.Table) -> ir.Table:
        """``expr.cache()`` (a context manager dropping the table), on this engine.

        Its in-memory tables (``ibis.memtable``) are registered first: ibis 10's PySpark backend
        caches a query without registering them, and Spark then cannot find them.
        """
        self.backend._register_in_memory_tables(expr)
        return expr.cache()

    def reused(self, expr: ir.Table) -> contextlib.AbstractContextManager[ir.Table]:
        """``expr`` for a query that reads it several times (a context manager).

        Here: ``expr`` itself. Ibis writes a subquery used more than once as one common table
        expression, which DuckDB and PostgreSQL (12 and later) compute once; an engine that
        inlines it instead (Spark) keeps it with :meth:`cache`, dropped on exit.
        """
        return contextlib.nullcontext(expr)

    def utc_date(self, ts: ir.TimestampValue) -> ir.DateValue:
        """The UTC calendar day of a UTC timestamp column."""
        return ts.date()

    def close(self) -> None:
        """Close the connection."""
        self.backend.disconnect()


def connect(url: EngineURL, *, read_only: bool = False) -> Engine:
    """Open the engine named by ``url``.

    Raises
    ------
    WorkspaceError
        If the database, server or session cannot be opened.
    """
    if url.engine == "duckdb":
        from rox.engines.duckdb import DuckDBEngine

        return DuckDBEngine.open(url, read_only=read_only)
    if url.engine == "postgres":
        from rox.engines.postgres import PostgresEngine

        return PostgresEngine.open(url, read_only=read_only)
    if url.engine == "spark":
        from rox.engines.spark import SparkEngine

        return SparkEngine.open(url, read_only=read_only)
    raise EngineNotSupportedError(url.engine)  # pragma: no cover - parse_url refuses others
