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

Open loop (#19): ``--rate R`` sends requests at a fixed arrival rate instead (request ``i`` is
due at ``i / R`` seconds after the start, whether or not earlier ones were answered), for
``--seconds`` seconds after a one-second warm-up at the same rate, over a pool of at most
``--concurrency`` keep-alive connections (a request due while every connection is busy waits for
one). Each latency is measured from the request's *scheduled* send time, not from when a
connection took it, so that a stalled server is not hidden by the client sending less
(coordinated omission). It reports the achieved rate (201 answers per second of the window),
the median, p99 and the worst latency, and how far the generator itself fell behind the schedule.
The p99 of the closed loop includes the queue a saturated server builds; the open loop's is the
p99 *at that rate*, as the issue's target states it.

Every run also reports the server's CPU time per request (user + system time of the server
process and its children over the load, divided by the requests answered, warm-up included;
``/proc``, Linux): on a loaded machine it is steadier than the rates and latencies. The load
average is printed at the start and the end, and with ``--rate`` a last line per server says
whether #19's latency target (p99 under 100 ms at the offered rate, the server keeping up: at
least 98% of it achieved) was met in this run.

Paired rounds (#19): the machine this was measured on changes speed by up to 2x within minutes
(docs/benchmarks.md), so one run of each server in turn can give either one the fast minutes.
``--rounds K`` starts both servers once and loads them in alternation, ``K`` rounds of
``--seconds`` each (bare then rox, then rox then bare, ...), and reports each round's ratio
rox / bare, their median and range, and the ratio of the totals: a change of the machine's speed
falls on both sides of a pair alike. The store is checked once at the end, over every round.

PostgreSQL (#19): ``--postgres URL`` (a server where the script may create databases) also runs
``rox serve`` on PostgreSQL, each run on a fresh database: one process, then ``--workers 2`` (two
processes sharing the port and the workspace; batches commit in turn under the loads' lock,
:mod:`rox.ingest.shared`). For each: durable responses/s (a 201 only after the commit), median and
p99, and that the database holds each acknowledged response exactly once. ``--only-postgres``
leaves out the DuckDB run (the bare endpoint always runs, in the same invocation).

Usage::

    python bench/bench_service.py --seconds 15 --concurrency 64
    python bench/bench_service.py --seconds 10 --rate 1000 --concurrency 256
    python bench/bench_service.py --seconds 4 --rounds 8 --concurrency 256
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

#: The status of every request answered in the last load, warm-up included (for CPU per request)
ANSWERED: list[int] = []
#: The load generator's own CPU seconds (this process) over the last load
GENERATOR_CPU: list[float] = [0.0]
#: Each run's achieved rate (/s) and p99 (s), by server name
RESULTS: dict[str, tuple[float, float]] = {}

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
    ANSWERED.clear()
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
            ANSWERED.append(status)
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


async def open_load(
    port: int,
    token: str | None,
    seconds: float,
    max_requests: int,
    rate: float,
    connections: int,
    tag: str,
    acked: dict[str, float] | None = None,
) -> tuple[int, float, list[float], int, float]:
    """Requests at ``rate`` per second (module docstring); latency from each one's due time.

    Returns the requests measured and answered, the window's seconds, their latencies, the
    failures, and the generator's largest lag behind the schedule (seconds).
    """
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    failures = 0
    ANSWERED.clear()
    lag = 0.0
    start = time.monotonic() + 0.1
    warm_until = start + 1.0
    end = warm_until + seconds
    # (bounded in count too: the warm-up's requests, then at most max_requests measured)
    due = min(int(rate * (1.0 + seconds)), int(rate) + max_requests)
    last_done = warm_until
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, at: float) -> None:
        nonlocal failures, last_done
        reader, writer = await pool.get()
        try:
            writer.write(request_bytes(port, token, i, tag))
            status = await read_response(reader)
        finally:
            pool.put_nowait((reader, writer))
        ANSWERED.append(status)
        took = time.monotonic() - at  # from when it was due: queueing anywhere counts
        if status != 201:
            failures += 1
        elif acked is not None:
            acked[f"{tag}-{i}"] = took
        if at >= warm_until:
            if status == 201:
                latencies.append(took)
            last_done = max(last_done, time.monotonic())

    for i in range(due):
        at = start + i / rate
        if at >= end:
            break
        wait = at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        else:
            lag = max(lag, -wait)
        tasks.append(asyncio.create_task(one(i, at)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    # the achieved rate: answers over the window, or until the last answer if that came later
    elapsed = max(min(seconds, due / rate - 1.0), last_done - warm_until)
    return len(latencies), elapsed, latencies, failures, lag


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, s) used so far by process ``pid`` and its children (Linux).

    Children (``--workers``) are found by their parent id in ``/proc``; a process that ended
    since is not counted.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total, parents = 0.0, {pid}
    for stat in sorted(Path("/proc").glob("[0-9]*/stat"), key=lambda p: int(p.parent.name)):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        me, parent = int(stat.parent.name), int(fields[1])
        if me in parents or parent in parents:
            parents.add(me)
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def thread_cpu(pid: int) -> dict[str, tuple[float, int, int]]:
    """CPU seconds and context switches (voluntary, involuntary) by thread name of ``pid`` (Linux).

    The thread running the event loop is ``main``; the others are named ``<comm>-<tid>``.
    """
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[float, int, int]] = {}
    for task in Path(f"/proc/{pid}/task").glob("[0-9]*"):
        try:
            tid = int(task.name)
            name = "main" if tid == pid else f"{(task / 'comm').read_text().strip()}-{tid}"
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = dict(line.split(":", 1) for line in (task / "status").read_text().splitlines())
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick
        vol = int(status["voluntary_ctxt_switches"])
        inv = int(status["nonvoluntary_ctxt_switches"])
        was = out.get(name, (0.0, 0, 0))
        out[name] = (was[0] + cpu, was[1] + vol, was[2] + inv)
    return out


def thread_report(before: dict[str, tuple[float, int, int]], pid: int) -> str:
    """Per thread name: CPU ms per request answered and context switches per request."""
    after = thread_cpu(pid)
    n = max(len(ANSWERED), 1)
    parts = []
    for name, (cpu, vol, inv) in sorted(after.items(), key=lambda kv: -kv[1][0]):
        c0, v0, i0 = before.get(name, (0.0, 0, 0))
        if cpu - c0 < 0.05:
            continue
        parts.append(
            f"{name} {(cpu - c0) / n * 1000:.3f} ms "
            f"(switches {(vol - v0) / n:.2f}+{(inv - i0) / n:.2f})"
        )
    return "; ".join(parts)


def run_server(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    wait_up(port, proc)
    return proc


def report(
    name: str,
    n: int,
    elapsed: float,
    lat: list[float],
    failures: int,
    lag: float | None = None,
    cpu: float | None = None,
) -> float:
    """Print a run's line; ``cpu``: the server's CPU seconds over the load (warm-up included)."""
    rate = n / elapsed
    q = statistics.quantiles(lat, n=100)
    extra = (
        "" if lag is None else f", max {max(lat) * 1000:6.1f} ms, generator lag {lag * 1000:.1f} ms"
    )
    if cpu is not None:  # over every request answered, the warm-up's included
        extra += f", server CPU {cpu / max(len(ANSWERED), 1) * 1000:.3f} ms/request"
        extra += f", generator CPU {GENERATOR_CPU[0] / max(len(ANSWERED), 1) * 1000:.3f} ms/request"
    print(
        f"{name:5s} {n:7d} requests in {elapsed:5.1f} s: {rate:7.0f}/s, "
        f"median {statistics.median(lat) * 1000:6.1f} ms, p99 {q[98] * 1000:6.1f} ms, "
        f"failed {failures}{extra}"
    )
    RESULTS[name] = (rate, q[98])
    return rate


def run_load(
    args: argparse.Namespace,
    port: int,
    token: str | None,
    tag: str,
    acked: dict[str, float] | None = None,
) -> tuple[int, float, list[float], int, float | None]:
    """The closed loop, or with ``--rate`` the open loop, against ``port``.

    The generator's own CPU time over it is left in :data:`GENERATOR_CPU`.
    """
    started = time.process_time()
    try:
        if args.rate:
            return asyncio.run(
                open_load(port, token, args.seconds, args.requests, args.rate, args.concurrency,
                          tag, acked)
            )  # fmt: skip
        n, el, lat, bad = asyncio.run(
            load(port, token, args.seconds, args.requests, args.concurrency, tag, acked)
        )
        return n, el, lat, bad, None
    finally:
        GENERATOR_CPU[0] = time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop: requests per second at fixed arrival times (latency from each one's "
        "due time); --concurrency is then the most connections",
    )
    parser.add_argument(
        "--compare-cases", action="store_true", help="also run rox serve --no-cases"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="closed loop: load bare and rox in alternation, this many rounds of --seconds each, "
        "and report the ratio of each pair (module docstring)",
    )
    parser.add_argument(
        "--postgres",
        help="a PostgreSQL server URL (…/postgres): also run rox serve on it, 1 and 2 processes",
    )
    parser.add_argument(
        "--only-postgres", action="store_true", help="with --postgres: leave out the DuckDB run"
    )
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    try:
        with tempfile.TemporaryDirectory(prefix="rox-bench-service-") as folder:
            run_all(args, Path(folder))
    finally:
        print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        if args.rate:
            verdicts(args.rate)


def verdicts(rate: float) -> None:
    """#19's latency target for each server run: p99 < 100 ms at the offered rate, kept up."""
    for name, (achieved, p99) in RESULTS.items():
        kept = achieved >= 0.98 * rate
        met = kept and p99 < 0.100
        print(f"target p99 < 100 ms at {rate:,.0f}/s offered: {name}: "
              f"{'met' if met else 'NOT met'} (achieved {achieved:,.0f}/s"
              f"{'' if kept else ', did not keep up'}; p99 {p99 * 1000:,.1f} ms)")  # fmt: skip


def run_all(args: argparse.Namespace, folder: Path) -> None:
    """The runs ``args`` ask for, in turn (see the module)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
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
    if args.rounds > 1:
        paired_rounds(args, env, folder, ws, token)
        return
    rates = {}
    # bare endpoint
    port = free_port()
    proc = run_server(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(folder),
         "--port", str(port), "--log-level", "warning"],
        env, port,
    )  # fmt: skip
    try:
        before = cpu_seconds(proc.pid)
        threads = thread_cpu(proc.pid)
        n, el, lat, bad, lag = run_load(args, port, None, "bare")
        cpu = cpu_seconds(proc.pid) - before
        print(f"bare  by thread, per request: {thread_report(threads, proc.pid)}")
    finally:
        proc.terminate()
        proc.wait()
    rates["bare"] = report("bare", n, el, lat, bad, lag, cpu)
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
            before = cpu_seconds(proc.pid)
            threads = thread_cpu(proc.pid)
            n, el, lat, bad, lag = run_load(args, port, key, "rox", acked if path == ws else None)
            cpu = cpu_seconds(proc.pid) - before
            print(f"{name:5s} by thread, per request: {thread_report(threads, proc.pid)}")
        finally:
            proc.terminate()
            proc.wait()
        rates[name] = report(name, n, el, lat, bad, lag, cpu)
    check_store(ws, acked, rates["rox"] / rates["bare"])
    if "rox-nocases" in rates:
        print(f"ratio rox/rox-nocases {rates['rox'] / rates['rox-nocases']:.2f}")


def check_store(ws: Path, acked: dict[str, float], ratio: float) -> None:
    """Print what ``ws`` holds against the responses acknowledged, and the time to each case."""
    con = duckdb_connect(ws)
    stored, distinct = con.execute(
        "SELECT count(*), count(DISTINCT response_id) FROM responses"
    ).fetchone()
    commits = con.execute("SELECT count(*) FROM rox_loads").fetchone()[0]
    opened = [r for (r,) in con.execute("SELECT response_id FROM cases").fetchall()]
    ids = {r for (r,) in con.execute("SELECT response_id FROM responses").fetchall()}
    # a detractor's answer opens nothing only inside the life of its customer's open case
    (orphans,) = con.execute(
        "SELECT count(*) FROM responses r WHERE r.score <= 6 AND NOT EXISTS "
        "(SELECT 1 FROM cases c WHERE c.customer_id = r.customer_id AND c.opened_at <= r.ts)"
    ).fetchone()
    con.close()
    print(
        f"rox stored {stored} responses ({distinct} distinct) in {commits} commits "
        f"({stored / max(commits, 1):.1f} per commit); "
        f"ratio rox/bare {ratio:.2f}"
    )
    print(f"acknowledged and not stored: {len(set(acked) - ids)}")
    to_case = sorted(acked[r] for r in opened if r in acked)
    within = sum(1 for t in to_case if t <= 1.0)
    q = statistics.quantiles(to_case, n=100) if len(to_case) > 1 else to_case * 99
    print(
        f"cases opened on arrival: {len(opened)} (for {len(to_case)} acknowledged responses); "
        f"response to case: median {statistics.median(to_case) * 1000:.1f} ms, "
        f"p99 {q[98] * 1000:.1f} ms, max {to_case[-1] * 1000:.1f} ms; "
        f"within 1 s: {within / len(to_case):.1%}; detractor answers without a case: {orphans}"
    )


def paired_rounds(
    args: argparse.Namespace, env: dict[str, str], folder: Path, ws: Path, token: str
) -> None:
    """``--rounds``: both servers up at once, loaded in alternation (module docstring)."""
    servers: dict[str, tuple[subprocess.Popen[bytes], int, str | None]] = {}
    bare_port, rox_port = free_port(), free_port()
    acked: dict[str, float] = {}
    ratios: list[float] = []
    totals = {"bare": [0, 0.0], "rox": [0, 0.0]}
    cpu = {"bare": 0.0, "rox": 0.0}
    answered = {"bare": 0, "rox": 0}
    #: the CPU seconds the other server used while this one was loaded
    idle_cpu = {"bare": 0.0, "rox": 0.0}
    try:
        servers["bare"] = (run_server(
            [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(folder),
             "--port", str(bare_port), "--log-level", "warning"],
            env, bare_port,
        ), bare_port, None)  # fmt: skip
        servers["rox"] = (run_server(
            [sys.executable, "-m", "rox", "serve", "-w", str(ws), "--port", str(rox_port),
             "--client-rate", "0", "--key-rate", "0"],
            env, rox_port,
        ), rox_port, token)  # fmt: skip
        for k in range(args.rounds):
            rates = {}
            for name in ("bare", "rox") if k % 2 == 0 else ("rox", "bare"):
                proc, port, key = servers[name]
                other = servers["rox" if name == "bare" else "bare"][0]
                before, other_before = cpu_seconds(proc.pid), cpu_seconds(other.pid)
                n, el, _, bad, _ = run_load(
                    args, port, key, f"{name}{k}", acked if name == "rox" else None
                )
                cpu[name] += cpu_seconds(proc.pid) - before
                idle_cpu[name] += cpu_seconds(other.pid) - other_before
                answered[name] += len(ANSWERED)
                if bad:
                    raise RuntimeError(f"round {k}: {bad} requests to {name} not answered 201")
                rates[name] = n / el
                totals[name][0] += n
                totals[name][1] += el
            ratios.append(rates["rox"] / rates["bare"])
            print(f"round {k + 1}: bare {rates['bare']:6.0f}/s, rox {rates['rox']:6.0f}/s, "
                  f"ratio {ratios[-1]:.2f}", flush=True)  # fmt: skip
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait()
    per = {name: n / el for name, (n, el) in totals.items()}
    print(
        f"{args.rounds} rounds of {args.seconds:g} s: bare {per['bare']:.0f}/s, "
        f"rox {per['rox']:.0f}/s; server CPU per request: bare "
        f"{cpu['bare'] / answered['bare'] * 1000:.3f} ms, rox "
        f"{cpu['rox'] / answered['rox'] * 1000:.3f} ms; the idle server's CPU meanwhile: "
        f"rox {idle_cpu['bare']:.2f} s, bare {idle_cpu['rox']:.2f} s"
    )
    print(
        f"ratio rox/bare: median of the rounds {statistics.median(ratios):.2f} "
        f"(range {min(ratios):.2f}-{max(ratios):.2f}); of the totals "
        f"{per['rox'] / per['bare']:.2f}"
    )
    check_store(ws, acked, per["rox"] / per["bare"])


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
        before = cpu_seconds(proc.pid)
        n, el, lat, bad, lag = run_load(args, port, made.stdout.strip(), name, acked)
        cpu = cpu_seconds(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait()
    rate = report(name, n, el, lat, bad, lag, cpu)
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
