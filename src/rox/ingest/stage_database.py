"""A load into PostgreSQL or Spark: checked in a DuckDB staging database, appended by the engine.

The sources are validated as on a DuckDB workspace (:mod:`rox.ingest.transaction`), but in a
DuckDB database in a temporary folder of this machine, which first fetches the workspace's rows
with the same keys, so that the key checks see them. The accepted rows, the rejects, the scales
and the load record (last) are then appended by the engine (:meth:`rox.engines.Engine.append`:
one transaction on PostgreSQL, Parquet write jobs on Spark).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ibis

from rox import engines
from rox.ingest.job import LoadJob
from rox.ingest.transaction import load_in_transaction
from rox.schema import KEY_COLUMN, LOAD_COLUMN, LOADS_TABLE, REJECTS_TABLE, SCALES_TABLE, SEQ_COLUMN

if TYPE_CHECKING:
    from rox.errors import RowProblem
    from rox.workspace import Workspace

__all__ = ["load_through_stage"]


def load_through_stage(
    ws: Workspace, job: LoadJob, notes: list[str]
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Load ``job`` into ``ws`` (PostgreSQL or Spark) through a DuckDB staging database.

    The staging database lives in a temporary folder, removed when the load ends; ``notes``
    receives what the report should say besides the counts.
    """
    with tempfile.TemporaryDirectory(prefix="rox-stage-") as folder:
        # a workspace of the same class, on DuckDB (rox.workspace is the layer above)
        url = engines.parse_url(f"duckdb://{folder}/stage.duckdb")
        stage = type(ws)(engines.connect(url))
        try:
            return _stage(ws, stage, job, notes)
        finally:
            stage.close()


def _stage(
    ws: Workspace, stage: Workspace, job: LoadJob, notes: list[str]
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Load into DuckDB workspace ``stage``, then append the accepted rows to ``ws``."""
    table, load_id = job.table, job.load_id
    target = ws.table(table).schema()
    have = dict(stage.table(table).schema().items())
    extras = {name: dtype for name, dtype in target.items() if name not in have}
    if extras:
        stage.append_rows({}, new_columns={table: {n: str(d) for n, d in extras.items()}})

    def existing(keys: Any) -> Any:
        wanted = ibis.memtable(keys)
        t = ws.table(table)
        return t.semi_join(wanted, t[KEY_COLUMN] == wanted[KEY_COLUMN]).to_pyarrow()

    # the recorded order continues the workspace's (a workspace older than #21 has none)
    seq_base = (
        int(ws.table(table)[SEQ_COLUMN].max().fill_null(0).execute()) if SEQ_COLUMN in target else 0
    )
    rows, problems = load_in_transaction(
        stage, replace(job, seq_base=seq_base), existing, notes=notes
    )
    loaded = stage.table(table).schema()
    new_columns = {n: str(d) for n, d in loaded.items() if n not in target}

    def of_load(name: str) -> Any:
        t = stage.table(name)
        column = LOAD_COLUMN if name == table else "load_id"
        return t.filter(t[column] == load_id).to_pyarrow()

    ws.append_rows(
        {
            table: of_load(table),
            REJECTS_TABLE: of_load(REJECTS_TABLE),
            SCALES_TABLE: stage.table(SCALES_TABLE).to_pyarrow(),
            LOADS_TABLE: of_load(LOADS_TABLE),  # last: the record that the load happened
        },
        new_columns={table: new_columns} if new_columns else None,
    )
    return rows, problems
