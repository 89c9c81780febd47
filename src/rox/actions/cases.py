"""Closed-loop cases: the state machine, and every move written durably and atomically.

A case follows one customer up after a trigger (a detractor answer, a low CSAT, a journey that
ended at a friction point; see :mod:`rox.actions.case_rules`). Its states and moves:

============  ==============================================  =========================
state         moves                                           to
============  ==============================================  =========================
open          ``start`` (first action), ``assign``,           in_progress, open, open
              ``escalate``
in_progress   ``close`` (resolved / unreachable / declined),  closed, in_progress,
              ``assign``, ``escalate``                        in_progress
closed        ``reopen``                                      open
holdout       none: the randomised holdout gets no outreach   (terminal)
============  ==============================================  =========================

A move not in this table raises :class:`rox.errors.CaseStateError`, naming the case, its state
and the moves it allows. Each move is one compare-and-set of the case's row in the ``cases``
table (applied only if the row still holds the state the move was checked against) and one row
appended to ``rox_case_events``, in a single transaction of the engine
(:meth:`rox.engines.Engine.update`): a move is either wholly written or not at all, and of two
processes moving the same case at once, the second is refused instead of overwriting the first.
DuckDB and PostgreSQL workspaces keep cases; a Spark lake can be analysed, not moved.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd
import pyarrow as pa

from rox._time import utc_timestamp
from rox.actions.holdout import HOLDOUT
from rox.errors import ActionError, CaseStateError
from rox.results import Result
from rox.schema import CASE_EVENTS_TABLE, KEY_COLUMN, LOAD_COLUMN, SYSTEM_TABLES, TABLES

if TYPE_CHECKING:
    from collections.abc import Callable

    import ibis.expr.types as ir

    from rox.workspace import Workspace

    #: ``announce(move, case_after)``: more rows to write in a move's transaction (table → rows).
    Announce = Callable[[str, dict[str, Any]], Mapping[str, pa.Table]]

__all__ = [
    "CLOSED",
    "IN_PROGRESS",
    "MOVES",
    "OPEN",
    "RESOLUTIONS",
    "CaseList",
    "assign",
    "case_table",
    "close",
    "escalate",
    "list_cases",
    "reopen",
    "start",
]

OPEN, IN_PROGRESS, CLOSED = "open", "in_progress", "closed"
#: How a case may be closed.
RESOLUTIONS: tuple[str, ...] = ("resolved", "unreachable", "declined")
#: Each state's moves and the state each move leads to (the module's table).
MOVES: dict[str, dict[str, str]] = {
    OPEN: {"start": IN_PROGRESS, "assign": OPEN, "escalate": OPEN},
    IN_PROGRESS: {"close": CLOSED, "assign": IN_PROGRESS, "escalate": IN_PROGRESS},
    CLOSED: {"reopen": OPEN},
    HOLDOUT: {},
}
#: States in which a case is still being worked on.
ACTIVE: tuple[str, ...] = (OPEN, IN_PROGRESS)

_IBIS = {
    "string": "string",
    "float64": "float64",
    "int64": "int64",
    "timestamp": "timestamp('UTC')",
}


def case_columns() -> dict[str, str]:
    """The ``cases`` table's canonical columns and their Ibis types (bookkeeping excluded)."""
    return {c.name: _IBIS[c.dtype] for c in TABLES["cases"].columns}


def missing_case_columns(ws: Workspace) -> dict[str, str]:
    """Canonical ``cases`` columns a workspace created before #17 lacks (name → Ibis type)."""
    have = set(ws.table("cases").columns)
    return {name: dtype for name, dtype in case_columns().items() if name not in have}


def case_table(ws: Workspace) -> ir.Table:
    """The ``cases`` table with every canonical column (nulls for those an older one lacks)."""
    t = ws.table("cases")
    extra = {name: ibis.null(dtype) for name, dtype in missing_case_columns(ws).items()}
    return t.mutate(**extra) if extra else t


def ensure_case_tables(ws: Workspace) -> dict[str, str]:
    """Create the case log if missing; return the ``cases`` columns to add on the next write."""
    if ws.read_only:
        raise ActionError(f"workspace {ws.url} is open read-only; cases cannot change")
    if not ws.engine.has_table(CASE_EVENTS_TABLE):
        ws.engine.create_table(CASE_EVENTS_TABLE, ibis.schema(SYSTEM_TABLES[CASE_EVENTS_TABLE]))
    return missing_case_columns(ws)


@functools.cache
def _event_schema() -> pa.Schema:
    """``rox_case_events``' columns as Arrow (made once: the service writes them per batch)."""
    return ibis.schema(SYSTEM_TABLES[CASE_EVENTS_TABLE]).to_pyarrow()


@functools.cache
def _case_schema() -> pa.Schema:
    """New ``cases`` rows' columns as Arrow: every canonical column, ``_key`` and ``_load_id``."""
    return ibis.schema({**case_columns(), KEY_COLUMN: "string", LOAD_COLUMN: "int64"}).to_pyarrow()


def event_rows(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows of ``rox_case_events`` as Arrow, in its column order."""
    return pa.Table.from_pylist(rows, schema=_event_schema())


def case_rows(frame: pd.DataFrame) -> pa.Table:
    """New ``cases`` rows as Arrow with every canonical and bookkeeping column.

    Missing values (None, NaN, NaT) are written as nulls; a column ``frame`` lacks is all null.
    Column by column (the intake service writes a batch's cases with each commit).
    """
    schema = _case_schema()
    out = {}
    for field in schema:
        if field.name == KEY_COLUMN:
            values: list[Any] = frame["case_id"].tolist()
        elif field.name in frame.columns:
            col = frame[field.name]
            missing = col.isna().tolist()
            values = [None if m else v for v, m in zip(col.tolist(), missing, strict=True)]
        else:
            values = [None] * len(frame)
        out[field.name] = pa.array(values, type=field.type)
    return pa.table(out, schema=schema)


@dataclass(frozen=True, eq=False)
class CaseList(Result):
    """Cases as a table: one row per case, with its canonical columns and ``overdue`` (bool).

    Attributes
    ----------
    frame : pandas.DataFrame
    now : pandas.Timestamp
        The time ``overdue`` is judged at (UTC).
    """

    now: pd.Timestamp | None = None

    def __repr__(self) -> str:
        shown = self.frame[["case_id", "customer_id", "status", "owner", "priority", "due_at"]]
        return f"CaseList ({len(self.frame)} cases)\n{shown.to_string(index=False, max_rows=30)}"


def list_cases(
    ws: Workspace,
    *,
    status: str | None = None,
    owner: str | None = None,
    customer_id: str | None = None,
    overdue: bool = False,
    now: Any = None,
    limit: int | None = None,
) -> CaseList:
    """List cases, most urgent first (priority, then due time).

    Parameters
    ----------
    ws : Workspace
    status : str, optional
        ``open``, ``in_progress``, ``closed``, ``holdout``, or ``active`` (open or in progress).
    owner, customer_id : str, optional
        Keep one owner's (or one customer's) cases.
    overdue : bool, default False
        Keep active cases past their due time only.
    now : date-like, optional
        When ``overdue`` is judged (default: the current time, UTC).
    limit : int, optional
        At most this many cases.

    Returns
    -------
    CaseList
    """
    at = utc_timestamp(now, "now") or pd.Timestamp.now(tz="UTC")
    t = case_table(ws)
    active = t.status.isin(ACTIVE)
    t = t.mutate(overdue=active & t.due_at.notnull() & (t.due_at < at.to_pydatetime()))
    if status == "active":
        t = t.filter(active)
    elif status is not None:
        if status not in MOVES:
            raise ActionError(
                f"unknown case status {status!r}: expected one of {', '.join(MOVES)} or active"
            )
        t = t.filter(t.status == status)
    if owner is not None:
        t = t.filter(t.owner == owner)
    if customer_id is not None:
        t = t.filter(t.customer_id == customer_id)
    if overdue:
        t = t.filter(t.overdue)
    t = t.order_by([t.priority.asc(nulls_first=False), t.due_at.asc(), t.case_id])
    if limit is not None:
        t = t.limit(limit)
    frame = t.select(*case_columns(), "overdue").execute()
    return CaseList(frame=frame.reset_index(drop=True), now=at)


def _current(ws: Workspace, case_id: str) -> dict[str, Any]:
    t = case_table(ws)
    rows = t.filter(t.case_id == case_id).select(*case_columns()).execute()
    if rows.empty:
        raise ActionError(f"no case {case_id!r} in workspace {ws.url}")
    row = rows.iloc[0].to_dict()
    return {k: (None if is_missing(v) else v) for k, v in row.items()}


def is_missing(v: Any) -> bool:
    """Whether ``v`` is a missing value (None, NaN, NaT, NA)."""
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


def _check(case_id: str, status: str, move: str) -> str:
    allowed = MOVES.get(status)
    if allowed is None:
        raise CaseStateError(f"case {case_id} has an unknown status {status!r}; nothing moved")
    if move not in allowed:
        moves = ", ".join(allowed) if allowed else "none (a holdout case gets no outreach)"
        raise CaseStateError(
            f"case {case_id} is {status}: it cannot {move}; the moves allowed from {status}: "
            f"{moves}"
        )
    return allowed[move]


def move_case(
    ws: Workspace,
    case_id: str,
    move: str,
    *,
    at: Any = None,
    changes: Mapping[str, Any] | None = None,
    detail: str = "",
    current: Mapping[str, Any] | None = None,
    announce: Announce | None = None,
) -> dict[str, Any]:
    """Apply ``move`` to ``case_id`` at ``at``, with column ``changes``; return the case after it.

    The one writer of case moves (see the module docstring): checks the move against the case's
    state, then writes the row's new values and the move's log row in one transaction, guarded
    by the state it was checked against. ``current``, the case as just read, saves reading it
    again (the guard still refuses the move if it has changed since). ``announce``, called as
    ``announce(move, case_after)``, gives more rows (table → Arrow rows) written in the same
    transaction: the intake service's outbox of webhooks (:mod:`rox.service.outbox`).

    Raises
    ------
    ActionError
        If there is no such case, or the workspace is read-only.
    CaseStateError
        If the case's state does not allow ``move``, or another process moved it meanwhile.
    """
    new_columns = ensure_case_tables(ws)
    if new_columns:  # an older workspace: add the columns first (one commit, no rows)
        ws.append_rows({}, new_columns={"cases": new_columns})
    when = utc_timestamp(at, "at") or pd.Timestamp.now(tz="UTC")
    case = dict(current) if current is not None else _current(ws, case_id)
    status = str(case["status"])
    to = _check(case_id, status, move)
    values: dict[str, Any] = {"status": to, "updated_at": when.to_pydatetime()}
    values.update(changes or {})
    log = event_rows(
        [
            {
                "case_id": case_id,
                "at": when.to_pydatetime(),
                "move": move,
                "from_status": status,
                "to_status": to,
                "owner": values.get("owner", case["owner"]),
                "detail": detail,
            }
        ]
    )
    extra = dict(announce(move, {**case, **values})) if announce is not None else {}
    done = ws.engine.update(
        "cases",
        key={"case_id": case_id},
        expected={"status": status, "updated_at": _py(case["updated_at"])},
        values=values,
        append={CASE_EVENTS_TABLE: log, **extra},
    )
    if not done:
        raise CaseStateError(
            f"case {case_id} changed while it was being moved ({move}); nothing was written: "
            "look at it again (`rox cases list --customer ...`) and retry"
        )
    case.update(values)
    return case


def _py(v: Any) -> Any:
    return v.to_pydatetime() if isinstance(v, pd.Timestamp) else v


def assign(
    ws: Workspace, case_id: str, owner: str, *, at: Any = None, announce: Announce | None = None
) -> dict[str, Any]:
    """Give an open or in-progress case to ``owner``."""
    if not owner.strip():
        raise ActionError("a case's owner must be named")
    return move_case(
        ws, case_id, "assign", at=at, changes={"owner": owner}, detail=owner, announce=announce
    )


def start(
    ws: Workspace,
    case_id: str,
    *,
    at: Any = None,
    owner: str | None = None,
    announce: Announce | None = None,
) -> dict[str, Any]:
    """Start work on an open case (the first action is timed from the first start)."""
    when = utc_timestamp(at, "at") or pd.Timestamp.now(tz="UTC")
    case = _current(ws, case_id)
    changes: dict[str, Any] = {}
    if case.get("first_action_at") is None:
        changes["first_action_at"] = when.to_pydatetime()
    if owner is not None:
        changes["owner"] = owner
    return move_case(ws, case_id, "start", at=when, changes=changes, announce=announce)


def close(
    ws: Workspace,
    case_id: str,
    resolution: str,
    *,
    at: Any = None,
    announce: Announce | None = None,
) -> dict[str, Any]:
    """Close an in-progress case as ``resolved``, ``unreachable`` or ``declined``."""
    if resolution not in RESOLUTIONS:
        raise ActionError(
            f"case {case_id}: resolution {resolution!r} is not one of {', '.join(RESOLUTIONS)}"
        )
    when = utc_timestamp(at, "at") or pd.Timestamp.now(tz="UTC")
    changes = {"closed_at": when.to_pydatetime(), "resolution": resolution}
    return move_case(
        ws, case_id, "close", at=when, changes=changes, detail=resolution, announce=announce
    )


def reopen(ws: Workspace, case_id: str, *, at: Any = None, reason: str = "") -> dict[str, Any]:
    """Reopen a closed case: due again one SLA from now; closing time and resolution cleared.

    The log (``rox_case_events``) keeps the earlier closing.
    """
    when = utc_timestamp(at, "at") or pd.Timestamp.now(tz="UTC")
    case = _current(ws, case_id)
    changes: dict[str, Any] = {"closed_at": None, "resolution": None}
    if case.get("due_at") is not None:  # a new due time, as long as the first SLA
        sla = pd.Timestamp(case["due_at"]) - pd.Timestamp(case["opened_at"])
        changes["due_at"] = (when + sla).to_pydatetime()
    return move_case(ws, case_id, "reopen", at=when, changes=changes, detail=reason)


def escalate(
    ws: Workspace,
    case_id: str,
    *,
    lead: str | None,
    at: Any = None,
    reason: str = "",
    levels: int = 1,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Escalate an active case ``levels`` levels.

    Its priority rises one per level (to 1 at most), and it passes to ``lead`` when named.
    """
    case = dict(current) if current is not None else _current(ws, case_id)
    priority = case.get("priority")
    priority = None if priority is None or pd.isna(priority) else int(priority)
    level = case.get("escalation")
    level = 0 if level is None or pd.isna(level) else int(level)
    changes: dict[str, Any] = {
        "priority": max(1, priority - levels) if priority is not None else 1,
        "escalation": level + levels,
    }
    if lead is not None:
        changes["owner"] = lead
    return move_case(ws, case_id, "escalate", at=at, changes=changes, detail=reason, current=case)
