"""Numbers for people: the one place where results are rounded and worded for display.

The CLI's tables and CSV output and the HTML report all format through this module; JSON output
and the results themselves keep full precision. The rules:

- a column of decimals is rounded to four significant digits of its largest value (at most three
  decimals): ``5.551115123125783e-15`` among percentages prints as ``0.0``, ``9.999999999999998``
  as ``10.00``;
- p-values (columns ``p``, ``p_value``, ``p_adjusted``) print with three decimals, and below 0.001
  as ``<0.001``;
- money (columns in :data:`MONEY_COLUMNS`) prints in whole units when the amounts are large, with
  the workspace's currency code in tables and the report (``EUR 150,994,603``);
- flags print as words: ``low_n`` as ``low n`` (blank when false), other flags as ``yes``/``no``.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"estimate": [33.333333, 5.551115123125783e-15], "p_value": [0.0, 0.04]})
>>> display_frame(frame, "csv").to_dict("list")
{'estimate': [33.33, 0.0], 'p_value': ['<0.001', '0.040']}
>>> money(150994603.4, "EUR")
'EUR 150,994,603'
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MONEY_COLUMNS", "P_COLUMNS", "display_frame", "money", "p_value", "round_column"]

#: Columns holding amounts of money (in the workspace's currency).
MONEY_COLUMNS = frozenset(
    {
        "amount",
        "clv",
        "clv_total",
        "clv_mean",
        "clv_median",
        "expected_spend",
        "monetary",
        "revenue",
        "lost_value",
        "value_at_risk",
        "total",
        "spend",
    }
)
#: Columns holding p-values.
P_COLUMNS = frozenset({"p", "p_value", "p_adjusted"})
#: Flags that say a group is too small to trust, and the word shown for them.
SMALL_FLAGS = {"low_n": "low n"}

Style = Literal["table", "csv", "html"]


def p_value(p: float) -> str:
    """A p-value for reading: ``<0.001`` below 0.001, else three decimals (``0.042``).

    >>> p_value(1e-12), p_value(0.0424), p_value(float("nan"))
    ('<0.001', '0.042', '')
    """
    if p is None or math.isnan(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def money(amount: float, currency: str | None = None, *, decimals: int = 0) -> str:
    """An amount of money with thousands separators and, if known, its ISO currency code.

    >>> money(1234.5), money(1234.5, "USD", decimals=2)
    ('1,234', 'USD 1,234.50')
    """
    if amount is None or math.isnan(amount):
        return ""
    text = f"{_no_negative_zero(round(amount, decimals)):,.{decimals}f}"
    return f"{currency} {text}" if currency else text


def decimals_for(values: Iterable[float], *, money_column: bool = False) -> int:
    """Decimals that keep four significant digits of the largest absolute value (0 to 3).

    Money keeps two decimals for small amounts and none from 100 up (or when all are zero).

    >>> decimals_for([5.44, 0.85]), decimals_for([33.3, -60.01]), decimals_for([1.5e8])
    (3, 2, 0)
    """
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    largest = float(f"{max(finite, default=0.0):.4g}")  # 9.9999999 is 10 to four digits
    if money_column:
        return 0 if largest >= 100 or largest == 0 else 2
    if largest == 0:
        return 1
    return max(0, min(3, 3 - math.floor(math.log10(largest))))


def round_column(series: pd.Series, *, money_column: bool = False) -> pd.Series:
    """``series`` rounded for display (see :func:`decimals_for`), without ``-0.0``."""
    d = decimals_for(series.astype("float64").tolist(), money_column=money_column)
    return series.astype("float64").round(d) + 0.0


def display_frame(
    frame: pd.DataFrame, style: Style = "table", *, currency: str | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` for display (see the module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
        A result's frame, at full precision.
    style : {'table', 'csv', 'html'}
        ``csv`` keeps numbers as numbers (rounded, no separators, no currency) so the file still
        parses; ``table`` and ``html`` turn every cell into text with thousands separators, money
        with the currency code, and empty cells for missing values.
    currency : str, optional
        ISO 4217 code shown with money in tables and the report.

    Returns
    -------
    pandas.DataFrame
    """
    out = frame.copy()
    text = style != "csv"
    for col in out.columns:
        s = out[col]
        name = str(col)
        if name in P_COLUMNS and pd.api.types.is_numeric_dtype(s):
            out[col] = s.map(lambda v: p_value(float(v)) if pd.notna(v) else "")
        elif pd.api.types.is_bool_dtype(s) or _is_flags(s):
            out[col] = s.map(lambda v, n=name: _flag(n, v, text=text))
        elif pd.api.types.is_float_dtype(s):
            is_money = name in MONEY_COLUMNS
            d = decimals_for(s.tolist(), money_column=is_money)
            if not text:
                out[col] = s.round(d) + 0.0
            elif is_money:
                out[col] = s.map(lambda v, d=d: money(v, currency, decimals=d))
            else:
                out[col] = s.map(lambda v, d=d: _number(v, d))
        elif pd.api.types.is_integer_dtype(s) and text:
            out[col] = s.map(lambda v: f"{v:,}" if pd.notna(v) else "")
        elif pd.api.types.is_datetime64_any_dtype(s) and text:
            out[col] = s.map(_timestamp)
        elif text:
            out[col] = s.map(_cell)
    return out


def _is_flags(s: pd.Series) -> bool:
    return s.dtype == object and len(s) > 0 and s.map(lambda v: isinstance(v, bool)).all()


def _flag(name: str, value: Any, *, text: bool) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if name in SMALL_FLAGS and text:
        return SMALL_FLAGS[name] if value else ""
    return "yes" if value else "no"


def _number(value: float, decimals: int) -> str:
    if value is None or math.isnan(value):
        return ""
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{_no_negative_zero(round(value, decimals)):,.{decimals}f}"


def _no_negative_zero(value: float) -> float:
    return value + 0.0


def _timestamp(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    ts = pd.Timestamp(value)
    return str(ts.strftime("%Y-%m-%d" if ts == ts.normalize() else "%Y-%m-%d %H:%M"))


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return _timestamp(value)
    if isinstance(value, float):
        return _number(value, decimals_for([value]))
    return str(value)
