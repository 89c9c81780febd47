"""The recorded order of a DuckDB workspace's rows: the ``_seq`` column (#21).

Each row of a canonical table carries its place in the order the workspace recorded the rows
(:mod:`rox.schema`): a load's rows continue the table's highest ``_seq``, in their order in the
source. Journeys order events sharing a timestamp by it (:mod:`rox.journey.events`).

A load of a valid CSV writes its rows with no ``_seq`` and numbers them in a second transaction,
after its commit (:func:`rox.ingest.one_pass.load_one_pass` says why). The numbering follows from
what the first transaction wrote, so :func:`number_rows` completes it whenever it did not
happen (the process stopped between the two commits): the rows lacking a ``_seq``, in the order
of their load, then of their place in the table (DuckDB keeps a table's rows in the order they
were inserted, and a load inserts its rows in their order in the source), after the highest
``_seq`` of the others. That is the numbering the second transaction writes, so the checksum
the load recorded (:mod:`rox.ingest.fingerprint`) holds either way.
"""

from __future__ import annotations

from typing import Any

from rox._sql import ident
from rox.schema import LOAD_COLUMN, SEQ_COLUMN

__all__ = ["has_order", "last_seq", "number_rows", "record_order", "unnumbered_tables"]


def has_order(con: Any, table: str) -> bool:
    """Whether DuckDB table ``table`` has its recorded-order column (``_seq``)."""
    (found,) = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
        "AND lower(column_name) = ?",
        [table, SEQ_COLUMN],
    ).fetchone()
    return bool(found)


def unnumbered_tables(con: Any, tables: list[str]) -> list[str]:
    """Those of ``tables`` that have rows with no recorded order (``_seq``): two statements.

    (Opening a workspace for writing asks this: one statement per table cost 30 ms more per
    open, measured on a 1M-row workspace.)
    """
    have = [
        name
        for (name,) in con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            f"WHERE lower(column_name) = ? AND table_name IN ({', '.join('?' * len(tables))})",
            [SEQ_COLUMN, *tables],
        ).fetchall()
    ]
    if not have:
        return []
    counts = " UNION ALL ".join(
        f"SELECT ? AS name, count(*) AS n FROM {ident(name)} WHERE {SEQ_COLUMN} IS NULL"
        for name in have
    )
    found = con.execute(f"SELECT name FROM ({counts}) WHERE n > 0", have).fetchall()
    return [name for name in tables if (name,) in found]


def record_order(con: Any, table: str) -> None:
    """Give DuckDB table ``table`` its recorded-order column (``_seq``) if it has none.

    A workspace created before #21 has no ``_seq``: the column is added, and every row numbered
    by its load, then its place in the table (:func:`number_rows`). Runs inside the load's
    transaction.
    """
    if has_order(con, table):
        return
    con.execute(f"ALTER TABLE {ident(table)} ADD COLUMN {SEQ_COLUMN} BIGINT")
    number_rows(con, table)


def last_seq(con: Any, table: str) -> int:
    """The highest recorded order (``_seq``) in ``table`` (0 when empty): new rows come after it."""
    (top,) = con.execute(f"SELECT coalesce(max({SEQ_COLUMN}), 0) FROM {ident(table)}").fetchone()
    return int(top)


def number_rows(con: Any, table: str) -> int:
    """Number the rows of ``table`` that have no recorded order (``_seq``); return how many.

    They come after the highest ``_seq`` of the table, in the order of their load, then of their
    place in the table (rowid). The rows of one load written by one statement have consecutive
    rowids: they are numbered by their rowid's distance from the first (one ``UPDATE``); any
    other set of rows by a window over (load, rowid). Runs inside the caller's transaction.
    """
    name = ident(table)
    unnumbered = f"{SEQ_COLUMN} IS NULL"
    n, low, high, loads = con.execute(
        f"SELECT count(*), min(rowid), max(rowid), count(DISTINCT {LOAD_COLUMN}) FROM {name} "
        f"WHERE {unnumbered}"
    ).fetchone()
    if not n:
        return 0
    base = last_seq(con, table)
    if loads <= 1 and high - low + 1 == n:
        con.execute(f"UPDATE {name} SET {SEQ_COLUMN} = rowid - {low - 1 - base} WHERE {unnumbered}")
    else:
        con.execute(
            f"UPDATE {name} SET {SEQ_COLUMN} = o._n FROM (SELECT rowid AS _r, {base} + "
            f"row_number() OVER (ORDER BY {LOAD_COLUMN}, rowid) AS _n FROM {name} "
            f"WHERE {unnumbered}) AS o WHERE {name}.rowid = o._r"
        )
    return int(n)
