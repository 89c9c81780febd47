"""Shared fixtures: an empty in-memory workspace, and a DuckDB file workspace in a temp folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import rox

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def ws() -> Iterator[rox.Workspace]:
    """An empty in-memory DuckDB workspace."""
    with rox.open("duckdb://:memory:") as workspace:
        yield workspace


@pytest.fixture
def ws_file(tmp_path: Path) -> Iterator[rox.Workspace]:
    """An empty DuckDB-file workspace under ``tmp_path``."""
    with rox.open(tmp_path / "ws.duckdb") as workspace:
        yield workspace
