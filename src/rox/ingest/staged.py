"""The staged path: a source staged in a table, checked rule by rule, its valid rows written.

Every source the one pass (:mod:`rox.ingest.one_pass`) does not take is loaded here, inside the
load's open transaction (:mod:`rox.ingest.transaction`): copied as read into a temporary table
(or, for a file that would fill DuckDB's memory, a table of the workspace file), each row
numbered by its place in the source, personal data redacted, every value parsed and flagged by
the rules (:class:`rox.ingest.rules.LoadPlan`), the flagged rows' problems spelled out, the keys
checked (:mod:`rox.ingest.key_checks`), and then either a
:class:`~rox.errors.ValidationError` or the valid rows written, with the invalid ones in
``rejects``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import duckdb

from rox._sql import ident, literal
from rox.errors import MappingError, RowProblem, ValidationError
from rox.ingest.attributes import add_extra_columns, attribute_conflicts, stored_types
from rox.ingest.failures import translated
from rox.ingest.key_checks import check_keys, copy_existing
from rox.ingest.order import last_seq
from rox.ingest.reading import (
    csv_header_notes,
    jsonl_by_lines,
    line_problems,
    read_error,
    text_problems,
    text_problems_condition,
)
from rox.ingest.report import PROBLEMS_KEPT
from rox.ingest.rules import FLAG_COLUMN, ROW_COLUMN, TEXT_FLAG_COLUMN, LoadPlan
from rox.ingest.sources import CSV_REJECTS, Source, json_with_text_columns
from rox.ingest.temporary import LINES, ORDER, PROBLEMS, RAW, SKIPPED, SOURCE, TYPED
from rox.schema import KEY_COLUMN, LOAD_COLUMN, REJECTS_TABLE, SEQ_COLUMN, table_spec

if TYPE_CHECKING:
    from rox.ingest.job import LoadJob
    from rox.ingest.mapping import ColumnMapping
    from rox.workspace import Workspace

__all__ = ["ReadByLines", "load_staged"]


def load_staged(
    con: Any,
    ws: Workspace,
    job: LoadJob,
    src: Source,
    step: Callable[[str, str], Any],
    existing: Callable[[Any], Any] | None = None,
    notes: list[str] | None = None,
    *,
    by_lines: bool = False,
) -> tuple[dict[str, Any], list[RowProblem]]:
    """Stage, check and write one source of ``job`` inside the open transaction (the staged path).

    ``step`` runs the SQL of each step (its progress). ``existing`` (for a load through a
    staging database) returns the workspace's rows with the given keys. ``by_lines``: read a
    JSON-lines source line by line (a previous try found a broken line). The rows' recorded order
    starts after ``job.seq_base`` at least (see :func:`_recorded_order`).

    Raises
    ------
    ReadByLines
        If DuckDB's reader refused a JSON-lines source for a malformed line.
    """
    table, mapping, known_scales, load_id = job.table, job.mapping, job.known_scales, job.load_id
    spec = table_spec(table)
    for temp in CSV_REJECTS:  # the CSV reader refuses to reuse them
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    if by_lines:
        # a line is not JSON: read the file line by line, and refuse only that line
        line_problems(con, src, LINES)  # (creates the table, empty for JSON lines)
        n_lines = jsonl_by_lines(con, src, RAW, LINES, ROW_COLUMN, lambda c: _is_id(mapping, c))
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
            step("read", f"CREATE OR REPLACE {kind} TABLE {SOURCE} AS SELECT * FROM {src.relation}")
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.InterruptException) or translated(exc, ws) is not exc:
                raise
            if src.kind == "jsonl" and "Malformed JSON" in str(exc) and _plain(src):
                raise ReadByLines from None  # the failed read has aborted the transaction
            raise read_error(src, exc) from None
        n_lines = line_problems(con, src, LINES)
        con.execute("SET preserve_insertion_order = false")  # (also reset on failure)
        if n_lines:
            # the reader kept the other rows in order: give each its position in the file back
            _number_rows(con)
            if _is_view(con, RAW):
                con.execute(f"ALTER VIEW {RAW} RENAME TO _rox_numbered")
                con.execute(f"CREATE TEMP TABLE {RAW} AS SELECT * FROM _rox_numbered")
                con.execute("DROP VIEW _rox_numbered")
                con.execute(f"DROP TABLE {SOURCE}")
            con.execute(
                f"UPDATE {RAW} SET {ROW_COLUMN} = {ROW_COLUMN} + "
                f"(SELECT count(*) FROM {LINES} AS l WHERE l.before < {RAW}.{ROW_COLUMN})"
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
        and not con.execute(f"SELECT count(*) FROM {RAW} WHERE {key} IS NULL").fetchone()[0]
    )
    # one pass parses every value, keys the rows and flags those that break a rule (any rule of
    # the plan, or broken text), so that the rules are spelled out only for the flagged rows
    text_flag = text_problems_condition(types, src.kind)
    typed = plan.typed_select(RAW, keys_complete=complete, flag=text_flag or "false")
    if complete and spec.key:
        # A view: the rows are parsed where they are used (flagged here, then written), which
        # costs less than writing them parsed into a table and reading them again (measured).
        # Keys made of content (their hash and a window over the whole source) are kept in a
        # table, to be computed once.
        con.execute(f"CREATE OR REPLACE TEMP VIEW {TYPED} AS {typed}")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {TYPED} AS {typed}")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {PROBLEMS} "
        '(row BIGINT, "column" VARCHAR, value VARCHAR, rule VARCHAR)'
    )
    # (and whether any key repeats: all distinct, the key checks need not look for repeats)
    flagged = step(
        "parse",
        f"SELECT count(*) FILTER (WHERE {FLAG_COLUMN}), count(*) FILTER (WHERE {TEXT_FLAG_COLUMN}),"
        f" count(DISTINCT {KEY_COLUMN}) < count(*) FROM {TYPED}",
    ).fetchone()
    if flagged[0]:
        bad = f"(SELECT * FROM {TYPED} WHERE {FLAG_COLUMN})"
        step("check", f"INSERT INTO {PROBLEMS} {plan.problems_select(bad)}")
    con.execute(f'INSERT INTO {PROBLEMS} SELECT row, "column", value, rule FROM {LINES}')
    if flagged[1]:
        rows = f"(SELECT * FROM {RAW} WHERE {ROW_COLUMN} IN (SELECT {ROW_COLUMN} FROM {TYPED} "
        rows += f"WHERE {TEXT_FLAG_COLUMN}))"
        broken = text_problems(types, src.kind, rows, ROW_COLUMN)
        if broken is not None:
            con.execute(f"INSERT INTO {PROBLEMS} {broken}")
    stored = stored_types(con, table)
    conflicts = attribute_conflicts(table, plan.extras, stored)
    if conflicts is not None:
        con.execute(f"INSERT INTO {PROBLEMS} {conflicts}")
    if existing is not None:
        copy_existing(con, table, existing)
    check_keys(con, plan, table, repeats=bool(flagged[2]))
    n_rows = int(con.execute(f"SELECT count(*) FROM {RAW}").fetchone()[0]) + n_lines
    n_invalid = int(con.execute(f"SELECT count(DISTINCT row) FROM {PROBLEMS}").fetchone()[0])
    first = [
        RowProblem(src.name, int(r), c, v, rule)
        for r, c, v, rule in con.execute(
            f'SELECT row, "column", value, rule FROM {PROBLEMS} ORDER BY row, "column" '
            f"LIMIT {PROBLEMS_KEPT}"
        ).fetchall()
    ]
    if n_invalid and job.on_error == "raise":
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
            f"FROM {PROBLEMS} AS p LEFT JOIN {RAW} AS r ON r.{ROW_COLUMN} = p.row "
            'ORDER BY p.row, p."column"'
        )
    if mapping.order is not None and mapping.order not in types:  # (checked if nothing is new)
        raise MappingError(
            f"{mapping.origin}: order names column {mapping.order!r}, which {src.name} does not "
            f"have; its columns are {', '.join(types)}"
        )
    add_extra_columns(con, table, plan.extras, stored)
    (n_skipped,) = con.execute(
        f"SELECT count(*) FROM {SKIPPED} WHERE row NOT IN (SELECT row FROM {PROBLEMS})"
    ).fetchone()
    n_skipped = int(n_skipped)
    if n_rows - n_invalid - n_skipped:  # (a file loaded already writes nothing)
        cols = plan.insert_columns()
        select = ", ".join(f"t.{ident(c)}" for c in cols)
        seq, order_join = _recorded_order(con, table, mapping, job.seq_base)
        # the rows left out, if any (an anti-join of a whole file with nothing costs a scan)
        out = [
            f"SELECT row FROM {name}"
            for name in (PROBLEMS, SKIPPED)
            if con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        ]
        where = f" WHERE t.{ROW_COLUMN} NOT IN ({' UNION ALL '.join(out)})" if out else ""
        # (each row has its recorded order in _seq: the order the rows are written in is free)
        step(
            "write",
            f"INSERT INTO {ident(table)} BY NAME SELECT {select}, {load_id} AS {LOAD_COLUMN}, "
            f"{seq} AS {SEQ_COLUMN} FROM {TYPED} AS t{order_join}{where}",
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
    """The ``_seq`` of the source's rows, as SQL over ``TYPED AS t``, and the join it needs.

    The rows continue the table's recorded order (after ``seq_base`` and every row already in
    the table, whichever is higher): by their row in the source, or, when the mapping names an
    ``order`` column, by that column (empty values last), then by row.
    """
    base = max(last_seq(con, table), seq_base)
    if mapping.order is None:
        return f"({base} + t.{ROW_COLUMN})", ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {ORDER} AS SELECT {ROW_COLUMN}, row_number() OVER "
        f"(ORDER BY {ident(mapping.order)} NULLS LAST, {ROW_COLUMN}) AS _rox_pos FROM {RAW}"
    )
    return f"({base} + o._rox_pos)", f" JOIN {ORDER} AS o ON o.{ROW_COLUMN} = t.{ROW_COLUMN}"


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
    """Make ``RAW``: the staged source (in its order) with each row's number in it.

    A view numbering the rows by their rowid, which costs nothing: a table filled by one
    statement holds its rows in the order they came (insertion order is preserved while the
    source is read) under consecutive rowids, which start at a large offset inside a
    transaction. Where that does not hold (consecutive rowids), or where the source has a column
    of its own named ``rowid`` (which hides DuckDB's), the rows are numbered into a table.
    """
    names = {
        name.lower()
        for (name,) in con.execute(f"SELECT column_name FROM (DESCRIBE {SOURCE})").fetchall()
    }
    if "rowid" not in names:
        low, high, n = con.execute(
            f"SELECT min(rowid), max(rowid), count(*) FROM {SOURCE}"
        ).fetchone()
        if not n or high - low + 1 == n:
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {RAW} AS "
                f"SELECT rowid - {int(low or 0) - 1} AS {ROW_COLUMN}, * FROM {SOURCE}"
            )
            return
    con.execute("SET preserve_insertion_order = true")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {RAW} AS "
        f"SELECT row_number() OVER () AS {ROW_COLUMN}, * FROM {SOURCE}"
    )
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"DROP TABLE {SOURCE}")


def _staged_types(con: Any) -> dict[str, str]:
    """The staged source's columns and their DuckDB types."""
    return {
        name: dtype
        for name, dtype in con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE {RAW})"
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
    if _is_view(con, RAW):  # redact the source the view numbers, then number it again
        redaction.apply_to_staged(con, SOURCE, origins)
        _number_rows(con)
    else:
        redaction.apply_to_staged(con, RAW, origins)
    return True


def _is_view(con: Any, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND temporary", [name]
    ).fetchone()
    return bool(found[0])


class ReadByLines(Exception):  # a signal to rox.ingest.transaction, never raised out of the load
    """A JSON-lines source has a malformed line: load again, reading it line by line."""


def _plain(src: Source) -> bool:
    """Whether ``src`` is an uncompressed file (which can be read again line by line)."""
    return src.path is not None and not src.path.lower().endswith(".gz")


def _is_id(mapping: ColumnMapping, column: str) -> bool:
    """Whether source ``column`` lands in an id column (``*_id``), by the mapping or its name."""
    return mapping.columns.get(column, column.strip().lower()).endswith("_id")
