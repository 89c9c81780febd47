"""CDNOW fixtures (Fader, Hardie & Lee 2005; see tests/data/cdnow/README.md for the attribution)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from scipy import special

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


def clv_by_hand(
    frequency: float,
    recency: float,
    age: float,
    monetary: float,
    bgnbd: tuple[float, float, float, float],
    gamma_gamma: tuple[float, float, float],
    *,
    horizon: float = 52.0,
    days_per_unit: float = 7.0,
    margin: float = 1.0,
    discount_rate: float = 0.1,
) -> float:
    """One customer's discounted CLV written out from the closed forms, independent of rox.value.

    E[Y(t) | x, t_x, T] is Fader, Hardie & Lee (2005, "Counting your customers the easy way",
    eq. 10); E[M | x, m] = p (gamma + x m) / (p x + q - 1) is Fader, Hardie & Lee (2005, "RFM and
    CLV", eq. 5 / Colombo & Jiang 1999). The value is summed month by month (a month is
    365.25 / 12 days), each month's expected purchases discounted at ``(1 + d)^(years)`` from
    now to the month's end: margin x E[M] x sum_k (E[Y(t_k)] - E[Y(t_{k-1})]) / (1 + d)^(t_k in
    years). Times are in units of ``days_per_unit`` days.
    """
    r, alpha, a, b = bgnbd
    p, q, gamma = gamma_gamma
    x, tx, tt = frequency, recency, age

    def expected(t: float) -> float:
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + tt + t))
        top = (a + b + x - 1) / (a - 1) * (1 - ((alpha + tt) / (alpha + tt + t)) ** (r + x) * hyp)
        alive = 1 + (x > 0) * a / (b + x - 1) * ((alpha + tt) / (alpha + tx)) ** (r + x)
        return top / alive

    spend = p * (gamma + x * monetary) / (p * x + q - 1)
    month = 365.25 / 12 / days_per_unit
    ends = [k * month for k in range(1, int(horizon // month) + 2) if k * month < horizon]
    total, before = 0.0, 0.0
    for t in [*ends, horizon]:
        now = expected(t)
        total += (now - before) / (1 + discount_rate) ** (t * days_per_unit / 365.25)
        before = now
    return margin * spend * total
