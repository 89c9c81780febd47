"""Workspaces on every engine: loads are atomic, quarantined, idempotent and kept; CDNOW's fit.

Each test runs on DuckDB, on a real PostgreSQL server and on Spark local mode (see conftest.py).
"""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest

import rox
from rox.errors import ValidationError, WorkspaceError
from rox.testing import responses_frame, run_cli, table_counts
from rox.value.models import BetaGeoModel


def _responses(n: int = 3) -> pd.DataFrame:
    """``n`` NPS responses r1, r2, ... (scores 10, 7, 3, 9, 0, 8), daily at 10:00 from Jan 1."""
    ids = [f"r{i}" for i in range(1, n + 1)]
    scores = [10, 7, 3, 9, 0, 8][:n]
    return responses_frame("nps", scores, start="2024-01-01 10:00", freq="D", response_id=ids)


#: Each engine in turn, Spark with the slow tests (CI runs them): for the tests that take more
#: than ~10 s on Spark; the others keep Spark in the default run (#14).
SLOW_ON_SPARK = pytest.mark.parametrize(
    "backend",
    [
        pytest.param("duckdb"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.slow]),
    ],
    indirect=True,
)


def _write_csv(path, frame: pd.DataFrame):
    frame.to_csv(path, index=False)
    return path


@SLOW_ON_SPARK
def test_a_failing_load_leaves_the_workspace_unchanged(any_ws, tmp_path):
    any_ws.ingest("responses", _responses(2))
    before = table_counts(any_ws)
    good = _write_csv(tmp_path / "good.csv", _responses(4).iloc[2:])
    bad_frame = _responses(6).iloc[4:].astype({"score": object})
    bad_frame.loc[5, "score"] = "x"
    bad = _write_csv(tmp_path / "bad.csv", bad_frame)
    with pytest.raises(ValidationError, match=r"bad.csv, row 2, column 'score'"):
        any_ws.ingest("responses", [good, bad])
    assert table_counts(any_ws) == before


def test_quarantine_keeps_every_rejected_row_with_its_reason(any_ws, tmp_path):
    frame = _responses(6).astype({"score": object, "metric": object})
    frame.loc[1, "score"] = 42
    frame.loc[3, ["metric", "score"]] = ["nope", "x"]
    report = any_ws.ingest(
        "responses", _write_csv(tmp_path / "r.csv", frame), on_error="quarantine"
    )
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (6, 4, 2)
    rejects = any_ws.table("rejects").order_by(["row", "column"]).execute()
    assert rejects[["row", "column", "value"]].values.tolist() == [
        [2, "score", "42"],
        [4, "metric", "nope"],
        [4, "score", "x"],
    ]
    assert json.loads(rejects["record"].iloc[0])["score"] == "42"
    loads = any_ws.table("rox_loads").execute()
    assert loads[["load_id", "rows_read", "rows_loaded", "rows_rejected"]].values.tolist() == [
        [report.load_id, 6, 4, 2]
    ]


def test_loads_are_idempotent_and_never_overwrite(any_ws, tmp_path):
    source = _write_csv(tmp_path / "r.csv", _responses())
    first = any_ws.ingest("responses", source)
    second = any_ws.ingest("responses", source)
    assert (first.rows_loaded, second.rows_loaded, second.rows_skipped) == (3, 0, 3)
    assert second.load_id == first.load_id + 1
    changed = _responses().assign(score=[10, 7, 4])
    report = any_ws.ingest("responses", changed, on_error="quarantine")
    assert (report.rows_loaded, report.rows_rejected, report.rows_skipped) == (0, 1, 2)
    scores = any_ws.table("responses").order_by("response_id").execute()["score"].tolist()
    assert scores == [10.0, 7.0, 3.0]


def test_extra_columns_and_declared_scales_are_kept(any_ws):
    any_ws.ingest("responses", _responses().assign(store=["Lyon", "Paris", "Nice"]))
    any_ws.ingest("responses", _responses(4).iloc[[3]])
    got = any_ws.table("responses").order_by("response_id").execute()
    assert got["store"].tolist()[:3] == ["Lyon", "Paris", "Nice"]
    assert pd.isna(got["store"].iloc[3])
    frame = pd.DataFrame({"ts": ["2024-01-01"] * 2, "metric": ["csat"] * 2, "score": [10, 2]})
    scales = {"scales": {"csat": {"low": 1, "high": 10, "top_from": 8}}}
    any_ws.ingest("responses", frame, mapping=scales)
    assert any_ws.scale("csat", "1-10").top_from == 8
    result = rox.experience.csat(any_ws).frame
    assert result["n"].tolist() == [2]


def test_a_workspace_is_still_there_when_opened_again(backend, request, tmp_path, workspace_url):
    url = workspace_url(backend, request, tmp_path)
    with rox.open(url) as ws:
        ws.ingest("responses", _responses().assign(store=["Lyon", "Paris", "Nice"]))
    with rox.open(url) as ws:
        assert ws.count("responses") == 3
        assert "store" in ws.table("responses").columns
        assert ws.count("rox_loads") == 1
        assert ws.ingest("responses", _responses()).rows_skipped == 3


def test_a_workspace_opened_read_only_reads_everything_and_writes_nothing(
    backend, request, tmp_path, workspace_url
):
    """#20: as every analysis command opens it, in a connection that did not load the data."""
    url = workspace_url(backend, request, tmp_path)
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b"],
            "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00"] * 2, utc=True),
            "step": ["visit", "buy", "visit", "help"],
        }
    )
    with rox.open(url) as ws:
        ws.ingest("responses", _responses())
        ws.ingest("events", events)
    with rox.open(url, read_only=True) as ws:
        assert rox.experience.nps(ws).frame["n"].tolist() == [3]  # registered
        assert ws.count("rejects") == 0  # never written to (on Spark: no folder), read as empty
        assert ws.settings() == {}
        # a journey analysis prepares its journeys in a temporary table (PostgreSQL)
        table = rox.impact.friction(ws, goal="buy", value="revenue")
        assert table.frame.set_index("step").loc["help", "exits"] == 1
        with pytest.raises(WorkspaceError, match="read-only"):
            ws.ingest("responses", _responses())
        with pytest.raises(WorkspaceError, match="read-only"):
            ws.set_setting("currency", "EUR")
        with pytest.raises(WorkspaceError, match="read-only"):
            rox.journey.build_index(ws)
        if backend == "spark":  # the engine itself refuses: nothing in the lake changes
            with pytest.raises(WorkspaceError, match="read-only"):
                ws.engine.drop_table("responses")
            with pytest.raises(WorkspaceError, match="read-only"):
                ws.engine.append({"responses": ws.table("responses").to_pyarrow()})
    with rox.open(url, read_only=True) as ws:
        assert ws.count("responses") == 3 and ws.count("events") == 4


@SLOW_ON_SPARK
def test_cdnow_loaded_into_each_engine_gives_the_published_fit(any_ws, ingest_cdnow, cdnow_folder):
    """BG/NBD on CDNOW (Fader, Hardie & Lee 2005): r=0.243, alpha=4.414, a=0.793, b=2.426."""
    ingest_cdnow(any_ws)
    summary = rox.value.rfm(any_ws, calibration_end="1997-09-30")
    published = pd.read_csv(cdnow_folder / "cdnow_customers_summary.csv")
    assert len(summary.frame) == len(published) == 2357
    assert summary.frame["frequency"].sum() == published["frequency"].sum()
    # the engine compresses the customers to the likelihood's sufficient statistics
    stats = rox.value.sufficient_statistics(any_ws, calibration_end="1997-09-30")
    assert (len(stats), stats["count"].sum()) == (1016, 2357)
    pd.testing.assert_frame_equal(stats, summary.compressed(), check_dtype=False)
    model = BetaGeoModel().fit(stats)
    assert model.params_.round(3).tolist() == [0.243, 4.414, 0.793, 2.426]
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)


# -- engine specifics ------------------------------------------------------------------------------
@SLOW_ON_SPARK
def test_a_refreshed_journey_index_equals_a_full_build(
    backend, request, tmp_path, workspace_url, monkeypatch
):
    """#19: each load refreshes the journeys it touches; the tables are the full build's."""
    import rox.journey.index as journey_index
    from rox.testing import journey_index_tables

    def events(rows):
        return pd.DataFrame(rows, columns=["customer_id", "ts", "step", "journey"])

    monkeypatch.setattr(journey_index, "FULL_SHARE", 1.0)  # refresh, however many events
    with rox.open(workspace_url(backend, request, tmp_path)) as ws:
        ws.ingest("events", events([("a", "2024-01-01 10:00", "visit", None),
                                    ("a", "2024-01-01 12:00", "buy", None),
                                    ("b", "2024-01-02 09:00", "visit", "b-1"),
                                    ("c", "2024-01-02 09:00", "visit", None)]))  # fmt: skip
        rox.journey.build_index(ws, gap="3h")
        build = journey_index.build_index

        def no_full_build(*args, **kwargs):
            raise AssertionError("the load rebuilt the index in full")

        monkeypatch.setattr(journey_index, "build_index", no_full_build)  # (else: dropped)
        # a late event joining a's two journeys (2 h from each), a tie, a new customer
        ws.ingest("events", events([("a", "2024-01-01 11:00", "quote", None),
                                    ("c", "2024-01-02 09:00", "buy", None),
                                    ("d", "2024-01-03 08:00", "visit", None)]))  # fmt: skip
        info = rox.journey.index_info(ws)
        assert info.fresh and info.events == 7 and info.through_load == 2
        refreshed = journey_index_tables(ws)
        assert refreshed["summary"]["journey"].tolist() == ["a#1", "b#1", "c#1", "d#1"]
        assert refreshed["variants"].set_index("path")["journeys"].to_dict() == {
            "visit > quote > buy": 1,
            "visit > buy": 1,
            "visit": 2,
        }
        build(ws, gap="3h")
        for role, frame in journey_index_tables(ws).items():
            pd.testing.assert_frame_equal(refreshed[role], frame, obj=role)


@SLOW_ON_SPARK
def test_the_journey_index_is_kept_by_loads(backend, request, tmp_path, workspace_url):
    def events(rows):
        return pd.DataFrame(rows, columns=["customer_id", "ts", "step", "journey"])

    url = workspace_url(backend, request, tmp_path)
    any_ws = rox.open(url)
    any_ws.ingest("events", events([("a", "2024-01-01 10:00", "visit", "a-1"),
                                    ("a", "2024-01-01 12:00", "buy", "a-1"),
                                    ("b", "2024-01-02 09:00", "visit", "b-1")]))  # fmt: skip
    rox.journey.build_index(any_ws)
    # a late event between two of a's, and a new journey: the load rebuilds the index
    any_ws.ingest("events", events([("a", "2024-01-01 11:00", "quote", "a-1"),
                                    ("c", "2024-01-03 08:00", "visit", "c-1")]))  # fmt: skip
    info = rox.journey.index_info(any_ws)
    assert info.fresh and info.events == 5 and info.through_load == 2
    assert rox.journey.prepare(any_ws).indexed
    m = rox.journey.journey_map(any_ws)
    v = rox.journey.variants(any_ws, top=None)
    assert set(zip(m.frame.source, m.frame.target, m.frame.transitions, strict=True)) == {
        ("visit", "quote", 1),
        ("quote", "buy", 1),
    }
    assert dict(zip(v.frame.path, v.frame.journeys, strict=True)) == {
        "visit": 2,
        "visit > quote > buy": 1,
    }
    # a new session finds the index (on Spark: in the lake) and it is still fresh
    any_ws.close()
    with rox.open(url) as again:
        assert rox.journey.index_info(again).fresh
        assert rox.journey.prepare(again).indexed
        assert again.engine.has_table("rox_journey_index")
        assert rox.journey.drop_index(again) is True
        assert rox.journey.index_info(again) is None
        assert not again.engine.has_table("rox_journey_index")
        assert again.engine.has_table("events") and not again.engine.has_table("no_such_table")
        assert not rox.journey.prepare(again).indexed
        # without it, the map orders the events and the session keeps them for the variants (#21);
        # on an engine in this process (DuckDB), as arrays fetched once (#21 §2)
        m = rox.journey.journey_map(again)
        key = "journey.arrays" if again.engine.in_process else "journey.ordered"
        kept = again.session[key]
        v = rox.journey.variants(again, top=None)
        assert again.session[key] is kept
        assert again.engine.in_process or not kept.journeys.indexed
        assert set(zip(m.frame.source, m.frame.target, m.frame.transitions, strict=True)) == {
            ("visit", "quote", 1),
            ("quote", "buy", 1),
        }
        assert dict(zip(v.frame.path, v.frame.journeys, strict=True)) == {
            "visit": 2,
            "visit > quote > buy": 1,
        }


@pytest.mark.spark
def test_spark_lake_is_parquet_partitioned_by_day(spark_session, tmp_path):
    with rox.open(f"spark://local[2]?lake={tmp_path / 'lake'}") as ws:
        ws.ingest("responses", _responses())
        assert "rox_day" not in ws.table("responses").columns
    days = sorted(p.name for p in (tmp_path / "lake" / "responses").iterdir() if p.is_dir())
    assert days == ["rox_day=2024-01-01", "rox_day=2024-01-02", "rox_day=2024-01-03"]
    assert list((tmp_path / "lake" / "responses" / days[0]).glob("*.parquet"))
    # a lake can also be read by any Parquet reader, partitions included
    frame = pd.read_parquet(tmp_path / "lake" / "responses")
    assert sorted(frame["response_id"]) == ["r1", "r2", "r3"]


@pytest.mark.spark
def test_a_relative_lake_is_relative_to_this_process(spark_session, tmp_path, monkeypatch):
    # the JVM started in another folder; the lake must still land here
    monkeypatch.chdir(tmp_path)
    with rox.open(spark_session, lake="here", partition="none") as ws:
        ws.ingest("responses", _responses())
    assert list((tmp_path / "here" / "responses").glob("*.parquet"))
    with rox.open("spark://local[2]?lake=here&partition=none") as ws:
        assert ws.count("responses") == 3


@pytest.mark.spark
def test_an_existing_spark_session_can_be_used(spark_session, tmp_path):
    with rox.open(spark_session, lake=str(tmp_path / "lake"), partition="none") as ws:
        ws.ingest("responses", _responses())
        assert ws.url == f"spark://?lake={tmp_path / 'lake'}&partition=none"
        assert rox.experience.nps(ws).frame["n"].tolist() == [3]
    assert list((tmp_path / "lake" / "responses").glob("*.parquet"))


def test_session_options_need_a_session():
    with pytest.raises(WorkspaceError, match="lake= and partition= are for a SparkSession"):
        rox.open("duckdb://:memory:", lake="/tmp/x")


@pytest.mark.postgres
def test_postgres_password_is_never_shown(postgres_server):
    url = postgres_server.new_database().replace("rox@", "rox:s3cret@")
    with rox.open(url) as ws:  # trust authentication: the password is not checked
        assert "s3cret" not in ws.url and "s3cret" not in repr(ws)
        assert ws.url.startswith("postgresql://rox:***@127.0.0.1:")


def test_unreachable_postgres_is_a_clear_error():
    with pytest.raises(WorkspaceError, match=r"cannot connect to PostgreSQL at 127.0.0.1:9/rox"):
        rox.open("postgres://rox:pw@127.0.0.1:9/rox")


@pytest.mark.postgres
def test_the_command_line_works_on_postgres(postgres_server, tmp_path):
    url = postgres_server.new_database()
    source = _write_csv(tmp_path / "r.csv", _responses(6))
    loaded = run_cli("ingest", "responses", str(source), workspace=url, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    done = run_cli("nps", "--format", "json", workspace=url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with rox.open(url) as ws:
        expected = rox.experience.nps(ws).frame
    got = json.loads(done.stdout)
    assert got[0]["n"] == 6
    assert got[0]["estimate"] == pytest.approx(expected["estimate"].iloc[0])


@pytest.mark.postgres
def test_concurrent_loads_on_postgres_never_share_an_id_or_a_row(postgres_server):
    url = postgres_server.new_database()
    with rox.open(url) as first, rox.open(url) as second:
        raced = []
        once = threading.Lock()

        def meanwhile(done: float) -> None:
            # while the first load is being checked, another process commits the same rows
            with once:
                if not raced:
                    raced.append(second.ingest("responses", _responses()))

        with pytest.raises(WorkspaceError, match=r"another load \(id 1\) was committed"):
            first.ingest("responses", _responses(), progress=meanwhile)
        assert raced[0].rows_loaded == 3
        again = first.ingest("responses", _responses())
        assert (again.load_id, again.rows_loaded, again.rows_skipped) == (2, 0, 3)
        assert first.count("responses") == 3
        assert first.table("rox_loads").load_id.execute().sort_values().tolist() == [1, 2]
