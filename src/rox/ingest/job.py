"""One load's settings, as :func:`rox.ingest.ingest` resolved them: :class:`LoadJob`.

Each step of a load (:mod:`rox.ingest.transaction`, :mod:`rox.ingest.one_pass`,
:mod:`rox.ingest.staged`, :mod:`rox.ingest.stage_database`) reads what it needs from the job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rox.ingest.mapping import ColumnMapping
    from rox.ingest.sources import Format

__all__ = ["LoadJob"]


@dataclass(frozen=True)
class LoadJob:
    """One load's settings, as :func:`rox.ingest.ingest` resolved them."""

    table: str
    sources: list[Any]
    mapping: ColumnMapping
    known_scales: Mapping[Any, Any]
    load_id: int
    on_error: str
    progress: Callable[[float], None] | None
    fmt: Format | None
    #: The recorded order (``_seq``) the load's rows start after (staged loads: the workspace's).
    seq_base: int = 0
