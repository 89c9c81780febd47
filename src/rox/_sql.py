"""Quoting for the SQL rox writes by hand (ingestion, engine appends).

Identifiers and string literals are quoted by doubling the quote character, as standard SQL,
DuckDB, PostgreSQL and Spark SQL all accept; nothing else is ever spliced into SQL text.
"""

from __future__ import annotations

__all__ = ["ident", "literal"]


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
