"""Recovery after an interrupted load of a DuckDB workspace: :func:`reconcile`.

A load is all or nothing even across a crash: every row carries its ``_load_id``, and before each
load :func:`reconcile` removes what an interrupted load left behind (rows whose load has no record
in ``rox_loads``, or a last load whose record does not match its rows), and numbers the rows a
complete load had not yet numbered (a valid CSV's rows get their ``_seq`` in a second
transaction: :mod:`rox.ingest.one_pass`). DuckDB alone does not guarantee it: killed during the
commit of a large load, DuckDB 1.5.6 was seen to keep the big table's rows and lose the one-row
record written in the same transaction (docs/ingest.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rox._sql import ident
from rox.ingest.failures import rollback, translated
from rox.ingest.order import number_rows, unnumbered_tables
from rox.ingest.temporary import SOURCE
from rox.schema import LOAD_COLUMN, LOADS_TABLE, REJECTS_TABLE, TABLES

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["reconcile"]


def reconcile(ws: Workspace) -> list[str]:
    """Remove what an interrupted load left in a DuckDB workspace; return what was done.

    Every row a load writes carries its ``_load_id`` (``load_id`` in ``rejects``), and the load's
    record in ``rox_loads`` gives its counts. After a crash, a load is kept only when it is whole:

    - rows whose load id is above every recorded load (the record was lost, or never written)
      are removed;
    - the last recorded load must hold exactly the rows and rejects its record counts; if not,
      its rows, rejects and record are removed;
    - a staged copy of a file left in the workspace (``_rox_source``) is dropped;
    - rows a complete load wrote without their recorded order (``_seq``; the process stopped
      between the load's commit and the one numbering its rows) are numbered as that second
      commit would have numbered them (:func:`rox.ingest.order.number_rows`).

    A load that completed is never removed (earlier loads cannot be in flight: one process writes
    a DuckDB file at a time). :func:`rox.ingest.ingest` calls this before each load; call it
    after a crash to clean up at once. Other engines commit a load in one engine transaction
    (PostgreSQL) or write the record last (Spark), and are left as they are.

    Returns
    -------
    list of str
        One sentence per repair (empty when the workspace was consistent).
    """
    if ws.engine.name != "duckdb" or ws.read_only:
        return []
    con = ws.backend.con
    notes: list[str] = []
    targets = [(name, LOAD_COLUMN) for name in TABLES] + [(REJECTS_TABLE, "load_id")]
    con.execute("BEGIN TRANSACTION")
    try:
        last = int(
            con.execute(f"SELECT coalesce(max(load_id), 0) FROM {LOADS_TABLE}").fetchone()[0]
        )
        for name, column in targets:
            (n,) = con.execute(
                f"SELECT count(*) FROM {ident(name)} WHERE {ident(column)} > ?", [last]
            ).fetchone()
            if n:
                con.execute(f"DELETE FROM {ident(name)} WHERE {ident(column)} > ?", [last])
                notes.append(
                    f"removed {n:,} rows of {name} written by an interrupted load that was never "
                    "recorded (the process was stopped while it committed)"
                )
        record = con.execute(
            "SELECT any_value(table_name), sum(rows_loaded), sum(rows_rejected) "
            f"FROM {LOADS_TABLE} "
            "WHERE load_id = ?",
            [last],
        ).fetchone()
        if last and record[0] in TABLES:
            table, loaded, rejected = record[0], int(record[1]), int(record[2])
            (have,) = con.execute(
                f"SELECT count(*) FROM {ident(table)} WHERE {LOAD_COLUMN} = ?", [last]
            ).fetchone()
            (have_rejected,) = con.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT source, row FROM {REJECTS_TABLE} "
                "WHERE load_id = ?)",
                [last],
            ).fetchone()
            if (have, have_rejected) != (loaded, rejected):
                con.execute(f"DELETE FROM {ident(table)} WHERE {LOAD_COLUMN} = ?", [last])
                con.execute(f"DELETE FROM {REJECTS_TABLE} WHERE load_id = ?", [last])
                con.execute(f"DELETE FROM {LOADS_TABLE} WHERE load_id = ?", [last])
                notes.append(
                    f"removed load {last} of {table}: its record counts {loaded:,} rows and "
                    f"{rejected:,} rejected, but {have:,} and {have_rejected:,} were found (the "
                    "process was stopped while it committed); load its files again"
                )
        # a file staged in the workspace (rox.ingest.staged) is dropped before its load commits,
        # so a crash cannot leave it; a table of that name is nonetheless nothing a user made
        left = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary "
            "AND database_name = current_database()",
            [SOURCE],
        ).fetchone()
        if left[0]:
            con.execute(f"DROP TABLE {SOURCE}")
            notes.append("removed the staged copy of a file an interrupted load left behind")
        for name in unnumbered_tables(con, list(TABLES)):
            numbered = number_rows(con, name)
            if numbered:
                notes.append(
                    f"numbered {numbered:,} rows of {name} that a load had written without their "
                    "recorded order (the process was stopped after the load committed)"
                )
        con.execute("COMMIT")
    except BaseException as exc:
        rollback(con)
        raise translated(exc, ws) from exc
    return notes
