"""The ``rox`` command.

Thin on purpose: each sub-module adds the commands of one area and calls the Python API; this
module owns the app, the shared options and the one place where :class:`rox.errors.RoxError`
becomes a one-line message and an exit code (:data:`rox.errors.EXIT_CODES`).
"""

from __future__ import annotations

import sys

from rich.markup import escape

from rox.cli._app import app, err_console

__all__ = ["app", "main"]


def main() -> None:
    """Run the ``rox`` command; rox errors print one line and exit non-zero, never a traceback."""
    # Importing the command modules registers their commands on ``app``.
    from rox.cli import commands  # noqa: F401
    from rox.errors import EXIT_CODES, RoxError

    try:
        app()  # standalone: usage errors print click's message and exit 2
    except RoxError as exc:
        code = next(c for k, c in _by_specificity(EXIT_CODES) if isinstance(exc, k))
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(code)


def _by_specificity(codes: dict[type, int]) -> list[tuple[type, int]]:
    return sorted(codes.items(), key=lambda kv: -len(kv[0].__mro__))
