"""Fixtures of the report tests: a workspace whose user text tries to run a script."""

from __future__ import annotations

import pandas as pd
import pytest

import rox
from rox.testing import insert_rows

#: A touchpoint name and comment that would run a script if the report did not escape it.
HOSTILE = "<script>window.__pwned = 1</script>&\"'"


@pytest.fixture
def hostile_text() -> str:
    """The hostile user text held by :func:`hostile_ws`."""
    return HOSTILE


@pytest.fixture
def hostile_ws(ws: rox.Workspace) -> rox.Workspace:
    """120 responses (NPS, CSAT, CES) whose touchpoint and comment are hostile text."""
    n = 120
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=n, freq="3D", tz="UTC"),
            "metric": ["nps", "csat", "ces"] * (n // 3),
            "score": [9.0, 4.0, 6.0, 3.0, 2.0, 2.0] * (n // 6),
            "scale": ["0-10", "1-5", "1-7"] * (n // 3),
            "touchpoint": [HOSTILE, "dealer"] * (n // 2),
            "comment": [HOSTILE] * n,
        }
    )
    insert_rows(ws, "responses", frame)
    return ws
