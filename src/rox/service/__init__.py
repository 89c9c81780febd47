"""The intake service: responses and events posted as they happen, API keys, admin API.

A FastAPI application (:func:`create_app`) started with ``rox serve``; it needs the optional
extra ``rox[service]``. One writer thread owns the workspace and commits concurrent requests
together (group commit): a request is acknowledged only once its rows are committed. See
docs/service.md.
"""

from rox.service.app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]
