"""The rox command end to end on the demo brand: every command, every format, clean errors."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rox.errors import (
    EXIT_CODES,
    MetricError,
    SourceError,
    TableNotFoundError,
    ValidationError,
    WorkspaceError,
)
from rox.testing import run_cli as rox


@pytest.fixture
def cli(tmp_path, monkeypatch, rox_here):
    """``rox ARGS [--workspace WORKSPACE]`` run in this process, as a completed process.

    In ``tmp_path``, without ``ROX_WORKSPACE`` (the shared ``rox_here`` fixture: no interpreter
    start per command).
    """
    monkeypatch.delenv("ROX_WORKSPACE", raising=False)

    def run(*args: str, workspace: Path | None = None) -> subprocess.CompletedProcess[str]:
        extra = ["--workspace", str(workspace)] if workspace is not None else []
        code, out, err = rox_here(*args, *extra, cwd=tmp_path)
        return subprocess.CompletedProcess(["rox", *args, *extra], code, out, err)

    return run


@pytest.fixture
def here(tmp_path, monkeypatch, rox_here):
    """``rox ARGS`` in this process, in ``tmp_path``, without ROX_WORKSPACE: (code, out, err)."""
    monkeypatch.delenv("ROX_WORKSPACE", raising=False)
    return lambda args: rox_here(*args, cwd=tmp_path)


@pytest.mark.parametrize("metric", ["nps", "csat", "ces"])
def test_metric_commands_in_every_format(demo_path, metric, cli):
    table = cli(metric, "--by", "touchpoint", workspace=demo_path)
    assert table.returncode == 0, table.stderr
    assert "interval" in table.stdout
    csv = cli(
        metric,
        "--by",
        "touchpoint,channel",
        "--period",
        "quarter",
        "-f",
        "csv",
        workspace=demo_path,
    )
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert list(frame.columns[:3]) == ["touchpoint", "channel", "period"]
    assert {"estimate", "ci_low", "ci_high", "n", "low_n"} <= set(frame.columns)
    records = json.loads(cli(metric, "-f", "json", workspace=demo_path).stdout)
    assert len(records) == 1
    # #22: the values, against the raw responses read with plain DuckDB and written-out formulas
    scores = _raw_scores(demo_path, metric)
    n, z = len(scores), stats.norm.ppf(0.975)
    result = records[0]
    assert result["n"] == n > 0
    if metric == "nps":  # Rocks (2016) adjusted Wald: 3/4 promoter and detractor added, n + 3
        p, d = (scores >= 9).mean(), (scores <= 6).mean()
        pa, da = (n * p + 0.75) / (n + 3), (n * d + 0.75) / (n + 3)
        half = z * np.sqrt((pa + da - (pa - da) ** 2) / (n + 3))
        expected = [100 * (p - d), 100 * (pa - da - half), 100 * (pa - da + half)]
    elif metric == "csat":  # share of 4-5 with its Wilson interval
        expected = [
            100 * (scores >= 4).mean(),
            *(100 * w for w in _wilson(int((scores >= 4).sum()), n)),
        ]
    else:  # mean effort with its Student t interval
        half = stats.t.ppf(0.975, n - 1) * scores.std(ddof=1) / np.sqrt(n)
        expected = [scores.mean(), scores.mean() - half, scores.mean() + half]
        assert result["easy"] == pytest.approx(100 * (scores >= 5).mean())
    assert [result["estimate"], result["ci_low"], result["ci_high"]] == pytest.approx(expected)


def _raw_scores(demo_path: Path, metric: str) -> np.ndarray:
    """The scores of one metric in the demo file, read with DuckDB alone (no rox)."""
    with duckdb.connect(str(demo_path), read_only=True) as con:
        rows = con.execute("SELECT score FROM responses WHERE metric = ?", [metric]).fetchall()
    return np.array([r[0] for r in rows], dtype=float)


def _wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson (1927) 95% score interval of k successes in n, written out."""
    z, p = stats.norm.ppf(0.975), k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def test_metric_with_since_until(demo_path, cli):
    whole = json.loads(cli("nps", "-f", "json", workspace=demo_path).stdout)[0]["n"]
    part = json.loads(
        cli(
            "nps",
            "-f",
            "json",
            "--since",
            "2024-01-01",
            "--until",
            "2025-01-01",
            workspace=demo_path,
        ).stdout
    )[0]["n"]
    assert 0 < part < whole


def test_compare_periods_and_groups(demo_path, cli):
    out = cli(
        "compare",
        "nps",
        "--a",
        "2023-07-01:2024-07-01",
        "--b",
        "2024-07-01:2025-07-01",
        workspace=demo_path,
    )
    assert out.returncode == 0, out.stderr
    assert "a real difference" in out.stdout
    groups = json.loads(
        cli("compare", "csat", "--by", "touchpoint", "-f", "json", workspace=demo_path).stdout
    )
    worst = min(groups, key=lambda r: r["difference"])
    assert worst["b"] == "financing" and worst["significant"]


def test_sample_size(demo_path, cli):
    out = cli("sample-size", "nps", "--margin", "5")
    assert out.stdout.startswith("NPS: 1,534 responses are needed")
    plan = json.loads(
        cli(
            "sample-size",
            "nps",
            "--difference",
            "10",
            "--from-workspace",
            "-f",
            "json",
            workspace=demo_path,
        ).stdout
    )
    assert plan[0]["goal"] == "difference" and plan[0]["n"] > 0
    # worst case, written out: n = z^2 V / E^2 - 3 with V = 1 (Rocks 2016), E = 0.05
    assert out.stdout.startswith(f"NPS: {math.ceil(stats.norm.ppf(0.975) ** 2 / 0.05**2 - 3):,}")


def test_info_lists_the_tables(demo_path, cli):
    records = json.loads(cli("info", "-f", "json", workspace=demo_path).stdout)
    rows = {r["table"]: r["rows"] for r in records}
    with duckdb.connect(str(demo_path), read_only=True) as con:
        expected = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # the four fixed names
            for t in ("customers", "transactions", "events", "responses")
        }
    assert {t: rows[t] for t in expected} == expected
    assert rows["customers"] == 5_000 and rows["responses"] > 0


def test_ingest_and_rejects(tmp_path):
    ws = tmp_path / "w.duckdb"
    good = tmp_path / "good.csv"
    good.write_text("ts,metric,score\n2024-01-01,nps,9\n2024-01-02,nps,3\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,metric,score\n2024-01-01,nps,9\n2024-01-02,nps,12\n")
    first = rox("ingest", "responses", str(good), workspace=ws)
    assert first.returncode == 0, first.stderr
    assert "Loaded 2 of 2 rows into responses" in first.stdout
    again = rox("ingest", "responses", str(good), workspace=ws)
    assert "Loaded 0 of 2 rows" in again.stdout and "2 skipped" in again.stdout
    refused = rox("ingest", "responses", str(bad), workspace=ws)
    assert refused.returncode == EXIT_CODES[ValidationError]
    assert refused.stderr.startswith("error: 1 of 2 rows are invalid; nothing was loaded.")
    assert "Traceback" not in refused.stderr
    kept = rox("ingest", "responses", str(bad), "--on-error", "quarantine", workspace=ws)
    assert kept.returncode == 0
    rejects = pd.read_csv(io.StringIO(rox("rejects", "-f", "csv", workspace=ws).stdout))
    assert rejects[["row", "column", "value"]].values.tolist() == [[2, "score", 12]]


def test_ingest_with_a_mapping(tmp_path):
    ws = tmp_path / "w.duckdb"
    source = tmp_path / "s.csv"
    source.write_text("When,Q1\n01/02/2024,4\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns]\nWhen = "ts"\nQ1 = "score"\n[constants]\nmetric = "csat"\n'
        '[timestamps]\nformat = "%d/%m/%Y"\n'
    )
    out = rox("ingest", "responses", str(source), "--mapping", str(mapping), workspace=ws)
    assert out.returncode == 0, out.stderr
    record = json.loads(rox("csat", "-f", "json", workspace=ws).stdout)[0]
    assert (record["n"], record["estimate"]) == (1, 100.0)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (
            ["ingest", "responses", "/nonexistent.csv"],
            SourceError,
            "/nonexistent.csv: no such file",
        ),
        (  # a lake URL is named as given, "//" and all (as a Path it was "s3a:/b/x.csv")
            ["ingest", "responses", "s3a://bucket/x.csv"],
            SourceError,
            "s3a://bucket/x.csv: no such file",
        ),
        (["nps", "--by", "shop"], MetricError, "cannot break down by 'shop'"),
        (
            ["compare", "nps", "--a", "2024Q5", "--b", "2024Q1"],
            MetricError,
            "cannot read the period '2024Q5'",
        ),
    ],
)
def test_errors_are_one_line_with_their_exit_code(demo_path, tmp_path, args, error, message, cli):
    ws = demo_path if args[0] != "ingest" else tmp_path / "w.duckdb"
    out = cli(*args, workspace=ws)
    assert out.returncode == EXIT_CODES[error]
    assert out.stderr.startswith(f"error: {message}")
    assert out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr


def test_missing_workspace_is_a_clear_error(tmp_path):
    out = rox("nps", workspace=tmp_path / "none.duckdb")
    assert out.returncode == 3
    assert "does not exist; create it with `rox demo` or `rox ingest`" in out.stderr


def test_usage_errors_exit_2(demo_path, cli):
    out = cli("nps", "--period", "fortnight", workspace=demo_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


@pytest.mark.slow  # two demo builds and reports (the default run has test_first_hour's)
def test_demo_builds_analyses_and_writes_the_report(tmp_path):
    out = rox("demo", "--customers", "2000", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "NPS is" in out.stdout and "CSAT is" in out.stdout
    report = tmp_path / "rox-report.html"
    # the default workspace, which every other command opens (#14)
    assert report.is_file() and (tmp_path / "rox.duckdb").is_file()
    assert rox("nps", cwd=tmp_path).returncode == 0
    assert "Return on Experience" in report.read_text(encoding="utf-8")
    again = rox("demo", "--customers", "2000", "-f", "json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    headline = json.loads(again.stdout[again.stdout.index("[") :])
    assert [r["metric"] for r in headline] == ["nps", "csat", "ces"]


@pytest.mark.slow  # fits the CLV models (test_first_hour runs rox clv)
def test_value_commands(demo_path, cli):
    out = cli("clv", "--top", "5", "--margin", "0.2", "-f", "json", workspace=demo_path)
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)
    assert len(records) == 5 and records[0]["clv"] >= records[-1]["clv"]
    table = cli("retention", "--period", "quarter", workspace=demo_path)
    assert table.returncode == 0 and "since acquisition" in table.stdout
    churn = pd.read_csv(
        io.StringIO(
            cli(
                "retention", "--view", "churn", "--period", "year", "-f", "csv", workspace=demo_path
            ).stdout
        )
    )
    assert {"period", "churn_rate"} <= set(churn.columns)
    pareto = cli("pareto", workspace=demo_path)
    assert pareto.stdout.startswith("The top 20% of ")


@pytest.mark.slow  # prices friction by CLV, audits (test_first_hour runs rox audit)
def test_journey_commands(demo_path, cli):
    out = cli("audit", "--journey", "purchase", workspace=demo_path)
    assert out.returncode == 0, out.stderr
    assert "the biggest friction point is financing" in out.stdout
    edges = json.loads(
        cli(
            "journey", "map", "--top", "5", "-j", "purchase", "-f", "json", workspace=demo_path
        ).stdout
    )
    assert len(edges) == 5 and edges[0]["transitions"] >= edges[-1]["transitions"]
    steps = "configurator,quote,financing,purchase"
    f = pd.read_csv(
        io.StringIO(
            cli(
                "journey", "funnel", steps, "--window", "180D", "-f", "csv", workspace=demo_path
            ).stdout
        )
    )
    assert f["step"].tolist() == steps.split(",")
    assert f["journeys"].is_monotonic_decreasing and (f["journeys"] > 0).all()
    # #22: each step's interval is Wilson's for the journeys reaching it of those reaching the
    # previous step, written out here
    previous = f["journeys"].shift(fill_value=f["journeys"].iloc[0])
    expected = [_wilson(k, n) for k, n in zip(f["journeys"], previous, strict=True)]
    # (CSV is rounded for reading, to 3 decimals here; JSON keeps full precision)
    assert f["ci_low"].tolist() == pytest.approx([lo for lo, _ in expected], abs=5e-4)
    assert f["ci_high"].tolist() == pytest.approx([hi for _, hi in expected], abs=5e-4)
    paths = cli("journey", "paths", "financing", "--depth", "1", "-f", "json", workspace=demo_path)
    assert {p["path"] for p in json.loads(paths.stdout)} >= {"financing", "financing > purchase"}
    friction = json.loads(
        cli("journey", "friction", "-j", "purchase", "-f", "json", workspace=demo_path).stdout
    )
    assert friction[0]["step"] == "financing"
    assert {"customers_affected", "value_at_risk"} <= set(friction[0])
    by_revenue = cli("journey", "friction", "--value", "revenue", workspace=demo_path)
    assert "value: revenue to date" in by_revenue.stdout.replace("\n", " ")
    bad = cli("journey", "friction", "--value", "margin", workspace=demo_path)
    assert bad.returncode == 2 and "margin" in bad.stderr
    channels = cli("journey", "channels", workspace=demo_path)
    assert "journeys use more than one channel" in channels.stdout


def test_journey_index_command(demo_path, tmp_path, cli):
    path = tmp_path / "demo.duckdb"
    path.write_bytes(demo_path.read_bytes())
    shown = json.loads(cli("journey", "index", "--status", "-f", "json", workspace=path).stdout)
    assert shown[0]["fresh"] is True and shown[0]["journeys"].startswith("as loaded")
    built = cli("journey", "index", "--gap", "14D", "--exclude", "survey", "-f", "json",
                workspace=path)  # fmt: skip
    assert built.returncode == 0, built.stderr
    info = json.loads(built.stdout)[0]
    assert info["journeys"] == "exclude=['survey']; gap=14 days 00:00:00" and info["fresh"]
    assert "Journey index dropped." in cli("journey", "index", "--drop", workspace=path).stdout
    missing = cli("journey", "index", "--status", workspace=path)
    assert missing.returncode == 1 and "has no journey index" in missing.stdout
    both = cli("journey", "index", "--status", "--drop", workspace=path)
    assert both.returncode == 2


# -- the first hour (#14) -------------------------------------------------------------------------

#: Every command that reads a canonical table, with the table it needs.
_NEEDS = [
    (["nps"], "responses"),
    (["nps", "--by", "touchpoint,channel", "--period", "month", "--format", "csv"], "responses"),
    (["csat", "-f", "json"], "responses"),
    (["ces"], "responses"),
    (["compare", "nps", "--a", "2024H1", "--b", "2024H2"], "responses"),
    (["compare", "csat", "--by", "touchpoint"], "responses"),
    (["sample-size", "nps", "--margin", "3", "--from-workspace"], "responses"),
    (["clv"], "transactions"),
    (["retention", "--period", "quarter"], "transactions"),
    (["pareto"], "transactions"),
    (["audit", "--journey", "purchase"], "events"),
    (["journey", "map"], "events"),
    (["journey", "paths"], "events"),
    (["journey", "funnel", "configurator,quote"], "events"),
    (["journey", "friction"], "events"),
    (["journey", "channels"], "events"),
    (["journey", "index"], "events"),
    (["worth"], "transactions"),
    (["worth", "--by", "segment", "-f", "json"], "transactions"),
    (["drivers"], "responses"),
    (["drivers", "--outcome", "churn"], "responses"),
]


@pytest.mark.parametrize(("args", "table"), _NEEDS, ids=[" ".join(a) for a, _ in _NEEDS])
def test_a_command_on_an_empty_workspace_says_what_to_load(tmp_path, here, args, table):
    import rox

    rox.open(tmp_path / "rox.duckdb").close()
    code, out, err = here(args)
    assert code == EXIT_CODES[TableNotFoundError] == 4
    assert f"has no {table}; load it with `rox ingest {table} FILE`" in err
    assert out == ""


def test_a_partly_filled_workspace_names_the_missing_table(tmp_path, here):
    import rox

    with rox.open(tmp_path / "rox.duckdb") as ws:
        ws.ingest(
            "responses", pd.DataFrame({"ts": ["2024-01-01"], "metric": ["nps"], "score": [9]})
        )
    assert here(["nps", "-f", "csv"])[0] == 0
    code, _, err = here(["clv"])
    assert code == 4 and "has no transactions" in err
    code, _, err = here(["report"])
    assert code == 0, err
    assert "note: no transactions, so the report leaves out customer value" in err
    assert "note: no events, so the report leaves out the journeys" in err
    assert (tmp_path / "rox-report.html").is_file()


def test_report_on_an_empty_workspace_says_there_is_nothing_to_report(tmp_path, here):
    import rox

    rox.open(tmp_path / "rox.duckdb").close()
    code, _, err = here(["report"])
    assert code == 4 and "holds no responses, transactions or events" in err
    assert not (tmp_path / "rox-report.html").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "responses", "/nonexistent.csv"],
        ["config", "currency", "EURO"],
        ["nps"],
        ["info"],
        ["journey", "index", "--drop"],
    ],
)
def test_a_failing_command_leaves_no_workspace_behind(tmp_path, here, args):
    code, _, err = here(args)
    assert code not in (0, 70), err
    assert err.startswith("error: ")
    assert list(tmp_path.iterdir()) == []


def test_writing_commands_create_the_default_workspace(tmp_path, here):
    source = tmp_path / "r.csv"
    source.write_text("ts,metric,score\n2024-01-01,nps,9\n")
    code, _, err = here(["ingest", "responses", str(source)])
    assert code == 0, err
    assert (tmp_path / "rox.duckdb").is_file()


def test_rox_demo_refuses_a_workspace_it_did_not_build(tmp_path, here):
    source = tmp_path / "r.csv"
    source.write_text("ts,metric,score\n2024-01-01,nps,9\n")
    here(["ingest", "responses", str(source)])
    code, _, err = here(["demo", "--customers", "1000"])
    assert code == EXIT_CODES[WorkspaceError]
    assert "holds data rox demo did not build (1 responses)" in err
    assert "--force" in err
    code, out, _ = here(["nps", "-f", "json"])
    assert json.loads(out)[0]["n"] == 1  # left as it was


def test_rox_demo_builds_in_an_empty_workspace_and_says_so(tmp_path, here):
    import rox

    rox.open(tmp_path / "rox.duckdb").close()  # what a failed command used to leave behind
    code, _, err = here(["demo", "--customers", "1000"])
    assert code == 0, err
    assert "Found an empty workspace" in err and "not built by rox demo" in err
    with rox.open(tmp_path / "rox.duckdb", read_only=True) as ws:
        assert ws.settings() == {"currency": "EUR", "demo": "customers=1000 seed=7"}


def test_help_says_how_the_workspace_is_chosen_and_shows_no_bool_type(cli):
    out = cli("--help")
    text = " ".join(out.stdout.split())
    assert "--workspace (-w)" in text and "ROX_WORKSPACE" in text and "rox.duckdb" in text
    for command in (["--help"], ["demo", "--help"], ["journey", "index", "--help"]):
        assert "<bool>" not in cli(*command).stdout


def test_csv_and_tables_are_rounded_and_json_keeps_full_precision(demo_path, cli):
    csv = cli("nps", "--by", "touchpoint,channel", "--period", "month", "-f", "csv",
              workspace=demo_path).stdout  # fmt: skip
    frame = pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)
    numbers = frame[["estimate", "ci_low", "ci_high", "promoters", "passives", "se"]]
    assert not numbers.map(lambda v: "e-" in v or len(v.partition(".")[2]) > 3).any().any()
    assert set(frame["low_n"]) <= {"yes", "no"}
    records = json.loads(cli("nps", "--by", "touchpoint", "-f", "json", workspace=demo_path).stdout)
    assert any(len(str(r["ci_low"]).partition(".")[2]) > 3 for r in records)
    table = cli("compare", "csat", "--by", "touchpoint", workspace=demo_path).stdout
    assert "<0.001" in table and " True " not in table and " False " not in table


def test_money_is_shown_with_the_workspace_currency(demo_path, tmp_path, cli):
    path = tmp_path / "demo.duckdb"
    path.write_bytes(demo_path.read_bytes())
    assert cli("config", "currency", "usd", workspace=path).stdout.strip() == "currency = USD"
    audit = cli("audit", "--journey", "purchase", "--value", "revenue", workspace=path)
    assert "worth about USD " in " ".join(audit.stdout.split())
    bad = cli("config", "currency", "dollars", workspace=path)
    assert bad.returncode == EXIT_CODES[WorkspaceError] and "ISO 4217" in bad.stderr
    unknown = cli("config", "colour", "red", workspace=path)
    assert unknown.returncode == 2


def test_every_journey_command_takes_the_journey_options():
    from typer.main import get_command

    from rox.cli import app, commands  # noqa: F401 - registers the commands

    root = get_command(app)
    journey = root.commands["journey"]
    wanted = {"--journey", "--gap", "--start", "--end", "--merge", "--exclude", "--collapse",
              "--since", "--until"}  # fmt: skip
    commands_ = [*journey.commands.values(), root.commands["audit"]]
    for command in commands_:
        options = {o for p in command.params for o in p.opts}
        assert wanted <= options, command.name


def test_start_end_and_merge_reach_the_journey_query(demo_path, tmp_path, cli):
    path = tmp_path / "demo.duckdb"
    path.write_bytes(demo_path.read_bytes())
    built = cli("journey", "index", "--start", "configurator", "--end", "purchase",
                "--merge", "^test_drive_=test_drive", "-f", "json", workspace=path)  # fmt: skip
    assert built.returncode == 0, built.stderr
    described = json.loads(built.stdout)[0]["journeys"]
    assert "start=configurator" in described and "end=purchase" in described
    assert "merge=[['^test_drive_', 'test_drive']]" in described
    bad = cli("journey", "paths", "--merge", "test_drive", workspace=path)
    assert bad.returncode == 2 and "PATTERN=STEP" in bad.stderr


def test_the_command_line_imports_only_what_a_command_needs():
    """`rox nps` stays quick to start (#14): the command modules import the analyses they call
    when called, and the intervals it prints need no ``scipy.special`` (about 0.4 s to import)."""
    code = (
        "import sys, rox.cli.commands; "
        "heavy = [m for m in ('rox.impact', 'rox.value', 'rox.journey', 'rox.ingest', 'rox.report',"
        " 'scipy.special', 'plotly') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
