"""Every reading command of the CLI gives the same JSON on PostgreSQL and Spark as on DuckDB (#20).

The demo brand is loaded once into each engine; then each command runs as a user runs it, in a
fresh process (``python -m rox ... --workspace URL --format json``), so that nothing the loading
process registered or cached helps it (one fresh process per engine runs the commands one after
another: see ``_run``). Its JSON is compared with DuckDB's: strings, integers and
booleans equal (an integer printed as a float is a difference), floats to 1e-9 relative (engines
add in different orders), rows in the order printed.

A fresh Python process costs a few seconds, a fresh Spark driver (a JVM) 10-30 s more: the
default run compares PostgreSQL on a few commands; the whole matrix, and every Spark case, runs
with the slow tests.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rox.demo

N_CUSTOMERS = 600
SEED = 3
STEPS = "configurator,quote,financing,purchase"

#: Every command that reads the workspace (``rox --help``), with arguments that exercise it.
COMMANDS: dict[str, list[str]] = {
    "nps by channel": ["nps", "--by", "channel"],
    "csat by touchpoint and quarter": ["csat", "--by", "touchpoint", "--period", "quarter"],
    "ces by channel": ["ces", "--by", "channel"],
    "compare periods": [
        "compare",
        "nps",
        "--a",
        "2024-01-01:2024-07-01",
        "--b",
        "2024-07-01:2025-01-01",
    ],
    "compare groups": ["compare", "csat", "--by", "touchpoint"],
    "sample-size": ["sample-size", "nps", "--difference", "10", "--from-workspace"],
    "clv": ["clv", "--top", "10", "--margin", "0.2"],
    "retention": ["retention", "--period", "quarter"],
    "churn": ["retention", "--view", "churn", "--period", "year"],
    "pareto": ["pareto"],
    "journey map": ["journey", "map", "--top", "10", "-j", "purchase"],
    "journey paths": ["journey", "paths"],
    "journey paths from a step": ["journey", "paths", "financing", "--depth", "1"],
    "journey funnel": ["journey", "funnel", STEPS, "--window", "180D"],
    "journey friction": ["journey", "friction", "-j", "purchase"],
    "journey friction by revenue": ["journey", "friction", "--value", "revenue"],
    "journey channels": ["journey", "channels"],
    "journey index status": ["journey", "index", "--status"],
    "audit": ["audit", "--journey", "purchase"],
    "info": ["info"],
    "report": ["report"],  # its JSON: the headline findings (the HTML goes to a file)
    "worth": ["worth"],
    "worth by segment": ["worth", "--by", "segment", "--replicates", "200"],
    # (the small demo: few customers answered two touchpoints, so one driver and an attribute)
    "drivers": [
        "drivers",
        "--drivers",
        "ces:configurator",
        "--attributes",
        "segment",
        "--min-n",
        "5",
        "--n-boot",
        "50",
    ],
    "nonresponse": ["nonresponse"],
    "lifecycle": ["lifecycle", "--period", "quarter"],
    "at-risk": ["at-risk", "--top", "20"],
    "cases list": ["cases", "list"],
    "cases sla": ["cases", "sla"],
    "cases return": ["cases", "return"],
    "nba": ["nba"],
    "themes": ["themes"],
    "rejects": ["rejects"],
    "config": ["config"],
}

#: Fields that differ between two loads by design (when each engine's index was built).
BUILT_AT = {"built_at"}

#: The commands whose PostgreSQL case runs by default (the rest with the slow tests).
DEFAULT = {"nps by channel", "clv", "journey friction", "info"}


def _cases() -> Iterator[Any]:
    for engine in ("postgres", "spark"):
        for name in COMMANDS:
            marks = [getattr(pytest.mark, engine)]
            if engine == "spark" or name not in DEFAULT:
                marks.append(pytest.mark.slow)
            yield pytest.param(engine, name, marks=marks, id=f"{engine}-{name}")


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The workspace URL of each engine holding the demo brand (loaded on first use)."""
    reference = tmp_path_factory.mktemp("duckdb") / "demo.duckdb"
    rox.demo.build(reference, n_customers=N_CUSTOMERS, seed=SEED).close()
    return {"duckdb": str(reference)}


@pytest.fixture
def loaded(urls, request, tmp_path_factory, workspace_url):
    """Return the URL of ``engine``'s demo workspace, loading it the first time."""

    def url(engine: str) -> str:
        if engine not in urls:
            new = workspace_url(engine, request, tmp_path_factory.mktemp(engine))
            if engine == "spark":
                new += "&partition=month"  # the demo's days are small
            rox.demo.build(new, n_customers=N_CUSTOMERS, seed=SEED).close()
            urls[engine] = new
        return urls[engine]

    return url


#: Run in a fresh interpreter: each command of ``argv[1]`` (JSON: name -> arguments) in turn, as
#: ``rox`` runs it, and print {name: [exit code, stdout, stderr]} as JSON.
_BATCH = """
import contextlib, io, json, sys
from rox.cli import main
printed = {}
for name, args in json.loads(sys.argv[1]).items():
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = ["rox", *args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
    printed[name] = [code, out.getvalue(), err.getvalue()]
sys.stdout.write(json.dumps(printed))
"""

_outputs: dict[tuple[str, str], Any] = {}


def _selected(request: pytest.FixtureRequest, engine: str) -> list[str]:
    """The commands this session compares on ``engine`` (on DuckDB: those of every engine)."""
    names = {
        item.callspec.params["name"]
        for item in request.session.items
        if item.originalname == "test_same_json_as_duckdb"
        and engine in ("duckdb", item.callspec.params["engine"])
    }
    return [name for name in COMMANDS if name in names]


def _run(url: str, name: str, folder: Path, request: pytest.FixtureRequest, engine: str) -> Any:
    """The JSON ``rox COMMAND`` prints on ``url``, run in a fresh process.

    One fresh process per engine runs all the commands this session compares on it, one after
    another in the order of :data:`COMMANDS` (a fresh Spark driver costs 10-30 s): nothing the
    loading process registered or cached helps them; each command starts from ``rox``'s own
    entry point with its own arguments.
    """
    if (url, name) not in _outputs:
        batch = {}
        for each in [n for n in _selected(request, engine) if (url, n) not in _outputs] or [name]:
            args = [*COMMANDS[each], "--workspace", url, "--format", "json"]
            if each == "report":
                args += ["--report", str(folder / "report.html")]
            batch[each] = args
        env = {**os.environ, "ROX_WORKSPACE": ""}
        done = subprocess.run([sys.executable, "-c", _BATCH, json.dumps(batch)],
                              capture_output=True, text=True, env=env, cwd=folder,
                              timeout=600 + 60 * len(batch))  # fmt: skip
        assert done.returncode == 0, f"the commands on {url} failed:\n{done.stderr[-2000:]}"
        for each, (code, out, err) in json.loads(done.stdout).items():
            args = " ".join(batch[each])
            assert code == 0, f"rox {args} exited {code}:\n{err[-2000:]}"
            _outputs[url, each] = json.loads(out)
    return _outputs[url, name]


def _differences(expected: Any, got: Any, where: str = "") -> list[str]:
    """Where ``got`` differs from ``expected`` (types kept: 3 and 3.0 differ)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        if list(expected) != list(got):
            return [f"{where}: keys {list(got)}, expected {list(expected)}"]
        return [d for k in expected if k not in BUILT_AT
                for d in _differences(expected[k], got[k], f"{where}.{k}")]  # fmt: skip
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{where}: {len(got)} items, expected {len(expected)}"]
        return [d for i, (e, g) in enumerate(zip(expected, got, strict=True))
                for d in _differences(e, g, f"{where}[{i}]")]  # fmt: skip
    if isinstance(expected, float) and isinstance(got, float):
        if math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-12):
            return []
    elif type(expected) is type(got) and expected == got:
        return []
    return [f"{where}: {got!r}, expected {expected!r}"]


def test_the_comparison_sees_a_difference():
    """The comparison itself: equal within tolerance passes; types, order and values count."""
    assert _differences([{"a": 1, "b": 0.1 + 0.2}], [{"a": 1, "b": 0.3}]) == []
    assert _differences({"n": 3}, {"n": 3.0}) == [".n: 3.0, expected 3"]
    assert _differences([{"x": "a"}, {"x": "b"}], [{"x": "b"}, {"x": "a"}]) != []
    assert _differences({"v": 1.0}, {"v": 1.0 + 1e-8}) != []
    assert _differences({"a": 1, "b": 2}, {"b": 2, "a": 1}) != []
    assert _differences({"built_at": "2026-01-01"}, {"built_at": "2026-01-02"}) == []


@pytest.mark.parametrize(("engine", "name"), list(_cases()))
def test_same_json_as_duckdb(
    engine: str, name: str, loaded, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    expected = _run(loaded("duckdb"), name, tmp_path, request, "duckdb")
    got = _run(loaded(engine), name, tmp_path, request, engine)
    # (the demo has no rejects: that command shows it can read an empty table, the same way)
    assert expected or name == "rejects", f"rox {name} printed nothing on DuckDB"
    differences = _differences(expected, got)
    assert not differences, f"{len(differences)} differences, first: " + "; ".join(differences[:5])


@pytest.mark.slow
@pytest.mark.spark
def test_the_issue_lines_work_from_a_fresh_shell(spark_session, tmp_path: Path) -> None:
    """#20's lines: ROX_WORKSPACE names a relative lake; ingest, then nps, each a new process."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    survey = ["responses", str(examples / "survey.csv"), "--mapping", str(examples / "survey.toml"),
              "--on-error", "quarantine"]  # fmt: skip
    printed = {}
    for name, workspace in [("duckdb", "rox.duckdb"), ("spark", "spark://local[2]?lake=./lake")]:
        folder = tmp_path / name
        folder.mkdir()
        env = {**os.environ, "ROX_WORKSPACE": workspace}
        for args in (["ingest", *survey], ["nps", "--by", "channel", "--format", "json"]):
            done = subprocess.run([sys.executable, "-m", "rox", *args], capture_output=True,
                                  text=True, env=env, cwd=folder, timeout=600)  # fmt: skip
            assert done.returncode == 0, done.stderr[-2000:]
        printed[name] = json.loads(done.stdout)
    assert (tmp_path / "spark" / "lake" / "responses").is_dir()
    assert [r["channel"] for r in printed["spark"]] == ["dealer", "phone", "web"]
    assert _differences(printed["duckdb"], printed["spark"]) == []
