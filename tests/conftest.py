"""Shared fixtures: empty workspaces (in memory, in a file), the demo brand, the CDNOW sample."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

import rox


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


# -- CDNOW (Fader, Hardie & Lee 2005; tests/data/cdnow/README.md has the attribution) -------------
@pytest.fixture(scope="session")
def cdnow_folder() -> Path:
    """tests/data/cdnow: the 1/10 sample and the summaries published with the BG/NBD paper."""
    return Path(__file__).resolve().parent / "data" / "cdnow"


@pytest.fixture(scope="session")
def cdnow_transactions(cdnow_folder: Path) -> pd.DataFrame:
    """The 1/10 sample (2,357 customers, 6,919 transactions) as canonical transactions."""
    raw = pd.read_csv(
        cdnow_folder / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["original_id", "customer_id", "date", "cds", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].str.lstrip("0"),
            "ts": raw["date"],
            "amount": raw["amount"],
            "quantity": raw["cds"],
        }
    )


@pytest.fixture(scope="session")
def ingest_cdnow(
    cdnow_transactions: pd.DataFrame,
) -> Callable[[rox.Workspace], rox.Workspace]:
    """A function loading the CDNOW sample's transactions into a workspace (dates ``YYYYMMDD``)."""

    def load(ws: rox.Workspace) -> rox.Workspace:
        mapping = {"timestamps": {"format": "%Y%m%d"}}
        ws.ingest("transactions", cdnow_transactions, mapping=mapping)
        return ws

    return load
