"""Helpers for testing code that uses rox: fixtures' data loading and hypothesis strategies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from rox.schema import KEY_COLUMN, LOAD_COLUMN, table_spec

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["insert_rows"]


def insert_rows(ws: Workspace, table: str, frame: pd.DataFrame) -> None:
    """Append ``frame`` to canonical ``table`` as is, without validation (for tests only).

    Missing canonical columns are filled with nulls; timestamps must be timezone-aware or are taken
    as UTC. Each row gets a unique ``_key`` and ``_load_id`` 0. Use :meth:`Workspace.ingest` for
    real data.
    """
    spec = table_spec(table)
    target = ws.table(table).schema()
    out = pd.DataFrame(index=frame.index)
    for name, dtype in target.items():
        if name in frame.columns:
            col = frame[name]
        elif name == KEY_COLUMN:
            start = ws.count(table)
            col = pd.Series([f"test-{start + i}" for i in range(len(frame))], index=frame.index)
        elif name == LOAD_COLUMN:
            col = pd.Series(0, index=frame.index, dtype="int64")
        else:
            col = pd.Series(None, index=frame.index, dtype="object")
        if dtype.is_timestamp():
            col = pd.to_datetime(col, utc=True)
        elif dtype.is_floating():
            col = pd.to_numeric(col).astype("float64")
        elif dtype.is_string():
            col = col.astype("string").astype(object).where(col.notna(), None)
        out[name] = col
    del spec
    ws.append_rows(
        {table: pa.Table.from_pandas(out, schema=target.to_pyarrow(), preserve_index=False)}
    )
