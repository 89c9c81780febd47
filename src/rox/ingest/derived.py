"""The refresh of the tables derived from a canonical table, after a load of it.

:data:`rox.schema.DERIVED` declares each set of derived tables (the journey index, say) with the
canonical table whose loads refresh it and its refresher, by name (``"module:function"``). Every
refresh after a load goes through :func:`refresh_derived`: :func:`rox.ingest.ingest`'s, and each
batch's of the service (:mod:`rox.ingest.batch`, :mod:`rox.ingest.shared`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rox.errors import RefreshCancelledError
from rox.schema import DERIVED

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["refresh_cancelled", "refresh_derived"]


def refresh_derived(ws: Workspace, table: str) -> None:
    """Rebuild the tables derived from ``table`` (:data:`rox.schema.DERIVED`), by their refresher.

    The refreshers run while the workspace's loads are held still
    (:meth:`rox.engines.Engine.loads_held`: on PostgreSQL, one transaction holding the loads'
    lock), so that a refresh sees a fixed set of loads and two processes never refresh at once;
    the one that waited finds the tables brought up to date and does nothing more. The load is
    committed before: should a refresh fail, the refresher says so (and drops what it could not
    refresh), and the load stands.

    The refresher is named, not imported, so that the data layer does not reach up into the
    analysis that owns the derived tables; each refresher handles its own failures.
    """
    refreshers = [derived.refresh for derived in DERIVED if derived.source == table]
    if not refreshers:
        return
    with ws.engine.loads_held():
        for refresher in refreshers:
            module, _, name = refresher.partition(":")
            getattr(importlib.import_module(module), name)(ws)


def refresh_cancelled(load_id: int, table: str, rows_loaded: int) -> RefreshCancelledError:
    """The error of a refresh after load ``load_id`` interrupted (the load itself committed).

    A refresher interrupted leaves its tables behind the load, never wrong: the journey index
    drops its record before it rewrites anything, and an analysis computes without an index that
    is missing or behind its events (:func:`rox.journey.events.indexed_journeys`).
    """
    derived = [d for d in DERIVED if d.source == table]
    names = " and ".join(d.name for d in derived)
    rebuild = "; ".join(f"rebuild the {d.name} with {d.rebuild}" for d in derived)
    return RefreshCancelledError(
        f"load {load_id} is complete ({rows_loaded:,} rows loaded into {table}), but refreshing "
        f"the {names} after it was interrupted; analyses compute without it until then: {rebuild}"
    )
