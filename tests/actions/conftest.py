"""Hand-built workspaces for the lifecycle and the at-risk list, and a BG/NBD model with given
parameters (the CDNOW estimates of Fader, Hardie & Lee 2005, table 1: r = 0.243, alpha = 4.414,
a = 0.793, b = 2.426, times in weeks), so that every P(alive) can be written out by hand.

The lifecycle log (quarters of 2024; the data end on 2024-12-31) is described, with every phase
worked out, in tests/actions/test_lifecycle.py; the at-risk workspace in test_at_risk.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

import rox
from rox.value import CLV
from rox.value.models import BetaGeoModel

CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _bgnbd_p_alive(x: int, tx_days: float, t_days: float) -> float:
    """P(alive | x, t_x, T) of BG/NBD written out (Fader, Hardie & Lee 2005, eq. 11), in weeks."""
    r, alpha, a, b = CDNOW.values()
    if x == 0:
        return 1.0
    tx, t = tx_days / 7, t_days / 7
    return 1 / (1 + a / (b + x - 1) * ((alpha + t) / (alpha + tx)) ** (r + x))


def _transactions(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "amount": [r[2] for r in rows],
            "order_id": [f"o{i}" for i in range(len(rows))],
        }
    )


#: The lifecycle log: (customer, day, amount).
LIFECYCLE_LOG = [
    ("a", "2024-03-31", 10.0),
    ("b", "2024-04-01", 10.0),
    ("d", "2024-03-22", 10.0),
    ("e", "2024-03-21", 10.0),
    ("f", "2024-03-14", 10.0),
    ("g", "2024-03-13", 10.0),
    ("g", "2024-10-01", 25.0),
    ("h", "2024-01-01", 10.0),
    ("h", "2024-09-30", 40.0),
    ("k", "2024-12-31", 10.0),
    ("m", "2024-01-05", 10.0),
    ("m", "2024-01-20", 10.0),
    ("m", "2024-02-10", 10.0),
]


def load_lifecycle(ws: rox.Workspace) -> rox.Workspace:
    ws.ingest("transactions", _transactions(LIFECYCLE_LOG))
    return ws


@pytest.fixture
def lifecycle_ws() -> Iterator[rox.Workspace]:
    """The lifecycle log, in memory."""
    with rox.open("duckdb://:memory:") as ws:
        yield load_lifecycle(ws)


@pytest.fixture(scope="session")
def lifecycle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lifecycle log as a DuckDB file (for the CLI)."""
    path = tmp_path_factory.mktemp("lifecycle") / "log.duckdb"
    with rox.open(path) as ws:
        load_lifecycle(ws)
    return path


def _given_clv(values: dict[str, float]) -> CLV:
    """A CLV holding hand-set values, with the CDNOW BG/NBD as its purchase model."""
    frame = pd.DataFrame({"customer_id": list(values), "clv": list(values.values())})
    frame["p_alive"] = float("nan")
    return CLV(
        frame=frame,
        purchase_model=BetaGeoModel.from_params(**CDNOW),
        horizon=52.0,
        unit="weeks",
    )


@pytest.fixture(scope="session")
def p_alive_by_hand() -> Callable[[int, float, float], float]:
    """P(alive | x, t_x in days, T in days) of the CDNOW BG/NBD, written out."""
    return _bgnbd_p_alive


@pytest.fixture(scope="session")
def given_clv() -> Callable[[dict[str, float]], CLV]:
    """A function making a CLV of hand-set values with the CDNOW BG/NBD as purchase model."""
    return _given_clv


#: The at-risk workspace's transactions (the list is read on 2024-12-31; 90 days before is
#: 2024-10-02).
AT_RISK_LOG = [
    ("p1", "2024-01-05", 100.0),
    ("p1", "2024-02-01", 100.0),
    ("p1", "2024-03-01", 100.0),
    ("p1", "2024-06-01", 100.0),
    ("p2", "2024-02-01", 50.0),
    ("p2", "2024-05-01", 50.0),
    ("p3", "2024-03-01", 20.0),
    ("p3", "2024-04-01", 20.0),
    ("p3", "2024-12-15", 20.0),
    ("p4", "2024-03-01", 80.0),
    ("p6", "2024-10-03", 30.0),
    ("p6", "2024-10-20", 30.0),
    ("p7", "2024-01-10", 60.0),
    ("p7", "2024-10-02", 60.0),
]
AT_RISK_CLV = {"p1": 1000.0, "p2": 500.0, "p3": 400.0, "p4": 900.0, "p6": 300.0, "p7": 200.0}


def load_at_risk(ws: rox.Workspace) -> rox.Workspace:
    ws.ingest("transactions", _transactions(AT_RISK_LOG))
    answers = [
        ("p1", "2024-05-01", "nps", 9.0, "purchase"),
        ("p1", "2024-11-02", "nps", 3.0, "financing"),
        ("p2", "2024-09-01", "csat", 2.0, "delivery"),
        ("p6", "2024-10-21", "nps", 8.0, "delivery"),
    ]
    ws.ingest(
        "responses",
        pd.DataFrame(
            {
                "response_id": [f"r{i}" for i in range(len(answers))],
                "customer_id": [a[0] for a in answers],
                "ts": [a[1] for a in answers],
                "metric": [a[2] for a in answers],
                "score": [a[3] for a in answers],
                "touchpoint": [a[4] for a in answers],
            }
        ),
    )
    events = [
        ("p1", "2024-01-04", "website_visit"),
        ("p1", "2024-01-05", "purchase"),
        ("p1", "2024-12-01", "support_call"),  # 31st day back from 2024-12-31: outside
        ("p1", "2024-12-02", "support_call"),  # the 30th: inside
        ("p1", "2024-12-20", "support_call"),
        ("p6", "2024-09-30", "website_visit"),
        ("p6", "2024-10-01", "financing"),  # ends without the purchase: friction
        ("p6", "2024-12-31", "complaint"),
        ("p2", "2024-01-30", "website_visit"),
        ("p2", "2024-02-01", "purchase"),
    ]
    ws.ingest(
        "events",
        pd.DataFrame(
            {
                "customer_id": [e[0] for e in events],
                "ts": [e[1] for e in events],
                "step": [e[2] for e in events],
            }
        ),
    )
    return ws


@pytest.fixture
def at_risk_ws() -> Iterator[rox.Workspace]:
    """The at-risk workspace, in memory."""
    with rox.open("duckdb://:memory:") as ws:
        yield load_at_risk(ws)
