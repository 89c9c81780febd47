"""Recognising a file loaded already, without comparing its rows one by one.

Loading a file twice adds nothing the second time: every row is keyed and compared with the row
stored under its key (:func:`rox.ingest.key_checks.check_keys`). For a 10-million-row file that
comparison is most of a re-ingest. When the file is byte for byte one loaded before, with the same
mapping, and that load's rows are still in the table unchanged, its outcome is known without
reading a row: every row is already loaded.

- :func:`file_fingerprint`: a SHA-256 of the file's bytes (read in 1 MiB blocks, never whole),
  with the table, the format and the mapping, stored in ``rox_loads.fingerprint``;
- :func:`rows_checksum`: a checksum of a load's rows as the table holds them, stored in
  ``rox_loads.checksum`` when the load commits (DuckDB workspaces); :func:`checksum_sql`, the
  same checksum as an aggregate, for a statement that scans the rows anyway;
- :func:`loaded_as`: the earlier load that fingerprint and checksum still vouch for, or None.

An earlier load vouches for a file only if it loaded every row it read (nothing rejected, nothing
skipped: a skipped row was stored by another load, which the checksum does not cover), its table
holds exactly as many rows with its load id as it recorded, and their checksum is the one
recorded. Anything else (another file, another mapping, a row of that load deleted or changed, a
load from a rox that recorded no fingerprint) takes the row-by-row path, which gives the same
outcome for an untouched load and the right one otherwise.

The checksum is the bitwise XOR over the load's rows of ``hash(v)``, where ``v`` is the XOR over
the row's columns of ``hash(hash(name, value))`` for the values that are not null (DuckDB's
64-bit ``hash``). A value is bound to its column and to its row by a hash applied to the
combination: DuckDB combines the arguments of ``hash(a, b)`` by XOR with a mix of the first, so a
XOR of such hashes alone would not change when two rows (or two columns) swap values (measured:
``hash('s', 1, 2) ^ hash('s', 2, 1) = hash('s', 1, 1) ^ hash('s', 2, 2)``). Any change of a
value, a swap, a deleted or added row then shows; skipping nulls lets a column added to the table
later (null in the old rows) leave the checksum as it was, while a value written into it changes
it. XOR over rows does not cancel: no two rows share a ``_seq``, which is one of the columns. A
64-bit checksum misses a change with probability about 2^-64.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from rox._sql import ident, literal
from rox.ingest.mapping import ColumnMapping
from rox.schema import LOAD_COLUMN, LOADS_TABLE, SEQ_COLUMN

__all__ = ["checksum_sql", "file_fingerprint", "loaded_as", "rows_checksum"]

#: Changes when what rox makes of a file changes (its rules, its columns): fingerprints of older
#: versions then no longer match, and their files are compared row by row again.
VERSION = "rox-fingerprint-1"
_BLOCK = 1 << 20


def file_fingerprint(
    source: Any, table: str, mapping: ColumnMapping, fmt: str | None
) -> str | None:
    """The fingerprint of loading file ``source`` into ``table`` with ``mapping``; None if no file.

    SHA-256 (FIPS 180-4, :mod:`hashlib`) of :data:`VERSION`, the table, the format asked for, the
    mapping as written out (every field but its origin: the same mapping from another file is the
    same mapping) and the file's bytes. None for data frames and anything that is not a regular
    file (the load then reports what is wrong with it).
    """
    if not isinstance(source, str | os.PathLike):
        return None
    path = Path(source).expanduser()
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    digest.update(
        "\0".join([VERSION, table, fmt or "", repr(replace(mapping, origin=""))]).encode()
    )
    digest.update(b"\0")
    try:
        with path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                digest.update(block)
    except OSError:
        return None  # (reading it is the load's to report)
    return digest.hexdigest()


def rows_checksum(con: Any, table: str, load_id: int, seq: str | None = None) -> tuple[int, str]:
    """The number of rows of ``table`` with load id ``load_id`` and their checksum.

    One scan of the load's rows (DuckDB skips the row groups of other loads by their min-max
    index), aggregating :func:`checksum_sql`. ``seq``, SQL over the table's columns (and
    ``rowid``), stands for the recorded order (``_seq``) of rows that are yet to be numbered: the
    checksum is then that of the rows once numbered so (the one pass numbers its rows after its
    commit, :func:`rox.ingest.one_pass.load_one_pass`).
    """
    n, total = con.execute(
        f"SELECT count(*), {checksum_sql(con, table, seq)} FROM {ident(table)} "
        f"WHERE {LOAD_COLUMN} = ?",
        [load_id],
    ).fetchone()
    return int(n), str(total)


def checksum_sql(con: Any, table: str, seq: str | None = None) -> str:
    """The checksum of the rows of ``table`` an aggregate runs over, as SQL (a UBIGINT).

    The checksum is defined in the module's docstring: over the table's columns as they are now
    (a column added later is null in earlier rows, which the checksum skips). ``seq`` as in
    :func:`rows_checksum`. An aggregate, so that a statement that scans the rows for other
    reasons computes the checksum in the same scan (the one pass's checks on the rows it wrote,
    :func:`rox.ingest.one_pass.load_one_pass`); read the result with ``str`` as
    :func:`rows_checksum` does (0 when there are no rows).
    """
    columns = [
        name
        for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]
    terms = [
        f"hash(hash({literal(c)}, {seq}))"
        if seq is not None and c == SEQ_COLUMN
        else f"CASE WHEN {ident(c)} IS NULL THEN 0 ELSE hash(hash({literal(c)}, {ident(c)})) END"
        for c in columns
    ]
    row = terms[0]
    for term in terms[1:]:
        row = f"xor({row}, {term})"
    return f"coalesce(bit_xor(hash({row})), 0)"


def loaded_as(con: Any, table: str, fingerprint: str) -> tuple[int, int] | None:
    """The earlier load of ``table`` that vouches for a file of ``fingerprint``, and its rows.

    The most recent load that read a file of that fingerprint and loaded every row of it, whose
    rows are all still in ``table``, unchanged (:func:`rows_checksum`). None if there is none.
    """
    found = con.execute(
        f"SELECT load_id, rows_read FROM {LOADS_TABLE} "
        "WHERE table_name = ? AND fingerprint = ? AND checksum IS NOT NULL "
        "AND rows_read > 0 AND rows_loaded = rows_read AND rows_rejected = 0 "
        "ORDER BY load_id DESC LIMIT 1",
        [table, fingerprint],
    ).fetchone()
    if found is None:
        return None
    load_id, rows_read = int(found[0]), int(found[1])
    loaded, checksum = con.execute(
        f"SELECT sum(rows_loaded), any_value(checksum) FROM {LOADS_TABLE} WHERE load_id = ?",
        [load_id],
    ).fetchone()
    if (int(loaded), str(checksum)) != rows_checksum(con, table, load_id):
        return None
    return load_id, rows_read
