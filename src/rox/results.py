"""The base of every result object rox returns.

A result is a frozen dataclass around a pandas DataFrame (one row per group, period or item), with
``to_frame()`` for the data, ``plot()`` for a plotly figure (built in :mod:`rox.viz`, imported only
when asked for) and a readable ``repr``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

__all__ = ["Result"]


@dataclass(frozen=True, eq=False)
class Result:
    """A computed result: its table, and a figure on request.

    Attributes
    ----------
    frame : pandas.DataFrame
        The result, one row per group / period / item.
    """

    frame: pd.DataFrame

    #: ``"module:function"`` in :mod:`rox.viz` that draws this result; imported only by ``plot()``.
    _plotter: ClassVar[str | None] = None

    def to_frame(self) -> pd.DataFrame:
        """Return the result as a new pandas DataFrame."""
        return self.frame.copy()

    def to_polars(self) -> Any:
        """Return the result as a polars DataFrame (needs the ``polars`` extra)."""
        import polars as pl

        return pl.from_pandas(self.frame)

    def plot(self, **kwargs: Any) -> Any:
        """Return a plotly figure of the result (see :mod:`rox.viz`)."""
        if self._plotter is None:
            raise NotImplementedError(f"{type(self).__name__} has no figure")
        module, _, name = self._plotter.partition(":")
        return getattr(importlib.import_module(module), name)(self, **kwargs)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"{type(self).__name__}\n{self.frame.to_string(index=False, max_rows=30)}"
