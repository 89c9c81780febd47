"""Quoting for the SQL rox writes by hand (ingestion, engine appends).

Identifiers and string literals are quoted by doubling the quote character, as standard SQL,
DuckDB, PostgreSQL and Spark SQL all accept; nothing else is ever spliced into SQL text (values
go in as parameters).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["guarded_update", "ident", "literal"]


def ident(name: str) -> str:
    """Quote ``name`` as a SQL identifier.

    Examples
    --------
    >>> ident('my "col')
    '"my ""col"'
    """
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote ``text`` as a SQL string literal.

    Examples
    --------
    >>> literal("O'Brien")
    "'O''Brien'"
    """
    return "'" + text.replace("'", "''") + "'"


def guarded_update(
    table: str,
    key: Mapping[str, Any],
    expected: Mapping[str, Any],
    values: Mapping[str, Any],
    placeholder: str,
) -> tuple[str, list[Any]]:
    """A compare-and-set ``UPDATE`` and its parameters, in the driver's ``placeholder`` style.

    The row matching ``key`` gets ``values`` only if its ``expected`` columns still hold those
    values; ``IS NOT DISTINCT FROM`` makes nulls compare equal.

    Examples
    --------
    >>> sql, params = guarded_update("t", {"id": 1}, {"s": "a"}, {"s": "b"}, "?")
    >>> sql
    'UPDATE "t" SET "s" = ? WHERE "id" IS NOT DISTINCT FROM ? AND "s" IS NOT DISTINCT FROM ?'
    >>> params
    ['b', 1, 'a']
    """
    sets = ", ".join(f"{ident(c)} = {placeholder}" for c in values)
    where = " AND ".join(
        f"{ident(c)} IS NOT DISTINCT FROM {placeholder}" for c in (*key, *expected)
    )
    sql = f"UPDATE {ident(table)} SET {sets} WHERE {where}"
    return sql, [*values.values(), *key.values(), *expected.values()]
