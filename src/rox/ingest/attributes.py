"""Attribute columns: a source's columns that no canonical column takes, kept in the table.

A source's extra columns are added to the table as attributes on their first load, with the type
they were read with (:attr:`rox.ingest.rules.LoadPlan.extras`); a later source must hold values of
that type in them, or those rows are refused. Names ignore case, as in DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rox._sql import ident, literal
from rox.ingest.rules import ROW_COLUMN
from rox.ingest.temporary import TYPED

__all__ = ["add_extra_columns", "attribute_conflicts", "stored_types"]


def stored_types(con: Any, table: str) -> dict[str, str]:
    """The table's columns, by lower-case name (DuckDB names ignore case), and their types."""
    return {
        name.lower(): dtype
        for name, dtype in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
            [table],
        ).fetchall()
    }


def attribute_conflicts(
    table: str, extras: Mapping[str, str], stored: Mapping[str, str]
) -> str | None:
    """SELECT of the problems of attribute values that the stored column's type cannot hold.

    An attribute keeps the type of its first load: a later source whose values do not convert
    (``'many'`` into an integer column, ``1.5`` into an integer column) has those rows refused.
    """
    parts = []
    for name, dtype in extras.items():
        have = stored.get(name.lower())
        if have is None or have.upper() == dtype.upper() or have.upper() == "VARCHAR":
            continue
        col = ident(name)
        converted = f"TRY_CAST({col} AS {have})"
        lossy = (
            ""
            if dtype.upper() == "VARCHAR"
            else f" OR CAST({converted} AS {dtype}) IS DISTINCT FROM {col}"
        )
        rule = (
            f"not a value of type {have}, which attribute column {name!r} of {table} holds "
            "(its type was set by its first load)"
        )
        parts.append(
            f'SELECT {ROW_COLUMN} AS row, {literal(name)} AS "column", CAST({col} AS VARCHAR), '
            f"{literal(rule)} FROM {TYPED} "
            f"WHERE {col} IS NOT NULL AND ({converted} IS NULL{lossy})"
        )
    return "\nUNION ALL\n".join(parts) if parts else None


def add_extra_columns(
    con: Any, table: str, extras: Mapping[str, str], stored: Mapping[str, str]
) -> None:
    """Add the source's extra columns to the table (kept as attributes) if it lacks them.

    Names ignore case, as in DuckDB: a ``Store`` column fills an existing ``store`` attribute.
    """
    for name, dtype in extras.items():
        if name.lower() not in stored:
            con.execute(f"ALTER TABLE {ident(table)} ADD COLUMN {ident(name)} {dtype}")
