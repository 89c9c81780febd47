"""GDPR erasure (art. 17): every row of one customer, removed from every table, with an audit.

Rows are found by the customer's id: in every table of the workspace with a ``customer_id``
column (the canonical tables, the journey index's events, any table a user added, and the
temporary tables of the connection, such as the last batch the service checked), and in the
``rejects`` table, whose ``record`` holds refused rows as JSON and ``value`` the value refused.
A value equal to the customer's id in any other text column (an attribute naming them, such as
another customer's ``referred_by``) is set to NULL: the row is someone else's, the reference to
the erased customer goes. The derived journey index is rebuilt afterwards (its aggregates were
computed with the customer's events). The audit record (``rox_audit``) names the act, who did it
and how many rows went from which table; it stores the SHA-256 of the customer id, never the id,
so that the audit does not keep what it records the erasure of. DuckDB is checkpointed, so that
the write-ahead log no longer holds the deleted rows; DuckDB may keep their bytes in freed blocks
of the file until reused (measured; a copy of the database holds none: see docs/service.md).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rox._sql import ident, literal
from rox.errors import ServiceError
from rox.schema import AUDIT_TABLE, REJECTS_TABLE

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["erase_customer", "subject_hash"]


def subject_hash(customer_id: str) -> str:
    """SHA-256 (hex) of a customer id: how the audit names an erased customer."""
    return hashlib.sha256(customer_id.encode()).hexdigest()


def erase_customer(
    ws: Workspace, customer_id: str, *, actor: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Delete every row of ``customer_id`` from every table of ``ws``, in one transaction.

    Parameters
    ----------
    ws : Workspace
        A DuckDB workspace open for writing.
    customer_id : str
        The customer to erase (as stored: text).
    actor : str
        Who asked (an API key id, or ``cli``), for the audit record.

    Returns
    -------
    deleted : dict of str to int
        Rows deleted, by table (tables without any of the customer's rows are left out).
    cleared : dict of str to int
        Values set to NULL, by ``table.column``, where other rows named the customer.

    Raises
    ------
    ServiceError
        If the id is empty or the workspace is not a writable DuckDB workspace.
    """
    if not customer_id.strip():
        raise ServiceError("give the id of the customer to erase")
    if ws.read_only or ws.engine.name != "duckdb":
        raise ServiceError(f"erasure runs on a DuckDB workspace open for writing, not {ws.url}")
    con = ws.backend.con
    who = literal(customer_id)
    deleted: dict[str, int] = {}
    tables = con.execute(
        "SELECT DISTINCT c.table_name FROM duckdb_columns() AS c "
        "JOIN duckdb_tables() AS t USING (database_name, schema_name, table_name) "
        "WHERE c.column_name = 'customer_id' AND NOT t.internal ORDER BY 1"
    ).fetchall()
    con.execute("BEGIN TRANSACTION")
    try:
        for (table,) in tables:
            (n,) = con.execute(
                f"DELETE FROM {ident(table)} WHERE CAST(customer_id AS VARCHAR) = {who}"
            ).fetchone()
            if n:
                deleted[table] = int(n)
        (n,) = con.execute(
            f"DELETE FROM {REJECTS_TABLE} WHERE value = {who} "
            f"OR json_extract_string(record, '$.customer_id') = {who}"
        ).fetchone()
        if n:
            deleted[REJECTS_TABLE] = int(n)
        cleared: dict[str, int] = {}
        for table, column in con.execute(
            "SELECT c.table_name, c.column_name FROM duckdb_columns() AS c "
            "JOIN duckdb_tables() AS t USING (database_name, schema_name, table_name) "
            "WHERE c.data_type = 'VARCHAR' AND c.column_name <> 'customer_id' AND NOT t.internal "
            "ORDER BY 1, 2"
        ).fetchall():
            (n,) = con.execute(
                f"UPDATE {ident(table)} SET {ident(column)} = NULL WHERE {ident(column)} = {who}"
            ).fetchone()
            if n:
                cleared[f"{table}.{column}"] = int(n)
        detail = json.dumps({"deleted": deleted, "cleared": cleared})
        con.execute(
            f"INSERT INTO {AUDIT_TABLE} VALUES (?, ?, 'erase', ?, ?)",
            [datetime.now(UTC), actor, subject_hash(customer_id), detail],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    ws.forget()  # copies the session kept (ordered journeys) hold the erased rows
    from rox.journey.index import refresh_index

    refresh_index(ws)
    con.execute("CHECKPOINT")
    return deleted, cleared
