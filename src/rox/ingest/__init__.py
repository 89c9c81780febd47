"""Ingestion: load files and DataFrames into a workspace's canonical tables, checked and atomic.

See :func:`ingest` (also :meth:`rox.Workspace.ingest`) and :mod:`rox.ingest.mapping` for the TOML
column mapping.
"""

from rox.ingest.load import LoadReport, ingest, reconcile
from rox.ingest.mapping import ColumnMapping, load_mapping

__all__ = ["ColumnMapping", "LoadReport", "ingest", "load_mapping", "reconcile"]
