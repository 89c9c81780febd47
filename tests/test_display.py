"""rox._display: numbers rounded and worded for people, for the CLI and the report alike (#14)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rox._display import decimals_for, display_frame, money, p_value


def test_float_noise_is_rounded_away_in_csv():
    frame = pd.DataFrame(
        {
            "passives": [5.551115123125783e-15, 33.333333333333336, 100.0],
            "ces": [9.999999999999998, 4.8412, 5.0],
        }
    )
    result = display_frame(frame, "csv")
    expected = pd.DataFrame({"passives": [0.0, 33.3, 100.0], "ces": [10.0, 4.84, 5.0]})
    pd.testing.assert_frame_equal(result, expected)
    assert str(result.loc[0, "passives"]) == "0.0"  # not -0.0, not 5.55e-15


def test_tables_have_separators_fixed_decimals_and_empty_missing_values():
    frame = pd.DataFrame({"n": [1234, 5], "estimate": [-60.011, float("nan")]})
    result = display_frame(frame, "table")
    assert result.to_dict("list") == {"n": ["1,234", "5"], "estimate": ["-60.01", ""]}


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0.0, "<0.001"), (0.000999, "<0.001"), (0.001, "0.001"), (0.0424, "0.042"), (1.0, "1.000")],
)
def test_p_values_below_one_in_a_thousand_read_as_less_than(p, expected):
    assert p_value(p) == expected


def test_p_value_columns_in_every_style():
    frame = pd.DataFrame({"p_value": [1e-12, 0.2], "p_adjusted": [0.0, 0.5]})
    for style in ("csv", "table", "html"):
        result = display_frame(frame, style)
        assert result.to_dict("list") == {
            "p_value": ["<0.001", "0.200"],
            "p_adjusted": ["<0.001", "0.500"],
        }


def test_flags_are_words():
    frame = pd.DataFrame({"low_n": [True, False], "significant": [True, False]})
    assert display_frame(frame, "table").to_dict("list") == {
        "low_n": ["low n", ""],
        "significant": ["yes", "no"],
    }
    assert display_frame(frame, "csv").to_dict("list") == {
        "low_n": ["yes", "no"],
        "significant": ["yes", "no"],
    }


def test_money_carries_the_currency_in_tables_not_in_csv():
    frame = pd.DataFrame({"clv": [150_994_603.4, 12.5], "value_at_risk": [0.0, 0.0]})
    table = display_frame(frame, "table", currency="EUR").to_dict("list")
    assert table == {"clv": ["EUR 150,994,603", "EUR 12"], "value_at_risk": ["EUR 0", "EUR 0"]}
    csv = display_frame(frame, "csv", currency="EUR")
    assert csv["clv"].tolist() == [150_994_603.0, 12.0]
    assert money(150_994_603.4, "EUR") == "EUR 150,994,603"
    assert money(1234.5) == "1,234"  # no currency set: the amount alone


@pytest.mark.parametrize(
    ("largest", "money_column", "expected"),
    [
        (99.99, True, 2),
        (100.0, True, 0),
        (0.0, True, 0),
        (999.9, False, 1),
        (1000.0, False, 0),
        (9.99, False, 3),
        (10.0, False, 2),
        (0.5, False, 3),
        (0.0, False, 1),
    ],
)
def test_decimals_on_both_sides_of_each_boundary(largest, money_column, expected):
    assert decimals_for([largest], money_column=money_column) == expected


def test_json_is_left_alone_by_display_frame():
    frame = pd.DataFrame({"estimate": [1 / 3]})
    display_frame(frame, "table")
    assert frame.loc[0, "estimate"] == 1 / 3  # the result is never rounded in place


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=20,
    )
)
def test_rounding_moves_a_value_by_at_most_half_its_last_digit(values):
    frame = pd.DataFrame({"x": values})
    result = display_frame(frame, "csv")["x"]
    d = decimals_for(values)
    assert 0 <= d <= 3
    for before, after in zip(values, result, strict=True):
        assert abs(after - before) <= 0.5 * 10.0**-d * (1 + 1e-9) + 1e-6 * abs(before)
    largest = max(abs(v) for v in values)
    if largest >= 1000:
        assert d == 0
    elif largest > 0:
        # four significant digits of the largest value are kept (fewer only below 0.01)
        assert d == min(3, 3 - math.floor(math.log10(float(f"{largest:.4g}"))))
