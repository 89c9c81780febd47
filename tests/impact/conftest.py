"""A small hand-built workspace whose every group figure is worked out by hand in the tests.

Customers c1-c6 are in ``customers``; c7 only buys, c8 only answers. By latest NPS answer:
promoters c1 (10 then 9) and c4 (10); passives c3 (7) and c8 (8); detractors c2 (9 then 5) and
c5 (6); no NPS answer: c6 and c7. Spend to date: c1 120, c2 15, c3 40, c4 300, c5 25, c6 20,
c7 40, c8 0. The data end on 2024-12-31 (c4's last purchase).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import rox
from rox.value import CLV

#: Hand-set lifetime values and P(alive) of the customers with a transaction.
HAND_CLV = {"c1": 100.0, "c2": 10.0, "c3": 50.0, "c4": 300.0, "c5": 30.0, "c6": 20.0, "c7": 40.0}
HAND_P_ALIVE = {"c1": 0.9, "c2": 0.5, "c3": 0.8, "c4": 1.0, "c5": 0.3, "c6": 0.6, "c7": 0.7}


def ingest_purchases_of(ws: rox.Workspace, tx: list[tuple[str, str, float]]) -> None:
    """Load ``(customer_id, ts, amount)`` rows as transactions, with order ids o0, o1, ..."""
    ws.ingest(
        "transactions",
        pd.DataFrame(
            {
                "customer_id": [t[0] for t in tx],
                "ts": [t[1] for t in tx],
                "amount": [t[2] for t in tx],
                "order_id": [f"o{i}" for i in range(len(tx))],
            }
        ),
    )


@pytest.fixture
def ingest_purchases():
    """:func:`ingest_purchases_of`, for the test files' own hand-built workspaces."""
    return ingest_purchases_of


def _load(ws: rox.Workspace) -> rox.Workspace:
    ws.ingest(
        "customers",
        pd.DataFrame(
            {
                "customer_id": [f"c{i}" for i in range(1, 7)],
                "segment": ["a", "a", "b", "b", "a", "b"],
            }
        ),
    )
    tx = [
        ("c1", "2023-01-01", 50.0),
        ("c1", "2023-06-01", 70.0),
        ("c2", "2024-06-01", 15.0),
        ("c3", "2024-10-01", 40.0),
        ("c4", "2024-01-01", 200.0),
        ("c4", "2024-12-31", 100.0),
        ("c5", "2023-01-01", 25.0),
        ("c6", "2024-12-01", 20.0),
        ("c7", "2024-11-01", 40.0),
    ]
    ingest_purchases_of(ws, tx)
    answers = [
        ("c1", "2024-01-01", "nps", 10),
        ("c1", "2024-03-01", "nps", 9),
        ("c1", "2024-02-01", "csat", 4),
        ("c1", "2024-02-01", "ces", 5),
        ("c2", "2024-01-01", "nps", 9),
        ("c2", "2024-07-01", "nps", 5),
        ("c2", "2024-07-01", "csat", 3),
        ("c3", "2024-10-02", "nps", 7),
        ("c3", "2024-10-02", "ces", 4),
        ("c4", "2024-05-01", "nps", 10),
        ("c5", "2023-02-01", "nps", 6),
        ("c8", "2024-09-01", "nps", 8),
    ]
    ws.ingest(
        "responses",
        pd.DataFrame(
            {
                "response_id": [f"r{i}" for i in range(len(answers))],
                "customer_id": [a[0] for a in answers],
                "ts": [a[1] for a in answers],
                "metric": [a[2] for a in answers],
                "score": [float(a[3]) for a in answers],
            }
        ),
    )
    events = [
        ("c1", "2022-12-20", "website_visit"),
        ("c1", "2023-01-01", "purchase"),
        ("c1", "2023-02-01", "support_call"),
        ("c1", "2023-02-02", "complaint"),
        ("c1", "2023-03-01", "support_call"),
        ("c2", "2024-05-01", "website_visit"),
        ("c2", "2024-05-02", "financing"),
        ("c4", "2023-12-01", "website_visit"),
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
def small() -> Iterator[rox.Workspace]:
    """The hand-built workspace, in memory."""
    with rox.open("duckdb://:memory:") as ws:
        yield _load(ws)


@pytest.fixture(scope="session")
def small_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-built workspace as a DuckDB file (for the CLI)."""
    path = tmp_path_factory.mktemp("impact") / "small.duckdb"
    with rox.open(path) as ws:
        _load(ws)
    return path


@pytest.fixture
def hand_clv() -> CLV:
    """A CLV result holding the hand-set values (no model fitted)."""
    frame = pd.DataFrame(
        {
            "customer_id": list(HAND_CLV),
            "clv": list(HAND_CLV.values()),
            "p_alive": [HAND_P_ALIVE[c] for c in HAND_CLV],
        }
    )
    return CLV(frame=frame, horizon=52.0)


@pytest.fixture
def profile(small: rox.Workspace, hand_clv: CLV) -> rox.impact.ExperienceProfile:
    """The hand workspace's experience profile, valued by ``hand_clv`` (as the module sets it)."""
    return rox.impact.profile(small, value=hand_clv, goal="purchase")
