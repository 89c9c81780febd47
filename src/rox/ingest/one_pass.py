"""The one pass: a CSV whose rows are all valid and new, read, checked and written at once.

Most files a load sees are plain: every row valid, no key seen before. For a CSV file,
:func:`load_one_pass` reads, parses, keys and flags every row and inserts it in one statement,
with no staged copy of the file; anything the pass cannot take (a rule broken, a repeated or
loaded key, a line set aside, ...) raises :class:`NotPlain`, and the source is loaded again by
the staged path (:mod:`rox.ingest.staged`), whose outcome and messages are the load's. The rows
are written with no recorded order (``_seq``), numbered after (:mod:`rox.ingest.order`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from rox._sql import ident
from rox.ingest.attributes import add_extra_columns, attribute_conflicts, stored_types
from rox.ingest.failures import translated
from rox.ingest.fingerprint import checksum_sql
from rox.ingest.order import last_seq
from rox.ingest.reading import csv_header_notes, line_problems, text_problems_condition
from rox.ingest.rules import FLAG_COLUMN, ROW_COLUMN, LoadPlan
from rox.ingest.sources import CSV_REJECTS, Source
from rox.ingest.temporary import LINES
from rox.schema import KEY_COLUMN, LOAD_COLUMN, table_spec

if TYPE_CHECKING:
    from rox.ingest.job import LoadJob
    from rox.workspace import Workspace

__all__ = ["NotPlain", "OnePass", "load_one_pass"]


@dataclass(frozen=True)
class OnePass:
    """What the one pass (:func:`load_one_pass`) wrote of a source."""

    #: The source's counts, as in :attr:`rox.ingest.LoadReport.frame`.
    counts: dict[str, Any]
    #: The recorded order (``_seq``) of its rows, as SQL over ``rowid``; None if it had no rows.
    seq: str | None
    #: The checksum of its rows as numbered so (:func:`rox.ingest.fingerprint.checksum_sql`).
    checksum: str


def load_one_pass(
    con: Any,
    ws: Workspace,
    job: LoadJob,
    src: Source,
    step: Callable[[str, str], Any],
    notes: list[str],
) -> OnePass | None:
    """Load a CSV source of ``job`` whose rows are all valid and new in one pass.

    Inside the load's open transaction; ``step`` runs the SQL of each step (its progress).

    The pass reads the file, parses, keys and flags every row (the same
    :meth:`~rox.ingest.rules.LoadPlan.typed_select` as :func:`rox.ingest.staged.load_staged`) and
    inserts it into the table, with no staged copy of the file: a flagged row (any rule of the
    plan, broken text, no natural key) stops the statement at once (DuckDB's ``error()``). What
    the pass cannot see row by row is checked on the rows written, by their load id: the reader
    set no line aside, no key repeats in the file, and none was loaded before (a semi-join with
    the table's other rows, only when it had rows). The rows are inserted in the file's order
    (insertion order preserved), so their rowids are consecutive and a row's recorded order is
    its rowid's distance from the first.

    The checks and the checksum the load records (:mod:`rox.ingest.fingerprint`) share one
    scan of the rows written, after one of their rowids for the first: their count, the span
    of their rowids, the number of distinct hashes of their keys (equal keys have equal
    hashes, so as many hashes as rows means no key repeats; two keys with the same hash send
    the file to the staged path, which compares the keys themselves), and the checksum over the
    recorded order the rows will have. The two scans this replaces took 4.4 s of a 10M-row
    load, the one scan 3.3 s, saved by hashing the keys (docs/benchmarks.md).

    The rows are written with no recorded order (``_seq`` null); the caller numbers them (by
    the SQL returned, over ``rowid``, while the transaction is open; by
    :func:`rox.ingest.order.number_rows` after it commits, in a transaction of its own). An
    ``UPDATE`` of ``_seq`` inside the load's transaction makes DuckDB rewrite at the commit every
    row the insert had written to the file (3 CPU-s of a 10M-row load, measured; the same update
    after the commit costs 0.5): docs/benchmarks.md.

    The select is the plan's quick one (``quick=True``): no regular expression per time, the
    epoch instant flagged instead, with the same outcome for the rows it writes
    (``tests/ingest/test_one_pass.py`` loads files of odd values both ways and compares the
    tables). Numbers stay text for the rules' casts: the CSV reader's own ``DOUBLE`` parsing
    (``types=``) cost more CPU than it saved, measured at 1M rows (docs/benchmarks.md).

    Anything else (a rule broken, a repeated or loaded key, a line set aside, a column to redact,
    an ``order`` column, no natural key, an attribute column of another type) raises
    :class:`NotPlain`: the transaction is rolled back and
    :func:`rox.ingest.transaction.load_in_transaction` loads the source again through
    :func:`rox.ingest.staged.load_staged`, which stages it and spells out every problem, so the
    outcome and every message are the staged path's.

    Returns
    -------
    OnePass or None
        The source's counts, the SQL of its rows' ``_seq`` over ``rowid``, and their checksum;
        None for a source this path does not take.

    Raises
    ------
    NotPlain
        If the source needs the staged path; the open transaction must be rolled back.
    """
    table, mapping, load_id = job.table, job.mapping, job.load_id
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
        if isinstance(exc, duckdb.InterruptException) or translated(exc, ws) is not exc:
            raise
        raise NotPlain from None  # (the staged path reports why the file cannot be read)
    for temp in CSV_REJECTS:
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    if ROW_COLUMN in types:
        raise NotPlain
    plan = LoadPlan(spec, mapping, types, src.name, job.known_scales)
    stored = stored_types(con, table)
    redacted = mapping.redaction.enabled and any(
        name in mapping.redaction.columns and rule.origin is not None
        for name, rule in plan.columns.items()
    )
    if (
        redacted
        or plan.natural_key_origin() is None
        or attribute_conflicts(table, plan.extras, stored) is not None
    ):
        raise NotPlain
    before, ours = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {LOAD_COLUMN} = {load_id}) FROM {ident(table)}"
    ).fetchone()
    if ours:  # an earlier source of this load wrote rows: its keys are the staged path's to check
        return None
    notes.extend(csv_header_notes(con, src, list(types)))
    add_extra_columns(con, table, plan.extras, stored)
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
        if isinstance(exc, duckdb.InterruptException) or translated(exc, ws) is not exc:
            raise
        raise NotPlain from None
    con.execute("SET preserve_insertion_order = false")  # (also reset on failure)
    if line_problems(con, src, LINES):
        raise NotPlain
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
        raise NotPlain
    if n and before:
        (loaded,) = con.execute(
            f"SELECT count(*) FROM {ident(table)} WHERE {LOAD_COLUMN} = {load_id} AND "
            f"{ident(KEY_COLUMN)} IN (SELECT {ident(KEY_COLUMN)} FROM {ident(table)} "
            f"WHERE {LOAD_COLUMN} <> {load_id})"
        ).fetchone()
        if loaded:
            raise NotPlain
    counts = {
        "source": src.name,
        "rows_read": int(n),
        "rows_loaded": int(n),
        "rows_rejected": 0,
        "rows_skipped": 0,
    }
    return OnePass(counts, seq if n else None, str(checksum))


class NotPlain(Exception):  # a signal to rox.ingest.transaction, never raised out of the load
    """A source cannot be loaded in one pass: load again, staging and checking it."""
