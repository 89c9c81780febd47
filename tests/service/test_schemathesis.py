"""Requests generated from the OpenAPI schema (schemathesis): no answer is a server error."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

import rox  # noqa: E402
from rox.service import ServiceConfig, create_app  # noqa: E402
from rox.service.keys import create_key  # noqa: E402

# the app is made at collection (the schema is read from it); its workspace only when it starts
_FOLDER = Path(tempfile.mkdtemp(prefix="rox-schemathesis-"))
_APP = create_app(ServiceConfig(str(_FOLDER / "w.duckdb"), client_rate=0, key_rate=0))
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with rox.open(str(_FOLDER / "w.duckdb")) as ws:
        token = create_key(ws, "fuzz", ["admin"])[1]
    with TestClient(_APP, headers={"Authorization": f"Bearer {token}"}) as running:
        yield running
    shutil.rmtree(_FOLDER, ignore_errors=True)


@pytest.mark.slow  # (10 operations x 25 requests: about 40 s here)
@schema.parametrize()
@settings(max_examples=25, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_generated_request_is_a_server_error(case, client):
    kwargs = case.as_transport_kwargs(headers=dict(client.headers))
    kwargs.pop("base_url", None)
    url = kwargs.pop("url")
    path = url.split("://", 1)[-1].split("/", 1)[-1]
    kwargs.pop("verify", None)
    kwargs.pop("allow_redirects", None)
    kwargs.pop("timeout", None)
    kwargs.pop("cookies", None)  # (the API reads none)
    if isinstance(kwargs.get("data"), bytes | str):  # raw bodies are content for httpx
        kwargs["content"] = kwargs.pop("data")
    response = client.request(url="/" + path, **kwargs)
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    case.validate_response(response, checks=[not_a_server_error])
