"""Benchmark: sustained intake of ``rox serve`` against a bare FastAPI endpoint, same run.

Two servers run in turn on 127.0.0.1, each one uvicorn process (uvloop, httptools):

* ``rox``: ``rox serve`` on a fresh DuckDB workspace, limits off; each request posts one NPS
  response (with a ``response_id``) to ``/v1/responses`` and is answered 201 only once its batch
  is committed (group commit, one writer);
* ``bare``: a FastAPI app whose ``POST /v1/responses`` validates the same body with the same
  pydantic model (:class:`rox.service.models.ResponseIn`) and does nothing else.

The load generator is this process: ``--concurrency`` keep-alive HTTP/1.1 connections (asyncio
streams, requests pre-built), each sending its next request as soon as the last was answered,
for ``--seconds`` seconds or ``--requests`` requests, whichever comes first, after a one-second
warm-up. It reports requests/s (all answered 201), the latency median and p99, and for rox that
the workspace holds exactly the responses acknowledged.

Cases on arrival (#19): ``rox serve`` opens the case of a detractor in the transaction that stores
the response, so a case is opened by the time its response is acknowledged: the time from sending
a detractor's response to its 201 bounds the time to its case. The script reports that time for
every response that opened a case (``cases.response_id``), and checks that every acknowledged
response of the rules' triggers either opened its case or fell in the life of its customer's
open case. ``--compare-cases`` also runs ``rox serve --no-cases``, for the cost of opening cases.

PostgreSQL (#19): ``--postgres URL`` (a server where the script may create databases) also runs
``rox serve`` on PostgreSQL, each run on a fresh database: one process, then ``--workers 2`` (two
processes sharing the port and the workspace; batches commit in turn under the loads' lock,
:mod:`rox.ingest.shared`). For each: durable responses/s (a 201 only after the commit), median and
p99, and that the database holds each acknowledged response exactly once. ``--only-postgres``
leaves out the DuckDB run (the bare endpoint always runs, in the same invocation).

Usage::

    python bench/bench_service.py --seconds 15 --concurrency 64
    python bench/bench_service.py --seconds 10 --concurrency 32 --only-postgres \
        --postgres postgresql://rox@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

BARE = """
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from rox.service.models import Responses

app = FastAPI()


@app.post("/v1/responses", status_code=201)
async def post(body: Responses) -> JSONResponse:
    return JSONResponse({"received": 1}, status_code=201)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def request_bytes(port: int, token: str | None, i: int, tag: str) -> bytes:
    body = json.dumps(
        {
            "ts": "2026-05-01T10:00:00Z",
            "metric": "nps",
            "score": i % 11,
            "response_id": f"{tag}-{i}",
            "customer_id": f"c{i % 5000}",
            "channel": "app",
        }
    ).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def load(
    port: int,
    token: str | None,
    seconds: float,
    max_requests: int,
    concurrency: int,
    tag: str,
    acked: dict[str, float] | None = None,
) -> tuple[int, float, list[float], int]:
    """Requests as in the module docstring; ``acked`` gets each 201's latency by response id."""
    counter = iter(range(10**9))
    latencies: list[float] = []
    failures = 0
    warm_until = time.monotonic() + 1.0
    start_box: list[float] = []
    stop_at = warm_until + seconds
    measured = 0

    async def client() -> None:
        nonlocal failures, measured
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < stop_at and measured < max_requests:
            i = next(counter)
            t0 = time.monotonic()
            writer.write(request_bytes(port, token, i, tag))
            status = await read_response(reader)
            t1 = time.monotonic()
            if status != 201:
                failures += 1
            elif acked is not None:
                acked[f"{tag}-{i}"] = t1 - t0
            if t0 >= warm_until:
                if not start_box:
                    start_box.append(t0)
                latencies.append(t1 - t0)
                measured += 1
        writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.monotonic() - start_box[0]
    return measured, elapsed, latencies, failures


def run_server(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    wait_up(port, proc)
    return proc


def report(name: str, n: int, elapsed: float, lat: list[float], failures: int) -> float:
    rate = n / elapsed
    q = statistics.quantiles(lat, n=100)
    print(
        f"{name:5s} {n:7d} requests in {elapsed:5.1f} s: {rate:7.0f}/s, "
        f"median {statistics.median(lat) * 1000:6.1f} ms, p99 {q[98] * 1000:6.1f} ms, "
        f"failed {failures}"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--compare-cases", action="store_true", help="also run rox serve --no-cases"
    )
    parser.add_argument(
        "--postgres",
        help="a PostgreSQL server URL (…/postgres): also run rox serve on it, 1 and 2 processes",
    )
    parser.add_argument(
        "--only-postgres", action="store_true", help="with --postgres: leave out the DuckDB run"
    )
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    folder = Path(tempfile.mkdtemp(prefix="rox-bench-service-"))
    (folder / "bare_app.py").write_text(BARE)
    ws = folder / "intake.duckdb"
    created = subprocess.run(
        [sys.executable, "-m", "rox", "keys", "create", "bench", "-s", "write", "-w", str(ws)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = created.stdout.strip()
    rates = {}
    # bare endpoint
    port = free_port()
    proc = run_server(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(folder),
         "--port", str(port), "--log-level", "warning"],
        env, port,
    )  # fmt: skip
    try:
        n, el, lat, bad = asyncio.run(
            load(port, None, args.seconds, args.requests, args.concurrency, "bare")
        )
    finally:
        proc.terminate()
        proc.wait()
    rates["bare"] = report("bare", n, el, lat, bad)
    if args.postgres:
        for name, extra in (("pg-1", []), ("pg-2", ["--workers", "2"])):
            rates[name] = postgres_run(name, args, env, extra)
        if args.only_postgres:
            print(f"ratio pg-2/pg-1 {rates['pg-2'] / rates['pg-1']:.2f}; "
                  f"pg-1/bare {rates['pg-1'] / rates['bare']:.2f}, "
                  f"pg-2/bare {rates['pg-2'] / rates['bare']:.2f}")  # fmt: skip
            return
    # rox serve (and, to compare, without cases on arrival)
    runs = [("rox", ws, [])]
    if args.compare_cases:
        runs.append(("rox-nocases", folder / "nocases.duckdb", ["--no-cases"]))
    acked: dict[str, float] = {}
    for name, path, extra in runs:
        key = token if path == ws else new_key(path, env)
        port = free_port()
        proc = run_server(
            [sys.executable, "-m", "rox", "serve", "-w", str(path), "--port", str(port),
             "--client-rate", "0", "--key-rate", "0", *extra],
            env, port,
        )  # fmt: skip
        try:
            n, el, lat, bad = asyncio.run(
                load(port, key, args.seconds, args.requests,
                     args.concurrency, "rox", acked if path == ws else None)
            )  # fmt: skip
        finally:
            proc.terminate()
            proc.wait()
        rates[name] = report(name, n, el, lat, bad)
    con = duckdb_connect(ws)
    stored, distinct = con.execute(
        "SELECT count(*), count(DISTINCT response_id) FROM responses"
    ).fetchone()
    commits = con.execute("SELECT count(*) FROM rox_loads").fetchone()[0]
    opened = [r for (r,) in con.execute("SELECT response_id FROM cases").fetchall()]
    # a detractor's answer opens nothing only inside the life of its customer's open case
    (orphans,) = con.execute(
        "SELECT count(*) FROM responses r WHERE r.score <= 6 AND NOT EXISTS "
        "(SELECT 1 FROM cases c WHERE c.customer_id = r.customer_id AND c.opened_at <= r.ts)"
    ).fetchone()
    con.close()
    print(
        f"rox stored {stored} responses ({distinct} distinct) in {commits} commits "
        f"({stored / max(commits, 1):.1f} per commit); "
        f"ratio rox/bare {rates['rox'] / rates['bare']:.2f}"
    )
    if "rox-nocases" in rates:
        print(f"ratio rox/rox-nocases {rates['rox'] / rates['rox-nocases']:.2f}")
    to_case = sorted(acked[r] for r in opened if r in acked)
    within = sum(1 for t in to_case if t <= 1.0)
    q = statistics.quantiles(to_case, n=100) if len(to_case) > 1 else to_case * 99
    print(
        f"cases opened on arrival: {len(opened)} (for {len(to_case)} acknowledged responses); "
        f"response to case: median {statistics.median(to_case) * 1000:.1f} ms, "
        f"p99 {q[98] * 1000:.1f} ms, max {to_case[-1] * 1000:.1f} ms; "
        f"within 1 s: {within / len(to_case):.1%}; detractor answers without a case: {orphans}"
    )


def postgres_run(
    name: str, args: argparse.Namespace, env: dict[str, str], extra: list[str]
) -> float:
    """``rox serve`` on a fresh database of the ``--postgres`` server; its durable rate."""
    import psycopg

    server = args.postgres.replace("postgres://", "postgresql://", 1)
    database = f"rox_bench_{name.replace('-', '_')}_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {database}")
    url = server.rsplit("/", 1)[0] + "/" + database
    made = subprocess.run(
        [sys.executable, "-m", "rox", "keys", "create", "bench", "-s", "write", "-w", url],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    port = free_port()
    proc = run_server(
        [sys.executable, "-m", "rox", "serve", "-w", url, "--port", str(port),
         "--client-rate", "0", "--key-rate", "0", *extra],
        env, port,
    )  # fmt: skip
    acked: dict[str, float] = {}
    try:
        wait_healthy(port, 2 if extra else 1)
        n, el, lat, bad = asyncio.run(
            load(port, made.stdout.strip(), args.seconds, args.requests, args.concurrency,
                 name, acked)
        )  # fmt: skip
    finally:
        proc.terminate()
        proc.wait()
    rate = report(name, n, el, lat, bad)
    with psycopg.connect(url, autocommit=True) as c:
        stored = [r for (r,) in c.execute("SELECT response_id FROM responses")]
        (commits,) = c.execute("SELECT count(*) FROM rox_loads").fetchone()
    missing = len(set(acked) - set(stored))
    print(
        f"{name}: stored {len(stored)} responses ({len(set(stored))} distinct) in {commits} "
        f"commits ({len(stored) / max(commits, 1):.1f} per commit); acknowledged and missing: "
        f"{missing}"
    )
    return rate


def wait_healthy(port: int, processes: int, timeout: float = 300) -> None:
    """Until /healthz has answered from ``processes`` processes (workers start one by one)."""
    import urllib.request

    end = time.monotonic() + timeout
    seen: set[int] = set()
    while time.monotonic() < end and len(seen) < processes:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                seen.add(json.loads(r.read())["process"])
        except OSError:
            time.sleep(0.2)
    if len(seen) < processes:
        raise RuntimeError(f"{len(seen)} of {processes} processes answered /healthz")


def duckdb_connect(path: Path) -> Any:
    import duckdb

    return duckdb.connect(str(path), read_only=True)


def new_key(path: Path, env: dict[str, str]) -> str:
    """A new write key of ``path``'s workspace."""
    made = subprocess.run(
        [sys.executable, "-m", "rox", "keys", "create", "bench2", "-s", "write", "-w", str(path)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return made.stdout.strip()


if __name__ == "__main__":
    main()
