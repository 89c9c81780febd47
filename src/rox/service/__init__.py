"""The intake service: responses and events posted as they happen, API keys, admin API.

A FastAPI application (:func:`create_app`) started with ``rox serve``; it needs the optional
extra ``rox[service]``. One writer thread owns the workspace and commits concurrent requests
together (group commit): a request is acknowledged only once its rows are committed. See
docs/service.md.

The application is imported when first asked for, so that the parts that need no web framework
(API keys, the webhooks' outbox and the case rules' announcements, which ``rox keys``, ``rox
deliveries`` and ``rox cases --webhooks`` use) work without the extra; without it,
``create_app`` raises :class:`rox.errors.MissingDependencyError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rox.service.app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'rox.service' has no attribute {name!r}")
    try:
        app = importlib.import_module("rox.service.app")
    except ImportError as exc:
        from rox.errors import MissingDependencyError

        raise MissingDependencyError(
            f"the service needs its optional extra: pip install 'rox[service]' ({exc})"
        ) from None
    return getattr(app, name)
