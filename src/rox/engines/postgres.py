"""PostgreSQL: a database server shared by several processes (the service's store)."""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rox._sql import guarded_update, ident
from rox.engines import Engine, EngineURL
from rox.errors import WorkspaceError
from rox.schema import LOADS_TABLE

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    import ibis.expr.types as ir
    import pyarrow as pa

#: Rows sent per COPY chunk (bounds the memory of the CSV buffer).
_COPY_CHUNK = 200_000

#: The loads' lock: whoever holds it is the only one committing a load (it conflicts with
#: itself, not with readers), until its transaction ends. Taken by every load's commit, each
#: batch of the service, each refresh of derived tables (:meth:`PostgresEngine.loads_held`)
#: and an erasure.
LOCK_LOADS = f"LOCK TABLE {LOADS_TABLE} IN SHARE ROW EXCLUSIVE MODE"


class PostgresEngine(Engine):
    """A PostgreSQL database; appends are one transaction of ``COPY`` statements."""

    name = "postgres"

    @classmethod
    def open(cls, url: EngineURL, *, read_only: bool = False) -> PostgresEngine:
        """Connect (Ibis sets the session's time zone to UTC)."""
        import ibis

        try:
            backend = ibis.connect(url.location)
        except Exception as exc:  # psycopg.OperationalError and friends
            parts = urlsplit(url.location)
            where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
            raise WorkspaceError(
                f"cannot connect to PostgreSQL at {where}: {_first_line(exc)}"
            ) from None
        engine = cls(url, backend)
        engine.read_only = read_only
        if read_only:
            engine._set_read_only()
            _allow_cached_tables(backend)
        return engine

    #: Whether the session refuses writes (``default_transaction_read_only``), set again on
    #: :meth:`reconnect`
    read_only: bool = False

    def _set_read_only(self) -> None:
        with self.backend.con.cursor() as cur:
            cur.execute("SET default_transaction_read_only = on")

    @property
    def broken(self) -> bool:
        """Whether the connection is lost (the server restarted or went away, or it was closed).

        psycopg marks a connection broken once a statement finds the server gone. A connection
        the server ended while it was idle (a restart: the server says so, then closes the
        socket) is found by reading what is waiting on its socket, without a round trip: libpq
        then sees the end of the stream and marks it bad.
        """
        import select

        import psycopg
        from psycopg.pq import ConnStatus, TransactionStatus

        con = self.backend.con
        if con.closed or con.broken:
            return True
        pgconn = con.pgconn
        if pgconn.status == ConnStatus.OK and pgconn.transaction_status == TransactionStatus.IDLE:
            try:
                for _ in range(3):  # (the server's last message, then the end of the stream)
                    if not select.select([pgconn.socket], [], [], 0)[0]:
                        break
                    pgconn.consume_input()
            except psycopg.OperationalError:
                return True
        return bool(pgconn.status != ConnStatus.OK)

    def reconnect(self) -> None:
        """Open a new connection to the same database in place of the lost one.

        The backend (and so every workspace on this engine) keeps its identity; what lived in
        the old session (temporary tables of cached results, registered in-memory tables) is
        gone with it, and is made again when next needed.

        Raises
        ------
        WorkspaceError
            If the server cannot be reached.
        """
        import contextlib
        import weakref

        with contextlib.suppress(Exception):  # (the old one is gone already)
            self.backend.con.close()
        try:
            self.backend.reconnect()
        except Exception as exc:  # psycopg.OperationalError and friends
            raise WorkspaceError(f"cannot reconnect to PostgreSQL: {_first_line(exc)}") from None
        # ibis registers an in-memory table once per backend: the new session has none of them
        self.backend._memtables = weakref.WeakSet()
        if self.read_only:
            self._set_read_only()

    @contextlib.contextmanager
    def loads_held(self) -> Iterator[None]:
        """One transaction holding the loads' lock (:data:`LOCK_LOADS`) while the block runs.

        Statements the block runs on this connection nest in it (psycopg makes an inner
        transaction a savepoint); it commits, and the lock is released, when the block ends.
        Whoever waits for the lock then sees what the block committed.
        """
        con = self.backend.con
        with con.transaction():
            with con.cursor() as cur:
                cur.execute(LOCK_LOADS)
            yield

    def add_columns(self, name: str, columns: Mapping[str, str]) -> None:
        """``ALTER TABLE … ADD COLUMN IF NOT EXISTS`` for each column, in one transaction."""
        import ibis
        from ibis.backends.sql.datatypes import PostgresType

        con = self.backend.con
        with con.transaction(), con.cursor() as cur:
            for column, dtype in columns.items():
                sql_type = PostgresType.from_ibis(ibis.dtype(dtype)).sql("postgres")
                cur.execute(
                    f"ALTER TABLE {ident(name)} ADD COLUMN IF NOT EXISTS {ident(column)} {sql_type}"
                )

    def append(
        self,
        rows: Mapping[str, pa.Table],
        *,
        new_columns: Mapping[str, Mapping[str, str]] | None = None,
        partition: Mapping[str, str] | None = None,
    ) -> None:
        """Add columns and ``COPY`` the rows in, all in one transaction."""
        import ibis
        import pyarrow.csv as pacsv
        from ibis.backends.sql.datatypes import PostgresType

        con = self.backend.con
        with con.transaction(), con.cursor() as cur:
            _claim_load_ids(cur, rows.get(LOADS_TABLE))
            for table, columns in (new_columns or {}).items():
                for column, dtype in columns.items():
                    sql_type = PostgresType.from_ibis(ibis.dtype(dtype)).sql("postgres")
                    cur.execute(
                        f"ALTER TABLE {ident(table)} ADD COLUMN IF NOT EXISTS "
                        f"{ident(column)} {sql_type}"
                    )
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            for table, data in rows.items():
                if not data.num_rows:
                    continue
                names = ", ".join(ident(c) for c in data.column_names)
                with cur.copy(f"COPY {ident(table)} ({names}) FROM STDIN (FORMAT csv)") as copy:
                    for batch in data.to_batches(max_chunksize=_COPY_CHUNK):
                        buffer = io.BytesIO()
                        # nulls are written as nothing, empty strings as "": COPY tells them apart
                        pacsv.write_csv(batch, buffer, options)
                        copy.write(buffer.getvalue())

    def replace_rows(self, name: str, column: str, values: Sequence[int], rows: ir.Table) -> None:
        """Delete and insert in one transaction (see :class:`Engine`)."""
        statements = self._replace_rows_sql(name, column, values, rows)
        with self.backend.con.transaction(), self.backend.con.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    def update(
        self,
        table: str,
        key: Mapping[str, Any],
        expected: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        append: Mapping[str, pa.Table] | None = None,
    ) -> bool:
        """One transaction: a guarded ``UPDATE``, then the appended rows (see :class:`Engine`)."""
        sql, params = guarded_update(table, key, expected, values, "%s")
        con = self.backend.con
        try:
            with con.transaction(), con.cursor() as cur:
                cur.execute(sql, params)
                if cur.rowcount != 1:
                    raise _NoRowMatched
                for name, data in (append or {}).items():
                    names = ", ".join(ident(c) for c in data.column_names)
                    marks = ", ".join(["%s"] * data.num_columns)
                    cur.executemany(
                        f"INSERT INTO {ident(name)} ({names}) VALUES ({marks})",
                        [tuple(r.values()) for r in data.to_pylist()],
                    )
        except _NoRowMatched:
            return False
        return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _NoRowMatched(Exception):
    """Rolls back an update whose row moved (raised and caught inside :meth:`update`)."""


def _allow_cached_tables(backend: Any) -> None:
    """Let a read-only session create the temporary tables of ``Table.cache()`` and memtables.

    A read-only transaction refuses every CREATE and DROP, of temporary tables too; yet the
    journeys an analysis prepares once are cached as one (:func:`rox.journey.prepare`), and a
    table from Python (``ibis.memtable``: the customers' values of ``rox worth``) becomes one. A
    temporary table belongs to the session and vanishes with it, touching nothing of the
    workspace: read-only is switched off around their creation and drop only.
    """

    def writable(step: Any) -> Any:
        def run(*args: Any) -> Any:
            with backend.con.cursor() as cur:
                cur.execute("SET default_transaction_read_only = off")
            try:
                return step(*args)
            finally:
                with backend.con.cursor() as cur:
                    cur.execute("SET default_transaction_read_only = on")

        return run

    backend._create_cached_table = writable(backend._create_cached_table)
    backend._drop_cached_table = writable(backend._drop_cached_table)
    backend._register_in_memory_table = writable(backend._register_in_memory_table)


def _claim_load_ids(cur: Any, loads: pa.Table | None) -> None:
    """Refuse to commit a load whose id another process committed first.

    Loads are checked against what the workspace held when they started; a load committed by
    another process in between could hold the same keys. The lock makes commits take turns, and
    a load that lost the race writes nothing: loading it again skips what the other load added.
    """
    if loads is None or not loads.num_rows:
        return
    cur.execute(LOCK_LOADS)
    cur.execute(f"SELECT coalesce(max(load_id), 0) FROM {LOADS_TABLE}")
    latest = int(cur.fetchone()[0])
    mine = min(loads.column("load_id").to_pylist())
    if latest >= mine:
        raise WorkspaceError(
            f"another load (id {latest}) was committed to this workspace while this one was being "
            "checked; nothing was written. Load again: rows already loaded will be skipped"
        )
