"""rox: Return on Experience.

Measure customer experience (NPS, CSAT, CES), connect it to customer value, map journeys, and act.

>>> import rox
>>> ws = rox.open("duckdb://:memory:")
"""

from __future__ import annotations

from rox.errors import RoxError
from rox.workspace import Workspace
from rox.workspace import open_workspace as open

__version__ = "0.1.0"

__all__ = ["RoxError", "Workspace", "__version__", "open"]
