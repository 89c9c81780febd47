"""rox: Return on Experience.

Measure customer experience (NPS, CSAT, CES), connect it to customer value, map journeys, and act.

>>> import rox
>>> ws = rox.open("duckdb://:memory:")

The analysis packages (``rox.experience``, ``rox.demo``, ``rox.ingest``, ``rox.report``) are
imported on first use, so ``import rox`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from rox import errors
from rox.errors import RoxError
from rox.workspace import Workspace
from rox.workspace import open_workspace as open

__version__ = "0.1.0"

__all__ = ["RoxError", "Workspace", "__version__", "errors", "open"]

_SUBPACKAGES = {
    "actions",
    "demo",
    "experience",
    "impact",
    "ingest",
    "journey",
    "report",
    "schema",
    "testing",
    "value",
    "viz",
}


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"rox.{name}")
    raise AttributeError(f"module 'rox' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBPACKAGES)
