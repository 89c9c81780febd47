"""Sources rox can ingest, and how each is read by DuckDB without passing through Python.

Files are scanned by DuckDB's own readers (``read_csv``, ``read_parquet``, ``read_json``), so a
10-million-row file streams from disk into the workspace; DataFrames are registered zero-copy
through Arrow.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rox.errors import SourceError

__all__ = ["FORMATS", "Source", "open_source"]

Format = Literal["csv", "parquet", "jsonl"]

#: File suffixes rox recognises, and the reader each gets.
FORMATS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

_frame_ids = itertools.count(1)


@dataclass(frozen=True)
class Source:
    """A source of rows, as a DuckDB relation.

    Attributes
    ----------
    name : str
        How messages and the ``rejects`` table name it: the file path, or ``<DataFrame>``.
    relation : str
        SQL that reads it: a table function call or a registered view's name.
    kind : str
        ``csv``, ``parquet``, ``jsonl`` or ``frame``.
    """

    name: str
    relation: str
    kind: str


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def open_source(con: Any, source: Any, *, fmt: Format | None = None) -> Source:
    """Make ``source`` readable by the DuckDB connection ``con``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The workspace's connection.
    source : path, pandas.DataFrame, polars.DataFrame or pyarrow.Table
        What to read. A path's format comes from its suffix unless ``fmt`` is given.
    fmt : {'csv', 'parquet', 'jsonl'}, optional
        Format of a file whose suffix does not tell.

    Raises
    ------
    SourceError
        If the file does not exist or its format cannot be told.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        kind = fmt or FORMATS.get(path.suffix.lower())
        if kind is None:
            raise SourceError(
                f"{path}: cannot tell the format from the suffix {path.suffix!r}; expected "
                f"{', '.join(sorted(FORMATS))} (or pass the format explicitly)"
            )
        quoted = _quote(str(path))
        if kind == "csv":
            # Everything as text: rox parses and validates each value itself, so that a bad value
            # is reported with its row instead of failing the whole read.
            relation = f"read_csv({quoted}, all_varchar = true, header = true)"
        elif kind == "parquet":
            relation = f"read_parquet({quoted})"
        else:
            relation = f"read_json({quoted}, format = 'newline_delimited')"
        return Source(name=str(path), relation=relation, kind=kind)
    table = _as_arrow(source)
    view = f"_rox_frame_{next(_frame_ids)}"
    con.register(view, table)
    return Source(name="<DataFrame>", relation=view, kind="frame")


def _as_arrow(frame: Any) -> Any:
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    module = type(frame).__module__.split(".")[0]
    if module == "polars":
        return frame.to_arrow()
    if module == "pandas":
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise SourceError(
        f"cannot ingest a {type(frame).__name__}; expected a file path, a pandas or polars "
        "DataFrame, or a pyarrow Table"
    )
