"""FastAPI's native OpenTelemetry: off when nothing can report, FastAPI's default otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from opentelemetry import trace

from rox.service import ServiceConfig, create_app
from rox.service.telemetry import TELEMETRY_OFF, telemetry_config


class _Configured(trace.TracerProvider):
    """A tracer provider of the kind an OpenTelemetry SDK installs (not the API's placeholder)."""

    def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
        return trace.NoOpTracer()


@pytest.fixture(autouse=True)
def _no_auto_configure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)


def test_off_when_no_provider_is_configured(tmp_path: Path) -> None:
    assert telemetry_config() == TELEMETRY_OFF
    app = create_app(ServiceConfig(str(tmp_path / "w.duckdb")))
    assert not app._native_telemetry.enabled()
    assert {k: app._telemetry[k] for k in ("tracing", "metrics", "logs")} == dict.fromkeys(
        ("tracing", "metrics", "logs"), False
    )


def test_fastapis_default_when_a_provider_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", _Configured)
    assert telemetry_config() is None
    app = create_app(ServiceConfig(str(tmp_path / "w.duckdb")))
    assert app._telemetry["tracing"] is True
    assert app._native_telemetry.enabled()  # the spans FastAPI documents are made


@pytest.mark.parametrize(
    ("value", "expected"), [("true", None), ("TRUE", None), ("1", TELEMETRY_OFF)]
)
def test_fastapi_told_to_configure_its_providers(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: object
) -> None:
    # FastAPI configures the providers itself in the app's lifespan only for "true" (any case)
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", value)
    assert telemetry_config() == expected
