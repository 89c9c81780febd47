"""Fixtures: workspaces holding hand-made responses."""

from __future__ import annotations

import pandas as pd
import pytest

from rox.testing import insert_rows


def responses(metric: str, scores: list[float], **columns: list) -> pd.DataFrame:
    """A responses frame: one row per score, on the metric's default scale, in January 2024."""
    n = len(scores)
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
            "metric": [metric] * n,
            "score": [float(s) for s in scores],
            "scale": [{"nps": "0-10", "csat": "1-5", "ces": "1-7"}[metric]] * n,
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


@pytest.fixture
def load(ws):
    """Insert rows into the in-memory workspace and return it."""

    def _load(frame: pd.DataFrame):
        insert_rows(ws, "responses", frame)
        return ws

    return _load
