"""Engine connections: the only place that knows how each backend is opened and its quirks.

A workspace is named by a URL:

========================================  =========================================
``duckdb:///abs/path/file.duckdb``        a DuckDB file (the embedded default)
``duckdb://relative/file.duckdb``         a DuckDB file relative to the current folder
``duckdb://:memory:``                     an in-memory DuckDB database
``path/to/file.duckdb``                   a plain path means a DuckDB file
``postgres://user@host:port/db``          PostgreSQL (scale-out issue)
``spark://local[2]``                      Apache Spark (scale-out issue)
========================================  =========================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rox.errors import EngineNotSupportedError, WorkspaceError

DEFAULT_FILE = "rox.duckdb"
ENV_VAR = "ROX_WORKSPACE"


@dataclass(frozen=True)
class EngineURL:
    """A parsed workspace URL."""

    engine: str
    location: str

    def __str__(self) -> str:
        # An absolute path starts with "/", which makes the usual three slashes of a file URL.
        return f"{self.engine}://{self.location}"


def default_url() -> str:
    """The workspace used when none is named: ``$ROX_WORKSPACE``, else ``rox.duckdb`` here."""
    return os.environ.get(ENV_VAR) or DEFAULT_FILE


def parse_url(url: str | os.PathLike[str]) -> EngineURL:
    """Parse a workspace URL (see the module docstring).

    Raises
    ------
    EngineNotSupportedError
        If the scheme names an engine rox does not know.
    """
    text = os.fspath(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return EngineURL("duckdb", str(Path(text).expanduser().resolve()))
    scheme = scheme.lower()
    if scheme == "duckdb":
        if rest in (":memory:", "memory", ""):
            return EngineURL("duckdb", ":memory:")
        return EngineURL("duckdb", str(Path(rest).expanduser().resolve()))
    if scheme in ("postgres", "postgresql", "spark"):
        raise EngineNotSupportedError(
            f"{scheme}:// workspaces are not available in this version of rox; "
            "use a DuckDB file (duckdb:///path/file.duckdb)"
        )
    raise EngineNotSupportedError(
        f"unknown workspace URL scheme {scheme!r} in {text!r}; "
        "expected duckdb:///path/file.duckdb, "
        "duckdb://:memory: or a plain file path"
    )


#: DuckDB memory limit of file workspaces unless ``ROX_MEMORY_LIMIT`` says otherwise.
DEFAULT_MEMORY_LIMIT = "2GB"


def connect(url: EngineURL, *, read_only: bool = False) -> Any:
    """Open the Ibis backend for ``url``.

    DuckDB sessions are set to the UTC time zone so that truncating timestamps to days, weeks and
    months happens in UTC whatever the machine's zone.
    """
    import ibis

    if url.engine != "duckdb":  # pragma: no cover - parse_url refuses other engines for now
        raise EngineNotSupportedError(url.engine)
    if url.location != ":memory:":
        parent = Path(url.location).parent
        if read_only and not Path(url.location).exists():
            raise WorkspaceError(
                f"workspace {url.location} does not exist; "
                "create it with `rox demo` or `rox ingest`"
            )
        if not parent.is_dir():
            raise WorkspaceError(
                f"cannot create workspace {url.location}: folder {parent} does not exist"
            )
    try:
        con = ibis.duckdb.connect(url.location, read_only=read_only)
    except Exception as exc:  # duckdb raises IOException / ConnectionException subclasses
        raise WorkspaceError(f"cannot open DuckDB workspace {url.location}: {exc}") from exc
    con.raw_sql("SET TimeZone = 'UTC'")
    if url.location != ":memory:":
        # Bound DuckDB's memory; beyond it, large loads and aggregations spill to <file>.tmp.
        limit = os.environ.get("ROX_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
        try:
            con.raw_sql(f"SET memory_limit = '{limit}'")
        except Exception as exc:
            msg = f"ROX_MEMORY_LIMIT={limit!r} is not a memory size: {exc}"
            raise WorkspaceError(msg) from None
    # Results that need an order ask for it (ORDER BY); without this, window functions and
    # materialisations over 10M rows run out of memory instead of spilling (measured, journeys).
    # Ingestion turns it back on while it numbers the rows of a file.
    con.raw_sql("SET preserve_insertion_order = false")
    # Track query progress (rox shows it in its own progress bars) without DuckDB's printed bar.
    con.raw_sql("SET enable_progress_bar = true")
    con.raw_sql("SET enable_progress_bar_print = false")
    return con
