"""The workspace: one Ibis backend holding the canonical tables.

Open one with :func:`rox.open`. Every analysis takes a :class:`Workspace` (or an Ibis table) and
pushes its aggregation down to the workspace's engine; only small results come back to Python.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import ibis
import pandas as pd

from rox import engines
from rox.errors import TableNotFoundError, WorkspaceError
from rox.results import Result
from rox.schema import (
    ADDED_COLUMNS,
    DEFAULT_SCALES,
    DERIVED_TABLES,
    KEY_COLUMN,
    LOAD_COLUMN,
    RESULT_TABLES,
    SCALES_TABLE,
    SEQ_COLUMN,
    SETTINGS_TABLE,
    SYSTEM_TABLES,
    TABLES,
    Scale,
    table_spec,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import ibis.expr.types as ir

    from rox.ingest.load import LoadReport
    from rox.ingest.mapping import ColumnMapping

__all__ = ["Workspace", "WorkspaceDescription", "open_workspace"]

#: The setting a workspace built by ``rox demo`` carries (see :meth:`Workspace.settings`).
DEMO_SETTING = "demo"
#: The workspace's currency (an ISO 4217 code), shown wherever money is.
CURRENCY_SETTING = "currency"

_IBIS_TYPES = {
    "string": "string",
    "float64": "float64",
    "int64": "int64",
    "timestamp": "timestamp('UTC')",
}


def canonical_schema(name: str) -> ibis.Schema:
    """The Ibis schema a canonical table is created with (bookkeeping columns last)."""
    spec = table_spec(name)
    cols = {c.name: _IBIS_TYPES[c.dtype] for c in spec.columns}
    cols[KEY_COLUMN] = "string"
    cols[LOAD_COLUMN] = "int64"
    cols[SEQ_COLUMN] = "int64"
    return ibis.schema(cols)


@dataclass(frozen=True, eq=False)
class WorkspaceDescription(Result):
    """What a workspace holds: one row per table with its row count, columns and time span.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns ``table``, ``rows``, ``columns``, ``first``, ``last`` (UTC; empty for tables without
        a time column or without rows).
    url : str
        The workspace URL.
    """

    url: str = ""

    def __repr__(self) -> str:
        return f"Workspace {self.url}\n{self.frame.to_string(index=False)}"


class Workspace:
    """A set of canonical tables on one engine.

    Do not construct directly: use :func:`rox.open`.

    Parameters
    ----------
    engine : rox.engines.Engine
        The engine holding the tables.
    read_only : bool, default False
        Refuse loads and do not create missing tables.

    Attributes
    ----------
    backend : ibis backend
        The connection every analysis runs on.
    url : str
        The URL it was opened from (without any password).
    session : dict of str to object
        What analyses keep for this session, by name: the journeys its journey analyses ordered
        last (:mod:`rox.journey.events`), so that the next analysis of the same journeys does not
        order the events again. Emptied (each value with a ``release()`` method released) by
        :meth:`forget`: on every write through the workspace, and on :meth:`close`. A workspace
        serves one thread at a time.

    Examples
    --------
    >>> import rox
    >>> ws = rox.open("duckdb://:memory:")
    >>> ws.describe().to_frame()["table"].tolist()
    ['customers', 'transactions', 'events', 'responses', 'cases']
    """

    def __init__(self, engine: engines.Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.backend = engine.backend
        self.url = str(engine.url)
        self.read_only = read_only
        self.session: dict[str, Any] = {}
        if not read_only:
            self._create_missing_tables()
            self._complete_order()
        else:
            self.engine.declare_missing(_schemas())

    # -- tables -----------------------------------------------------------------------------------
    def _create_missing_tables(self) -> None:
        existing = self.engine.list_tables()
        for name, schema in _schemas().items():
            if name not in existing:
                self.engine.create_table(name, schema)
        # a workspace made by an earlier rox gains the bookkeeping columns added since
        for name, added in ADDED_COLUMNS.items():
            if name in existing:
                have = set(self.engine.table(name).columns)
                lacking = {c: SYSTEM_TABLES[name][c] for c in added if c not in have}
                if lacking:
                    self.engine.add_columns(name, lacking)

    def _complete_order(self) -> None:
        """Number the rows a load committed without their recorded order (``_seq``).

        A valid CSV's rows are numbered in a transaction after the load's own; a process stopped
        between the two leaves them unnumbered, and the first open for writing numbers them as
        that transaction would have (:mod:`rox.ingest.order`). DuckDB only: other engines write
        the recorded order with the rows.
        """
        if self.engine.name != "duckdb":
            return
        # (rox.ingest is the layer below, imported when first needed: not by every command)
        from rox.ingest.order import number_rows, unnumbered_tables

        con = self.backend.con
        for name in unnumbered_tables(con, list(TABLES)):
            number_rows(con, name)

    def table(self, name: str) -> ir.Table:
        """Return canonical table ``name`` as an Ibis table expression.

        Raises
        ------
        TableNotFoundError
            If ``name`` is not a canonical, bookkeeping, derived or result table of the workspace.
        """
        if name not in (*TABLES, *SYSTEM_TABLES, *DERIVED_TABLES, *RESULT_TABLES):
            table_spec(name)  # raises with the list of canonical tables
        if not self.engine.has_table(name):
            raise TableNotFoundError(f"workspace {self.url} has no table {name!r}")
        return self.engine.table(name)

    def __getitem__(self, name: str) -> ir.Table:
        return self.table(name)

    def count(self, name: str) -> int:
        """Number of rows in table ``name``."""
        return int(self.table(name).count().execute())

    def require_rows(self, name: str) -> ir.Table:
        """Return table ``name``, raising :class:`TableNotFoundError` if it holds no rows."""
        t = self.table(name)
        if self.count(name) == 0:
            raise TableNotFoundError(
                f"table {name!r} of workspace {self.url} is empty; load it with "
                f"`rox ingest {name} FILE` or Workspace.ingest({name!r}, ...)"
            )
        return t

    def describe(self) -> WorkspaceDescription:
        """Describe the canonical tables: rows, columns and time span of each."""
        rows = []
        for name, spec in TABLES.items():
            t = self.table(name)
            aggs: dict[str, Any] = {"rows": t.count()}
            if spec.time_column:
                aggs["first"] = t[spec.time_column].min()
                aggs["last"] = t[spec.time_column].max()
            got = t.aggregate(**aggs).execute().iloc[0]
            cols = [c for c in t.columns if c not in (KEY_COLUMN, LOAD_COLUMN, SEQ_COLUMN)]
            rows.append(
                {
                    "table": name,
                    "rows": int(got["rows"]),
                    "columns": ", ".join(cols),
                    "first": got.get("first"),
                    "last": got.get("last"),
                }
            )
        frame = pd.DataFrame(rows, columns=["table", "rows", "columns", "first", "last"])
        return WorkspaceDescription(frame=frame, url=self.url)

    # -- scales -----------------------------------------------------------------------------------
    def scale(self, metric: str, label: str | None = None) -> Scale:
        """Return the scale of ``metric`` stored as ``label`` (default: the metric's default scale).

        Scales declared at ingest (with their own cut-offs) are looked up in ``rox_scales``; other
        labels get the default cut-off rule (:meth:`rox.schema.Scale.parse`).
        """
        return self.scale_lookup()(metric, label)

    def scale_lookup(self) -> Callable[[str, str | None], Scale]:
        """:meth:`scale` with the declared scales read once (for many lookups in one analysis)."""
        declared = self.declared_scales()

        def lookup(metric: str, label: str | None = None) -> Scale:
            if label is None:
                return DEFAULT_SCALES[metric]
            return declared.get((metric, label)) or Scale.parse(metric, label)

        return lookup

    def declared_scales(self) -> Mapping[tuple[str, str], Scale]:
        """Scales declared by column mappings at ingest, keyed by ``(metric, label)``."""
        df = self.table(SCALES_TABLE).execute()
        out: dict[tuple[str, str], Scale] = {}
        for r in df.itertuples(index=False):
            bottom = None if pd.isna(r.bottom_to) else float(r.bottom_to)
            out[(r.metric, r.scale)] = Scale(float(r.low), float(r.high), float(r.top_from), bottom)
        return out

    # -- settings ---------------------------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        """The workspace's settings (``currency``, and ``demo`` in a workspace ``rox demo`` built).

        Settings are kept in the ``rox_settings`` table, one row per change; the last change of a
        key wins. A workspace created before settings existed has none.
        """
        if not self.engine.has_table(SETTINGS_TABLE):
            return {}
        rows = self.table(SETTINGS_TABLE).order_by("set_at").execute()
        return {str(r.key): str(r.value) for r in rows.itertuples(index=False)}

    def set_setting(self, key: str, value: str) -> None:
        """Store setting ``key`` (see :meth:`settings`); ``currency`` must be an ISO 4217 code.

        Raises
        ------
        WorkspaceError
            If the workspace is read-only, or ``currency`` is not three letters.
        """
        if self.read_only:
            raise WorkspaceError(f"workspace {self.url} is open read-only; settings not changed")
        if key == CURRENCY_SETTING:
            value = value.strip().upper()
            if len(value) != 3 or not value.isascii() or not value.isalpha():
                raise WorkspaceError(
                    f"currency {value!r} is not an ISO 4217 code: expected three letters such as "
                    "EUR, USD or GBP"
                )
        import pyarrow as pa

        row = pa.table(
            {
                "key": [key],
                "value": [value],
                "set_at": pa.array([pd.Timestamp.now(tz="UTC")], pa.timestamp("us", tz="UTC")),
            }
        )
        self.append_rows({SETTINGS_TABLE: row})

    @property
    def currency(self) -> str | None:
        """ISO 4217 code of the money amounts in the workspace, if one was set."""
        return self.settings().get(CURRENCY_SETTING)

    # -- ingestion --------------------------------------------------------------------------------
    def ingest(
        self,
        table: str,
        source: Any,
        *,
        mapping: ColumnMapping | str | os.PathLike[str] | Mapping[str, Any] | None = None,
        on_error: Literal["raise", "quarantine"] = "raise",
        progress: Callable[[float], None] | None = None,
        native: bool | None = None,
    ) -> LoadReport:
        """Load ``source`` into canonical table ``table``, atomically.

        See :func:`rox.ingest.ingest` for the parameters.
        """
        from rox.ingest.load import ingest

        return ingest(
            self,
            table,
            source,
            mapping=mapping,
            on_error=on_error,
            progress=progress,
            native=native,
        )

    def append_rows(
        self,
        rows: Mapping[str, Any],
        *,
        new_columns: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """Append Arrow ``rows`` (table → pyarrow.Table) as they are, as one commit of the engine.

        No validation happens here: this is the last step of :meth:`ingest` (and of
        :func:`rox.testing.insert_rows`). ``new_columns`` (table → column → Ibis type) are added
        first.
        """
        partition = {
            name: spec.time_column for name, spec in TABLES.items() if spec.time_column is not None
        }
        try:
            self.engine.append(rows, new_columns=new_columns, partition=partition)
        finally:
            self.forget()  # what the session kept was computed from the rows before

    # -- the session ------------------------------------------------------------------------------
    def forget(self) -> None:
        """Release what analyses keep for this session (:attr:`session`), e.g. ordered journeys.

        Called on every write through the workspace and on :meth:`close`; call it to free the
        engine's memory sooner.
        """
        kept = list(self.session.values())
        self.session.clear()
        for value in kept:
            release = getattr(value, "release", None)
            if callable(release):
                release()

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        """Release what the session kept (:meth:`forget`), then close the connection."""
        try:
            self.forget()
        finally:
            self.engine.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({self.url!r})"


def open_workspace(
    url: str | os.PathLike[str] | Any | None = None,
    *,
    read_only: bool = False,
    lake: str | None = None,
    partition: str = "day",
) -> Workspace:
    """Open (or create) the workspace named by ``url``.

    Parameters
    ----------
    url : str, path or SparkSession, optional
        ``duckdb:///abs/path.duckdb``, ``duckdb://:memory:``, a plain path to a DuckDB file,
        ``postgres://user:password@host:port/db``, ``spark://local[2]?lake=/folder`` (see
        :mod:`rox.engines`), or an existing ``SparkSession`` (give ``lake``).
        Default: ``$ROX_WORKSPACE``, else ``rox.duckdb`` in the current folder.
    read_only : bool, default False
        Open without creating missing tables and without write access.
    lake : str, optional
        With a SparkSession: the folder (local, ``hdfs://``, ``s3a://``, ``dbfs:/``) holding the
        tables as Parquet.
    partition : {'day', 'month', 'none'}, default 'day'
        With a SparkSession: how tables with a time column are laid out in the lake.

    Returns
    -------
    Workspace

    Raises
    ------
    EngineNotSupportedError
        If the URL names an engine rox cannot open.
    WorkspaceError
        If the database cannot be opened (for example another process holds the DuckDB file).
    """
    if _is_spark_session(url):
        from rox.engines.spark import SparkEngine

        engine = SparkEngine.from_session(url, lake or "", partition=partition, read_only=read_only)
        return Workspace(engine, read_only=read_only)
    if lake is not None or partition != "day":
        raise WorkspaceError("lake= and partition= are for a SparkSession; a URL says ?lake=")
    parsed = engines.parse_url(url if url is not None else engines.default_url())
    return Workspace(engines.connect(parsed, read_only=read_only), read_only=read_only)


def _schemas() -> dict[str, ibis.Schema]:
    """The schema of every canonical and bookkeeping table, in the order they are created."""
    out = {name: canonical_schema(name) for name in TABLES}
    out.update({name: ibis.schema(cols) for name, cols in SYSTEM_TABLES.items()})
    return out


def _is_spark_session(obj: object) -> bool:
    return type(obj).__name__ == "SparkSession" and type(obj).__module__.startswith("pyspark")
