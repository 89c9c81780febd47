"""Small batches of rows appended fast to a DuckDB workspace: the intake service's write path.

:func:`rox.ingest.ingest` reads files of any size and spends some 45 statements per load on
reading, repair and bookkeeping (about 80 ms here). A service receiving a few rows per request
needs less: :func:`append_batch` takes rows already in memory (an Arrow table) and checks them
with the same rules (:class:`rox.ingest.rules.LoadPlan`: types, required values, scales, the
plausible time range, ids, and the key checks of :func:`rox.ingest.ingest`, in
:mod:`rox.ingest.key_checks`: a repeated key with the same content is skipped, with other content
refused), in about ten statements. A batch
of plain responses (:mod:`rox.ingest.plain`: every value already as the rules store it, none
breaking a rule) is typed in Python instead, and its rows are written by one statement whose
anti-join is its key check; if a key turns out to be stored already, the transaction starts
again and the batch goes through the rules, which skip or refuse the row.

A batch is checked first; if any row breaks a rule, nothing is written and the problems come back
(the caller drops the requests they belong to and tries again). Otherwise its rows, its record in
``rox_loads`` (one load per batch, source ``service``) and whatever ``also`` writes are committed
in ONE transaction: an acknowledgement sent after :func:`append_batch` returns is durable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb

from rox._sql import ident, literal
from rox.errors import RowProblem, WorkspaceError
from rox.ingest.derived import refresh_derived
from rox.ingest.failures import rollback, translated
from rox.ingest.key_checks import check_keys, copy_existing
from rox.ingest.mapping import ColumnMapping
from rox.ingest.order import last_seq, record_order
from rox.ingest.plain import typed_plainly
from rox.ingest.recovery import reconcile
from rox.ingest.rules import ROW_COLUMN, LoadPlan
from rox.ingest.stored_keys import StoredKeys, key_hashes, read_hashes
from rox.ingest.temporary import PROBLEMS, SKIPPED, TYPED
from rox.schema import KEY_COLUMN, LOAD_COLUMN, LOADS_TABLE, SEQ_COLUMN, Scale, table_spec

if TYPE_CHECKING:
    import pyarrow as pa

    from rox.ingest.redact import Redaction
    from rox.workspace import Workspace

__all__ = ["BatchResult", "BatchWriter", "Looked"]

_INPUT = "_rox_batch_input"
_PLAIN = "_rox_plain"  # a batch typed in Python (rox.ingest.plain)
#: The same, read where it is (``BatchWriter._insert``); a name no view is registered under, so
#: that a view left registered can never stand in for the batch
_IN_PLACE = "_rox_plain_in_place"
#: Python objects found by name in the calling function's variables (``BatchWriter._insert``)
_REPLACEMENTS = "SET python_enable_replacements = true"
_NO_REPLACEMENTS = "SET python_enable_replacements = false"


@dataclass(frozen=True)
class Looked:
    """The first row of ``look``'s query (None: it found none), run in the batch's rows' call."""

    row: tuple[Any, ...] | None


@dataclass(frozen=True)
class BatchResult:
    """What :meth:`BatchWriter.append` did with one batch.

    Attributes
    ----------
    load_id : int
        The batch's load in ``rox_loads`` (0 when nothing was written).
    problems : list of RowProblem
        Every rule broken, by 1-based row of the batch; when not empty, nothing was written.
    skipped : frozenset of int
        Rows (1-based) already stored with the same content, or repeating an earlier row of the
        batch: not written again.
    """

    load_id: int
    problems: list[RowProblem] = field(default_factory=list)
    skipped: frozenset[int] = frozenset()


class BatchWriter:
    """Appends checked batches to the canonical tables of one DuckDB workspace.

    One writer per workspace file: it numbers the loads itself (from the last recorded load,
    after :func:`rox.ingest.reconcile` has removed what an interrupted load left).

    Parameters
    ----------
    ws : Workspace
        A DuckDB workspace open for writing.

    Raises
    ------
    WorkspaceError
        If the workspace is read-only or not on DuckDB.
    """

    def __init__(self, ws: Workspace) -> None:
        if ws.read_only or ws.engine.name != "duckdb":
            raise WorkspaceError(
                f"the service writes to a DuckDB workspace open for writing, not {ws.url}"
            )
        self.ws = ws
        self.con: Any = ws.backend.con
        # a batch is a few rows: DuckDB's fixed cost of planning its statements dominates, and
        # more threads only add switching (35 ms against 48 ms for 30 rows with 2 threads here)
        self.con.execute("SET threads = 1")
        self.notes = reconcile(ws)
        (last,) = self.con.execute(
            f"SELECT coalesce(max(load_id), 0) FROM {LOADS_TABLE}"
        ).fetchone()
        self.last_load = int(last)
        self.scales: Mapping[tuple[str, str], Scale] = ws.declared_scales()
        self._plans: dict[tuple[str, str], LoadPlan] = {}
        # the default mapping: canonical names, UTC, comments redacted (rox.ingest.redact)
        self._mapping = ColumnMapping()
        # the recorded order (``_seq``) each table's next batch starts after: this writer is the
        # workspace's only one, so it is read once per table and then counted
        self._last_seq: dict[str, int] = {}
        #: Batches of plain responses are typed in Python (:mod:`rox.ingest.plain`); False sends
        #: every batch through the rules' SQL (to compare the two)
        self.plain = True
        #: The hashes of each table's stored keys (rox.ingest.stored_keys), read at the first
        #: plain batch of the table: a batch of new keys is written without the anti-join
        self._stored: dict[str, StoredKeys] = {}
        #: Where this workspace stages batches for another (:mod:`rox.ingest.shared`): returns
        #: the other's rows with the given keys (an Arrow table of ``_key``), copied in before
        #: the key checks, as :func:`rox.ingest.load.ingest` does for a staged load
        self.existing: Callable[[Any], Any] | None = None

    def _plan(self, table: str, rows: pa.Table) -> LoadPlan:
        """The plan of ``table`` for batches shaped as ``rows`` (made once per shape)."""
        key = (table, str(rows.schema))
        if key not in self._plans:
            types = {
                name: dtype
                for name, dtype in self.con.execute(
                    f"SELECT column_name, column_type FROM (DESCRIBE {_INPUT})"
                ).fetchall()
                if name != ROW_COLUMN
            }
            self._plans[key] = LoadPlan(table_spec(table), self._mapping, types, "service",
                                        self.scales)  # fmt: skip
        return self._plans[key]

    def _checked(
        self, table: str, rows: pa.Table, source: str
    ) -> tuple[list[RowProblem], frozenset[int]]:
        """Type ``rows`` into ``_rox_typed`` by the rules; their problems and the rows to skip.

        ``rows`` are registered as ``_rox_batch_input`` already, numbered.
        """
        con = self.con
        plan = self._plan(table, rows)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {TYPED} AS {plan.typed_select(_INPUT)}")
        if self.existing is not None:
            copy_existing(con, table, self.existing)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {PROBLEMS} AS {plan.problems_select(TYPED)}")
        check_keys(con, plan, table)
        # the problems, and the rows to skip, in one statement
        found = con.execute(
            f'SELECT row, "column", value, rule, false FROM {PROBLEMS} '
            f"UNION ALL SELECT row, NULL, NULL, NULL, true FROM {SKIPPED} "
            'ORDER BY row, "column"'
        ).fetchall()
        problems = [RowProblem(source, int(r), c, v, rule) for r, c, v, rule, skip in found
                    if not skip]  # fmt: skip
        return problems, frozenset(int(r) for r, _, _, _, skip in found if skip)

    def _base(self, table: str) -> int:
        """The recorded order (``_seq``) the batch's rows of ``table`` come after."""
        if table not in self._last_seq:
            record_order(self.con, table)  # (a workspace from before the recorded order gains it)
        base = self._last_seq.get(table)
        return last_seq(self.con, table) if base is None else base

    def _insert(
        self,
        table: str,
        columns: list[str],
        origin: str,
        where: str,
        load_id: int,
        base: int,
        *,
        before: str = "",
        after: str = "",
        ordered: bool = True,
        plain: pa.Table | None = None,
    ) -> Any:
        """Insert the rows of ``origin`` (``where`` they hold) after the table's ``base``-th row.

        ``before``: statements run first, in the same call (``;``-terminated); the result is the
        insert's (the rows written), or with ``plain`` that of ``after`` (a query run next, in
        the same call). ``ordered=False`` leaves out the ``ORDER BY`` of the rows' numbers, for a
        plain scan of ``origin`` (kept in its order: one thread, insertion order preserved); a
        join may reorder them. ``plain``: the batch typed in Python, which DuckDB then finds as
        ``_rox_plain_in_place`` (``origin``) among this function's variables (a replacement
        scan, allowed for this statement only: Ibis turns them off on its connection) with no
        call to register it and none to unregister it: under load each call into DuckDB is a
        wait for the GIL (docs/benchmarks.md, "The writer's calls into DuckDB"). A failed
        statement leaves them allowed: the caller turns them off again
        (:data:`_NO_REPLACEMENTS`).
        """
        select = ", ".join(ident(c) for c in columns)
        seq = f"{base} + {ROW_COLUMN} AS {SEQ_COLUMN}"  # the batch's rows in their order
        order = f"ORDER BY {ROW_COLUMN}" if ordered else ""
        insert = (
            f"INSERT INTO {ident(table)} BY NAME SELECT {select}, {load_id} AS "
            f"{LOAD_COLUMN}, {seq} FROM {origin} {where}{order}"
        )
        if plain is not None:
            _rox_plain_in_place = plain  # (read by DuckDB by this name, _IN_PLACE: docstring)
            insert = f"{_REPLACEMENTS}; {insert}; {_NO_REPLACEMENTS}"
        return self.con.execute(f"{before}{insert}{'; ' if after else ''}{after}")

    def _key_hashes(self, table: str, plain: pa.Table) -> tuple[list[int] | None, bool]:
        """The hashes of ``plain``'s keys, and whether none of them is stored in ``table``.

        (None, False) for a stage (its keys are looked up in the other workspace) or a key
        that cannot be hashed.
        """
        if self.existing is not None:
            return None, False
        hashes = key_hashes(plain.column(KEY_COLUMN).to_pylist())
        if hashes is None:
            return None, False
        if table not in self._stored:
            self._stored[table] = StoredKeys(self.con, table)
        return hashes, not self._stored[table].any_held(hashes)

    def append(
        self,
        table: str,
        rows: pa.Table,
        *,
        source: str = "service",
        also: Callable[..., None] | None = None,
        look: Callable[[str, int], str | None] | None = None,
    ) -> BatchResult:
        """Check ``rows`` against the rules of ``table`` and, if all pass, append them.

        Parameters
        ----------
        table : str
            Canonical table.
        rows : pyarrow.Table
            Columns named as the table's canonical columns (text where the value is to be parsed,
            as from JSON); no other columns.
        source : str
            The source recorded in ``rox_loads``.
        also : callable, optional
            Called as ``also(connection, load_id, skipped)`` inside the transaction, after the
            rows are written: what it writes commits with them or not at all. When ``look``'s
            query ran, called as ``also(connection, load_id, skipped, looked=Looked(row))``.
        look : callable, optional
            ``look(table, load_id)`` gives a query of the batch's rows (or None) that ``also``
            would run first; a batch of new keys runs it in the same call into DuckDB as its
            rows, and ``also`` gets its first row: one wait for the GIL fewer (``_insert``).

        Returns
        -------
        BatchResult
        """
        con = self.con
        rows = _redacted(rows, self._mapping.redaction)  # personal data out before it is kept
        spec = table_spec(table)
        plain = typed_plainly(spec, rows, self._mapping, self.scales) if self.plain else None
        registered: list[str] = []  # (the views to drop at the end)
        # the hashes of the keys written, held once committed (rox.ingest.stored_keys)
        hashes, all_new = (None, False) if plain is None else self._key_hashes(table, plain)
        # Under load every call into DuckDB costs the writer a wait for the GIL on the way back
        # (about 1 ms while the event loop is busy): the usual batch (plain rows, its table's
        # order known) opens its transaction, records its load and writes its rows in one call
        # (docs/benchmarks.md, "The writer's calls into DuckDB"). When none of its keys is
        # stored, the insert writes every row: its count is not needed, so the same call also
        # runs ``look``'s query, and reads the rows where they are (``_insert``'s ``plain``).
        one_call = plain is not None and self.existing is None and table in self._last_seq
        in_place = one_call and all_new
        if plain is not None and not in_place:
            con.register(_PLAIN, plain)
            registered.append(_PLAIN)
        if not one_call:
            con.execute("BEGIN TRANSACTION")
        looked: Looked | None = None
        try:
            load_id, base = self.last_load + 1, self._base(table)
            skipped: frozenset[int] = frozenset()
            if plain is not None:  # the rows, unless a key is stored already
                if self.existing is not None:
                    copy_existing(con, table, self.existing, _PLAIN)
                columns = [*spec.names, KEY_COLUMN]
                # none of the keys stored (their hashes say so): no need to look in the table
                fresh = "" if all_new else (
                    f"WHERE NOT EXISTS (SELECT 1 FROM {ident(table)} AS e "
                    f"WHERE e.{KEY_COLUMN} = {_PLAIN}.{KEY_COLUMN}) "
                )  # fmt: skip
                record = _load_record(load_id, table, source, rows.num_rows, skipped)
                before = f"BEGIN TRANSACTION; {record}; " if one_call else f"{record}; "
                after = (look(table, load_id) if look and in_place else None) or ""
                result = self._insert(
                    table, columns, _IN_PLACE if in_place else _PLAIN, fresh, load_id, base,
                    before=before, after=after,
                    ordered=not all_new, plain=plain if in_place else None,
                )  # fmt: skip
                if in_place:  # (no condition: every row written)
                    written = plain.num_rows
                    looked = Looked(result.fetchone()) if after else None
                else:
                    (written,) = result.fetchone()
                if written != plain.num_rows:  # the rules skip or refuse the row: start again
                    con.execute("ROLLBACK")
                    con.execute("BEGIN TRANSACTION")
                    plain, base, hashes = None, self._base(table), None
            if plain is None:
                con.register(_INPUT, rows.append_column(ROW_COLUMN, _row_numbers(rows.num_rows)))
                registered.append(_INPUT)
                problems, skipped = self._checked(table, rows, source)
                if problems:
                    con.execute("ROLLBACK")
                    return BatchResult(0, problems)
                kept = "" if not skipped else f"{ROW_COLUMN} NOT IN ({_rows_sql(skipped)})"
                unless = f"WHERE {kept} " if kept else ""
                columns = self._plan(table, rows).insert_columns()
                record = _load_record(load_id, table, source, rows.num_rows, skipped)
                self._insert(table, columns, TYPED, unless, load_id, base, before=f"{record}; ")
                if table in self._stored:  # the keys written, to hold their hashes too
                    hashes = read_hashes(con, TYPED, kept).tolist()
            if also is not None and looked is not None:
                also(con, load_id, skipped, looked=looked)
            elif also is not None:
                also(con, load_id, skipped)
            con.execute("COMMIT")
        except BaseException as exc:
            if in_place:  # (as Ibis keeps its connection, whatever the failed statement left)
                with contextlib.suppress(duckdb.Error):
                    con.execute(_NO_REPLACEMENTS)
            rollback(con)
            error = translated(exc, self.ws)
            if error is exc:
                raise
            raise error from exc
        finally:
            for view in registered:
                with contextlib.suppress(duckdb.Error):
                    con.unregister(view)
        self.last_load = load_id
        self._last_seq[table] = base + rows.num_rows
        if hashes and table in self._stored:
            self._stored[table].add(hashes)
        # what is derived from the table (the journey index: the journeys the batch touched)
        refresh_derived(self.ws, table)
        return BatchResult(load_id, [], skipped)


def _redacted(rows: pa.Table, redaction: Redaction) -> pa.Table:
    """``rows`` with personal data replaced in the text columns ``redaction`` names (#18).

    The service stores no original: a protected ``keep_original`` column is a file load's option.
    """
    import pyarrow as pa

    if not redaction.enabled:
        return rows
    for name in redaction.columns:
        if name in rows.column_names:
            clean = redaction.redact_many(rows.column(name).to_pylist())
            rows = rows.set_column(
                rows.column_names.index(name), name, pa.array(clean, pa.string())
            )
    return rows


def _load_record(load_id: int, table: str, source: str, read: int, skipped: frozenset[int]) -> str:
    """The statement recording a batch's load in ``rox_loads``."""
    return (
        f"INSERT INTO {LOADS_TABLE} (load_id, table_name, source, loaded_at, rows_read, "
        f"rows_loaded, rows_rejected, rows_skipped) VALUES ({int(load_id)}, {literal(table)}, "
        f"{literal(source)}, now(), {int(read)}, {int(read) - len(skipped)}, 0, {len(skipped)})"
    )


def _rows_sql(rows: frozenset[int]) -> str:
    return ", ".join(str(int(r)) for r in sorted(rows))


def _row_numbers(n: int) -> Any:
    import pyarrow as pa

    return pa.array(range(1, n + 1), pa.int64())
