"""Exceptions raised by rox.

Every error rox raises on purpose derives from :class:`RoxError`, and each also derives from the
builtin exception it resembles, so ``except ValueError`` keeps working for code that does not
know rox::

    RoxError
    ├── WorkspaceError
    │   ├── EngineNotSupportedError  (ValueError)  the URL names an engine rox cannot open
    │   ├── TableNotFoundError       (KeyError)    a canonical table is unknown or empty
    │   ├── WorkspaceUnavailableError              its database server is down: try again later
    │   └── WorkspaceWriteError      (OSError)     the engine cannot write (permission, full disk)
    ├── IngestError                  (ValueError)
    │   ├── SourceError              (OSError)     a file is missing, unreadable, of unknown format
    │   ├── MappingError                           a TOML column mapping is malformed
    │   ├── SchemaError                            a required column is missing or mistyped
    │   └── ValidationError                        rows break a rule; carries the problems found
    ├── LoadCancelledError           (RuntimeError)  a load was interrupted; nothing written
    ├── RefreshCancelledError        (RuntimeError)  a load stands; the refresh after it was
    │                                                    interrupted (derived tables behind it)
    ├── MetricError                  (ValueError)  a metric was asked for with impossible settings
    ├── NotFittedError               (ValueError, AttributeError)  a model was used before fit()
    ├── ConvergenceError             (RuntimeError)  a model fit did not converge
    ├── ServiceError                 (ValueError)    an unknown API key or scope (rox.service)
    ├── MissingDependencyError       (ImportError)   an optional extra (rox[text]) is not installed
    └── ActionError                  (ValueError)  a case rule or action policy is not valid
        └── CaseStateError                         a case was asked for a move its state forbids

The CLI maps each class to an exit code in one place (:data:`EXIT_CODES`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EXIT_CODES",
    "ActionError",
    "CaseStateError",
    "ConvergenceError",
    "EngineNotSupportedError",
    "IngestError",
    "LoadCancelledError",
    "MappingError",
    "MetricError",
    "MissingDependencyError",
    "NotFittedError",
    "RefreshCancelledError",
    "RowProblem",
    "RoxError",
    "SchemaError",
    "ServiceError",
    "SourceError",
    "TableNotFoundError",
    "ValidationError",
    "WorkspaceError",
    "WorkspaceUnavailableError",
    "WorkspaceWriteError",
]


class RoxError(Exception):
    """Base class of every error rox raises on purpose."""


class WorkspaceError(RoxError):
    """A workspace cannot be opened or does not hold what was asked for."""


class WorkspaceUnavailableError(WorkspaceError):
    """The workspace's database server cannot be reached now; nothing was done. Try again later.

    ``retry_after``: seconds until the next attempt to reconnect (the service's ``Retry-After``).
    """

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EngineNotSupportedError(WorkspaceError, ValueError):
    """The workspace URL names an engine that rox cannot open."""


class TableNotFoundError(WorkspaceError, KeyError):
    """A table name is not one of the canonical tables, or the table holds no data yet."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0]) if self.args else ""


class WorkspaceWriteError(WorkspaceError, OSError):
    """The engine could not write to the workspace (no permission, no space left on device).

    The message gives the operating system's own reason; the load that hit it wrote nothing.
    """


class LoadCancelledError(RoxError, RuntimeError):
    """A load was interrupted (Ctrl-C) and rolled back: nothing was written.

    Not a :class:`KeyboardInterrupt`: the interrupt has been handled (the load rolled back), and
    the ``rox`` command reports it in one line with exit code 130.
    """


class RefreshCancelledError(RoxError, RuntimeError):
    """A load committed, and the refresh of the tables derived from it was interrupted (Ctrl-C).

    The load is complete and recorded (unlike :class:`LoadCancelledError`); only the derived
    tables (:data:`rox.schema.DERIVED`, e.g. the journey index) may be behind it. Analyses never
    use derived tables that are behind their source: they compute without them until they are
    rebuilt. The ``rox`` command reports it in one line with exit code 19 (not 130, which says that
    nothing was written: a script that retries on 130 need not load this again).
    """


class IngestError(RoxError, ValueError):
    """Input data could not be loaded."""


class SourceError(IngestError, OSError):
    """A source file is missing, unreadable, or of a format rox does not read."""


class MappingError(IngestError):
    """A column mapping (TOML) is malformed or names something that does not exist."""


class SchemaError(IngestError):
    """The input lacks a required column, or a column cannot hold what the table needs."""


@dataclass(frozen=True)
class RowProblem:
    """One rule broken by one row of an input.

    Attributes
    ----------
    source : str
        File name (or ``"<DataFrame>"``) the row came from.
    row : int
        1-based data row number in that source (the header line is not counted).
    column : str
        Canonical column the problem is about (the user's own column name is given in ``rule``
        when a mapping renamed it).
    value : str | None
        The offending value as read, or ``None`` when it was missing.
    rule : str
        What was expected, in plain words.
    """

    source: str
    row: int
    column: str
    value: str | None
    rule: str

    def __str__(self) -> str:
        shown = "missing" if self.value is None else repr(self.value)
        return f"{self.source}, row {self.row}, column {self.column!r}: {shown}: {self.rule}"


class ValidationError(IngestError):
    """Rows of an input break the rules of their table; nothing was loaded.

    Attributes
    ----------
    problems : list of RowProblem
        The problems found (at most ``limit`` of them are kept; ``n_invalid`` counts all rows).
    n_invalid : int
        Number of invalid rows.
    n_rows : int
        Number of rows read.
    """

    def __init__(self, problems: list[RowProblem], n_invalid: int, n_rows: int) -> None:
        self.problems = problems
        self.n_invalid = n_invalid
        self.n_rows = n_rows
        first = problems[0] if problems else None
        head = f"{n_invalid:,} of {n_rows:,} rows are invalid; nothing was loaded"
        detail = f". First: {first}" if first else ""
        hint = (
            " (to load the valid rows and keep the others in the 'rejects' table, quarantine "
            "them: on_error='quarantine', or --on-error quarantine on the command line)"
        )
        super().__init__(head + detail + hint)


class MetricError(RoxError, ValueError):
    """A metric or test was asked for with settings that cannot work (unknown column, period...)."""


class NotFittedError(RoxError, ValueError, AttributeError):
    """A model was used before :meth:`fit` was called."""


class ConvergenceError(RoxError, RuntimeError):
    """A model fit did not converge; the message lists what to try."""


class ServiceError(RoxError, ValueError):
    """The intake service was asked for something that cannot be (an unknown API key, scope...)."""


class MissingDependencyError(RoxError, ImportError):
    """An optional package that the analysis needs is not installed; the message names the extra."""


class ActionError(RoxError, ValueError):
    """A case rule, an action policy or a case asked for is not valid (the message says which)."""


class CaseStateError(ActionError):
    """A case was asked for a move its state does not allow; names the case, state and moves."""


#: Exit code of the ``rox`` command for each error class (most specific class wins).
EXIT_CODES: dict[type[RoxError], int] = {
    RoxError: 1,
    WorkspaceError: 3,
    EngineNotSupportedError: 13,
    WorkspaceWriteError: 14,
    WorkspaceUnavailableError: 75,  # sysexits' EX_TEMPFAIL: a temporary failure, try again
    LoadCancelledError: 130,  # as a shell reports a command stopped by SIGINT (128 + 2)
    RefreshCancelledError: 19,  # the load stands: not 130, which says nothing was written
    TableNotFoundError: 4,
    IngestError: 5,
    SourceError: 6,
    MappingError: 7,
    SchemaError: 8,
    ValidationError: 9,
    MetricError: 10,
    NotFittedError: 11,
    ConvergenceError: 12,
    ServiceError: 15,
    MissingDependencyError: 16,
    ActionError: 17,
    CaseStateError: 18,
}
