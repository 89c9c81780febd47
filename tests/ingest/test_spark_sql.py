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


def test_the_trim_shortcut_becomes_spark_trim_for_ascii_and_a_trim_of_every_kind_of_space():
    sql = "SELECT CASE WHEN prefix(a, ' ') OR suffix(a, ' ') THEN trim(a) ELSE a END"
    assert spark_sql(sql) == (
        "SELECT CASE WHEN OCTET_LENGTH(a) = LENGTH(a) THEN TRIM(a) "
        f"ELSE TRIM(BOTH '{_SPACES}' FROM a) END"
    )
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


def test_the_timestamp_digit_test_is_dropped_and_what_it_guarded_translated():
    """#20 §2: Spark's cast reads no text without a digit; the parse inside is still rewritten."""
    sql = (
        "SELECT CASE WHEN regexp_matches(t, '[0-9]') THEN coalesce(TRY_CAST(t AS TIMESTAMPTZ), "
        "CASE WHEN prefix(t, ' ') THEN trim(t) ELSE t END) END"
    )
    assert spark_sql(sql) == (
        "SELECT COALESCE(TRY_CAST(t AS TIMESTAMP), CASE WHEN OCTET_LENGTH(t) = LENGTH(t) "
        f"THEN TRIM(t) ELSE TRIM(BOTH '{_SPACES}' FROM t) END)"
    )
    # another regular expression, or a CASE with an ELSE, is left as it is
    assert spark_sql("SELECT CASE WHEN regexp_matches(t, '[a-z]') THEN 1 END") == (
        "SELECT CASE WHEN t RLIKE '[a-z]' THEN 1 END"
    )
    assert spark_sql("SELECT CASE WHEN regexp_matches(t, '[0-9]') THEN 1 ELSE 2 END") == (
        "SELECT CASE WHEN t RLIKE '[0-9]' THEN 1 ELSE 2 END"
    )
