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
from rox.engines.postgres import LOCK_LOADS
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
        A DuckDB or PostgreSQL workspace open for writing.
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
        If the id is empty or the workspace is not a writable DuckDB or PostgreSQL workspace.
    """
    if not customer_id.strip():
        raise ServiceError("give the id of the customer to erase")
    if ws.read_only or ws.engine.name not in ("duckdb", "postgres"):
        raise ServiceError(
            f"erasure runs on a DuckDB or PostgreSQL workspace open for writing, not {ws.url}"
        )
    if ws.engine.name == "postgres":
        deleted, cleared = _erase_postgres(ws, customer_id, actor)
    else:
        deleted, cleared = _erase_duckdb(ws, customer_id, actor)
    ws.forget()  # copies the session kept (ordered journeys) hold the erased rows
    from rox.journey.index import refresh_index

    refresh_index(ws)
    if ws.engine.name == "duckdb":
        ws.backend.con.execute("CHECKPOINT")
    return deleted, cleared


def _audit_detail(deleted: dict[str, int], cleared: dict[str, int]) -> str:
    return json.dumps({"deleted": deleted, "cleared": cleared})


def _erase_duckdb(
    ws: Workspace, customer_id: str, actor: str
) -> tuple[dict[str, int], dict[str, int]]:
    """The erasure on DuckDB: the tables from ``duckdb_columns()``, temporary ones included."""
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
        con.execute(
            f"INSERT INTO {AUDIT_TABLE} VALUES (?, ?, 'erase', ?, ?)",
            [datetime.now(UTC), actor, subject_hash(customer_id), _audit_detail(deleted, cleared)],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return deleted, cleared


def _erase_postgres(
    ws: Workspace, customer_id: str, actor: str
) -> tuple[dict[str, int], dict[str, int]]:
    """The erasure on PostgreSQL: the tables named by ``information_schema``.

    The tables are those of the schemas on the search path, the session's temporary ones included.

    Other processes may write the workspace meanwhile (``rox serve`` on several processes): the
    transaction first takes the lock every load commits under (``rox_loads``, as
    :mod:`rox.ingest.shared`), so that no batch holding the customer's rows commits between the
    deletes. The rows' space is freed by PostgreSQL's (auto)vacuum, not at once.
    """
    deleted: dict[str, int] = {}
    cleared: dict[str, int] = {}
    # the tables (not views) of the schemas on the search path, the session's temporary schema
    # included (another session's temporary tables cannot be touched, and hold nothing of ours)
    tables = (
        "FROM information_schema.columns AS c JOIN information_schema.tables AS t "
        "USING (table_catalog, table_schema, table_name) "
        "WHERE c.table_schema = ANY (current_schemas(true)) "
        "AND c.table_schema NOT IN ('pg_catalog', 'information_schema') "
        "AND t.table_type IN ('BASE TABLE', 'LOCAL TEMPORARY')"
    )
    con = ws.backend.con
    with con.transaction(), con.cursor() as cur:
        cur.execute(LOCK_LOADS)
        cur.execute(
            f"SELECT DISTINCT table_schema, table_name {tables} "
            "AND c.column_name = 'customer_id' ORDER BY 1, 2"
        )
        for schema, table in cur.fetchall():
            cur.execute(
                f"DELETE FROM {ident(schema)}.{ident(table)} WHERE customer_id::text = %s",
                [customer_id],
            )
            if cur.rowcount:
                deleted[table] = deleted.get(table, 0) + int(cur.rowcount)
        cur.execute(
            f"DELETE FROM {REJECTS_TABLE} WHERE value = %s "
            "OR (CASE WHEN left(record, 1) = '{' THEN record::jsonb ->> 'customer_id' END) = %s",
            [customer_id, customer_id],
        )
        if cur.rowcount:
            deleted[REJECTS_TABLE] = int(cur.rowcount)
        cur.execute(
            f"SELECT table_schema, table_name, column_name {tables} "
            "AND c.data_type IN ('text', 'character varying') AND c.column_name <> 'customer_id' "
            "ORDER BY 1, 2, 3"
        )
        for schema, table, column in cur.fetchall():
            cur.execute(
                f"UPDATE {ident(schema)}.{ident(table)} SET {ident(column)} = NULL "
                f"WHERE {ident(column)} = %s",
                [customer_id],
            )
            if cur.rowcount:
                cleared[f"{table}.{column}"] = cleared.get(f"{table}.{column}", 0) + int(
                    cur.rowcount
                )
        cur.execute(
            f"INSERT INTO {AUDIT_TABLE} VALUES (%s, %s, 'erase', %s, %s)",
            [datetime.now(UTC), actor, subject_hash(customer_id), _audit_detail(deleted, cleared)],
        )
    return deleted, cleared
