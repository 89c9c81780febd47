"""Helpers for testing code that uses rox (as ``polars.testing`` is for Polars).

- :func:`insert_rows`: put rows in a workspace as they are, without validation;
- :func:`responses_frame`: a small canonical responses frame;
- :func:`table_counts`: the rows of every table, to check that a failed load changed nothing;
- :func:`run_cli`: run the ``rox`` command in a subprocess;
- :mod:`rox.testing.strategies`: Hypothesis strategies of responses and journeys (needs
  ``hypothesis``, in the ``test`` extra).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from rox.schema import (
    KEY_COLUMN,
    LOAD_COLUMN,
    LOADS_TABLE,
    REJECTS_TABLE,
    SEQ_COLUMN,
    TABLES,
    table_spec,
)

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["insert_rows", "responses_frame", "run_cli", "table_counts"]

#: The answer scale of each metric by default, as stored in ``responses.scale``.
_SCALES = {"nps": "0-10", "csat": "1-5", "ces": "1-7"}


def insert_rows(ws: Workspace, table: str, frame: pd.DataFrame) -> None:
    """Append ``frame`` to canonical ``table`` as is, without validation (for tests only).

    Missing canonical columns are filled with nulls; timestamps must be timezone-aware or are taken
    as UTC. Each row gets a unique ``_key``, ``_load_id`` 0 and a recorded order (``_seq``) that
    follows the frame's rows, after those already in the table. Use :meth:`Workspace.ingest` for
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
        elif name == SEQ_COLUMN:
            top = ws.table(table)[SEQ_COLUMN].max().fill_null(0).execute()
            col = pd.Series(range(int(top) + 1, int(top) + 1 + len(frame)), index=frame.index)
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


def responses_frame(
    metric: str,
    scores: list[float],
    start: str = "2024-01-01",
    freq: str = "h",
    **columns: list[Any],
) -> pd.DataFrame:
    """Canonical responses: one per score, each ``freq`` from ``start`` (UTC), on the default scale.

    ``columns`` add columns (one value per score), such as ``channel`` or ``response_id``.

    Examples
    --------
    >>> responses_frame("nps", [10, 7, 3], channel=["web", "app", "web"])[["metric", "score"]]
      metric  score
    0    nps   10.0
    1    nps    7.0
    2    nps    3.0
    """
    n = len(scores)
    frame = pd.DataFrame(
        {
            "ts": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
            "metric": [metric] * n,
            "score": [float(s) for s in scores],
            "scale": [_SCALES[metric]] * n,
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def table_counts(ws: Workspace) -> dict[str, int]:
    """Rows of each canonical table, of ``rejects`` and of ``rox_loads``."""
    return {name: ws.count(name) for name in (*TABLES, REJECTS_TABLE, LOADS_TABLE)}


def run_cli(
    *args: str,
    workspace: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m rox ARGS [--workspace WORKSPACE]`` and return the completed process.

    The environment is bare (``PATH``, ``HOME`` = ``cwd``, a wide terminal), as a new user's
    shell would be, except for ``PYTHONPATH``, kept so that the same rox is run.
    """
    workspace_args = ["--workspace", str(workspace)] if workspace is not None else []
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(cwd or Path.cwd())}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    # no shell: the arguments go to this interpreter's rox as they are
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "rox", *args, *workspace_args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
        check=False,
    )
