"""The one writer: a thread owning the workspace, committing concurrent requests together.

Every request's rows are queued; the writer takes everything queued since its last commit and
writes it as ONE batch (:class:`rox.ingest.batch.BatchWriter`: checked by ingestion's rules, then
the rows, the load record and the requests' idempotency records in one DuckDB transaction). Each
request waits for its batch's commit: an acknowledgement is sent only for rows on disk. Under load
the batches grow while a commit runs (group commit), so the cost of a commit is shared by all the
requests it carries; a synchronous insert per request commits once per request instead.

A request whose rows break a rule is refused alone (:class:`RowsRefused`, answered 422): the
batch is checked again without it, so one bad request never refuses its neighbours.

Everything else that touches the workspace (admin reads, exports, erasure, keys) runs on the same
thread, between batches (:meth:`Writer.call`): a DuckDB connection is used by one thread at a time.

Arrival: in the same transaction, after the rows, the batch's responses open their cases and
their webhooks are put in the outbox (:class:`rox.service.arrival.Arrival`); once the batch is
committed, the delivery worker is woken (``on_delivery``).

Idempotency: a request with an ``Idempotency-Key`` header is remembered (``rox_idempotency``,
written in its batch's transaction) with the SHA-256 of its body and the answer it got. The same
key again returns that answer and stores nothing; the same key with another body is refused. Two
requests with one key arriving together share the first one's commit.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import json
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rox.ingest.batch import BatchWriter, Looked
from rox.ingest.shared import SharedBatchWriter, Transaction
from rox.schema import IDEMPOTENCY_TABLE, TABLES
from rox.service.reconnect import Reconnect

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa

    from rox.errors import RowProblem
    from rox.service.arrival import Arrival
    from rox.workspace import Workspace

__all__ = ["IdempotencyConflict", "Idempotent", "RowsRefused", "Writer"]

#: Most rows written in one commit (a request is never split).
MAX_BATCH_ROWS = 20_000


class RowsRefused(Exception):
    """The request's rows break ingestion's rules; nothing of it was stored.

    ``errors`` are FastAPI-style: ``{"loc": [...], "msg": rule, "type": "rule", "input": value}``.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


class IdempotencyConflict(Exception):
    """The ``Idempotency-Key`` was used before with another body (or another endpoint)."""


@dataclass(frozen=True)
class Idempotent:
    """A request's ``Idempotency-Key``, who sent it, where, and the hash of its body."""

    principal: str
    key: str
    endpoint: str
    request_hash: str


@dataclass
class _Intake:
    table: str
    rows: list[dict[str, Any]]
    single: bool
    idem: Idempotent | None
    future: Future[dict[str, Any]] = field(default_factory=Future)


@dataclass
class _Call:
    fn: Callable[[Workspace], Any]
    future: Future[Any] = field(default_factory=Future)


class Writer:
    """The thread that owns workspace ``ws`` and writes every batch.

    Parameters
    ----------
    ws : Workspace
        A DuckDB or PostgreSQL workspace open for writing; the writer closes it when stopped.
        On PostgreSQL several processes may each run a writer on the same workspace: batches
        go through :class:`rox.ingest.shared.SharedBatchWriter` (commits in turn, keys checked
        against every process's rows), and ``Idempotency-Key`` values are looked up in the
        database in each batch's transaction, so that a retry sent to another process returns
        the first answer and stores nothing (a unique index on the key backs it).
    arrival : Arrival, optional
        Called as ``arrival(connection, table, load_id, looked)`` in each batch's transaction
        after its rows (:class:`rox.service.arrival.Arrival`); returns the webhook deliveries it
        wrote. Its ``look`` is run with a batch's rows when it can be (``looked``).
    on_delivery : callable, optional
        Called (on the writer's thread) after a commit that wrote deliveries.
    on_settled : callable, optional
        Called (on the writer's thread) once after each round of batches, when the futures of
        its requests are settled (:class:`rox.service.waiters.BatchWaiters` wakes the event
        loop once for all of them).
    """

    def __init__(
        self,
        ws: Workspace,
        *,
        arrival: Arrival | None = None,
        on_delivery: Callable[[], None] | None = None,
        on_settled: Callable[[], None] | None = None,
    ) -> None:
        self.ws = ws
        #: Whether other processes write the workspace too (PostgreSQL)
        self.shared = ws.engine.name == "postgres"
        self.batches: BatchWriter | SharedBatchWriter = (
            SharedBatchWriter(ws) if self.shared else BatchWriter(ws)
        )
        #: PostgreSQL: the connection opened again after the server restarted
        #: (:mod:`rox.service.reconnect`)
        self.reconnect = Reconnect(ws.engine) if self.shared else None
        self.arrival = arrival
        self.on_delivery = on_delivery
        self.on_settled = on_settled
        self._queue: queue.SimpleQueue[_Intake | _Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._done: dict[tuple[str, str], tuple[Idempotent, dict[str, Any]]] = {}
        self._pending: dict[tuple[str, str], _Intake] = {}
        self._load_idempotency()
        self._schemas = {name: _arrow_schema(name) for name in ("responses", "events")}
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="rox-writer", daemon=True)
        self._thread.start()

    # -- the event loop's side --------------------------------------------------------------------
    def submit(
        self,
        table: str,
        rows: list[dict[str, Any]],
        *,
        single: bool,
        idem: Idempotent | None = None,
    ) -> Future[dict[str, Any]]:
        """Queue ``rows`` for ``table``; the future gives the answer once they are committed.

        The future raises :class:`RowsRefused` if a row breaks a rule, and
        :class:`IdempotencyConflict` at once if ``idem``'s key was used with another body.
        """
        item = _Intake(table, rows, single, idem)
        if idem is not None:
            slot = (idem.principal, idem.key)
            with self._lock:
                done = self._done.get(slot)
                if done is not None:
                    _same_request(done[0], idem)
                    item.future.set_result(done[1])
                    return item.future
                pending = self._pending.get(slot)
                if pending is not None:
                    assert pending.idem is not None
                    _same_request(pending.idem, idem)
                    return pending.future
                self._pending[slot] = item
        self._queue.put(item)
        return item.future

    def call(self, fn: Callable[[Workspace], Any]) -> Future[Any]:
        """Run ``fn(workspace)`` on the writer's thread, between batches."""
        item = _Call(fn)
        self._queue.put(item)
        return item.future

    def stop(self) -> None:
        """Write what is queued, stop the thread and close the workspace."""
        self._queue.put(None)
        self._thread.join()
        if isinstance(self.batches, SharedBatchWriter):
            self.batches.close()
        self.ws.close()

    # -- the writer's thread ----------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            items = [first]
            rows = 0 if first is None or isinstance(first, _Call) else len(first.rows)
            while rows < MAX_BATCH_ROWS:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                items.append(item)
                if isinstance(item, _Intake):
                    rows += len(item.rows)
            by_table: dict[str, list[_Intake]] = {}
            for item in items:
                if item is None:
                    stopping = True
                elif isinstance(item, _Intake):
                    by_table.setdefault(item.table, []).append(item)
            try:
                for table, group in by_table.items():
                    self._commit(table, group)
            finally:
                if by_table and self.on_settled is not None:
                    self.on_settled()
            calls = [item for item in items if isinstance(item, _Call)]
            if calls and self.shared:
                for call in calls:
                    _run_call(call, self.ws, self._ready, self.reconnect)
            elif calls:
                # reads and exports use every core; batches one thread (rox.ingest.batch)
                self.batches.con.execute("RESET threads")
                try:
                    for call in calls:
                        _run_call(call, self.ws)
                finally:
                    self.batches.con.execute("SET threads = 1")

    def _ready(self) -> None:
        """PostgreSQL: reconnect if the connection was lost (refused while the server is down)."""
        if self.reconnect is None:
            return
        if self.reconnect.broken:
            # what the session cached lived in the lost session (its tables are gone with it)
            with contextlib.suppress(Exception):
                self.ws.forget()
        self.reconnect.ready()

    def _commit(self, table: str, group: list[_Intake]) -> None:
        """Write ``group`` in one transaction; refuse, and write without, requests with problems."""
        while group:
            starts: list[int] = []
            rows: list[dict[str, Any]] = []
            for item in group:
                starts.append(len(rows))
                rows.extend(item.rows)
            announced: list[int] = []
            also = functools.partial(
                self._remember, group=group, starts=starts, table=table, out=announced
            )
            try:
                self._ready()
                if isinstance(self.batches, SharedBatchWriter):
                    result = self.batches.append(
                        table,
                        _to_arrow(rows, self._schemas[table]),
                        before=functools.partial(_answered_before, group=group),
                        also=also,
                    )
                else:
                    result = self.batches.append(
                        table, _to_arrow(rows, self._schemas[table]), also=also,
                        look=None if self.arrival is None else self.arrival.look,
                    )  # fmt: skip
            except _AnsweredBefore as answered:  # (another process stored these keys first)
                for i, (first, answer) in answered.found.items():
                    again = group[i].idem
                    assert again is not None
                    try:
                        _same_request(first, again)
                    except IdempotencyConflict as exc:
                        self._settle(group[i], exc=exc, remember=False)
                    else:
                        self._settle(group[i], answer=answer)
                group = [item for i, item in enumerate(group) if i not in answered.found]
                continue
            except Exception as exc:  # nothing was written: every request of the batch fails
                lost = None if self.reconnect is None else self.reconnect.lost(exc)
                for item in group:
                    self._settle(item, exc=lost or exc)
                return
            if result.problems:
                refused = _errors_by_request(result.problems, starts, group)
                for i, errors in refused.items():
                    self._settle(group[i], exc=RowsRefused(errors))
                group = [item for i, item in enumerate(group) if i not in refused]
                continue
            self.commits += 1
            if sum(announced) and self.on_delivery is not None:
                self.on_delivery()
            for item, answer in zip(group, self._answers(group, starts, result), strict=True):
                self._settle(item, answer=answer)
            return

    @staticmethod
    def _answers(group: list[_Intake], starts: list[int], result: Any) -> list[dict[str, Any]]:
        return _answers(group, starts, result.load_id, result.skipped)

    def _remember(
        self,
        con: Any,
        load_id: int,
        skipped: frozenset[int],
        *,
        group: list[_Intake],
        starts: list[int],
        table: str,
        out: list[int],
        looked: Looked | None = None,
    ) -> None:
        """Write the idempotency records of ``group`` inside its batch's transaction.

        Then the batch's cases and webhooks (``arrival``, given what its ``look`` found when
        the batch ran it); their count is appended to ``out``.
        """
        if self.arrival is not None:
            out.append(self.arrival(con, table, load_id, looked))
        keyed = [
            (item, answer)
            for item, answer in zip(group, _answers(group, starts, load_id, skipped), strict=True)
            if item.idem is not None
        ]
        if not keyed:
            return
        import pyarrow as pa

        now = datetime.now(UTC)
        records = pa.table(
            {
                "principal": [i.idem.principal for i, _ in keyed if i.idem],
                "idempotency_key": [i.idem.key for i, _ in keyed if i.idem],
                "endpoint": [i.idem.endpoint for i, _ in keyed if i.idem],
                "request_hash": [i.idem.request_hash for i, _ in keyed if i.idem],
                "status": pa.array([201] * len(keyed), pa.int64()),
                "answer": [json.dumps(a) for _, a in keyed],
                "load_id": pa.array([load_id] * len(keyed), pa.int64()),
                "created_at": pa.array([now] * len(keyed), pa.timestamp("us", tz="UTC")),
            }
        )
        if isinstance(con, Transaction):
            con.insert(IDEMPOTENCY_TABLE, records)
            return
        con.register("_rox_idem", records)
        con.execute(f"INSERT INTO {IDEMPOTENCY_TABLE} BY NAME SELECT * FROM _rox_idem")
        con.unregister("_rox_idem")

    def _settle(
        self,
        item: _Intake,
        *,
        answer: dict[str, Any] | None = None,
        exc: Exception | None = None,
        remember: bool = True,
    ) -> None:
        if item.idem is not None:
            slot = (item.idem.principal, item.idem.key)
            with self._lock:
                self._pending.pop(slot, None)
                if answer is not None and remember:
                    self._done[slot] = (item.idem, answer)
        if item.future.cancelled():  # (the request went away; its rows stand)
            return
        if exc is not None:
            item.future.set_exception(exc)
        else:
            item.future.set_result(answer or {})

    def _load_idempotency(self) -> None:
        if self.shared:  # the database is looked up in each batch (_answered_before)
            return
        con = self.batches.con
        for principal, key, endpoint, digest, answer in con.execute(
            f"SELECT principal, idempotency_key, endpoint, request_hash, answer "
            f"FROM {IDEMPOTENCY_TABLE}"
        ).fetchall():
            idem = Idempotent(principal, key, endpoint, digest)
            self._done[(principal, key)] = (idem, json.loads(answer))


class _AnsweredBefore(Exception):
    """Keys of a batch's requests found stored (by another process): ``found[i]`` for request i."""

    def __init__(self, found: dict[int, tuple[Idempotent, dict[str, Any]]]) -> None:
        super().__init__(f"{len(found)} request(s) answered before")
        self.found = found


def _answered_before(txn: Transaction, *, group: list[_Intake]) -> None:
    """Raise :class:`_AnsweredBefore` if a request of ``group`` has its key stored already.

    Runs in the batch's transaction, after the lock that makes commits take turns: a key stored
    by any process before is seen, and none can be stored until this batch commits.
    """
    keyed = {(i.idem.principal, i.idem.key): n for n, i in enumerate(group) if i.idem is not None}
    if not keyed:
        return
    marks = ", ".join(["(%s, %s)"] * len(keyed))
    found = txn.execute(
        f"SELECT principal, idempotency_key, endpoint, request_hash, answer "
        f"FROM {IDEMPOTENCY_TABLE} WHERE (principal, idempotency_key) IN ({marks})",
        [part for slot in keyed for part in slot],
    ).fetchall()
    if found:
        raise _AnsweredBefore(
            {
                keyed[(principal, key)]: (
                    Idempotent(principal, key, endpoint, digest),
                    json.loads(answer),
                )
                for principal, key, endpoint, digest, answer in found
            }
        )


def _same_request(first: Idempotent, again: Idempotent) -> None:
    if (first.endpoint, first.request_hash) != (again.endpoint, again.request_hash):
        raise IdempotencyConflict(
            f"Idempotency-Key {again.key!r} was used before with another request body"
            + ("" if first.endpoint == again.endpoint else f" (on {first.endpoint})")
            + "; a retry must send the same body, a new request a new key"
        )


def _run_call(
    item: _Call,
    ws: Workspace,
    ready: Callable[[], None] | None = None,
    reconnect: Reconnect | None = None,
) -> None:
    """Run a call; on PostgreSQL, ``ready()`` first, and a lost connection's error as such."""
    if not item.future.set_running_or_notify_cancel():  # nobody waits for it any more
        return
    try:
        if ready is not None:
            ready()
        item.future.set_result(item.fn(ws))
    except Exception as exc:
        lost = None if reconnect is None else reconnect.lost(exc)
        item.future.set_exception(lost or exc)


def _answers(
    group: list[_Intake], starts: list[int], load_id: int, skipped: frozenset[int]
) -> list[dict[str, Any]]:
    out = []
    for item, start in zip(group, starts, strict=True):
        n = len(item.rows)
        dupes = sum(1 for r in range(start + 1, start + n + 1) if r in skipped)
        out.append({"received": n, "stored": n - dupes, "duplicates": dupes, "load_id": load_id})
    return out


def _errors_by_request(
    problems: list[RowProblem], starts: list[int], group: list[_Intake]
) -> dict[int, list[dict[str, Any]]]:
    """The problems of a batch (1-based rows) as 422 errors of the requests holding the rows."""
    out: dict[int, list[dict[str, Any]]] = {}
    for p in problems:
        i = bisect.bisect_right(starts, p.row - 1) - 1
        local = p.row - 1 - starts[i]
        loc: list[str | int] = ["body", p.column] if group[i].single else ["body", local, p.column]
        out.setdefault(i, []).append({"loc": loc, "msg": p.rule, "type": "rule", "input": p.value})
    return out


def _arrow_schema(table: str) -> pa.Schema:
    """Arrow columns of a canonical table as the service receives them (times as text)."""
    import pyarrow as pa

    kinds = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64()}
    return pa.schema([(c.name, kinds.get(c.dtype, pa.string())) for c in TABLES[table].columns])


def _to_arrow(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    columns = {}
    for f in schema:
        values = [r.get(f.name) for r in rows]
        if pa.types.is_string(f.type):
            values = [None if v is None else str(v) for v in values]
        elif pa.types.is_floating(f.type):
            values = [None if v is None else float(v) for v in values]
        columns[f.name] = pa.array(values, f.type)
    return pa.table(columns, schema=schema)
