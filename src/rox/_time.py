"""Time for every analysis: the periods results are grouped by, and user dates read as UTC.

rox stores every timestamp in UTC (docs/architecture.md, "UTC everywhere"): a date or time
without a zone is taken to be UTC, one with a zone is converted to it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, TypeAlias

import pandas as pd

from rox.errors import MetricError

__all__ = ["PERIODS", "DateLike", "Period", "utc_day", "utc_timestamp"]

Period = Literal["day", "week", "month", "quarter", "year"]
#: Period names and the Ibis truncation unit of each (weeks start on Monday, ISO 8601).
PERIODS: dict[str, str] = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}

#: What a user may give as a date or time.
DateLike: TypeAlias = str | date | datetime | pd.Timestamp


def utc_timestamp(value: DateLike | None, name: str | None = None) -> pd.Timestamp | None:
    """``value`` as a UTC timestamp (naive values are UTC); None stays None.

    Parameters
    ----------
    value : str, date, datetime, pandas.Timestamp or None
    name : str, optional
        The parameter it was given as, named in the error.

    Raises
    ------
    MetricError
        If ``value`` is not a date or time.

    Examples
    --------
    >>> utc_timestamp("2024-03-01")
    Timestamp('2024-03-01 00:00:00+0000', tz='UTC')
    >>> utc_timestamp("2024-03-01T14:30+01:00")
    Timestamp('2024-03-01 13:30:00+0000', tz='UTC')
    """
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        given = f"{name}={value!r}" if name else repr(value)
        raise MetricError(
            f"{given} is not a date; expected e.g. 2024-03-01 or 2024-03-01T14:30"
        ) from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def utc_day(value: DateLike | None, name: str | None = None) -> pd.Timestamp | None:
    """The UTC calendar day of ``value``, as a naive midnight timestamp; None stays None.

    Examples
    --------
    >>> utc_day("2024-03-01T23:30-02:00")
    Timestamp('2024-03-02 00:00:00')
    """
    ts = utc_timestamp(value, name)
    return None if ts is None else ts.tz_localize(None).normalize()
