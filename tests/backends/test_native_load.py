"""#20 §2: a load into a Spark workspace validated by Spark itself (``native=True``) gives what
the DuckDB path gives: the same rows, the same rejected rows with the same messages and row
numbers, nothing again on a second load, a key loaded before with other values refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import rox
from rox.errors import IngestError, ValidationError

pytestmark = [pytest.mark.spark, pytest.mark.slow]

HEADER = "response_id,customer_id,ts,metric,score\n"
CLEAN = HEADER + (
    "r1,c1,2024-05-01 10:00:00,nps,9\n"
    "r2,c2,2024-05-02,csat,4\n"
    "r3,c1,2024-05-03T12:00:00+02:00,NPS,3\n"
)
# row 2: no score; 3: no date; 4: unknown metric; 5: outside csat's 1-5; 6: r4 again, another
# score; 7: r4 again, the same row (skipped); 8: r1 of a.csv again, the same row (skipped)
BAD = HEADER + (
    "r4,c3,2024-06-01,ces,5\n"
    "r5,c4,2024-06-02,nps,\n"
    "r6,c5,notadate,nps,4\n"
    "r7,c5,2024-06-03,xyz,4\n"
    "r8,c6,2024-06-04,csat,9\n"
    "r4,c3,2024-06-01,ces,6\n"
    "r4,c3,2024-06-01,ces,5\n"
    "r1,c1,2024-05-01 10:00:00,nps,9\n"
)
# comments are not redacted by this path: the files have none, the mapping says so
MAPPING = {"redact": {"enabled": False}}
COLUMNS = ["response_id", "customer_id", "ts", "metric", "score", "scale", "_key", "_seq"]


def _rows(ws: rox.Workspace) -> pd.DataFrame:
    frame = ws.table("responses").execute()
    return frame.sort_values("_seq")[COLUMNS].reset_index(drop=True)


def _kept_by_spark(ws: rox.Workspace) -> int:
    """How many data sets the Spark session keeps (persisted, with blocks stored)."""
    return len(ws.engine.session.sparkContext._jsc.sc().getRDDStorageInfo())


def _problems(report_or_error) -> list[tuple[str, int, str, object, str]]:
    return [(Path(p.source).name, p.row, p.column, p.value, p.rule) for p in report_or_error]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "in"
    out.mkdir()
    (out / "a.csv").write_text(CLEAN)
    (out / "b.csv").write_text(BAD)
    (out / "_SUCCESS").write_text("")  # left out, as Spark leaves it out
    return out


def test_a_native_load_gives_what_the_duckdb_path_gives(folder, tmp_path, workspace_url, request):
    files = [str(folder / "a.csv"), str(folder / "b.csv")]
    with rox.open(f"duckdb://{tmp_path / 'ref.duckdb'}") as ref:
        with pytest.raises(ValidationError) as want_error:
            ref.ingest("responses", files, mapping=MAPPING)
        want = ref.ingest("responses", files, mapping=MAPPING, on_error="quarantine")
        want_rows = _rows(ref)
        want_rejects = ref.table("rejects").execute()
    (tmp_path / "spark").mkdir()
    url = workspace_url("spark", request, tmp_path / "spark")
    with rox.open(url) as ws:
        kept_before = _kept_by_spark(ws)
        with pytest.raises(ValidationError) as got_error:
            ws.ingest("responses", str(folder), mapping=MAPPING, native=True)
        assert _problems(got_error.value.problems) == _problems(want_error.value.problems)
        assert ws.table("responses").count().execute() == 0  # refused: nothing written
        got = ws.ingest(
            "responses", str(folder), mapping=MAPPING, on_error="quarantine", native=True
        )
        # the same counts per file, the same rows, the same problems with their rows
        assert got.frame.drop(columns="source").equals(want.frame.drop(columns="source"))
        assert (got.rows_loaded, got.rows_rejected, got.rows_skipped) == (4, 5, 2)
        pd.testing.assert_frame_equal(_rows(ws), want_rows, check_dtype=False)
        assert _problems(got.problems) == _problems(want.problems)
        rejects = ws.table("rejects").execute()
        key = ["row", "column", "value", "rule"]
        pd.testing.assert_frame_equal(
            rejects.sort_values(key)[key].reset_index(drop=True),
            want_rejects.sort_values(key)[key].reset_index(drop=True),
        )
        # loading the same folder again: every row skipped, the rejects rejected again
        again = ws.ingest(
            "responses", str(folder), mapping=MAPPING, on_error="quarantine", native=True
        )
        assert (again.rows_loaded, again.rows_skipped, again.rows_rejected) == (0, 6, 5)
        # a key loaded before with other values is refused, never overwritten
        (tmp_path / "later.csv").write_text(HEADER + "r1,c1,2024-05-01 10:00:00,nps,2\n")
        with pytest.raises(ValidationError) as changed:
            ws.ingest("responses", str(tmp_path / "later.csv"), mapping=MAPPING, native=True)
        assert _problems(changed.value.problems) == [
            ("later.csv", 1, "response_id", "r1",
             "response_id already loaded with different values; rox does not overwrite loaded "
             "rows"),
        ]  # fmt: skip
        loads = ws.table("rox_loads").order_by(["load_id", "source"]).execute()
        assert loads["load_id"].tolist() == [1, 1, 2, 2]
        assert loads["rows_loaded"].tolist() == [3, 1, 0, 0]
        assert len(_rows(ws)) == 4
        # the typed rows each load kept in Spark were released, refused loads' too
        assert _kept_by_spark(ws) == kept_before


# spaces of every kind at either end (U+00A0, U+2003, U+3000 are trimmed, as U+0020; U+200B, a
# zero-width space, is not a space), and times in words without a digit, which DuckDB's cast reads
# ('epoch', 'infinity') and rox refuses
EDGES = HEADER + (
    " r1 ,\u00a0c1\u00a0,\u30002024-05-01 10:00:00\u3000, nps ,\u20039\n"
    "r2,c2 ,2024-05-02\u00a0,\u00a0CSAT,4\u2003\n"
    "\u200br3,c3,\u200b2024-05-03,ces,5\n"
    "r4,c4,   ,nps,7\n"
    "r5,c5,2024-05-05,\u3000,7\n"
    "r6,c6,2024-05-06,nps,\u00a0\n"
    + "".join(
        f"w{i},c7,{word},nps,8\n"
        for i, word in enumerate(
            ["epoch", "infinity", "-infinity", "now", "today", "tomorrow", "yesterday",
             "allballs", "T", "Z", ":"]
        )
    )
)  # fmt: skip


def test_spaces_of_every_kind_and_times_without_digits_as_the_duckdb_path(
    tmp_path, workspace_url, request
):
    """#20 §2: Spark trims ASCII text with its own ``trim`` and reads times without the digit
    test; the rows, values and problems are still the DuckDB path's."""
    (tmp_path / "edges.csv").write_text(EDGES, encoding="utf-8")
    source = str(tmp_path / "edges.csv")
    with rox.open(f"duckdb://{tmp_path / 'ref.duckdb'}") as ref:
        want = ref.ingest("responses", source, mapping=MAPPING, on_error="quarantine")
        want_rows = _rows(ref)
    (tmp_path / "spark").mkdir()
    with rox.open(workspace_url("spark", request, tmp_path / "spark")) as ws:
        got = ws.ingest("responses", source, mapping=MAPPING, on_error="quarantine", native=True)
        result = _rows(ws)
    assert (got.rows_loaded, got.rows_rejected) == (want.rows_loaded, want.rows_rejected)
    assert got.rows_loaded == 2  # r1 and r2; r3 has a zero-width space before its time
    pd.testing.assert_frame_equal(result, want_rows, check_dtype=False)
    assert _problems(got.problems) == _problems(want.problems)


def test_native_refuses_what_it_cannot_do(folder, tmp_path, workspace_url, request):
    url = workspace_url("spark", request, tmp_path)
    with rox.open(url) as ws:
        with pytest.raises(IngestError, match="does not redact personal data"):
            (folder / "c.csv").write_text("ts,metric,score,comment\n2024-05-01,nps,9,hi\n")
            ws.ingest("responses", str(folder / "c.csv"), native=True)
        with pytest.raises(IngestError, match="timezone 'Europe/Paris'"):
            ws.ingest(
                "responses",
                str(folder),
                native=True,
                mapping={"timestamps": {"timezone": "Europe/Paris"}},
            )
    with (
        rox.open(f"duckdb://{tmp_path / 'd.duckdb'}") as ws,
        pytest.raises(IngestError, match="native=True validates with Spark"),
    ):
        ws.ingest("responses", str(folder / "a.csv"), native=True)


def test_two_spark_workspaces_keep_their_own_views(tmp_path, workspace_url, request):
    """Closing one workspace left the other without views (#14): now each has its own."""
    frame = pd.DataFrame({"ts": ["2024-05-01"], "metric": ["nps"], "score": [9]})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = rox.open(workspace_url("spark", request, tmp_path / "a"))
    second = rox.open(workspace_url("spark", request, tmp_path / "b"))
    try:
        first.ingest("responses", frame)
        second.ingest("responses", pd.concat([frame, frame.assign(score=3)]))
        assert first.table("responses").count().execute() == 1
        assert second.table("responses").count().execute() == 2
        second.close()
        assert first.table("responses").count().execute() == 1
        assert first.engine.view("responses") != second.engine.view("responses")
    finally:
        first.close()
