"""CDNOW fixtures (Fader, Hardie & Lee 2005; see tests/data/cdnow/README.md for the attribution)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import rox


@pytest.fixture(scope="session")
def cdnow_ws(ingest_cdnow):
    """A workspace holding the CDNOW sample's transactions."""
    with rox.open("duckdb://:memory:") as ws:
        yield ingest_cdnow(ws)


@pytest.fixture(scope="session")
def cdnow_rfm(cdnow_ws):
    """RFM of the CDNOW sample: 39-week calibration to 1997-09-30, holdout to 1998-06-30."""
    return rox.value.rfm(cdnow_ws, calibration_end="1997-09-30", holdout_end="1998-06-30")


@pytest.fixture(scope="session")
def published_summary(cdnow_folder: Path) -> pd.DataFrame:
    """The calibration summary exactly as published with the BG/NBD paper."""
    return pd.read_csv(cdnow_folder / "cdnow_customers_summary.csv")
