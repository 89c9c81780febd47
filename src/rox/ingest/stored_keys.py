"""The keys a table holds, as 64-bit hashes: a batch of new keys told apart without a join.

The service's writer (:class:`rox.ingest.batch.BatchWriter`) checks each batch's keys against
the table before it writes them: a key stored already is skipped or refused. As SQL that check
is an anti-join reading every key of the table, whatever the batch's size: 2 ms a batch at 45,000
stored responses, 29 ms at a million (docs/benchmarks.md), and so the intake slowed as the table
grew. :class:`StoredKeys` keeps the lower 64 bits of the MD5 of every stored key (8 bytes a key:
8 MB for a million), read once from the table by DuckDB's ``md5_number_lower`` and computed for
a batch's keys by :mod:`hashlib` (the same bits). A batch none of whose hashes is held has no
key stored: it is written without the check. A batch with a hash held — a key stored already, or
a rare collision — goes through the SQL check, which decides exactly. So a hash can only send a
batch the slow way, never let a stored key through.

This holds as long as every row written to the table after the hashes were read is added to
them (:meth:`StoredKeys.add`): the writer owns the workspace (DuckDB lets one process write a
file) and numbers its loads itself, so nothing else writes rows meanwhile. Rows deleted since
(erasure) leave their hashes behind: only more batches go through the check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rox._sql import ident
from rox.schema import KEY_COLUMN

__all__ = ["StoredKeys", "key_hashes", "read_hashes"]

#: Hashes added since the sorted array was made, kept in a set until there are this many
_MERGE_AT = 100_000


def key_hashes(keys: Iterable[str]) -> list[int] | None:
    """The hashes of ``keys`` (``md5_number_lower`` of each); None if a key is not valid UTF-8."""
    try:
        digests = [hashlib.md5(k.encode(), usedforsecurity=False).digest() for k in keys]
        return [int.from_bytes(d[8:], "little") for d in digests]
    except UnicodeEncodeError:  # (a lone surrogate: DuckDB holds no such text)
        return None


def read_hashes(con: Any, source: str, where: str = "") -> np.ndarray:
    """The hashes of the keys (``_key``, not null) of ``source`` (a table's SQL name).

    ``where``: a condition on its rows (SQL), if any.
    """
    found = con.execute(
        f"SELECT md5_number_lower({KEY_COLUMN}) AS h FROM {source} "
        f"WHERE {KEY_COLUMN} IS NOT NULL{f' AND ({where})' if where else ''}"
    ).fetchnumpy()["h"]
    return np.asarray(found, dtype=np.uint64)


class StoredKeys:
    """The hashes of the keys (``_key``) of one table of a DuckDB workspace.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The workspace's connection.
    table : str
        The canonical table.
    """

    def __init__(self, con: Any, table: str) -> None:
        self._sorted = np.sort(read_hashes(con, ident(table)))
        self._recent: set[int] = set()

    def __len__(self) -> int:
        """How many hashes are held (a key stored twice counts twice)."""
        return len(self._sorted) + len(self._recent)

    def any_held(self, hashes: Sequence[int]) -> bool:
        """Whether any of ``hashes`` is held; False says that none of their keys is stored."""
        if any(h in self._recent for h in hashes):
            return True
        if not len(self._sorted) or not hashes:
            return False
        wanted = np.fromiter(hashes, dtype=np.uint64, count=len(hashes))
        at = np.minimum(np.searchsorted(self._sorted, wanted), len(self._sorted) - 1)
        return bool((self._sorted[at] == wanted).any())

    def add(self, hashes: Iterable[int]) -> None:
        """Hold ``hashes`` too (the keys of rows just written)."""
        self._recent.update(hashes)
        if len(self._recent) >= _MERGE_AT:
            recent = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
            self._sorted = np.sort(np.concatenate([self._sorted, recent]))
            self._recent = set()
