"""Durability: a server killed with SIGKILL while it takes writes loses no acknowledged response.

A real ``rox serve`` runs on 127.0.0.1 while 12 clients post responses (each with its own
``response_id``); it is killed with SIGKILL and restarted four times. A response answered 201 must
be in the workspace afterwards, and no response may be stored twice: a request that got no answer
(the server died under it) is sent again until it is answered, and its natural id keeps it once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

httpx = pytest.importorskip("httpx")

import rox  # noqa: E402
from rox.service.keys import create_key  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "rox", "serve", "-w", str(path), "--port", str(port),
           "--client-rate", "0", "--key-rate", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 300  # (a busy machine starts Python slowly)
    while time.monotonic() < end:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not start")


@pytest.mark.slow
def test_acknowledged_responses_survive_sigkill_and_are_stored_once(tmp_path):
    path = tmp_path / "durable.duckdb"
    with rox.open(str(path)) as ws:
        token = create_key(ws, "load", ["write"])[1]
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/responses"
    headers = {"Authorization": f"Bearer {token}"}
    acked: set[str] = set()
    retried: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    next_id = iter(range(10**6))
    limit = 4000  # a bounded load

    def client() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                with lock:
                    i = next(next_id)
                if i >= limit:
                    return
                rid = f"r{i}"
                body = {"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": i % 11,
                        "response_id": rid, "customer_id": f"c{i % 97}"}  # fmt: skip
                # until it is answered: a request the server died under is sent again, the same
                while True:
                    try:
                        r = http.post(url, json=body, headers=headers)
                    except httpx.HTTPError:
                        with lock:
                            retried.add(rid)
                        time.sleep(0.2)
                        continue
                    assert r.status_code == 201, r.text
                    with lock:
                        acked.add(rid)
                    break

    proc = start(path, port)
    threads = [threading.Thread(target=client, daemon=True) for _ in range(12)]
    for t in threads:
        t.start()
    try:
        for kill in range(4):
            time.sleep(3)
            print(f"kill {kill}: {len(acked)} acknowledged, {len(retried)} sent again")
            before = len(acked)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = start(path, port)
            assert len(acked) >= before
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=30)
    con = duckdb.connect(str(path), read_only=True)
    stored = [r for (r,) in con.execute("SELECT response_id FROM responses").fetchall()]
    con.close()
    assert len(retried) > 0  # requests were cut by the kills, and sent again
    assert len(acked) > 100  # the load did run between the kills
    assert len(stored) == len(set(stored)), "a response was stored twice"
    assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged responses were lost"
