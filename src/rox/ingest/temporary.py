"""The temporary tables and views a load of a DuckDB workspace works in, by name, and their removal.

A load (:mod:`rox.ingest.transaction`) stages, parses and checks each source in these, and a
service batch (:mod:`rox.ingest.batch`) reuses the key checks' (:mod:`rox.ingest.key_checks`):
the names are defined here once, for every module that reads or writes them.
"""

from __future__ import annotations

import contextlib
from typing import Any

import duckdb

from rox.ingest.sources import CSV_REJECTS

__all__ = [
    "DUPLICATES",
    "LINES",
    "ORDER",
    "PROBLEMS",
    "RAW",
    "SKIPPED",
    "SOURCE",
    "TYPED",
    "drop_temporary",
]

#: The source staged with each row's number (``_row``): a view of :data:`SOURCE` numbering its
#: rows by rowid, or, where rows are renumbered (lines set aside) or read line by line, a table.
RAW = "_rox_raw"
#: The staged rows parsed and keyed, with their flags
#: (:meth:`rox.ingest.rules.LoadPlan.typed_select`).
TYPED = "_rox_typed"
#: Every rule a row broke: ``row``, ``column``, ``value``, ``rule``.
PROBLEMS = "_rox_problems"
#: The rows not written as already loaded or repeated with the same content (``row``).
SKIPPED = "_rox_skipped"
#: CSV lines the reader could not split into fields.
LINES = "_rox_lines"
#: A source as read, in its order (a table of the workspace file when staged on disk).
SOURCE = "_rox_source"
#: Keys repeated in a source.
DUPLICATES = "_rox_duplicates"
#: Each row's place by the mapping's ``order`` column.
ORDER = "_rox_order"


def drop_temporary(con: Any) -> None:
    """Drop every temporary table and view a load may have left on ``con`` (each if it exists).

    After a failed commit the database may refuse any statement: each drop that fails is passed
    over, as the failure that matters is the load's own.
    """
    temps = (RAW, SOURCE, TYPED, PROBLEMS, SKIPPED, LINES, DUPLICATES, ORDER)
    drops = [f"DROP VIEW IF EXISTS {v}" for v in (TYPED, RAW)] + [  # (or tables)
        f"DROP TABLE IF EXISTS {temp}" for temp in (*temps, *CSV_REJECTS)
    ]
    for drop in drops:
        with contextlib.suppress(duckdb.Error):
            con.execute(drop)
