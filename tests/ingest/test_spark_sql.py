"""The rules in Spark SQL (:func:`rox.ingest.rules.spark_sql`): DuckDB functions Spark lacks are
rewritten; expected texts written by hand from Spark's function reference."""

from __future__ import annotations

import unicodedata

from rox.ingest.mapping import load_mapping
from rox.ingest.rules import _SPACES, spark_ready, spark_sql


def test_duckdb_functions_become_spark_ones():
    assert spark_sql("SELECT prefix(a, 'x'), suffix(a, 'y'), strlen(a)") == (
        "SELECT STARTSWITH(a, 'x'), ENDSWITH(a, 'y'), OCTET_LENGTH(a)"
    )
    assert spark_sql("SELECT epoch_us(t)") == "SELECT UNIX_MICROS(t)"


def test_isfinite_tests_nan_and_infinities_and_is_true_for_timestamps():
    assert spark_sql("SELECT isfinite(x), isfinite(ts)", timestamps={"ts"}) == (
        "SELECT (NOT ISNAN(x) AND ABS(x) <> CAST('infinity' AS DOUBLE)), TRUE"
    )


def test_the_trim_shortcut_becomes_one_trim_of_every_kind_of_space():
    sql = "SELECT CASE WHEN prefix(a, ' ') OR suffix(a, ' ') THEN trim(a) ELSE a END"
    assert spark_sql(sql) == f"SELECT TRIM(BOTH '{_SPACES}' FROM a)"
    # every kind of space is Unicode's category Zs (#20 §2: the regular expression \p{Zs} before)
    expected = "".join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Zs")
    result = _SPACES
    assert result == expected
    # another CASE is left as it is
    assert spark_sql("SELECT CASE WHEN b THEN trim(a) ELSE c END") == (
        "SELECT CASE WHEN b THEN TRIM(a) ELSE c END"
    )


def test_mappings_spark_cannot_run_are_named():
    assert spark_ready(load_mapping(None)) is None
    assert "timezone" in str(spark_ready(load_mapping({"timestamps": {"timezone": "Asia/Tokyo"}})))
    assert "format" in str(spark_ready(load_mapping({"timestamps": {"format": "%d/%m/%Y"}})))
