"""Batches appended to a PostgreSQL workspace that several processes write at once.

The service's one-writer design (:mod:`rox.ingest.batch`) holds on DuckDB because the file has one
writing process. On PostgreSQL several ``rox serve`` processes share the workspace, so whatever
made a batch safe inside one process must hold in the database instead:

- **Commits take turns.** Each batch's transaction first takes ``LOCK TABLE rox_loads IN SHARE ROW
  EXCLUSIVE MODE`` (the lock :class:`rox.engines.postgres.PostgresEngine` takes for every load):
  the load id, the recorded order (``_seq``) and the key checks are then read from what every
  process committed before, and no other load commits until this one has.
- **Natural ids.** The batch is checked by ingestion's rules in a DuckDB staging database in this
  process's memory (a :class:`rox.ingest.batch.BatchWriter` on it), with the workspace's rows of
  the batch's keys copied in first, as :func:`rox.ingest.ingest` checks a staged load: a row whose
  key is stored already is skipped when equal and refused when not. The check runs before the
  lock, against the loads committed by then (so that commits do not wait for it); under the lock,
  if a later load stored one of the batch's new keys (another process, a moment ago), the batch
  is checked again, now that no commit can come between. ``CREATE UNIQUE INDEX`` on ``_key`` of
  the tables the service writes backs it in the database (:meth:`SharedBatchWriter.ensure_indexes`).
- **One transaction.** The accepted rows, the load's record and whatever the caller's ``also``
  writes (idempotency records, cases, webhooks) are written with :meth:`PostgresEngine.append
  <rox.engines.postgres.PostgresEngine.append>` (``COPY``) and :meth:`Transaction.insert` in the
  same PostgreSQL transaction: an acknowledgement sent after :meth:`SharedBatchWriter.append`
  returns is durable, and a process killed before its commit leaves nothing.

- **What is derived follows.** After a batch of events commits, the journey index (if the
  workspace has one) is refreshed as after any load (:func:`rox.journey.refresh_index`: only the
  journeys the new events touch), in a transaction of its own that first takes the same lock:
  two processes never refresh at once, and no batch commits while the index is refreshed, so the
  refresh sees a fixed set of loads. A process whose refresh waited for another's finds the index
  already brought up to its own batch and does nothing more. Other processes' readers see the
  old index until the refresh commits, then the new one.

The ``before`` hook of :meth:`SharedBatchWriter.append` runs right after the lock: the service
looks up the batch's ``Idempotency-Key`` values there, so that a retry sent to another process
returns the first answer (:mod:`rox.service.writer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rox import engines
from rox._sql import ident
from rox.engines.postgres import LOCK_LOADS
from rox.errors import WorkspaceError
from rox.ingest.batch import BatchResult, BatchWriter
from rox.ingest.derived import refresh_derived
from rox.ingest.temporary import PROBLEMS, SKIPPED, TYPED
from rox.schema import IDEMPOTENCY_TABLE, KEY_COLUMN, LOAD_COLUMN, LOADS_TABLE, SEQ_COLUMN

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from rox.workspace import Workspace

__all__ = ["SharedBatchWriter", "Transaction"]

#: The temporary tables a check leaves in the stage (:mod:`rox.ingest.batch`)
_STAGE_TEMPORARY = (TYPED, PROBLEMS, SKIPPED)

#: The tables the service appends to: their ``_key`` is unique (the rules keep it so).
KEYED_TABLES = ("responses", "events", "cases")


class _Refused(Exception):
    """Rolls back the PostgreSQL transaction of a batch with problems (caught in ``append``)."""


@dataclass(frozen=True)
class _Result:
    """What a cursor returned, with the few DuckDB-style accessors the service's code uses."""

    description: list[tuple[str, ...]]
    rows: list[tuple[Any, ...]]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def df(self) -> pd.DataFrame:
        """The rows as a DataFrame; PostgreSQL's ``numeric`` values (Decimal) as floats."""
        import decimal

        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=[d[0] for d in self.description])
        for name in frame.columns[frame.dtypes.map(lambda d: d.kind == "O")]:
            if frame[name].map(lambda v: isinstance(v, decimal.Decimal)).any():
                frame[name] = frame[name].map(lambda v: None if v is None else float(v))
        return frame


class Transaction:
    """The open PostgreSQL transaction of one batch, as the service's ``also`` hooks use it.

    Parameters
    ----------
    ws : Workspace
        The PostgreSQL workspace; its connection holds the transaction.
    """

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.con: Any = ws.backend.con
        #: Rows :meth:`insert` took, by table, until :meth:`flush`
        self.pending: dict[str, list[pa.Table]] = {}

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> _Result:
        """Run ``sql`` (``%s`` placeholders) and fetch what it returns."""
        with self.con.cursor() as cur:
            cur.execute(sql, params)
            if cur.description is None:
                return _Result([], [])
            return _Result([tuple(d) for d in cur.description], cur.fetchall())

    def insert(self, table: str, rows: pa.Table | pd.DataFrame) -> None:
        """Append ``rows`` (Arrow, or pandas) to ``table`` by column name, in this transaction."""
        import pyarrow as pa

        data = (
            rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
        )
        if data.num_rows:  # (written by flush, at the end of the batch's hooks)
            self.pending.setdefault(table, []).append(data)

    def flush(self) -> None:
        """Write what :meth:`insert` took: a ``COPY`` a table, in one savepoint of the transaction.

        (Each append of the engine is a savepoint and a ``COPY``: two round trips and a statement
        more for each, while the batch holds the lock every commit waits for.)
        """
        import pyarrow as pa

        if self.pending:
            tables = {
                name: parts[0] if len(parts) == 1 else pa.concat_tables(parts)
                for name, parts in self.pending.items()
            }
            self.pending = {}
            self.ws.engine.append(tables)


class SharedBatchWriter:
    """Appends checked batches to the canonical tables of a PostgreSQL workspace.

    Any number of processes may each hold one: their batches commit in turn (see the module).

    Parameters
    ----------
    ws : Workspace
        A PostgreSQL workspace open for writing.

    Raises
    ------
    WorkspaceError
        If the workspace is read-only or not on PostgreSQL.
    """

    def __init__(self, ws: Workspace) -> None:
        if ws.read_only or ws.engine.name != "postgres":
            raise WorkspaceError(
                f"shared batches go to a PostgreSQL workspace open for writing, not {ws.url}"
            )
        self.ws = ws
        self.ensure_indexes()
        # in memory: a batch's rows are never kept on this machine's disk, and they are deleted
        # from the stage after each batch (a GDPR erasure finds nothing of a customer here)
        url = engines.parse_url("duckdb://:memory:")
        # a workspace of the same class, on DuckDB (rox.workspace is the layer above)
        self.stage = type(ws)(engines.connect(url))
        self.checker = BatchWriter(self.stage)
        self.checker.scales = ws.declared_scales()
        self._columns: dict[str, pa.Schema] = {}

    @property
    def con(self) -> Any:
        """The workspace's connection (a new one after a reconnection)."""
        return self.ws.backend.con

    def ensure_indexes(self) -> None:
        """Unique indexes on the keys the service relies on (made once, by whichever process)."""
        with self.con.transaction(), self.con.cursor() as cur:
            # two processes starting together would race to create the same index
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('rox.ingest.shared'))")
            for table in KEYED_TABLES:
                cur.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {ident(f'rox_{table}_key')} "
                    f"ON {ident(table)} ({KEY_COLUMN})"
                )
            cur.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS rox_idempotency_key "
                f"ON {IDEMPOTENCY_TABLE} (principal, idempotency_key)"
            )

    def close(self) -> None:
        """Close the staging database."""
        self.stage.close()

    def append(
        self,
        table: str,
        rows: pa.Table,
        *,
        source: str = "service",
        before: Callable[[Transaction], None] | None = None,
        also: Callable[[Transaction, int, frozenset[int]], None] | None = None,
    ) -> BatchResult:
        """Check ``rows`` against the rules of ``table`` and, if all pass, append them.

        Parameters
        ----------
        table : str
            Canonical table.
        rows : pyarrow.Table
            Columns named as the table's canonical columns (text where the value is to be
            parsed); no other columns.
        source : str
            The source recorded in ``rox_loads``.
        before : callable, optional
            Called as ``before(transaction)`` once the lock is held, before anything is checked;
            an exception it raises rolls back and comes out of ``append``.
        also : callable, optional
            Called as ``also(transaction, load_id, skipped)`` after the rows are written, in the
            same transaction.

        Returns
        -------
        BatchResult
            As :meth:`rox.ingest.batch.BatchWriter.append`.
        """
        txn = Transaction(self.ws)
        result: BatchResult | None = None
        try:
            # checked first without the lock, against the rows committed by now (load `seen`):
            # commits wait for the lock, not for this
            with self.con.cursor() as cur:
                cur.execute(f"SELECT coalesce(max(load_id), 0) FROM {LOADS_TABLE}")
                seen = int(cur.fetchone()[0])
            result, fresh, load = self._check(table, rows, source)
            if result.problems:
                return result
            with self.con.transaction():
                with self.con.cursor() as cur:
                    # one round trip: the lock, then the last load and the table's last row
                    cur.execute(
                        f"{LOCK_LOADS}; "
                        f"SELECT (SELECT coalesce(max(load_id), 0) FROM {LOADS_TABLE}), "
                        f"(SELECT coalesce(max({SEQ_COLUMN}), 0) FROM {ident(table)})"
                    )
                    cur.nextset()  # (the SELECT's result comes after the LOCK's)
                    last, base = (int(v) for v in cur.fetchone())
                    load_id = last + 1
                if before is not None:
                    before(txn)
                if last > seen and self._stored_since(table, fresh, seen):
                    # another process stored a key of the batch meanwhile: check again, now
                    # that no commit can come between
                    result, fresh, load = self._check(table, rows, source)
                    if result.problems:
                        raise _Refused
                self.ws.engine.append(
                    {
                        table: _stamped(fresh, LOAD_COLUMN, load_id, seq_base=base),
                        LOADS_TABLE: _stamped(load, "load_id", load_id),
                    }
                )
                if also is not None:
                    also(txn, load_id, result.skipped)
                    txn.flush()
        except _Refused:
            assert result is not None
            return result
        except Exception as exc:
            import psycopg

            if not isinstance(exc, psycopg.Error):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkspaceError(
                f"PostgreSQL refused the batch ({first}); nothing of it was written"
            ) from exc
        finally:
            try:
                self.ws.forget()
            except Exception:
                # (the connection was lost: what was cached is gone with its session)
                if not getattr(self.ws.engine, "broken", False):
                    raise
        try:
            # as after any load: under the loads' lock (rox.ingest.derived.refresh_derived)
            refresh_derived(self.ws, table)
        except Exception as exc:  # (the connection lost, say): the batch is committed all the same
            import warnings

            warnings.warn(
                f"the batch of {table} was stored, but what is derived from it was not refreshed "
                f"({exc}); the next batch's refresh brings it up to date",
                RuntimeWarning,
                stacklevel=2,
            )
        return BatchResult(load_id, [], result.skipped)

    def _check(self, table: str, rows: pa.Table, source: str) -> tuple[BatchResult, Any, Any]:
        """``rows`` checked in the stage; the result, the rows to write and the load's record.

        The rows' ``_seq`` count from 1 and their load is the stage's (-1): :func:`_stamped` gives
        them the workspace's once its lock is held.
        """
        self._empty_stage(table)  # it holds only what this batch is checked against
        # the stage's load: -1, an id no load of the workspace has (its rows are copied in)
        self.checker.last_load = -2
        self.checker._last_seq[table] = 0
        self.checker.existing = self._existing(table)
        try:
            result = self.checker.append(table, rows, source=source)
            if result.problems:
                return result, None, None
            return (
                result,
                self._of_load(table, LOAD_COLUMN, result.load_id),
                self._of_load(LOADS_TABLE, "load_id", result.load_id),
            )
        finally:
            self.checker.existing = None
            self._empty_stage(table)

    def _stored_since(self, table: str, fresh: pa.Table, seen: int) -> bool:
        """Whether a load after ``seen`` stored one of the keys of ``fresh``."""
        with self.con.cursor() as cur:
            cur.execute(
                f"SELECT EXISTS (SELECT 1 FROM {ident(table)} WHERE {KEY_COLUMN} = ANY(%s) "
                f"AND {LOAD_COLUMN} > %s)",
                [fresh.column(KEY_COLUMN).to_pylist(), seen],
            )
            return bool(cur.fetchone()[0])

    def _empty_stage(self, table: str) -> None:
        stage = self.checker.con
        stage.execute(f"DELETE FROM {ident(table)}")
        stage.execute(f"DELETE FROM {LOADS_TABLE}")
        for temporary in _STAGE_TEMPORARY:  # the batch's typed rows, problems and skipped rows
            stage.execute(f"DROP TABLE IF EXISTS {temporary}")

    def _existing(self, table: str) -> Callable[[pa.Table], pa.Table]:
        """The workspace's rows of ``table`` with the given keys, in the stage's columns.

        One plain query (an Ibis expression costs some 100 ms to build and compile, per batch).
        """
        if table not in self._columns:
            import pyarrow as pa

            schema = self.stage.table(table).schema().to_pyarrow()
            stored = set(self.ws.table(table).columns)
            self._columns[table] = pa.schema([f for f in schema if f.name in stored])
        schema = self._columns[table]

        def fetch(keys: pa.Table) -> pa.Table:
            import pyarrow as pa

            names = ", ".join(ident(f.name) for f in schema)
            with self.con.cursor() as cur:
                cur.execute(
                    f"SELECT {names} FROM {ident(table)} WHERE {KEY_COLUMN} = ANY(%s)",
                    [keys.column(KEY_COLUMN).to_pylist()],
                )
                rows = cur.fetchall()
            return pa.Table.from_pylist(
                [dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema
            )

        return fetch

    def _of_load(self, name: str, column: str, load_id: int) -> pa.Table:
        table: pa.Table = self.checker.con.execute(
            f"SELECT * FROM {ident(name)} WHERE {ident(column)} = ?", [load_id]
        ).fetch_arrow_table()
        return table


def _stamped(rows: pa.Table, column: str, load_id: int, *, seq_base: int | None = None) -> pa.Table:
    """``rows`` of load ``load_id``, their recorded order (``_seq``) after ``seq_base``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    i = rows.column_names.index(column)
    rows = rows.set_column(i, column, pa.array([load_id] * rows.num_rows, rows.schema[i].type))
    if seq_base is not None:
        j = rows.column_names.index(SEQ_COLUMN)
        shifted = pc.add(rows.column(j), pa.scalar(seq_base, rows.schema[j].type))
        rows = rows.set_column(j, SEQ_COLUMN, shifted)
    return rows
