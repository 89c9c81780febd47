"""Fixtures: workspaces holding hand-made responses."""

from __future__ import annotations

import pandas as pd
import pytest

from rox.testing import insert_rows


@pytest.fixture
def load(ws):
    """Insert rows into the in-memory workspace and return it."""

    def _load(frame: pd.DataFrame):
        insert_rows(ws, "responses", frame)
        return ws

    return _load
