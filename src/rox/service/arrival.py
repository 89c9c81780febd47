"""What happens in a batch's transaction after its rows: cases opened, webhooks put in the outbox.

When the writer (:mod:`rox.service.writer`) commits a batch of responses, the workspace's case
rules (:mod:`rox.actions.case_rules`: the rules ``rox cases open`` applies; ``rox serve
--case-rules FILE``, else the built-in ones) open cases for the new responses that trigger them,
and the outbound webhooks (:mod:`rox.service.outbox`) of the new responses and of the cases opened
are written to the delivery log, all **in the batch's transaction**: the responses, their cases
and their announcements commit together or not at all, so a response acknowledged has its case,
and a crash never leaves a case unannounced.

Only the batch's rows are looked at (the responses of its load), by the same Ibis expressions
as :func:`rox.actions.open_cases`, compiled to SQL once when the service starts (the load's id
put in for each batch): a response never opens two cases (a case's id is
``<rule>-<response id>``, and a trigger inside the life of one of the customer's cases opens
nothing), and a batch opens at most one per customer. The friction rules (a journey's last
step) and the negative-comment rules are left to ``rox cases open``: a journey's end is known
only once it has ended, and comments are scored in Python, outside the writer. Held-out
cases (the randomised holdout) are opened but not announced: announcing them would bring the
outreach they are kept from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox.actions.case_rules import (
    CaseRules,
    case_writes,
    complete_cases,
    completed_cases,
    give_holdout_draw,
    new_cases,
    opening_moves,
    possible_cases,
    triggers,
)
from rox.actions.cases import case_columns, ensure_case_tables
from rox.actions.holdout import HOLDOUT
from rox.errors import ServiceError
from rox.ingest.batch import Looked
from rox.schema import (
    CASE_EVENTS_TABLE,
    DELIVERIES_TABLE,
    KEY_COLUMN,
    LOAD_COLUMN,
    SEQ_COLUMN,
    SYSTEM_COLUMNS,
)
from rox.service.outbox import Event, Hooks, delivery_rows, insert_rows, write_rows

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa

    from rox.workspace import Workspace

__all__ = ["Arrival", "announce_move", "announce_openings", "opened_events"]

#: The load id the query is compiled with, replaced by each batch's (digits found nowhere else).
_SENTINEL = 987_654_321_987_654


class Arrival:
    """Opens cases and writes webhooks for each batch, inside its transaction.

    On DuckDB a small query first looks for the batch's triggers that may open a case
    (:func:`rox.actions.case_rules.possible_cases`: a score rule's trigger outside the life of
    every case of its customer); when there is none, nothing more is run: that query is a third
    of the cost of the full statement, most of which is DuckDB planning it whatever its rows, and
    most batches of a busy service open no case. Otherwise the batch's cases are written by one
    ``INSERT … SELECT … RETURNING`` of the compiled rules
    (:func:`rox.actions.case_rules.completed_cases`: the triggers, the new cases among them and
    their arm, status, priority, team and due time, computed in the engine, the holdout's draw
    by :func:`rox.actions.holdout.holdout_draw` given to the connection), and their opening
    moves by one more insert: no round trip of the cases through pandas. On PostgreSQL (no
    Python in the engine for the draw) the cases are read and completed in Python
    (:func:`rox.actions.case_rules.complete_cases`), then written, as
    :func:`rox.actions.open_cases` does; both give the same rows
    (``tests/service/test_arrival.py``).

    Parameters
    ----------
    ws : Workspace
        The writer's workspace (open for writing): DuckDB, or PostgreSQL (then the batch's
        connection is a :class:`rox.ingest.shared.Transaction`).
    rules : CaseRules, path, TOML text or None
        The case rules (None: the built-in ones); ``False`` opens no case.
    hooks : Hooks, optional
        The webhook endpoints (none: nothing is announced).
    in_engine : bool
        Whether a DuckDB workspace's cases are completed and written in the engine; False does
        it in Python, as on PostgreSQL (to compare the two).
    """

    def __init__(
        self,
        ws: Workspace,
        rules: CaseRules | str | os.PathLike[str] | bool | None,
        hooks: Hooks | None,
        *,
        in_engine: bool = True,
    ) -> None:
        self.ws = ws
        self.hooks = hooks or Hooks()
        self.rules = None if rules is False else CaseRules.load(None if rules is True else rules)
        self.cases_opened = 0
        self._sql: str | None = None
        #: DuckDB: the statement that writes a batch's new cases and returns them
        self._insert: str | None = None
        #: DuckDB: the query of the batch's triggers that may open a case (none: no case)
        self._probe: str | None = None
        if self.rules is not None and any(r.metric for r in self.rules.rules):
            missing = ensure_case_tables(ws)
            if missing:  # an older workspace: the case columns it lacks, added once
                ws.append_rows({}, new_columns={"cases": missing})
            r = ws.table("responses")
            batch = r.filter(r[LOAD_COLUMN] == _SENTINEL)
            found = triggers(ws, self.rules, responses=batch)
            fresh = new_cases(ws, found)
            if in_engine and ws.engine.name == "duckdb":
                give_holdout_draw(ws.backend.con)
                self._sql = str(ws.backend.compile(completed_cases(fresh, self.rules)))
                self._insert = (
                    f"INSERT INTO cases BY NAME SELECT *, $now AS updated_at, "
                    f"case_id AS {KEY_COLUMN} FROM ({self._sql}) ORDER BY opened_at, case_id "
                    "RETURNING *"
                )
                self._probe = str(ws.backend.compile(possible_cases(ws, self.rules, batch)))
            else:
                self._sql = str(ws.backend.compile(fresh))
            if any(str(_SENTINEL) not in sql for sql in (self._sql, self._probe) if sql):
                raise ServiceError("the case rules' query could not be prepared for batches")

    @property
    def announces(self) -> bool:
        """Whether any endpoint is configured."""
        return bool(self.hooks.endpoints)

    def look(self, table: str, load_id: int) -> str | None:
        """DuckDB: the probe of load ``load_id``, for the writer to run in its rows' call.

        Given to :meth:`rox.ingest.batch.BatchWriter.append` as ``look``; its first row comes
        back to :meth:`__call__` as ``looked``. None when no probe is run for ``table``.
        """
        if table != "responses" or self._probe is None:
            return None
        return self._probe.replace(str(_SENTINEL), str(int(load_id)))

    def __call__(self, con: Any, table: str, load_id: int, looked: Looked | None = None) -> int:
        """Open the cases of load ``load_id`` and write its webhooks; return the deliveries.

        ``looked``: the first row of :meth:`look`'s query for this load, when the writer ran it.
        """
        if table != "responses" or (self._sql is None and not self.hooks.subscribed(
                "response.created")):  # fmt: skip
            return 0
        now = datetime.now(UTC)
        events: list[Event] = []
        if self.hooks.subscribed("response.created"):
            events.extend(_response_events(con, load_id))
        if self._sql is not None:
            opened = self._open(con, load_id, now, looked)
            self.cases_opened += len(opened)
            if opened and self.hooks.subscribed("case.opened"):
                events.extend(opened_events(opened))
        if not events:
            return 0
        rows = delivery_rows(self.hooks, events, now=now)
        write_rows(con, rows)
        return int(rows.num_rows)

    def _open(
        self, con: Any, load_id: int, now: datetime, looked: Looked | None = None
    ) -> list[dict[str, Any]]:
        """Write the cases load ``load_id`` opens and their opening moves; return the cases."""
        assert self._sql is not None and self.rules is not None
        batch = str(int(load_id))
        if self._insert is not None:  # DuckDB: the cases written in the engine
            probe = self.look("responses", load_id)
            found = looked.row if looked is not None else con.execute(probe).fetchone()
            if found is None:
                return []  # no trigger outside a case's life: the full statement opens nothing
            written = con.execute(self._insert.replace(str(_SENTINEL), batch), {"now": now})
            names = [d[0] for d in written.description]
            cases = [dict(zip(names, row, strict=True)) for row in written.fetchall()]
            if cases:
                moves = opening_moves(
                    [c["case_id"] for c in cases],
                    [c["arm"] for c in cases],
                    [c["status"] for c in cases],
                    [c["trigger"] for c in cases],
                    now,
                )
                insert_rows(con, CASE_EVENTS_TABLE, moves)
            return cases
        found = con.execute(self._sql.replace(str(_SENTINEL), batch)).df()
        if not len(found):
            return []
        when = pd.Timestamp(now)
        frame = complete_cases(
            found.sort_values(["opened_at", "case_id"]).reset_index(drop=True), self.rules, when
        )
        for name, rows in case_writes(frame, when).items():
            insert_rows(con, name, rows)
        records: list[dict[str, Any]] = frame.to_dict("records")
        return records


def _response_events(con: Any, load_id: int) -> list[Event]:
    found = con.execute(
        f"SELECT * FROM responses WHERE {LOAD_COLUMN} = {int(load_id)} ORDER BY {SEQ_COLUMN}"
    )
    rows = found.fetchall()
    names = [d[0] for d in found.description]
    out = []
    for values in rows:
        data = {n: v for n, v in zip(names, values, strict=True) if n not in SYSTEM_COLUMNS}
        rid = data.get("response_id")
        out.append(Event("response.created", data, data.get("customer_id"), rid))
    return out


def case_event(event_type: str, case: Mapping[str, Any]) -> Event:
    """The announcement of a case (its canonical columns as they are after the event)."""
    data = {c: case.get(c) for c in case_columns()}
    return Event(
        event_type,
        data,
        customer_id=_str(case.get("customer_id")),
        response_id=_str(case.get("response_id")),
        case_id=_str(case.get("case_id")),
    )


def _str(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def opened_events(cases: Iterable[Mapping[str, Any]]) -> list[Event]:
    """``case.opened`` for each of ``cases`` (cases just opened, as rows) but the held-out ones."""
    return [case_event("case.opened", c) for c in cases if c["arm"] != HOLDOUT]


def announce_openings(hooks: Hooks) -> Callable[[pd.DataFrame], dict[str, pa.Table]]:
    """The ``announce`` of :func:`rox.actions.open_cases`: its cases' webhooks, in its transaction.

    What a batch of the service announces when it opens cases (:func:`opened_events`), for the
    cases ``rox cases open --webhooks FILE`` opens: the rows go to the outbox, and the service's
    delivery worker sends them (at its next look, within a minute, when it runs on the same
    workspace; when it next starts otherwise).
    """

    def announce(frame: pd.DataFrame) -> dict[str, pa.Table]:
        opened = frame.to_dict("records")
        events = opened_events(opened) if hooks.subscribed("case.opened") else []
        return {DELIVERIES_TABLE: delivery_rows(hooks, events)} if events else {}

    return announce


def announce_move(hooks: Hooks) -> Callable[[str, dict[str, Any]], dict[str, pa.Table]]:
    """The ``announce`` of a case's move (:func:`rox.actions.move_case`): close → ``case.closed``.

    The one rule for every writer of moves: the API's ``POST /v1/cases/{id}/close`` and ``rox
    cases close --webhooks FILE``. The other moves (start, assign, reopen) announce nothing.
    """

    def announce(move: str, case: dict[str, Any]) -> dict[str, pa.Table]:
        if move != "close" or not hooks.subscribed("case.closed"):
            return {}
        return {DELIVERIES_TABLE: delivery_rows(hooks, [case_event("case.closed", case)])}

    return announce
