"""Helpers for testing code that uses rox (as ``polars.testing`` is for Polars).

- :func:`insert_rows`: put rows in a workspace as they are, without validation;
- :func:`responses_frame`: a small canonical responses frame;
- :func:`table_counts`: the rows of every table, to check that a failed load changed nothing;
- :func:`journey_index_tables`: the tables of the journey index, comparable across builds;
- :func:`spark_rows_to_python`: count the rows a Spark session brings to Python;
- :func:`weekly_purchases`: transactions of customers drawn from BG/NBD, few distinct histories;
- :func:`run_cli`: run the ``rox`` command in a subprocess;
- :mod:`rox.testing.strategies`: Hypothesis strategies of responses and journeys (needs
  ``hypothesis``, in the ``test`` extra).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from rox.schema import (
    JOURNEY_INDEX_TABLES,
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

__all__ = [
    "insert_rows",
    "journey_index_tables",
    "responses_frame",
    "run_cli",
    "spark_rows_to_python",
    "table_counts",
    "weekly_purchases",
]

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


@contextlib.contextmanager
def spark_rows_to_python() -> Iterator[list[int]]:
    """Count the rows Spark DataFrames bring to the driver's Python while the block runs.

    Yields a list that receives the number of rows of each result: ``toPandas``, ``collect``,
    ``toArrow``, ``tail`` and ``toLocalIterator`` (``take``, ``head`` and ``first`` collect; a
    call made inside another, ``toPandas`` collecting, counts once). Every result of Ibis's
    PySpark backend and of rox's Spark engine reaches Python through these: what the block
    brings to the driver, and what ``spark.driver.maxResultSize`` bounds (#20).
    """
    from pyspark.sql.classic.dataframe import DataFrame

    counts: list[int] = []
    depth = [0]
    names = ("toPandas", "collect", "toArrow", "tail", "toLocalIterator")
    originals = {name: getattr(DataFrame, name) for name in names}

    def counted(original: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            try:
                out = original(*args, **kwargs)
            finally:
                depth[0] -= 1
            if original.__name__ == "toLocalIterator":
                out = list(out)
            if depth[0] == 0:
                counts.append(out.num_rows if hasattr(out, "num_rows") else len(out))
            return out

        return run

    for name, original in originals.items():
        setattr(DataFrame, name, counted(original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(DataFrame, name, original)


def weekly_purchases(n: int, seed: int = 1) -> pd.DataFrame:
    """Transactions of ``n`` customers drawn from BG/NBD, on 26 Mondays at 4 prices.

    Each customer is observed 1 to 26 weeks and buys as :func:`rox.value.simulate.simulate_bgnbd`
    draws (r 0.6, alpha 3, a 0.8, b 2.5), in whole weeks, at 100, 150, 200 or 250. The purchase
    histories and mean spends a customer can have are few (at most 26 x 26 x 26
    ``(x, t_x, T)`` rows, means of 4 prices), so more customers repeat the same ones: what a CLV
    fit needs saturates while the customers grow (for tests and benchmarks of memory, #20).
    Columns ``customer_id`` (``C00000000``...), ``ts`` (UTC) and ``amount``.
    """
    from rox.value.simulate import simulate_bgnbd

    rng = np.random.default_rng(seed)
    ages = rng.integers(1, 27, n)  # weeks observed
    drawn = simulate_bgnbd(n, r=0.6, alpha=3.0, a=0.8, b=2.5, T=ages.astype(float), seed=seed)
    tx = np.floor(drawn["recency"].to_numpy()).astype("int64")  # whole weeks
    x = np.where(tx > 0, drawn["frequency"].to_numpy(), 0)
    k = x + 1  # purchases
    position = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)  # 0: the first purchase
    last, span = position == np.repeat(k - 1, k), np.repeat(tx, k)
    between = rng.integers(1, np.maximum(span, 2))  # weeks after the first (some coincide)
    week = np.repeat(26 - ages, k) + np.where(position == 0, 0, np.where(last, span, between))
    return pd.DataFrame(
        {
            "customer_id": pd.Series(np.repeat(np.arange(n), k)).map("C{:08d}".format),
            "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(week * 7, unit="D"),
            "amount": rng.choice([100.0, 150.0, 200.0, 250.0], len(week)),
        }
    )


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


def journey_index_tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    """The tables of the workspace's journey index, each journey named, every table sorted.

    A journey's number in the index is a handle (a refresh numbers new journeys after the last):
    ``journey_id`` is replaced by the journey's name (the summary's ``journey``), and the rows
    sorted by all their columns, so that two indexes of the same journeys compare equal
    (``pandas.testing.assert_frame_equal``) however they were built. The record is left out.
    """
    names = ws.engine.table(JOURNEY_INDEX_TABLES["summary"]).to_pyarrow().to_pandas()
    by_number = names.set_index("journey_id")["journey"]
    out: dict[str, pd.DataFrame] = {}
    for role, table in JOURNEY_INDEX_TABLES.items():
        if role == "index":
            continue
        frame = ws.engine.table(table).to_pyarrow().to_pandas()
        if "journey_id" in frame.columns:
            frame["journey_id"] = frame["journey_id"].map(by_number)
        out[role] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out
