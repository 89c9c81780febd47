"""Plain responses typed in Python: the intake service's batches without the rules' SQL.

The rules of :class:`rox.ingest.rules.LoadPlan` are one SQL expression per column, written for
files of millions of rows; for the service's batches of a few dozen rows, DuckDB spends most of
a batch binding and optimising that expression (some 45 ms of a 130 ms batch of 30 responses,
measured), not running it. Most responses the service receives are *plain*: every value is
already in the form the rules would store, and none breaks a rule. :func:`typed_plainly` types
such a batch in Python; the batch is then written in one statement
(:class:`rox.ingest.batch.BatchWriter`).

A batch is typed here only when **every** row is plain, and only in the cases where the rules'
result is known without them; anything else (a value to trim or to parse, a rule broken, a
response without ``response_id``, an id repeated in the batch, a mapping other than the
default one) returns None and the batch goes through the rules, which write every message. So
this never accepts a row the rules would refuse, never refuses one, and stores the values the
rules store (``tests/ingest/test_plain.py`` writes the same rows both ways and compares the
tables). A plain response has:

- ``ts``: ``YYYY-MM-DD[T ]HH:MM:SS[.ffffff]`` with ``Z``, ``+HH:MM`` (up to 14:59) or no
  offset (read as UTC, as the rules read it in the workspace's UTC session), a real date and
  time, within the mapping's plausible range;
- ``metric``: nps, csat or ces (any case: the rules lower it);
- ``scale``: absent (the metric's default) or a label the workspace knows for the metric;
- ``score``: a finite number on that scale (bounds included); ``weight``: absent or a finite
  number above 0;
- ``response_id`` (the natural key) given and not repeated in the batch; every text (ids
  included) without a blank or other character outside printable ASCII at either end, so the
  rules' ``trim`` leaves it as it is (an empty optional text is stored as NULL, as the rules'
  ``NULLIF`` does).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from rox.ingest.rules import ROW_COLUMN
from rox.schema import DEFAULT_SCALES, KEY_COLUMN, METRICS, Scale, TableSpec

if TYPE_CHECKING:
    import pyarrow as pa

    from rox.ingest.mapping import ColumnMapping

__all__ = ["typed_plainly"]

#: An ISO 8601 time DuckDB's cast and Python's ``fromisoformat`` read alike.
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])?"
)
_TEXTS = ("response_id", "customer_id", "touchpoint", "channel", "comment", "language")


class _NotPlain(Exception):
    """A value the rules must look at (never raised out of this module)."""


def typed_plainly(
    spec: TableSpec,
    rows: pa.Table,
    mapping: ColumnMapping,
    scales: Mapping[tuple[str, str], Scale],
) -> pa.Table | None:
    """The typed rows of a batch of plain responses, or None if the rules must type it.

    Parameters
    ----------
    spec : TableSpec
        The canonical table (only ``responses`` is typed here).
    rows : pyarrow.Table
        The batch as the service receives it: the canonical columns, times as text, numbers as
        float64, ids and other text as text.
    mapping : ColumnMapping
        The mapping of the batch; only the default one (names as they are, UTC, no declared
        scales, no format) is typed here.
    scales : mapping of (metric, label) to Scale
        The scales the workspace declares.

    Returns
    -------
    pyarrow.Table or None
        ``_rox_row`` (1-based), the canonical columns typed as the table stores them, and
        ``_key`` (the ``response_id``); None when any row is not plain (see the module).
    """
    import pyarrow as pa

    if (
        spec.name != "responses"
        or not _default(mapping)
        or set(rows.column_names) != set(spec.names)
    ):
        return None
    known = {(m, s.label): s for m, s in DEFAULT_SCALES.items()} | dict(scales)
    first = datetime.combine(mapping.earliest, time(), UTC)
    last = datetime.combine(mapping.latest, time(), UTC) + timedelta(days=1)
    names = spec.names  # (a property making its list: once, not once per row)
    out: dict[str, list[Any]] = {name: [] for name in names}
    try:
        for row in rows.to_pylist():
            typed = _plain_response(row, known, first, last)
            for name in names:
                out[name].append(typed[name])
    except _NotPlain:
        return None
    keys = out["response_id"]
    if len(set(keys)) != len(keys):  # a repeated key: the rules skip or refuse it
        return None
    kinds = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64(),
             "timestamp": pa.timestamp("us", tz="UTC")}  # fmt: skip
    columns = {ROW_COLUMN: pa.array(range(1, rows.num_rows + 1), pa.int64())}
    for c in spec.columns:
        columns[c.name] = pa.array(out[c.name], kinds[c.dtype])
    columns[KEY_COLUMN] = pa.array(keys, pa.string())
    return pa.table(columns)


def _default(mapping: ColumnMapping) -> bool:
    """Whether ``mapping`` is the default one as far as typing goes."""
    return (
        not mapping.columns
        and not mapping.constants
        and not mapping.scales
        and not mapping.timestamp_format
        and mapping.timezone.upper() == "UTC"
    )


def _plain_response(
    row: dict[str, Any], known: Mapping[tuple[str, str], Scale], first: datetime, last: datetime
) -> dict[str, Any]:
    """The typed values of one response, or :class:`_NotPlain`."""
    out: dict[str, Any] = {name: _text(row.get(name)) for name in _TEXTS}
    if out["response_id"] is None:
        raise _NotPlain
    out["ts"] = _time(row.get("ts"), first, last)
    metric = _text(row.get("metric"))
    if metric is None or metric.lower() not in METRICS:
        raise _NotPlain
    out["metric"] = metric = metric.lower()
    given = _text(row.get("scale"))
    label = DEFAULT_SCALES[metric].label if given is None else given
    scale = known.get((metric, label))
    if scale is None or not scale.low < scale.high:
        raise _NotPlain
    out["scale"] = label
    score = row.get("score")
    if not isinstance(score, float) or not math.isfinite(score):
        raise _NotPlain
    if not scale.low <= score <= scale.high:
        raise _NotPlain
    out["score"] = score
    weight = row.get("weight")
    if weight is not None and not (isinstance(weight, float) and math.isfinite(weight)
                                   and weight > 0):  # fmt: skip
        raise _NotPlain
    out["weight"] = weight
    return out


def _text(value: Any) -> str | None:
    """``value`` as the rules store it, if they store it unchanged (empty: None)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not ("!" <= value[0] <= "~" and "!" <= value[-1] <= "~"):
        raise _NotPlain
    return value


def _time(value: Any, first: datetime, last: datetime) -> datetime:
    text = _text(value)
    if text is None or _ISO.fullmatch(text) is None:
        raise _NotPlain
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:  # (no such day or hour: the rules say so)
        raise _NotPlain from None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if not first <= parsed < last:
        raise _NotPlain
    return parsed
