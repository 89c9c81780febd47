"""Build the demo brand into a workspace, chunk by chunk, through :meth:`rox.Workspace.ingest`.

The journey index (:mod:`rox.journey.index`) is built once, after the last chunk.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from rox.demo._effects import DemoEffects
from rox.demo.brand import TABLE_NAMES, generate_chunks
from rox.journey.index import build_index
from rox.workspace import CURRENCY_SETTING, DEMO_SETTING, open_workspace

if TYPE_CHECKING:
    from collections.abc import Callable

    from rox.workspace import Workspace


def build(
    url: str | os.PathLike[str] | None = None,
    *,
    n_customers: int = 20_000,
    seed: int = 7,
    progress: Callable[[float], None] | None = None,
    chunk_size: int = 250_000,
    effects: DemoEffects | None = None,
    currency: str = "EUR",
) -> Workspace:
    """Generate the demo brand and load it into the workspace at ``url``.

    Parameters
    ----------
    url : str or path, optional
        Workspace to open (see :func:`rox.open`): ``duckdb://:memory:``, ``duckdb:///abs/x.duckdb``
        or a plain path to a DuckDB file. Default: ``$ROX_WORKSPACE``, else ``rox.duckdb``.
    n_customers : int, default 20_000
        Number of customers.
    seed : int, default 7
        Random seed; the same seed builds the same brand.
    progress : callable, optional
        Called with the fraction done (0 to 1) after each table of each chunk is loaded.
    chunk_size : int, default 250_000
        Customers generated and loaded at a time (bounds memory).
    effects : DemoEffects, optional
        Sizes of the planted effects.
    currency : str, default "EUR"
        ISO 4217 code of the brand's money amounts, stored as the workspace's ``currency``.

    Returns
    -------
    Workspace
        The open workspace holding ``customers``, ``transactions``, ``events`` and ``responses``.
        The caller closes it.

    Examples
    --------
    >>> import rox.demo
    >>> ws = rox.demo.build("duckdb://:memory:", n_customers=2_000)  # doctest: +SKIP
    >>> ws.count("customers")  # doctest: +SKIP
    2000
    """
    ws = open_workspace(url)
    n_chunks = math.ceil(n_customers / chunk_size)
    try:
        chunks = generate_chunks(n_customers, seed, chunk_size, effects=effects)
        for i, frames in enumerate(chunks):
            for j, name in enumerate(TABLE_NAMES):
                ws.ingest(name, frames[name])
                if progress is not None:
                    progress((i + (j + 1) / len(TABLE_NAMES)) / n_chunks)
        # the journeys every analysis starts from, ordered once for all of them
        build_index(ws)
        ws.set_setting(CURRENCY_SETTING, currency)
        # the marker `rox demo` recognises its own workspaces by
        ws.set_setting(DEMO_SETTING, f"customers={n_customers} seed={seed}")
    except BaseException:
        ws.close()
        raise
    return ws
