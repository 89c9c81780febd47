"""What a load did: :class:`LoadReport`, returned by :func:`rox.ingest.ingest`.

The report carries each source's counts, the load's id and the first problems found (at most
:data:`PROBLEMS_KEPT`; the ``rejects`` table keeps them all), and what the user should know that
is not a rejected row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rox.errors import RowProblem
from rox.results import Result

__all__ = ["PROBLEMS_KEPT", "LoadReport"]

#: How many problems a ValidationError or LoadReport carries (the rejects table keeps them all).
PROBLEMS_KEPT = 20


@dataclass(frozen=True, eq=False)
class LoadReport(Result):
    """What a load did.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per source: ``source``, ``rows_read``, ``rows_loaded``, ``rows_rejected``
        (rows written to ``rejects``), ``rows_skipped`` (already loaded or repeated).
    load_id : int
        The load's id in ``rox_loads``, ``rejects`` and the ``_load_id`` column.
    table : str
        The canonical table loaded.
    problems : list of RowProblem
        The first problems found (all of them are in the ``rejects`` table).
    notes : list of str
        What the user should know that is not a rejected row: a repeated header name, what
        :func:`~rox.ingest.reconcile` removed of an interrupted earlier load.
    """

    load_id: int = 0
    table: str = ""
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Rows read from all sources."""
        return int(self.frame["rows_read"].sum())

    @property
    def rows_loaded(self) -> int:
        """Rows written to the table."""
        return int(self.frame["rows_loaded"].sum())

    @property
    def rows_rejected(self) -> int:
        """Invalid rows written to ``rejects`` instead."""
        return int(self.frame["rows_rejected"].sum())

    @property
    def rows_skipped(self) -> int:
        """Rows already in the workspace (or repeated in the source) with the same content."""
        return int(self.frame["rows_skipped"].sum())

    def __str__(self) -> str:
        text = f"Loaded {self.rows_loaded:,} of {self.rows_read:,} rows into {self.table}"
        extra = []
        if self.rows_skipped:
            extra.append(f"{self.rows_skipped:,} skipped as already loaded or repeated")
        if self.rows_rejected:
            extra.append(f"{self.rows_rejected:,} rejected, see `rox rejects {self.load_id}`")
        text += (f" ({'; '.join(extra)})" if extra else "") + f" [load {self.load_id}]"
        return "\n".join([text, *(f"note: {n}" for n in self.notes)])

    def __repr__(self) -> str:
        return str(self)
