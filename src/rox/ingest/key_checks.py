"""The key checks of a load: rows whose key repeats in the source or is loaded already.

A row repeating an earlier row of its source (same key), or a row whose key the table holds
already, is skipped when its content is the same and rejected when not: loading a file twice
adds nothing the second time, and a key is never overwritten. The checks run on a source typed
into :data:`~rox.ingest.temporary.TYPED`, with its problems so far in
:data:`~rox.ingest.temporary.PROBLEMS`; they add theirs there and list the rows to skip in
:data:`~rox.ingest.temporary.SKIPPED`. A load's staged path (:mod:`rox.ingest.staged`) and a
service batch (:mod:`rox.ingest.batch`) both check keys here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rox._sql import ident, literal
from rox.ingest.rules import (
    ROW_COLUMN,
    LoadPlan,
    compare_hash_sql,
    duplicate_key_rule,
    loaded_key_rule,
)
from rox.ingest.temporary import DUPLICATES, PROBLEMS, SKIPPED, TYPED
from rox.schema import KEY_COLUMN

__all__ = ["check_keys", "copy_existing"]


def copy_existing(con: Any, table: str, existing: Callable[[Any], Any], typed: str = TYPED) -> None:
    """Copy the workspace's rows with the keys of ``typed`` (the source's) into the stage."""
    keys = con.execute(
        f"SELECT DISTINCT {KEY_COLUMN} FROM {typed} EXCEPT SELECT {KEY_COLUMN} FROM {ident(table)}"
    ).to_arrow_table()
    if not keys.num_rows:
        return
    old = existing(keys)
    if old.num_rows:
        con.register("_rox_existing", old)
        con.execute(f"INSERT INTO {ident(table)} BY NAME SELECT * FROM _rox_existing")
        con.unregister("_rox_existing")


def check_keys(con: Any, plan: LoadPlan, table: str, *, repeats: bool = True) -> None:
    """Add key problems to the problems table and list the rows to skip.

    A row repeating an earlier row of the source (same key) is skipped when identical and rejected
    when not; a row whose key is already loaded is skipped when identical and rejected when not.

    Rows are compared by a hash of their content (:func:`rox.ingest.rules.compare_hash_sql`),
    computed only for the rows that need it: those whose key repeats in the source or is already
    loaded. A file of new keys costs one aggregate over its keys and a join with an empty
    result; the window that finds each key's first row runs only over the repeated keys.
    ``repeats=False`` says that no key repeats in the source (the caller counted them).
    """
    key = plan.key_label()
    valid = f"(SELECT * FROM {TYPED} WHERE {ROW_COLUMN} NOT IN (SELECT row FROM {PROBLEMS}))"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {DUPLICATES} AS SELECT {KEY_COLUMN} FROM {valid} "
        f"GROUP BY {KEY_COLUMN} HAVING count(*) > 1{'' if repeats else ' LIMIT 0'}"
    )
    ours, theirs = compare_hash_sql(plan.spec, "t"), compare_hash_sql(plan.spec, "e")
    loaded = (
        f"(SELECT {KEY_COLUMN}, {theirs} AS _old_hash FROM {ident(table)} AS e "
        f"WHERE {KEY_COLUMN} IN (SELECT {KEY_COLUMN} FROM {TYPED}))"
    )
    repeated = f"(SELECT {KEY_COLUMN} FROM {DUPLICATES})"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rox_keys AS
        SELECT row, key, hash, first_value(row) OVER w AS first_row,
               first_value(hash) OVER w AS first_hash, old_hash
        FROM (
            SELECT t.{ROW_COLUMN} AS row, t.{KEY_COLUMN} AS key, {ours} AS hash,
                   e._old_hash AS old_hash
            FROM {valid} AS t LEFT JOIN {loaded} AS e ON e.{KEY_COLUMN} = t.{KEY_COLUMN}
            WHERE t.{KEY_COLUMN} IN {repeated}
        )
        WINDOW w AS (PARTITION BY key ORDER BY row)
        UNION ALL
        SELECT t.{ROW_COLUMN}, t.{KEY_COLUMN}, {ours} AS hash, t.{ROW_COLUMN}, {ours},
               e._old_hash
        FROM {valid} AS t JOIN {loaded} AS e ON e.{KEY_COLUMN} = t.{KEY_COLUMN}
        WHERE t.{KEY_COLUMN} NOT IN {repeated}
        """
    )
    con.execute(
        f"""
        INSERT INTO {PROBLEMS}
        SELECT row, {literal(key)}, key,
               CASE WHEN hash <> first_hash THEN {duplicate_key_rule(key, "first_row")}
                    ELSE {literal(loaded_key_rule(key))}
               END
        FROM _rox_keys
        WHERE hash <> first_hash OR (old_hash IS NOT NULL AND old_hash <> hash)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {SKIPPED} AS
        SELECT row FROM _rox_keys
        WHERE (row <> first_row AND hash = first_hash) OR old_hash = hash
        """
    )
    con.execute("DROP TABLE _rox_keys")
    con.execute(f"DROP TABLE {DUPLICATES}")
