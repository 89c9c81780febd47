"""The back-off of :class:`rox.service.reconnect.Reconnect`, on a stand-in engine and clock.

The schedule is worked by hand from the module's constants: the first attempt at once, then
0.25, 0.5, 1, 2, 4, 8, 8 … seconds after each failed one; refused in between with the seconds
left; back to 0.25 s after a success.
"""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from rox.errors import WorkspaceError, WorkspaceUnavailableError
from rox.service.reconnect import FIRST_WAIT, LONGEST_WAIT, Reconnect, retry_after


class Engine:
    """Lost until ``up``; counts the attempts to reconnect."""

    def __init__(self) -> None:
        self.broken = True
        self.up = False
        self.attempts: list[float] = []
        self.now = 0.0

    def reconnect(self) -> None:
        self.attempts.append(self.now)
        if not self.up:
            raise WorkspaceError("cannot reconnect to PostgreSQL: connection refused")
        self.broken = False


def test_attempts_back_off_from_a_quarter_second_to_eight_seconds():
    engine = Engine()
    link = Reconnect(engine, clock=lambda: engine.now)
    assert (FIRST_WAIT, LONGEST_WAIT) == (0.25, 8.0)
    # ask every 0.05 s for 40 s while the server is down
    waits = []
    for step in range(800):
        engine.now = step * 0.05
        with pytest.raises(WorkspaceUnavailableError) as refused:
            link.ready()
        waits.append(refused.value.retry_after)
    # attempts at 0, 0.25, 0.75, 1.75, 3.75, 7.75, 15.75, 23.75, 31.75, 39.75
    assert engine.attempts == pytest.approx([0, 0.25, 0.75, 1.75, 3.75, 7.75, 15.75, 23.75,
                                             31.75, 39.75])  # fmt: skip
    # between attempts: the seconds to the next one (at 0.05 s: 0.2 s to the one at 0.25 s)
    assert waits[1] == pytest.approx(0.2)
    assert max(waits) == pytest.approx(8.0)
    # the server is back: the next due attempt reconnects, and the back-off starts again
    engine.up = True
    engine.now = 47.75
    link.ready()
    assert (engine.broken, link.reconnects) == (False, 1)
    engine.broken, engine.up, engine.now = True, False, 50.0
    with pytest.raises(WorkspaceUnavailableError):
        link.ready()
    engine.now = 50.2  # 0.25 s after the failed attempt at 50: not yet
    with pytest.raises(WorkspaceUnavailableError):
        link.ready()
    assert engine.attempts[-1] == 50.0
    engine.now = 50.25
    with pytest.raises(WorkspaceUnavailableError):
        link.ready()
    assert engine.attempts[-1] == 50.25


def test_an_open_connection_is_not_touched_and_an_engine_without_connection_never_breaks():
    engine = Engine()
    engine.broken = False
    Reconnect(engine).ready()
    assert engine.attempts == []
    Reconnect(object()).ready()  # (DuckDB: nothing to reconnect)


def test_a_lost_connection_turns_the_error_into_unavailable_and_retry_after_rounds_up():
    engine = Engine()
    link = Reconnect(engine)
    lost = link.lost(OSError("server closed the connection unexpectedly"))
    assert isinstance(lost, WorkspaceUnavailableError)
    assert "server closed the connection unexpectedly" in str(lost)
    engine.broken = False
    assert link.lost(ValueError("a bug")) is None  # an open connection: not a lost one
    assert retry_after(WorkspaceUnavailableError("x", retry_after=0.2)) == "1"
    assert retry_after(WorkspaceUnavailableError("x", retry_after=3.5)) == "4"
    assert retry_after(WorkspaceError("no attribute")) == "1"
