"""Sources rox can ingest, and how each is read by DuckDB without passing through Python.

Files are scanned by DuckDB's own readers (``read_csv``, ``read_parquet``, ``read_json``), so a
10-million-row file streams from disk into the workspace; DataFrames are registered zero-copy
through Arrow.
"""

from __future__ import annotations

import codecs
import gzip
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rox.errors import SourceError

__all__ = ["CSV_REJECTS", "FORMATS", "Source", "json_with_text_columns", "open_source"]

Format = Literal["csv", "parquet", "jsonl"]

#: File suffixes rox recognises, and the reader each gets.
FORMATS: dict[str, Format] = {  # each may be followed by .gz (gzip-compressed text)
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

#: Temporary tables where DuckDB's CSV reader puts the lines it could not read (one source at a
#: time; rox turns them into per-row problems).
CSV_REJECTS = ("_rox_csv_rejects", "_rox_csv_scans")
_MAGIC = {b"\x1f\x8b": "gzip-compressed", b"PAR1": "a Parquet file", b"PK\x03\x04": "a zip archive"}


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
    path : str or None
        The file DuckDB reads (a UTF-8 copy when the source was transcoded), None for frames.
    temporary : bool
        Whether ``path`` is a transcoded copy to delete after the load.
    """

    name: str
    relation: str
    kind: str
    path: str | None = None
    temporary: bool = False


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def open_source(
    con: Any, source: Any, *, fmt: Format | None = None, encoding: str | None = None
) -> Source:
    """Make ``source`` readable by the DuckDB connection ``con``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The workspace's connection.
    source : path, pandas.DataFrame, polars.DataFrame or pyarrow.Table
        What to read. A path's format comes from its suffix (``.gz`` allowed after it) unless
        ``fmt`` is given.
    fmt : {'csv', 'parquet', 'jsonl'}, optional
        Format of a file whose suffix does not tell.
    encoding : str, optional
        Text encoding of a CSV or JSON-lines file that is not UTF-8 (a Python codec name): the
        file is transcoded to a temporary UTF-8 copy, which :attr:`Source.temporary` marks.

    Raises
    ------
    SourceError
        If the file does not exist, is a directory, cannot be read, its format cannot be told, or
        its first bytes show another format (gzip bytes named ``.csv``).
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        given = os.fspath(source)  # (as given: Path would turn "s3a://b/x" into "s3a:/b/x")
        if path.is_dir():
            raise SourceError(f"{given}: is a directory, not a file; give the files in it")
        if not path.exists():
            raise SourceError(f"{given}: no such file")
        suffixes = [x.lower() for x in path.suffixes]
        compressed = bool(suffixes) and suffixes[-1] == ".gz"
        suffix = suffixes[-2] if compressed and len(suffixes) > 1 else path.suffix.lower()
        kind = fmt or FORMATS.get(suffix)
        if kind is None:
            raise SourceError(
                f"{path}: cannot tell the format from the suffix {path.suffix!r}; expected "
                f"{', '.join(sorted(FORMATS))}, optionally followed by .gz (or pass the format "
                "explicitly)"
            )
        try:
            with path.open("rb") as fh:
                head = fh.read(4)
        except OSError as exc:
            raise SourceError(f"{path}: cannot read it: {exc.strerror or exc}") from None
        _check_magic(path, head, kind, compressed)
        read, temporary = str(path), False
        if encoding is not None and kind != "parquet" and codecs.lookup(encoding).name != "utf-8":
            read, temporary = _transcode(path, encoding, compressed), True
            compressed = False
        quoted = _quote(read)
        if kind == "csv":
            # Everything as text: rox parses and validates each value itself, so that a bad value
            # is reported with its row instead of failing the whole read. Lines the reader cannot
            # split (a field too many or too few, bad UTF-8) go to the rejects tables, also to be
            # reported with their line.
            relation = (
                f"read_csv({quoted}, all_varchar = true, header = true, store_rejects = true, "
                f"rejects_table = '{CSV_REJECTS[0]}', rejects_scan = '{CSV_REJECTS[1]}')"
            )
        elif kind == "parquet":
            relation = f"read_parquet({quoted})"
        else:
            relation = f"read_json({quoted}, format = 'newline_delimited')"
        return Source(str(path), relation, kind, read, temporary)
    table = _as_arrow(source)
    view = f"_rox_frame_{next(_frame_ids)}"
    con.register(view, table)
    return Source(name="<DataFrame>", relation=view, kind="frame")


def _check_magic(path: Path, head: bytes, kind: str, compressed: bool) -> None:
    """Refuse a file whose first bytes show another format than its name says."""
    found = next((what for magic, what in _MAGIC.items() if head.startswith(magic)), None)
    if found is None or (found == "gzip-compressed" and compressed):
        return
    if found == "a Parquet file" and kind == "parquet":
        return
    hint = (
        f"name it {path.name}.gz (rox reads .csv.gz and .jsonl.gz)"
        if found == "gzip-compressed"
        else "give it the suffix of its format (or --input-format)"
    )
    raise SourceError(f"{path}: is {found}, not {kind} text as its name says; {hint}")


def _transcode(path: Path, encoding: str, compressed: bool) -> str:
    """Copy text file ``path`` from ``encoding`` into a temporary UTF-8 file; return its path."""
    suffix = "".join(path.suffixes[:-1] if compressed else path.suffixes) or ".txt"
    fd, target = tempfile.mkstemp(prefix="rox-utf8-", suffix=suffix)
    opener: Any = gzip.open if compressed else open
    try:
        with (
            opener(path, "rt", encoding=encoding, newline="") as src,
            open(fd, "w", encoding="utf-8", newline="") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
    except UnicodeDecodeError as exc:
        os.unlink(target)
        raise SourceError(
            f"{path}: is not {encoding} text either (byte 0x{exc.object[exc.start]:02x} cannot "
            "be decoded); give its real encoding"
        ) from None
    except BaseException:
        os.unlink(target)
        raise
    return target


def json_with_text_columns(con: Any, src: Source, wanted: Callable[[str], bool]) -> Source:
    """Re-open a JSON-lines source reading the ``wanted`` columns as JSON, never through a float.

    DuckDB infers a column of numbers as DOUBLE when one of them has a fraction, and then large
    integers merge (9007199254740993 becomes 9007199254740992). Read as JSON, each value keeps
    its own type and digits; the other columns keep the types DuckDB infers.
    """
    described = con.execute(f"DESCRIBE SELECT * FROM {src.relation}").fetchall()
    types = {name: ("JSON" if wanted(name) else dtype) for name, dtype, *_ in described}
    if "JSON" not in types.values():
        return src
    spec = ", ".join(f"{_quote(n)}: {_quote(t)}" for n, t in types.items())
    relation = src.relation[:-1] + f", columns = {{{spec}}})"
    return Source(src.name, relation, src.kind, src.path, src.temporary)


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
