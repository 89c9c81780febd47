"""Faults around a load (#15): interrupted, killed, no permission, disk full. Each load is all or
nothing, with its record in ``rox_loads``, and each failure says what happened.

The subprocess tests run the ``rox`` command in a child process; the kill -9 test is ``slow``
(about a dozen kills of a 200,000-row load: ``pytest -m slow tests/ingest/test_faults.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rox
from rox.errors import EXIT_CODES, LoadCancelledError, WorkspaceWriteError
from rox.ingest import reconcile
from rox.ingest.sources import open_source
from rox.ingest.staged import _stage_on_disk
from rox.schema import TABLES

N_BIG = 200_000


def _big_csv(path: Path, n: int = N_BIG) -> Path:
    rng = np.random.default_rng(15)
    pd.DataFrame(
        {
            "response_id": [f"b{i}" for i in range(n)],
            "ts": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 86400 * 300, n), "s"),
            "metric": "nps",
            "score": rng.integers(0, 11, n),
        }
    ).to_csv(path, index=False)
    return path


def _base_workspace(path: Path) -> Path:
    """A workspace file holding one small load (load 1, two responses)."""
    frame = pd.DataFrame(
        {
            "response_id": ["a1", "a2"],
            "ts": ["2024-01-01", "2024-01-02"],
            "metric": "nps",
            "score": [9, 3],
        }
    )
    with rox.open(path) as ws:
        ws.ingest("responses", frame)
    return path


def _state(path: Path) -> dict[str, object]:
    """Every table's row count, and each recorded load's count against the rows carrying its id."""
    with rox.open(path) as ws:
        con = ws.backend.con
        counts = {name: ws.count(name) for name in [*TABLES, "rejects", "rox_loads"]}
        records = dict(
            con.execute(
                "SELECT load_id, sum(rows_loaded) FROM rox_loads GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        rows = dict(
            con.execute("SELECT _load_id, count(*) FROM responses GROUP BY 1 ORDER BY 1").fetchall()
        )
        order = _order(con)
    return {"counts": counts, "records": records, "rows": rows, "order": order}


def _order(con: object) -> tuple[int, int]:
    """Rows of responses with no recorded order (``_seq``), and rows sharing one with another.

    (Their values are tested in tests/ingest/test_order.py: a staged load leaves the numbers of
    rejected rows unused.)
    """
    return con.execute(  # type: ignore[attr-defined,no-any-return]
        "SELECT count(*) FILTER (WHERE _seq IS NULL), count(_seq) - count(DISTINCT _seq) "
        "FROM responses"
    ).fetchone()


def _consistent(state: dict[str, object]) -> bool:
    records, rows = state["records"], state["rows"]
    assert isinstance(records, dict) and isinstance(rows, dict)
    return {k: v for k, v in records.items() if v} == rows and state["order"] == (0, 0)


def _child(args: list[str], **kwargs: object) -> subprocess.Popen[str]:
    """Start ``rox ARGS`` with SIGINT at its default (a background child otherwise ignores it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
        **kwargs,  # type: ignore[arg-type]
    )


def _has_open(pid: int, name: str) -> bool:
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}").endswith(name)
            for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def _wait_until(test, child: subprocess.Popen[str], step: float = 0.001) -> bool:
    while child.poll() is None:
        if test():
            return True
        time.sleep(step)
    return False


# -- reconcile, without killing anything -----------------------------------------------------
def test_rows_without_a_record_are_removed_before_the_next_load(ws_file):
    ws_file.ingest("responses", pd.DataFrame({"ts": ["2024-01-01"], "metric": "nps", "score": [9]}))
    # what DuckDB 1.5.6 left after a kill -9 at commit: the rows of load 2, no record of it
    ws_file.backend.con.execute(
        "INSERT INTO responses (ts, metric, score, scale, response_id, _key, _load_id) "
        "SELECT TIMESTAMPTZ '2024-02-01 00:00:00+00', 'nps', 5, '0-10', 'x' || range, "
        "'x' || range, 2 FROM range(3)"
    )
    report = ws_file.ingest(
        "responses",
        pd.DataFrame({"response_id": ["x0"], "ts": ["2024-02-01"], "metric": "nps", "score": [5]}),
    )
    assert report.load_id == 2 and report.rows_loaded == 1  # x0 is not taken for loaded already
    assert report.notes == [
        "removed 3 rows of responses written by an interrupted load that was never recorded "
        "(the process was stopped while it committed)"
    ]
    assert ws_file.count("responses") == 2
    assert _consistent(_state_of(ws_file))


def test_a_last_load_whose_record_does_not_match_its_rows_is_removed(ws_file):
    frame = pd.DataFrame({"ts": ["2024-01-01", "2024-01-02"], "metric": "nps", "score": [9, 8]})
    ws_file.ingest("responses", frame.iloc[:1])
    ws_file.ingest("responses", frame.iloc[1:])
    ws_file.backend.con.execute(
        "DELETE FROM responses WHERE _load_id = 2"
    )  # record kept, rows lost
    result = reconcile(ws_file)
    assert result == [
        "removed load 2 of responses: its record counts 1 rows and 0 rejected, but 0 and 0 were "
        "found (the process was stopped while it committed); load its files again"
    ]
    assert ws_file.count("rox_loads") == 1 and ws_file.count("responses") == 1
    assert reconcile(ws_file) == []  # consistent now: nothing more to do
    assert ws_file.ingest("responses", frame).rows_loaded == 1  # row 2 loads again


def test_complete_loads_are_never_touched(ws_file):
    frame = pd.DataFrame({"ts": ["2024-01-01", "bad"], "metric": "nps", "score": [9, 8]})
    ws_file.ingest("responses", frame, on_error="quarantine")  # 1 loaded, 1 rejected (2 rules)
    assert reconcile(ws_file) == []
    assert (ws_file.count("responses"), ws_file.count("rejects")) == (1, 1)


def _state_of(ws: rox.Workspace) -> dict[str, object]:
    con = ws.backend.con
    return {
        "records": dict(
            con.execute("SELECT load_id, sum(rows_loaded) FROM rox_loads GROUP BY 1").fetchall()
        ),
        "rows": dict(con.execute("SELECT _load_id, count(*) FROM responses GROUP BY 1").fetchall()),
        "order": _order(con),
    }


# -- subprocesses ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _big_csv(tmp_path_factory.mktemp("big") / "big.csv")


def test_ctrl_c_cancels_the_load_and_writes_nothing(tmp_path, big_csv):
    ws = _base_workspace(tmp_path / "ws.duckdb")
    before = _state(ws)
    child = _child(["ingest", "responses", str(big_csv), "-w", str(ws)])
    assert _wait_until(lambda: _has_open(child.pid, big_csv.name), child)  # reading the file
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=300)
    assert child.returncode == EXIT_CODES[LoadCancelledError] == 130
    assert "load cancelled (interrupted); nothing was written" in err
    assert _state(ws) == before


def _without_dac_override() -> list[str]:
    """A command prefix dropping root's power to ignore file permissions (or skip the test)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to take away root's permission override")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", caps, "--inh-caps", caps]


def test_workspace_folder_without_write_permission_says_permission_denied(tmp_path, big_csv):
    prefix = _without_dac_override()
    folder = tmp_path / "ro"
    folder.mkdir()
    ws = _base_workspace(folder / "ws.duckdb")
    before = _state(ws)
    folder.chmod(0o555)  # the file stays writable; its write-ahead log cannot be created
    try:
        done = subprocess.run(
            [
                *prefix,
                sys.executable,
                "-m",
                "rox",
                "ingest",
                "responses",
                str(big_csv),
                "-w",
                str(ws),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "250"},
            timeout=300,
            check=False,
        )
    finally:
        folder.chmod(0o755)
    assert done.returncode == EXIT_CODES[WorkspaceWriteError] == 14, done.stderr
    assert "Permission denied" in done.stderr and "nothing was loaded" in done.stderr
    assert "cannot rollback" not in done.stderr
    assert _state(ws) == before


def test_unreadable_file_is_an_io_error(tmp_path):
    prefix = _without_dac_override()
    source = tmp_path / "secret.csv"
    source.write_text("ts,metric,score\n2024-01-01,nps,9\n")
    source.chmod(0o000)
    done = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "rox",
            "ingest",
            "responses",
            str(source),
            "-w",
            str(tmp_path / "w.duckdb"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 6, done.stderr
    assert f"{source}: cannot read it: Permission denied" in done.stderr


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 3 MB tmpfs (needs root and permission to mount; skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_says_no_space_left(tiny_disk, big_csv):
    ws = _base_workspace(tiny_disk / "ws.duckdb")
    before = _state(ws)
    done = subprocess.run(
        [sys.executable, "-m", "rox", "ingest", "responses", str(big_csv), "-w", str(ws)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 14, done.stderr
    assert "No space left on device" in done.stderr and "nothing was loaded" in done.stderr
    assert _state(ws) == before


# -- kill -9 ---------------------------------------------------------------------------------------
def _wal_at(path: Path, size: int) -> bool:
    """Whether the write-ahead log of ``path`` exists and holds at least ``size`` bytes."""
    try:
        return Path(str(path) + ".wal").stat().st_size >= size
    except OSError:
        return False


@pytest.mark.slow
def test_kill_9_at_any_moment_leaves_each_load_whole_or_absent(tmp_path, big_csv):
    base = _base_workspace(tmp_path / "base.duckdb")
    base_rows = _state(base)["counts"]["responses"]  # type: ignore[index]
    # how long a whole load takes here, from the moment the file is opened
    ws = tmp_path / "timed.duckdb"
    shutil.copy(base, ws)
    child = _child(["ingest", "responses", str(big_csv), "-w", str(ws)])
    assert _wait_until(lambda: _has_open(child.pid, big_csv.name), child)
    start = time.monotonic()
    child.communicate(timeout=600)
    took = time.monotonic() - start
    assert child.returncode == 0
    # kills spread over the load, then at the commit: when the write-ahead log is first written
    # to, and a few moments after
    moments = [("after", took * f) for f in (0.1, 0.3, 0.5, 0.7, 0.85, 0.95)]
    # (the log is created empty, then written by the commit)
    moments += [("wal", d) for d in (0.0, 0.0, 0.0005, 0.002)]
    moments += [("wal-written", d) for d in (0.0, 0.01)]
    outcomes = []
    for i, (kind, delay) in enumerate(moments):
        ws = tmp_path / f"k{i}.duckdb"
        shutil.copy(base, ws)
        child = _child(["ingest", "responses", str(big_csv), "-w", str(ws)])
        if kind == "after":
            _wait_until(lambda: _has_open(child.pid, big_csv.name), child)  # noqa: B023
        else:
            size = 0 if kind == "wal" else 1
            _wait_until(lambda: _wal_at(ws, size), child, step=0.0002)  # noqa: B023
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        raw = _state(ws)  # as DuckDB left it
        with rox.open(ws) as opened:
            reconcile(opened)
        state = _state(ws)
        assert _consistent(state), (kind, delay, state)
        rows = state["counts"]["responses"]  # type: ignore[index]
        assert rows in (base_rows, base_rows + N_BIG), (kind, delay, state)
        outcomes.append(
            f"{kind} +{delay:.3f}s: DuckDB left {raw['counts']['responses']:,} rows and "  # type: ignore[index]
            f"{len(raw['records'])} records ({'consistent' if _consistent(raw) else 'BROKEN'}); "  # type: ignore[arg-type]
            f"after reconcile {rows:,} rows"
        )
        # the next load completes the work: all of the file is there once, recorded
        with rox.open(ws) as opened:
            again = opened.ingest("responses", str(big_csv))
            assert again.rows_loaded + again.rows_skipped == N_BIG
            assert opened.count("responses") == base_rows + N_BIG
        assert _consistent(_state(ws))
    sys.stderr.write("\n".join(["", *outcomes, ""]))  # what the kills hit (pytest -s shows it)


@pytest.mark.slow
def test_kill_9_while_the_file_is_staged_on_disk_leaves_the_load_whole_or_absent(
    tmp_path, monkeypatch
):
    # a row breaking a rule sends the load down the staged path (the one pass stops at it), and a
    # memory limit this low stages the 400,000 rows in a table of the workspace file
    monkeypatch.setenv("ROX_MEMORY_LIMIT", "64MB")
    n = 2 * N_BIG
    csv = tmp_path / "staged.csv"
    lines = _big_csv(tmp_path / "valid.csv", n).read_text().splitlines(keepends=True)
    csv.write_text(lines[0] + "bad1,2024-01-01,nps,eleven\n" + "".join(lines[1:]))
    base = _base_workspace(tmp_path / "base.duckdb")
    base_rows = _state(base)["counts"]["responses"]  # type: ignore[index]
    base_size = base.stat().st_size
    with rox.open(tmp_path / "probe.duckdb") as ws:
        src = open_source(ws.backend.con, str(csv))
        assert _stage_on_disk(ws.backend.con, src)  # the moment this test is about
    args = ["ingest", "responses", str(csv), "-w"]
    # the staged rows reach the file as they are written: it grows past its size before the load
    moments = [0.0, 0.0, 0.05, 0.2, 0.5]
    outcomes = []
    for i, delay in enumerate(moments):
        ws = tmp_path / f"s{i}.duckdb"
        shutil.copy(base, ws)
        child = _child([*args, str(ws), "--on-error", "quarantine"])
        grown = _wait_until(lambda: ws.stat().st_size > base_size + 2**18, child)  # noqa: B023
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        with rox.open(ws) as opened:
            notes = reconcile(opened)
            leftovers = opened.backend.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_rox%'"
            ).fetchall()
        assert leftovers == [], (delay, leftovers)
        state = _state(ws)
        assert _consistent(state), (delay, state)
        rows = state["counts"]["responses"]  # type: ignore[index]
        assert rows in (base_rows, base_rows + n), (delay, state)
        outcomes.append(f"staged +{delay:.2f}s (grown: {grown}): {rows:,} rows; {notes}")
        # the next load completes the work: all of the file is there once, recorded
        with rox.open(ws) as opened:
            again = opened.ingest("responses", str(csv), on_error="quarantine")
            assert again.rows_loaded + again.rows_skipped == n
            assert again.rows_rejected == 1
            assert opened.count("responses") == base_rows + n
        assert _consistent(_state(ws))
    sys.stderr.write("\n".join(["", *outcomes, ""]))  # what the kills hit (pytest -s shows it)


# -- Ctrl-C after the commit: the load stands, and the message says so ---------------------------
def _events(customers: list[str], hour0: int) -> pd.DataFrame:
    steps = ["visit", "quote", "buy"]
    return pd.DataFrame(
        {
            "customer_id": [c for c in customers for _ in steps],
            "ts": [
                pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=hour0 + i)
                for _ in customers
                for i in range(len(steps))
            ],
            "step": steps * len(customers),
        }
    )


def _interrupt(*_args: object, **_kwargs: object) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "moment",
    [
        "index_record",  # before the refresh touched anything (the index is then behind)
        "_numbers",  # after the index's record was dropped, while its journeys are rewritten
    ],
)
def test_ctrl_c_while_refreshing_the_index_keeps_the_load_and_says_so(
    tmp_path, monkeypatch, moment
):
    import rox.journey.index as journey_index
    from rox.errors import RefreshCancelledError
    from rox.journey import build_index, index_info, journey_map

    first, second = _events(["a", "b"], 0), _events(["b", "c", "d"], 10)
    ws = rox.open(tmp_path / "ws.duckdb")
    ws.ingest("events", first)
    build_index(ws)
    monkeypatch.setattr(journey_index, "FULL_SHARE", 1.0)  # refresh the touched journeys
    monkeypatch.setattr(journey_index, moment, _interrupt)
    raised: BaseException | None = None
    try:  # (a KeyboardInterrupt let through would stop pytest: catch it to fail the test)
        ws.ingest("events", second)
    except BaseException as exc:
        raised = exc
    monkeypatch.undo()
    assert isinstance(raised, RefreshCancelledError), repr(raised)
    assert str(raised).startswith(
        "load 2 is complete (9 rows loaded into events), but refreshing the journey index after "
        "it was interrupted"
    )
    assert "rebuild the journey index with `rox journey index`" in str(raised)
    assert EXIT_CODES[RefreshCancelledError] == 19
    loads = ws.table("rox_loads").to_pandas()
    assert sorted(loads["load_id"]) == [1, 2] and ws.table("events").count().execute() == 15
    # the index is missing or behind the events: analyses compute without it, and agree with
    # the same analysis of both loads in a workspace that never had an index
    info = index_info(ws)
    assert info is None or not info.fresh
    fresh = rox.open("duckdb://:memory:")
    fresh.ingest("events", pd.concat([first, second], ignore_index=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = journey_map(ws).frame
    pd.testing.assert_frame_equal(got, journey_map(fresh).frame)
    ws.close()


def test_rox_ingest_ctrl_c_while_refreshing_exits_19_and_says_the_load_is_complete(
    tmp_path, monkeypatch, capsys
):
    import rox.journey.index as journey_index
    from rox.cli import main

    path = tmp_path / "ws.duckdb"
    with rox.open(path) as ws:
        ws.ingest("events", _events(["a"], 0))
        rox.journey.build_index(ws)
    source = tmp_path / "more.csv"
    _events(["b"], 5).to_csv(source, index=False)
    monkeypatch.setattr(journey_index, "refresh_index", _interrupt)
    monkeypatch.setattr(sys, "argv", ["rox", "ingest", "events", str(source), "-w", str(path)])
    with pytest.raises(SystemExit) as exited:
        main()
    said = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 19, said
    assert "load 2 is complete (3 rows loaded into events)" in said
    assert "nothing was written" not in said
