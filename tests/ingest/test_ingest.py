"""Ingestion: every source kind, every bad input with its exact message, atomicity, idempotence."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import rox
from rox.errors import MappingError, SchemaError, SourceError, ValidationError, WorkspaceError
from rox.ingest import ColumnMapping


def _responses(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "response_id": [f"r{i}" for i in range(1, n + 1)],
            "ts": [f"2024-01-{i:02d} 10:00:00" for i in range(1, n + 1)],
            "metric": ["nps"] * n,
            "score": [10, 7, 3, 9, 0, 8][:n],
        }
    )


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _snapshot(ws: rox.Workspace) -> dict[str, int]:
    tables = ["customers", "transactions", "events", "responses", "cases", "rejects", "rox_loads"]
    return {name: ws.count(name) for name in tables}


# -- sources ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl", "pandas", "polars"])
def test_every_source_kind_loads_the_same_rows(ws, tmp_path, kind):
    frame = _responses()
    if kind == "csv":
        source = _write_csv(tmp_path / "r.csv", frame)
    elif kind == "parquet":
        source = tmp_path / "r.parquet"
        frame.to_parquet(source)
    elif kind == "jsonl":
        source = tmp_path / "r.jsonl"
        frame.to_json(source, orient="records", lines=True)
    elif kind == "pandas":
        source = frame
    else:
        source = pl.from_pandas(frame)
    report = ws.ingest("responses", source)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 3, 0)
    got = ws.table("responses").order_by("response_id").execute()
    assert got["score"].tolist() == [10.0, 7.0, 3.0]
    assert got["scale"].tolist() == ["0-10"] * 3
    assert str(got["ts"].dt.tz) == "UTC"
    assert got["ts"].iloc[0] == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert got["_load_id"].unique().tolist() == [report.load_id]


def test_typed_sources_keep_their_types(ws):
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "ts": pd.to_datetime(["2024-03-01 12:00", "2024-03-02 12:00"]).tz_localize(
                "Europe/Paris"
            ),
            "amount": [19.99, 250.0],
            "quantity": [1, 3],
        }
    )
    ws.ingest("transactions", frame)
    got = ws.table("transactions").order_by("customer_id").execute()
    assert got["ts"].iloc[0] == pd.Timestamp("2024-03-01 11:00", tz="UTC")
    assert got["amount"].tolist() == [19.99, 250.0]
    assert got["quantity"].tolist() == [1.0, 3.0]


def test_extra_columns_are_kept_as_attributes(ws):
    frame = _responses().assign(store=["Lyon", "Paris", "Nice"])
    ws.ingest("responses", frame)
    got = ws.table("responses").order_by("response_id").execute()
    assert got["store"].tolist() == ["Lyon", "Paris", "Nice"]
    # a later load without the attribute leaves it empty for its rows
    ws.ingest("responses", _responses(4).iloc[[3]])
    assert ws.table("responses").execute()["store"].isna().sum() == 1


# -- mapping ---------------------------------------------------------------------------------------
def test_toml_mapping_renames_parses_dates_in_a_zone_and_sets_constants(ws, tmp_path):
    source = tmp_path / "survey.csv"
    source.write_text("ID,Submitted,Q1\na,05/01/2024 09:30,4\nb,06/07/2024 18:00,5\n")
    mapping = tmp_path / "survey.toml"
    mapping.write_text(
        '[columns]\nID = "response_id"\nSubmitted = "ts"\nQ1 = "score"\n'
        '[constants]\nmetric = "csat"\n'
        '[timestamps]\nformat = "%d/%m/%Y %H:%M"\ntimezone = "Europe/Paris"\n'
    )
    ws.ingest("responses", source, mapping=mapping)
    got = ws.table("responses").order_by("response_id").execute()
    # 09:30 in Paris in January is 08:30 UTC; 18:00 in July (summer time) is 16:00 UTC
    assert got["ts"].tolist() == [
        pd.Timestamp("2024-01-05 08:30", tz="UTC"),
        pd.Timestamp("2024-07-06 16:00", tz="UTC"),
    ]
    assert got["metric"].tolist() == ["csat", "csat"]
    assert got["scale"].tolist() == ["1-5", "1-5"]


def test_mapping_declares_a_scale_that_the_workspace_remembers(ws):
    frame = pd.DataFrame({"ts": ["2024-01-01"] * 2, "metric": ["csat"] * 2, "score": [10, 2]})
    mapping = {"scales": {"csat": {"low": 1, "high": 10, "top_from": 8}}}
    ws.ingest("responses", frame, mapping=mapping)
    assert ws.table("responses").execute()["scale"].tolist() == ["1-10", "1-10"]
    assert ws.scale("csat", "1-10").top_from == 8
    # a conflicting declaration of the same scale is refused
    conflicting = {"scales": {"csat": {"low": 1, "high": 10, "top_from": 9}}}
    with pytest.raises(MappingError, match="already declared in the workspace with top_from=8"):
        ws.ingest("responses", frame.assign(score=[9, 9]), mapping=conflicting)


def test_scale_column_in_the_file_is_used(ws):
    frame = pd.DataFrame(
        {"ts": ["2024-01-01"] * 2, "metric": ["ces"] * 2, "score": [5, 2], "scale": ["1-5", "1-7"]}
    )
    ws.ingest("responses", frame)
    assert sorted(ws.table("responses").execute()["scale"]) == ["1-5", "1-7"]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"colums": {}}, "unknown section(s) colums"),
        ({"columns": {"Q1": "scroe"}}, "column 'Q1' maps to 'scroe', which table 'responses'"),
        ({"columns": {"a": "score", "b": "score"}}, "columns 'a' and 'b' both map to 'score'"),
        ({"scales": {"nps": {"low": 0, "high": 5, "top_from": 5}}}, "[scales.nps] needs bottom_to"),
        ({"scales": {"foo": {"low": 0, "high": 5, "top_from": 5}}}, "unknown metric"),
        ({"scales": {"csat": {"low": 1, "high": 5}}}, "[scales.csat] needs 'top_from'"),
        ({"timestamps": {"fmt": "%d"}}, "unknown key(s) in [timestamps]: fmt"),
    ],
)
def test_bad_mappings_are_refused_with_the_reason(ws, mapping, message):
    with pytest.raises(MappingError) as err:
        ws.ingest("responses", _responses(), mapping=mapping)
    assert message in str(err.value)


def test_mapping_file_errors(ws, tmp_path):
    with pytest.raises(MappingError, match="does not exist"):
        ws.ingest("responses", _responses(), mapping=tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[columns\n")
    with pytest.raises(MappingError, match="is not valid TOML"):
        ws.ingest("responses", _responses(), mapping=bad)


def test_mapping_naming_a_column_the_file_lacks(ws):
    with pytest.raises(SchemaError, match="names column 'Score', which is not in the source"):
        ws.ingest("responses", _responses(), mapping=ColumnMapping(columns={"Score": "score"}))


# -- bad input: the exact message for each rule --------------------------------------------------
def _one_bad(ws, tmp_path, table, frame, *, mapping=None):
    source = _write_csv(tmp_path / "bad.csv", frame)
    with pytest.raises(ValidationError) as err:
        ws.ingest(table, source, mapping=mapping)
    return err.value


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (
            "ts",
            "yesterday",
            "'yesterday': not a timestamp (expected ISO 8601, e.g. "
            "2024-03-01 14:30:00 or 2024-03-01T14:30:00+01:00)",
        ),
        ("ts", "", "missing: missing value for required column"),
        ("score", "11", "'11': outside the nps scale 0-10"),
        ("score", "-1", "'-1': outside the nps scale 0-10"),
        ("score", "ten", "'ten': not a number"),
        ("score", "nan", "'nan': not a number"),
        ("metric", "nsp", "'nsp': unknown metric; expected one of nps, csat, ces"),
    ],
)
def test_each_bad_response_value_is_named(ws, tmp_path, column, value, expected):
    frame = _responses().astype({column: object})
    frame.loc[1, column] = value
    err = _one_bad(ws, tmp_path, "responses", frame)
    assert (err.n_invalid, err.n_rows) == (1, 3)
    assert str(err.problems[0]) == f"{tmp_path / 'bad.csv'}, row 2, column {column!r}: {expected}"


def test_negative_quantity_and_unparsable_amount(ws, tmp_path):
    frame = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "customer_id": ["c1", "c1", "c2"],
            "ts": ["2024-01-01", "2024-01-02", "2024-01-03"],
            "amount": ["10", "12,50", "8"],
            "quantity": [1, 1, -2],
        }
    )
    err = _one_bad(ws, tmp_path, "transactions", frame)
    assert [(p.row, p.column, p.value, p.rule) for p in err.problems] == [
        (2, "amount", "12,50", "not a number"),
        (3, "quantity", "-2", "negative quantity"),
    ]


def test_nps_on_an_undeclared_scale_and_a_malformed_scale(ws, tmp_path):
    frame = pd.DataFrame(
        {
            "ts": ["2024-01-01"] * 2,
            "metric": ["nps", "csat"],
            "score": [3, 3],
            "scale": ["1-5", "five"],
        }
    )
    err = _one_bad(ws, tmp_path, "responses", frame)
    assert [p.rule for p in err.problems] == [
        "unknown scale for nps; NPS is on 0-10 unless the mapping declares [scales.nps]",
        "not a scale; expected low-high, e.g. 1-5",
    ]


def test_a_scale_needs_low_below_high(ws, tmp_path):
    """#22: a scale low-high is one only when low < high: 5-5 is refused, 4-5 taken."""
    frame = pd.DataFrame(
        {"ts": ["2024-01-01"] * 2, "metric": ["csat"] * 2, "score": [5, 5], "scale": ["5-5", "6-5"]}
    )
    err = _one_bad(ws, tmp_path, "responses", frame)
    assert [(p.row, p.column, p.value, p.rule) for p in err.problems] == [
        (1, "scale", "5-5", "not a scale; expected low-high, e.g. 1-5"),
        (2, "scale", "6-5", "not a scale; expected low-high, e.g. 1-5"),
    ]
    ws.ingest("responses", frame.assign(scale="4-5"))
    assert ws.table("responses").execute()["scale"].tolist() == ["4-5", "4-5"]


def test_mapped_column_is_named_in_the_rule(ws, tmp_path):
    frame = _responses().rename(columns={"score": "Q1"}).astype({"Q1": object})
    frame.loc[0, "Q1"] = 12
    err = _one_bad(ws, tmp_path, "responses", frame, mapping={"columns": {"Q1": "score"}})
    assert err.problems[0].rule == "outside the nps scale 0-10"
    frame.loc[0, "Q1"] = "x"
    err = _one_bad(ws, tmp_path, "responses", frame, mapping={"columns": {"Q1": "score"}})
    assert err.problems[0].rule == "not a number [source column 'Q1']"


def test_missing_required_column_refuses_the_file(ws, tmp_path):
    source = _write_csv(tmp_path / "r.csv", _responses().drop(columns=["score"]))
    with pytest.raises(SchemaError) as err:
        ws.ingest("responses", source)
    assert str(err.value) == (
        f"{source}: missing required column(s) 'score' for table 'responses' (columns found: "
        "'response_id', 'ts', 'metric'); map yours in a mapping file, e.g. "
        '[columns] "Your name" = "score"'
    )


def test_duplicate_key_with_different_values_in_one_file(ws, tmp_path):
    frame = _responses()
    frame.loc[2, "response_id"] = "r1"
    err = _one_bad(ws, tmp_path, "responses", frame)
    assert str(err.problems[0]).endswith(
        "row 3, column 'response_id': 'r1': duplicate response_id: row 1 has the same "
        "response_id with different values"
    )


def test_key_already_loaded_with_different_values_is_rejected_not_overwritten(ws):
    ws.ingest("responses", _responses())
    changed = _responses().assign(score=[10, 7, 4])
    with pytest.raises(ValidationError, match="already loaded with different values"):
        ws.ingest("responses", changed)
    report = ws.ingest("responses", changed, on_error="quarantine")
    assert (report.rows_loaded, report.rows_skipped, report.rows_rejected) == (0, 2, 1)
    assert ws.table("responses").execute()["score"].sort_values().tolist() == [3.0, 7.0, 10.0]


def test_unreadable_sources(ws, tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        ws.ingest("responses", tmp_path / "nope.csv")
    odd = tmp_path / "r.xlsx"
    odd.write_bytes(b"PK")
    with pytest.raises(SourceError, match=r"cannot tell the format from the suffix '\.xlsx'"):
        ws.ingest("responses", odd)
    broken = tmp_path / "r.parquet"
    broken.write_text("not parquet")
    with pytest.raises(SourceError, match="cannot read it as parquet"):
        ws.ingest("responses", broken)
    with pytest.raises(SourceError, match="cannot ingest a dict"):
        ws.ingest("responses", {"ts": []})


def test_unknown_table_and_bad_policy(ws):
    with pytest.raises(rox.errors.TableNotFoundError, match="unknown table 'response'"):
        ws.ingest("response", _responses())
    with pytest.raises(rox.errors.IngestError, match="on_error must be"):
        ws.ingest("responses", _responses(), on_error="skip")


def test_read_only_workspace_refuses_loads(tmp_path):
    rox.open(tmp_path / "w.duckdb").close()
    with rox.open(tmp_path / "w.duckdb", read_only=True) as ws, pytest.raises(WorkspaceError):
        ws.ingest("responses", _responses())


# -- atomicity and quarantine ---------------------------------------------------------------------
def test_a_failing_file_leaves_the_workspace_unchanged(ws_file, tmp_path):
    ws_file.ingest("responses", _responses(2))
    before = _snapshot(ws_file)
    good = _write_csv(tmp_path / "good.csv", _responses(4).iloc[2:])
    bad_frame = _responses(6).iloc[4:].astype({"score": object})
    bad_frame.loc[5, "score"] = "x"
    bad = _write_csv(tmp_path / "bad.csv", bad_frame)
    # two files are one load: the good file is not loaded either
    with pytest.raises(ValidationError, match=r"bad.csv, row 2, column 'score'"):
        ws_file.ingest("responses", [good, bad])
    assert _snapshot(ws_file) == before
    # nothing half-written is left: the same load succeeds once the bad row is fixed
    bad_frame.loc[5, "score"] = 8
    _write_csv(tmp_path / "bad.csv", bad_frame)
    report = ws_file.ingest("responses", [good, bad])
    assert report.rows_loaded == 4
    assert report.frame["rows_loaded"].tolist() == [2, 2]


def test_quarantine_loads_the_valid_rows_and_keeps_every_rejected_row(ws, tmp_path):
    frame = _responses(6).astype({"score": object, "metric": object})
    frame.loc[1, "score"] = 42
    frame.loc[3, ["metric", "score"]] = ["nope", "x"]
    source = _write_csv(tmp_path / "r.csv", frame)
    report = ws.ingest("responses", source, on_error="quarantine")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (6, 4, 2)
    rejects = ws.table("rejects").order_by(["row", "column"]).execute()
    assert rejects[["row", "column", "value"]].values.tolist() == [
        [2, "score", "42"],
        [4, "metric", "nope"],
        [4, "score", "x"],
    ]
    assert set(rejects["load_id"]) == {report.load_id}
    record = json.loads(rejects["record"].iloc[0])
    assert record == {
        "response_id": "r2",
        "ts": "2024-01-02 10:00:00",
        "metric": "nps",
        "score": "42",
    }
    loads = ws.table("rox_loads").execute()
    assert loads[["rows_read", "rows_loaded", "rows_rejected"]].values.tolist() == [[6, 4, 2]]


def test_large_csv_reports_the_right_row(ws, tmp_path):
    n = 200_000
    frame = pd.DataFrame(
        {
            "ts": "2024-01-01",
            "metric": "csat",
            "score": (pd.RangeIndex(n) % 5 + 1).astype(object),
        }
    )
    frame.loc[171_234, "score"] = 6
    source = _write_csv(tmp_path / "big.csv", frame)
    with pytest.raises(ValidationError) as err:
        ws.ingest("responses", source)
    assert (err.value.problems[0].row, err.value.problems[0].value) == (171_235, "6")


# -- idempotence ----------------------------------------------------------------------------------
def test_reingesting_the_same_file_adds_nothing(ws, tmp_path):
    source = _write_csv(tmp_path / "r.csv", _responses())
    first = ws.ingest("responses", source)
    second = ws.ingest("responses", source)
    assert (first.rows_loaded, second.rows_loaded, second.rows_skipped) == (3, 0, 3)
    assert ws.count("responses") == 3
    assert second.load_id == first.load_id + 1


def test_rows_without_natural_key_are_keyed_by_content_and_occurrence(ws):
    transactions = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c1"],
            "ts": ["2024-01-01", "2024-01-01", "2024-01-02"],
            "amount": [9.99, 9.99, 5.0],
        }
    )
    # two identical purchases on one day are two purchases: both are kept
    report = ws.ingest("transactions", transactions)
    assert (report.rows_loaded, report.rows_skipped) == (3, 0)
    # loading the same rows again adds nothing
    assert ws.ingest("transactions", transactions).rows_skipped == 3
    assert ws.count("transactions") == 3
    # a later export with a third identical purchase adds just that one
    more = pd.concat([transactions, transactions.iloc[[0]]])
    assert ws.ingest("transactions", more).rows_loaded == 1
    assert ws.count("transactions") == 4


def test_progress_is_reported_up_to_done(ws):
    seen: list[float] = []
    ws.ingest("responses", _responses(), progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 1.0


# -- #15: ids are exact text, timestamps plausible, lines named ------------------------------------
def test_json_ids_never_pass_through_a_float(ws, tmp_path):
    source = tmp_path / "c.jsonl"
    records = [
        {"customer_id": 9007199254740993},
        {"customer_id": 9007199254740992},
        {"customer_id": 0.5},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = ws.ingest("customers", source, on_error="quarantine")
    assert (report.rows_loaded, report.rows_rejected) == (2, 1)
    result = sorted(ws.table("customers").execute()["customer_id"])
    assert result == ["9007199254740992", "9007199254740993"]
    assert report.problems[0].row == 3 and report.problems[0].rule.startswith("not an exact id")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (123.0, "123"),
        (-7.0, "-7"),
        (9007199254740991.0, "9007199254740991"),  # 2^53 - 1: exact
        (9007199254740992.0, None),  # 2^53: its neighbour 2^53 + 1 reads the same
        (1.5, None),
        (float("nan"), None),
    ],
)
def test_float_ids_are_kept_only_when_exact(ws, tmp_path, value, expected):
    source = tmp_path / "c.parquet"
    pd.DataFrame({"customer_id": [value]}).to_parquet(source)
    report = ws.ingest("customers", source, on_error="quarantine")
    result = ws.table("customers").execute()["customer_id"].tolist()
    if expected is None:
        # NaN is a missing id, any other a float that is not exact
        assert report.rows_rejected == 1 and result == []
    else:
        assert result == [expected]


@pytest.mark.parametrize(
    ("ts", "ok"),
    [
        ("1899-12-31 23:59:59", False),
        ("1900-01-01 00:00:00", True),
        ("2100-12-31 23:59:59", True),
        ("2101-01-01 00:00:00", False),
        ("infinity", False),
        ("epoch", False),
    ],
)
def test_timestamps_outside_the_plausible_range_are_refused(ws, ts, ok):
    frame = pd.DataFrame({"ts": [ts], "metric": ["nps"], "score": [9]})
    report = ws.ingest("responses", frame, on_error="quarantine")
    assert report.rows_loaded == int(ok)


def test_the_plausible_range_is_set_in_the_mapping(ws):
    frame = pd.DataFrame(
        {"ts": ["1850-06-01", "1849-12-31"], "metric": ["nps"] * 2, "score": [9, 8]}
    )
    mapping = {"timestamps": {"earliest": "1850-01-01", "latest": "2030-12-31"}}
    with pytest.raises(ValidationError) as err:
        ws.ingest("responses", frame, mapping=mapping)
    assert [p.row for p in err.value.problems] == [2]
    assert "outside the plausible range 1850-01-01 to 2030-12-31" in err.value.problems[0].rule


def test_rows_after_a_broken_line_keep_their_place_in_the_file(ws, tmp_path):
    source = tmp_path / "r.csv"
    source.write_text(
        "response_id,ts,metric,score\n"
        "r1,2024-01-01,nps,9\n"
        "r2,2024-01-02,nps,8,extra\n"
        "r3,2024-01-03,nps,99\n"  # row 3: outside the scale
        "r4,2024-01-0\n"
        "r5,2024-01-05,nps,1\n"
    )
    report = ws.ingest("responses", source, on_error="quarantine")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (5, 2, 3)
    result = [(p.row, p.column) for p in report.problems]
    assert result == [(2, "<line>"), (3, "score"), (4, "<line>")]
    rejects = ws.table("rejects").execute().sort_values("row")
    assert json.loads(rejects["record"].iloc[0]) == {"line": "r2,2024-01-02,nps,8,extra"}


@pytest.mark.parametrize(
    ("mapping", "says"),
    [
        ({"ignore": "comment"}, "ignore must be a list of column names"),
        ({"timestamps": {"timezone": "/etc/passwd"}}, "is not a time zone name"),
        ({"timestamps": {"earliest": "soon"}}, "'soon' is not a date"),
        ({"timestamps": {"earliest": "2000-01-01", "latest": "1999-01-01"}}, "is after latest"),
        ({"encoding": "nope"}, "unknown text encoding 'nope'"),
        ({"encoding": "rot13"}, "unknown text encoding 'rot13'"),  # a codec, but not of text
    ],
)
def test_malformed_mappings_are_refused(mapping, says):
    with pytest.raises(MappingError, match=re.escape(says)):
        ColumnMapping.from_dict(mapping)


def test_an_encoding_is_read_and_the_rows_are_unicode(ws, tmp_path):
    source = tmp_path / "r.csv"
    source.write_bytes("ts,metric,score,comment\n2024-01-01,nps,9,très bien 5 €\n".encode("cp1252"))
    with pytest.raises(SourceError, match="is not UTF-8 text"):
        ws.ingest("responses", source)
    ws.ingest("responses", source, mapping={"encoding": "cp1252"})
    assert ws.table("responses").execute()["comment"].tolist() == ["très bien 5 €"]


def test_a_top_level_key_written_inside_a_scale_is_refused():
    # TOML puts `ignore` after [scales.csat] inside that table: say so instead of ignoring it
    with pytest.raises(MappingError, match=r"unknown key\(s\) in \[scales.csat\]: ignore"):
        ColumnMapping.from_dict(
            {"scales": {"csat": {"low": 1, "high": 10, "top_from": 8, "ignore": ["x"]}}}
        )


def test_metric_case_and_time_zones_by_hand(ws):
    """Metric names in any case; local times to UTC (by zone name or by the offset written)."""
    frame = pd.DataFrame({"ts": ["2024-05-01 09:30"], "metric": ["NPS"], "score": [9]})
    ws.ingest("responses", frame, mapping={"timestamps": {"timezone": "Europe/Paris"}})
    got = ws.table("responses").execute()
    assert got["metric"].tolist() == ["nps"]
    assert got["ts"].tolist() == [pd.Timestamp("2024-05-01 07:30", tz="UTC")]  # CEST is UTC+2
    written = pd.DataFrame({"ts": ["01/05/2024 09:30 +0100"], "metric": ["csat"], "score": [4]})
    mapping = {"timestamps": {"format": "%d/%m/%Y %H:%M %z", "timezone": "Europe/Paris"}}
    ws.ingest("responses", written, mapping=mapping)  # the offset written wins over the zone
    ts = ws.table("responses").filter(lambda t: t.metric == "csat").execute()["ts"]
    assert ts.tolist() == [pd.Timestamp("2024-05-01 08:30", tz="UTC")]


def test_a_timestamp_format_is_used_in_utc_too(ws):
    """A format is read with the format when the zone is UTC, the default (not cast as ISO)."""
    frame = pd.DataFrame({"ts": ["03/04/2025 10:00"], "metric": ["nps"], "score": [9]})
    ws.ingest("responses", frame, mapping={"timestamps": {"format": "%d/%m/%Y %H:%M"}})
    got = ws.table("responses").execute()["ts"].tolist()
    assert got == [pd.Timestamp("2025-04-03 10:00", tz="UTC")]  # the 3rd of April, not March 4th


@pytest.mark.parametrize(
    ("mapping", "clash"),
    [
        # the mapping reads `who` as customer_id: the source's own customer_id column is left over
        ({"columns": {"who": "customer_id"}}, "customer_id"),
        # a constant channel: the source's channel column is left over
        ({"constants": {"channel": "web"}}, "channel"),
    ],
)
def test_a_left_over_column_named_like_a_canonical_one_is_refused(ws, mapping, clash):
    frame = pd.DataFrame(
        {
            "ts": ["2025-01-01"],
            "metric": ["nps"],
            "score": [9],
            "who": ["a"],
            "customer_id": ["b"],
            "channel": ["app"],
        }
    )
    with pytest.raises(MappingError, match=rf"column '{clash}' clashes with a column rox writes"):
        ws.ingest("responses", frame, mapping=mapping)
    assert ws.table("responses").count().execute() == 0


def test_a_source_column_named_like_a_column_rox_keeps_is_refused(ws):
    frame = pd.DataFrame({"ts": ["2025-01-01"], "metric": ["nps"], "score": [9], "_load_id": [7]})
    with pytest.raises(MappingError, match=r"column '_load_id' clashes with a column rox writes"):
        ws.ingest("responses", frame)


def test_a_natural_key_counts_where_some_rows_lack_it(ws):
    """Rows with a response_id are keyed by it even when other rows of the source have none (the
    content key is then computed for those rows only): a changed row under a loaded id is
    refused, a row without an id loaded again is skipped."""
    first = _responses().assign(response_id=["r1", None, None])
    ws.ingest("responses", first)
    changed = first.assign(score=[5, first["score"][1], first["score"][2]])  # r1 was 10
    with pytest.raises(ValidationError, match="already loaded with different values"):
        ws.ingest("responses", changed)
    assert ws.ingest("responses", first).rows_skipped == 3


def test_events_have_no_natural_key_and_are_keyed_by_content(ws):
    """Events carry no identifier: each row is keyed by its content and occurrence, so two
    identical events are two rows, and the same file loaded again adds nothing."""
    events = pd.DataFrame(
        {"customer_id": ["c1", "c1", "c2"], "ts": ["2024-01-01 10:00"] * 3, "step": ["visit"] * 3}
    )
    assert ws.ingest("events", events).rows_loaded == 3
    assert ws.ingest("events", events).rows_skipped == 3
    assert ws.table("events").count().execute() == 3
