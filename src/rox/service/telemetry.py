"""FastAPI's native OpenTelemetry for the service, decided once when the app is built.

FastAPI (0.165) asks on every request whether tracing, metrics or logs have an OpenTelemetry
provider to report to, and each answer reads the environment: about 20 µs per request, 5-9% of
an intake request's CPU when the service is saturated (docs/benchmarks.md, "The native
telemetry check"). Providers are set up when a process starts (``opentelemetry-instrument``,
or the program's own code before it serves), so :func:`telemetry_config` asks once, when
:func:`rox.service.create_app` builds the app:

- FastAPI is told to configure the providers itself (``FASTAPI_OTEL_AUTO_CONFIGURE=true``), or
  a provider is configured already: FastAPI's default, spans, metrics and logs as FastAPI
  documents them;
- otherwise none can report: the telemetry is off for the app's life, and the question is not
  asked again. A provider configured after the app is built is not used: configure
  OpenTelemetry first.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig

__all__ = ["TELEMETRY_OFF", "telemetry_config"]

#: FastAPI's native telemetry switched off: no question per request
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def telemetry_config() -> TelemetryConfig | None:
    """The ``telemetry`` argument of the service's :class:`~fastapi.FastAPI` app.

    None (FastAPI's default) where FastAPI's native telemetry has or will have a provider to
    report to; :data:`TELEMETRY_OFF` where it has none now (see the module docstring). Whether
    a provider is configured is FastAPI's own test, asked of a default app.
    """
    if os.getenv("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return None
    native = getattr(FastAPI(), "_native_telemetry", None)
    if native is None or native.enabled():  # (another FastAPI: leave it its default)
        return None
    return TELEMETRY_OFF
