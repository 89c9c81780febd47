"""The ``rox`` command.

Thin on purpose: each sub-module adds the commands of one area and calls the Python API; this
module owns the app, the shared options and the one place where :class:`rox.errors.RoxError`
becomes a one-line message and an exit code (:data:`rox.errors.EXIT_CODES`).
"""

from __future__ import annotations

import os
import sys

from rich.markup import escape

from rox.cli._app import app, err_console

__all__ = ["INTERNAL_ERROR_EXIT_CODE", "app", "main"]

#: Exit code of an unexpected error (a bug): EX_SOFTWARE from sysexits.h.
INTERNAL_ERROR_EXIT_CODE = 70


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
    except Exception as exc:
        if os.environ.get("ROX_DEBUG"):
            raise
        err_console.print(
            f"[bold red]error:[/] internal error ({type(exc).__name__}: {escape(str(exc))}); "
            "this is a bug in rox, please report it (ROX_DEBUG=1 shows the traceback)",
            highlight=False,
        )
        sys.exit(INTERNAL_ERROR_EXIT_CODE)


def _by_specificity(codes: dict[type, int]) -> list[tuple[type, int]]:
    return sorted(codes.items(), key=lambda kv: -len(kv[0].__mro__))
