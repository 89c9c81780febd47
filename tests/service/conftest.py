"""A service on a fresh DuckDB workspace, with one key per scope (FastAPI's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import rox

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from rox.service import ServiceConfig, create_app
from rox.service.keys import create_key


@dataclass
class Service:
    client: TestClient
    path: Path
    keys: dict[str, str]
    stopped: bool = False

    def stop(self) -> None:
        """Stop the app (its writer closes the workspace), so the test can open the file."""
        if not self.stopped:
            self.stopped = True
            self.client.__exit__(None, None, None)

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


def make_keys(path: Path) -> dict[str, str]:
    with rox.open(str(path)) as ws:
        return {scope: create_key(ws, scope, [scope])[1] for scope in ("read", "write", "admin")}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    path = tmp_path / "service.duckdb"
    keys = make_keys(path)
    app = create_app(ServiceConfig(str(path), client_rate=0, key_rate=0))
    client = TestClient(app)
    client.__enter__()
    running = Service(client, path, keys)
    try:
        yield running
    finally:
        running.stop()


def _response(i: int = 1, **over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ts": "2026-05-01T10:00:00Z",
        "metric": "nps",
        "score": 9,
        "response_id": f"r{i}",
        "customer_id": f"c{i}",
    }
    base.update(over)
    return base


@pytest.fixture
def response():
    """Make a valid NPS response: ``response(i, **changes)`` has ``response_id`` r<i>."""
    return _response
