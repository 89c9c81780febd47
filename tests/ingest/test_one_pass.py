"""#15 §3: a CSV whose rows are all valid and new loads in one pass, without a staged copy.

Whether the one pass (:func:`rox.ingest.one_pass.load_one_pass`) or the staged path
(:func:`rox.ingest.staged.load_staged`) loaded a source is seen by counting the calls of the latter.
Every file that must leave the one pass must come out exactly as the staged path loads it; the
expected counts, orders and messages are written out by hand from the files below.
"""

from __future__ import annotations

import pytest

import rox
from rox.errors import ValidationError
from rox.ingest import transaction
from rox.ingest.fingerprint import rows_checksum

HEADER = "response_id,ts,metric,score,store\n"


def _csv(path, rows):
    path.write_text(HEADER + "".join(rows))
    return path


@pytest.fixture
def staged(monkeypatch):
    """The sources the staged path loaded (by name), in order."""
    seen: list[str] = []
    real = transaction.load_staged

    def spy(con, ws, job, src, *args, **kwargs):
        seen.append(src.name.rsplit("/", 1)[-1])
        return real(con, ws, job, src, *args, **kwargs)

    monkeypatch.setattr(transaction, "load_staged", spy)
    return seen


def test_a_valid_new_csv_takes_the_one_pass_in_the_files_order(tmp_path, staged):
    first = _csv(tmp_path / "a.csv", ["r3,2024-01-03,nps,7,x\n", "r1,2024-01-01,nps,9,y\n"])
    second = _csv(tmp_path / "b.csv", ["r2,2024-01-02,csat,4,z\n"])
    with rox.open(tmp_path / "ws.duckdb") as ws:
        assert ws.ingest("responses", first).rows_loaded == 2
        assert ws.ingest("responses", second).rows_loaded == 1
        got = ws.table("responses").order_by("_seq").execute()
        # recorded order: the rows of each file in the file's order, the second file after
        assert got["response_id"].tolist() == ["r3", "r1", "r2"]
        assert got["_seq"].tolist() == [1, 2, 3]
        assert got["_load_id"].tolist() == [1, 1, 2]
        assert got["store"].tolist() == ["x", "y", "z"]  # an attribute column, added
        assert got["scale"].tolist() == ["0-10", "0-10", "1-5"]
        loads = ws.table("rox_loads").order_by("load_id").execute()
        assert loads["rows_read"].tolist() == [2, 1]
        assert loads["checksum"].notna().all()  # a later re-ingest can trust it
        again = ws.ingest("responses", first)
        assert (again.rows_loaded, again.rows_skipped) == (0, 2)
    assert staged == []


@pytest.mark.parametrize(
    ("rows", "counts"),
    [
        # an identical repeat (row 3) is skipped, as staged
        (["r1,2024-01-01,nps,9,\n", "r2,2024-01-02,nps,8,\n", "r1,2024-01-01,nps,9,\n"], (2, 0, 1)),
        # a repeat with other values (row 2) is rejected
        (["r1,2024-01-01,nps,9,\n", "r1,2024-01-01,nps,3,\n"], (1, 1, 0)),
        # a score outside the scale (row 2) is rejected
        (["r1,2024-01-01,nps,9,\n", "r2,2024-01-02,nps,11,\n"], (1, 1, 0)),
        # a line with a field too many (row 2) is set aside by the reader
        (["r1,2024-01-01,nps,9,\n", "r2,2024-01-02,nps,8,,extra\n"], (1, 1, 0)),
        # no natural key (row 1): the row is keyed by its content
        ([",2024-01-01,nps,9,\n", "r2,2024-01-02,nps,8,\n"], (2, 0, 0)),
    ],
)
def test_a_file_the_one_pass_cannot_take_comes_out_as_staged(tmp_path, staged, rows, counts):
    source = _csv(tmp_path / "f.csv", rows)
    with rox.open(tmp_path / "ws.duckdb") as ws:
        report = ws.ingest("responses", source, on_error="quarantine")
        assert (report.rows_loaded, report.rows_rejected, report.rows_skipped) == counts
        assert report.rows_read == len(rows)
        assert ws.count("responses") == counts[0]
        # numbered by their rows in the file, the rejected and skipped ones left out
        got = ws.table("responses").order_by("_seq").execute()
        assert got["_seq"].tolist()[0] == 1
    assert staged == ["f.csv"]


def test_a_key_loaded_before_with_other_values_is_rejected_as_staged(tmp_path, staged):
    with rox.open(tmp_path / "ws.duckdb") as ws:
        ws.ingest("responses", _csv(tmp_path / "a.csv", ["r1,2024-01-01,nps,9,\n"]))
        assert staged == []
        with pytest.raises(ValidationError, match="already loaded with different values"):
            ws.ingest("responses", _csv(tmp_path / "b.csv", ["r1,2024-01-01,nps,2,\n"]))
        assert staged == ["b.csv"]
        assert ws.count("responses") == 1


def _recorded_and_recomputed(ws):
    """Each load's recorded checksum, and its rows' checksum recomputed now (numbered)."""
    con = ws.backend.con
    loads = con.execute("SELECT load_id, checksum FROM rox_loads ORDER BY load_id").fetchall()
    return [(checksum, rows_checksum(con, "responses", load_id)[1]) for load_id, checksum in loads]


def test_the_one_pass_records_the_checksum_the_staged_path_records(tmp_path, monkeypatch):
    # #15 §3: the one pass computes the checksum in the scan of its checks, over the recorded
    # order its rows get after the commit; a later load must trust it as it trusts the staged
    # path's (the same definition: every column, nulls skipped, an attribute column included)
    first = _csv(tmp_path / "a.csv", ["r3,2024-01-03,nps,7,x\n", "r1,2024-01-01,nps,9,\n"])
    second = _csv(tmp_path / "b.csv", ["r2,2024-01-02,csat,4,z\n", "r0,2024-01-04,ces,5,\n"])
    recorded = []
    for only_staged in (False, True):
        if only_staged:
            monkeypatch.setattr(transaction, "load_one_pass", lambda *args, **kwargs: None)
        with rox.open(tmp_path / f"ws{int(only_staged)}.duckdb") as ws:
            ws.ingest("responses", first)
            ws.ingest("responses", second)
            result = _recorded_and_recomputed(ws)
            assert [got for got, _ in result] == [expected for _, expected in result]
            recorded.append(result)
    assert recorded[0] == recorded[1]
    assert len({got for got, _ in recorded[0]}) == 2  # (two loads, two checksums)


def test_text_to_redact_and_a_second_source_of_the_load_are_staged(tmp_path, staged):
    commented = tmp_path / "c.csv"
    commented.write_text("response_id,ts,metric,score,comment\nr1,2024-01-01,nps,9,hi\n")
    a = _csv(tmp_path / "a.csv", ["r2,2024-01-02,nps,9,\n"])
    b = _csv(tmp_path / "b.csv", ["r2,2024-01-02,nps,9,\n", "r3,2024-01-03,nps,5,\n"])
    with rox.open(tmp_path / "ws.duckdb") as ws:
        assert ws.ingest("responses", commented).rows_loaded == 1
        report = ws.ingest("responses", [a, b])  # b repeats a's row: skipped
        assert (report.rows_loaded, report.rows_skipped) == (2, 1)
        got = ws.table("responses").order_by("_seq").execute()
        assert got["response_id"].tolist() == ["r1", "r2", "r3"]
        assert got["_seq"].tolist() == [1, 2, 4]  # b's row 2 after a's one row and b's row 1
        # the load's checksum covers b's row too, not only the rows of a's one pass
        result = _recorded_and_recomputed(ws)
        assert [got for got, _ in result] == [expected for _, expected in result]
    assert staged == ["c.csv", "b.csv"]


#: Odd values of times (the one pass parses them without the staged path's digit test, the epoch
#: instant flagged instead) and of numbers (parsed alike, checked by the one pass's flag): each
#: file of one such value must load exactly as the staged path loads it, whichever path takes it.
ODD_SCORES = [
    "7",
    " 7 ",
    "7.",
    ".5e1",
    "+7",
    "1_0",
    "7e0",
    "0x7",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "7\u00a0",
    "\u00a07",
    "seven",
    '"7"',
    "",
    "  ",
    "7,5",
    "10.0000000000000001",
]
ODD_WEIGHTS = ["0.5", " 0.5", "1_0", "nan", "inf", "0", "-1", "", "x", "5e-324", "1\u00a0"]
ODD_TIMES = [
    "2024-11-30T10:36:08Z",
    " 2024-11-30 ",
    "epoch",
    "EPOCH",
    "infinity",
    "-infinity",
    "1970-01-01",
    "1970-01-01T00:00:00Z",
    "1970-01-01 00:00:01",
    "2024-11-30 10:36 +02:00",
    "2024-11-30 10:36:08 UTC",
    "2024-11-30 10:36:08 Europe/Paris",
    "2024/11/30",
    "2024-1-3",
    "2024-11-30 24:00:00",
    "now",
    "0044-03-15 (BC)",
    "2024-11-30\u00a0",
    "\t2024-11-30",
    "2024-11-30T10:36:08+0200",
    "1899-12-31 23:59:59",
    "2101-01-01",
]


def _table(ws, name):
    frame = ws.table(name).execute()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _both_ways(tmp_path, monkeypatch, body):
    """Load ``body`` (CSV text) by the usual path and by the staged one only; both outcomes."""
    source = tmp_path / "f.csv"
    source.write_text(body, encoding="utf-8")
    outcomes = []
    for only_staged in (False, True):
        if only_staged:
            monkeypatch.setattr(transaction, "load_one_pass", lambda *args, **kwargs: None)
        with rox.open(tmp_path / f"ws{int(only_staged)}.duckdb") as ws:
            report = ws.ingest("responses", source, on_error="quarantine")
            counts = (report.rows_read, report.rows_loaded, report.rows_rejected)
            outcomes.append((counts, _table(ws, "responses"), _table(ws, "rejects")))
    return outcomes


def _same(outcomes):
    (counts, rows, rejects), (counts2, rows2, rejects2) = outcomes
    assert counts == counts2
    assert rows.equals(rows2), (rows, rows2)  # every value, _key, _load_id and _seq included
    assert rejects.drop(columns=["source"]).equals(rejects2.drop(columns=["source"]))


@pytest.mark.parametrize("score", ODD_SCORES)
def test_an_odd_number_loads_as_staged(tmp_path, monkeypatch, score, staged):
    body = f'response_id,ts,metric,score,weight\nr1,2024-01-01,nps,"{score}",0.5\n'
    _same(_both_ways(tmp_path, monkeypatch, body))


@pytest.mark.parametrize("weight", ODD_WEIGHTS)
def test_an_odd_weight_loads_as_staged(tmp_path, monkeypatch, weight, staged):
    body = f'response_id,ts,metric,score,weight\nr1,2024-01-01,nps,7,"{weight}"\n'
    body += "r2,2024-01-02,nps,8,\n"
    _same(_both_ways(tmp_path, monkeypatch, body))


@pytest.mark.parametrize("ts", ODD_TIMES)
def test_an_odd_time_loads_as_staged(tmp_path, monkeypatch, ts, staged):
    body = f'response_id,ts,metric,score\nr1,"{ts}",nps,7\nr2,2024-01-02,nps,8\n'
    _same(_both_ways(tmp_path, monkeypatch, body))


@pytest.mark.parametrize(
    ("column", "value", "one_pass"),
    [
        ("score", " 7 ", True),  # trimmed
        ("score", "7\u00a0", True),  # a no-break space is trimmed too
        ("score", "nan", False),  # read, then broken (not finite): flagged
        ("ts", "2024-11-30 10:36:08 UTC", True),
        ("ts", "epoch", False),  # 1970-01-01 by the cast: flagged, and refused as staged
        ("ts", "1970-01-01T00:00:00Z", False),  # the epoch instant is left to the staged path
    ],
)
def test_which_odd_values_the_one_pass_takes(tmp_path, monkeypatch, column, value, one_pass):
    row = {"response_id": "r1", "ts": "2024-01-01", "metric": "nps", "score": "7"}
    row[column] = value
    body = "response_id,ts,metric,score\n" + ",".join(f'"{v}"' for v in row.values()) + "\n"
    seen: list[str] = []
    real = transaction.load_staged

    def spy(con, ws, job, src, *args, **kwargs):
        seen.append(src.name)
        return real(con, ws, job, src, *args, **kwargs)

    monkeypatch.setattr(transaction, "load_staged", spy)
    source = tmp_path / "f.csv"
    source.write_text(body, encoding="utf-8")
    with rox.open(tmp_path / "ws.duckdb") as ws:
        ws.ingest("responses", source, on_error="quarantine")
    assert (seen == []) is one_pass
