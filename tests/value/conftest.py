"""CDNOW fixtures (Fader, Hardie & Lee 2005; see tests/data/cdnow/README.md for the attribution)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import rox

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow"


def cdnow_transactions() -> pd.DataFrame:
    """The 1/10 sample (2,357 customers, 6,919 transactions) as canonical transactions."""
    raw = pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
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


def ingest_cdnow(ws: rox.Workspace) -> rox.Workspace:
    """Load the CDNOW sample's transactions into ``ws`` (its dates are ``YYYYMMDD``)."""
    ws.ingest("transactions", cdnow_transactions(), mapping={"timestamps": {"format": "%Y%m%d"}})
    return ws


@pytest.fixture(scope="session")
def cdnow_ws():
    """A workspace holding the CDNOW sample's transactions."""
    with rox.open("duckdb://:memory:") as ws:
        yield ingest_cdnow(ws)


@pytest.fixture(scope="session")
def cdnow_rfm(cdnow_ws):
    """RFM of the CDNOW sample: 39-week calibration to 1997-09-30, holdout to 1998-06-30."""
    return rox.value.rfm(cdnow_ws, calibration_end="1997-09-30", holdout_end="1998-06-30")


@pytest.fixture(scope="session")
def published_summary() -> pd.DataFrame:
    """The calibration summary exactly as published with the BG/NBD paper."""
    return pd.read_csv(CDNOW / "cdnow_customers_summary.csv")
