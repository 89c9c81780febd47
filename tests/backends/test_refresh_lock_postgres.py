"""Two processes loading events into one PostgreSQL workspace refresh its journey index in turn.

Every refresh of derived tables after a load takes the loads' lock (``rox.ingest.derived.
refresh_derived``, through ``Engine.loads_held``), ``rox ingest`` as well as the service's
batches. The test forces the interleaving that breaks an unlocked refresh: two ``rox ingest
events`` processes (real processes, a real server), the second started once the first is
stopped; a third session holds locks on the index's tables so that each refresh stops at the
index's record, and then at the index's events, each lock released once both processes are
stopped (at the lock, or waiting for the loads' lock). Unlocked, both loads commit, both
refreshes start from the same index and the new journeys are written twice (removing the lock
``PostgresEngine.loads_held`` takes makes this test fail); locked, the second load and its
refresh wait for the first's, and the index equals a full build.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import rox
from rox.schema import JOURNEY_INDEX_TABLES

pytestmark = pytest.mark.postgres

SRC = Path(__file__).resolve().parents[2] / "src"


def _connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True)


def _event(customer: str, minute: int, step: str) -> dict[str, str]:
    return {"customer_id": customer, "ts": f"2026-04-02T10:{minute:02d}:00Z", "step": step,
            "channel": "web"}  # fmt: skip


def _waiting(watch: Any, database: str, blockers: set[int]) -> int:
    """How many sessions of ``database`` (but the blockers) wait for a lock."""
    (n,) = watch.execute(
        "SELECT count(DISTINCT l.pid) FROM pg_locks AS l JOIN pg_stat_activity AS a USING (pid) "
        "WHERE NOT l.granted AND a.datname = %s AND NOT (l.pid = ANY(%s))",
        [database, list(blockers)],
    ).fetchone()
    return int(n)


def _until_all_stopped(
    watch: Any, database: str, blockers: set[int], procs: list[subprocess.Popen[bytes]]
) -> None:
    """Wait until each process waits for a lock or has ended (at most 300 s: a busy machine)."""
    end = time.monotonic() + 300
    while time.monotonic() < end:
        ended = sum(proc.poll() is not None for proc in procs)
        if _waiting(watch, database, blockers) + ended >= len(procs):
            return
        time.sleep(0.05)
    raise AssertionError("the loads never reached the refresh")


def test_two_ingest_processes_refresh_the_index_in_turn(postgres_server, tmp_path):  # #19
    from rox.journey import build_index, index_info
    from rox.testing import journey_index_tables

    url = postgres_server.new_database()
    database = url.rsplit("/", 1)[1]
    steps = ["visit", "cart", "checkout", "help"]
    with rox.open(url) as ws:
        ws.ingest("events", pd.DataFrame(
            [_event(f"c{c:02d}", m, steps[(c + m) % 4]) for c in range(40) for m in range(6)]
        ))  # fmt: skip
        build_index(ws)
    # each load: late events into journeys both touch, and a journey of its own, new
    files = []
    for i in (1, 2):
        rows = [_event("c01", 30 + i, "help"), _event("c02", 40 + i, steps[i]),
                _event(f"new{i}", 1, "visit"), _event(f"new{i}", 2, "cart")]  # fmt: skip
        files.append(tmp_path / f"events{i}.csv")
        pd.DataFrame(rows).to_csv(files[-1], index=False)

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    watch, registry, events = _connect(url), _connect(url), _connect(url)
    blockers = {c.info.backend_pid for c in (watch, registry, events)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # a refresh stops at the index's record, then at the index's events, until released
        registry.execute("BEGIN")
        registry.execute(f"LOCK TABLE {JOURNEY_INDEX_TABLES['index']} IN ACCESS EXCLUSIVE MODE")
        events.execute("BEGIN")
        events.execute(f"LOCK TABLE {JOURNEY_INDEX_TABLES['events']} IN ACCESS EXCLUSIVE MODE")
        for f in files:  # the second starts once the first's load is committed (its own id)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "rox", "ingest", "events", str(f), "-w", url],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            ))  # fmt: skip
            _until_all_stopped(watch, database, blockers, procs)
        registry.execute("COMMIT")
        _until_all_stopped(watch, database, blockers, procs)
        events.execute("COMMIT")
        outputs = [proc.communicate(timeout=300) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for c in (watch, registry, events):
            c.close()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
        assert b"journey index" not in err, err.decode()[-2000:]  # (no refresh failed)

    with rox.open(url) as ws:
        info = index_info(ws)
        with _connect(url) as c:
            (last,) = c.execute("SELECT max(load_id) FROM rox_loads").fetchone()
        result = journey_index_tables(ws)
        build_index(ws, info.query if info is not None else None)
        expected = journey_index_tables(ws)
    assert info is not None and info.fresh and info.through_load == last == 3
    assert result["summary"]["journey"].value_counts().max() == 1  # (each journey once)
    for role, frame in expected.items():
        pd.testing.assert_frame_equal(result[role], frame, obj=role)
