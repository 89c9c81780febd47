"""Shared fixtures: an empty in-memory workspace, and a DuckDB file workspace in a temp folder.

Hypothesis runs under a fixed profile (#22): ``ci``, derandomised (the same examples on every
run, as the house rule on seeds asks) with no deadline (a timing check that flakes on a busy
machine is no test), is the default everywhere, and CI (``CI=true``) gets it too.
``HYPOTHESIS_PROFILE=explore`` draws fresh random examples, more of them, to hunt for new
failures locally; a failure it finds is then pinned with ``@example``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

import rox

settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding the demo brand (5,000 customers, seed 7), built once per session."""
    from rox.demo import build

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build(path, n_customers=5_000, seed=7).close()
    return path


@pytest.fixture
def demo(demo_path: Path) -> Iterator[rox.Workspace]:
    """The session's demo workspace, open read-only."""
    with rox.open(demo_path, read_only=True) as workspace:
        yield workspace
