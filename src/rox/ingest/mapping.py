"""Column mappings: how a user's file maps onto a canonical table.

A mapping is written in TOML (or given as a dict) and is optional: a file whose columns already
carry the canonical names needs none.

.. code-block:: toml

    [columns]                 # your column = canonical column
    "Response ID" = "response_id"
    "Submitted" = "ts"
    "Q1" = "score"

    ignore = ["Internal note"]  # columns not to load (others are kept as attributes)
    encoding = "cp1252"         # the files' text encoding, when not UTF-8 (any Python codec)
    order = "Event Seq"         # a column ordering the rows as the source system recorded them

    [constants]               # a value for every row, when the file does not carry it
    metric = "nps"

    [timestamps]
    format = "%d/%m/%Y %H:%M" # strptime format; default: ISO 8601, as DuckDB parses it
    timezone = "Europe/Paris" # zone of timestamps written without an offset; default UTC
    earliest = "1900-01-01"   # timestamps before this are refused per row (default 1900-01-01)
    latest = "2100-12-31"     # ... and after this day (default 2100-12-31)

    [scales.csat]             # a non-default answer scale and its category cut-off
    low = 1
    high = 10
    top_from = 9

    [redact]                  # personal data in free text, removed before it is stored
    columns = ["comment"]     # default: comment; see rox.ingest.redact for the kinds
    plates = ["it"]           # licence plates: presets it, de, fr or regular expressions
    keep_original = "comment_original"  # a protected column for the original (default: none)

``order`` names a source column (numbers or times) that gives the order in which the source system
recorded its rows: each row's recorded order (the ``_seq`` column, which orders events sharing a
timestamp in a journey) then follows that column, and the row's place in the file only where it
ties or is empty. Without it, the recorded order is the rows' order in the file.

Top-level keys (``ignore``, ``encoding``, ``order``) come before the first ``[section]``: TOML
puts a key written after a section header inside that section.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rox import _toml
from rox.errors import MappingError
from rox.ingest.redact import Redaction
from rox.schema import METRICS, SYSTEM_COLUMNS, Scale, TableSpec

__all__ = ["ColumnMapping", "load_mapping"]

_SECTIONS = {
    "columns", "constants", "timestamps", "scales", "ignore", "encoding", "order", "redact"
}  # fmt: skip
_TS_KEYS = {"format", "timezone", "earliest", "latest"}
#: Default range of plausible timestamps; a value outside it is a per-row error.
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
# an IANA zone name: letters, digits, '_', '+', '-' in '/'-separated parts (no '..', no leading '/')
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*")


@dataclass(frozen=True)
class ColumnMapping:
    """How the columns of a source map onto a canonical table.

    Attributes
    ----------
    columns : dict of str to str
        Source column name to canonical column name.
    constants : dict of str to str
        Canonical column to a value given to every row (e.g. ``metric = "nps"``).
    timestamp_format : str or None
        A ``strptime`` format for every timestamp column; None parses ISO 8601.
    timezone : str
        IANA zone of timestamps written without an offset (default ``UTC``).
    scales : dict of str to Scale
        Answer scales of metrics that are not on their default scale.
    ignore : tuple of str
        Source columns not to load.
    encoding : str or None
        Text encoding of the source files (a Python codec name); None means UTF-8.
    earliest, latest : datetime.date
        The range of plausible timestamps (inclusive, UTC days); values outside it are refused.
    order : str or None
        A source column giving the order in which the source system recorded its rows; None: the
        rows' order in the file.
    redaction : Redaction
        Which text columns have personal data removed at ingest (default: ``comment``), and
        whether a protected column keeps the original (:mod:`rox.ingest.redact`).
    origin : str
        Where the mapping came from (a file name), for error messages.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    timestamp_format: str | None = None
    timezone: str = "UTC"
    scales: Mapping[str, Scale] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    encoding: str | None = None
    earliest: dt.date = EARLIEST
    latest: dt.date = LATEST
    order: str | None = None
    redaction: Redaction = field(default_factory=Redaction)
    origin: str = "mapping"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "mapping") -> ColumnMapping:
        """Build a mapping from the parsed TOML document ``data``.

        Raises
        ------
        MappingError
            On an unknown section, a metric that does not exist or an invalid scale.
        """
        unknown = set(data) - _SECTIONS
        if unknown:
            raise MappingError(
                f"{origin}: unknown section(s) {', '.join(sorted(unknown))}; "
                f"expected {', '.join(sorted(_SECTIONS))}"
            )
        ts = dict(data.get("timestamps", {}))
        bad_ts = set(ts) - _TS_KEYS
        if bad_ts:
            raise MappingError(
                f"{origin}: unknown key(s) in [timestamps]: {', '.join(sorted(bad_ts))}; "
                f"expected {', '.join(sorted(_TS_KEYS))}"
            )
        fmt, zone = ts.get("format"), ts.get("timezone", "UTC")
        if fmt is not None and (not isinstance(fmt, str) or not fmt.strip()):
            raise MappingError(f"{origin}: [timestamps] format must be a strptime format string")
        if not isinstance(zone, str) or not _ZONE.fullmatch(zone):
            raise MappingError(
                f"{origin}: [timestamps] timezone {zone!r} is not a time zone name; expected an "
                "IANA name such as 'Europe/Paris' or 'UTC'"
            )
        earliest, latest = (
            _day(ts.get(k, d), f"{origin}: [timestamps] {k}")
            for k, d in (("earliest", EARLIEST), ("latest", LATEST))
        )
        if earliest > latest:
            raise MappingError(
                f"{origin}: [timestamps] earliest {earliest} is after latest {latest}"
            )
        ignore = data.get("ignore", [])
        if not isinstance(ignore, list | tuple) or not all(isinstance(c, str) for c in ignore):
            raise MappingError(
                f"{origin}: ignore must be a list of column names, e.g. "
                f"ignore = {json.dumps([ignore])}, not {ignore!r}"
            )
        order = data.get("order")
        if order is not None and (not isinstance(order, str) or not order.strip()):
            raise MappingError(
                f'{origin}: order must name one source column (order = "Event Seq"), not {order!r}'
            )
        encoding = data.get("encoding")
        if encoding is not None:
            encoding = check_encoding(encoding, origin)
        for section in ("columns", "constants"):
            if not isinstance(data.get(section, {}), Mapping):
                raise MappingError(f"{origin}: [{section}] must be a table of name = value")
        scales: dict[str, Scale] = {}
        for metric, spec in dict(data.get("scales", {})).items():
            extra = (
                set(spec) - {"low", "high", "top_from", "bottom_to"}
                if isinstance(spec, Mapping)
                else set()
            )
            if extra:
                raise MappingError(
                    f"{origin}: unknown key(s) in [scales.{metric}]: {', '.join(sorted(extra))}; "
                    "expected low, high, top_from, bottom_to (top-level keys such as ignore and "
                    "encoding go before the first [section])"
                )
            if metric not in METRICS:
                raise MappingError(
                    f"{origin}: [scales.{metric}]: unknown metric; expected one of "
                    f"{', '.join(METRICS)}"
                )
            try:
                scales[metric] = Scale(
                    float(spec["low"]),
                    float(spec["high"]),
                    float(spec["top_from"]),
                    None if spec.get("bottom_to") is None else float(spec["bottom_to"]),
                    name=metric,
                )
            except KeyError as exc:
                raise MappingError(f"{origin}: [scales.{metric}] needs {exc.args[0]!r}") from None
            except (TypeError, ValueError) as exc:
                raise MappingError(f"{origin}: [scales.{metric}]: {exc}") from None
            if metric == "nps" and scales[metric].bottom_to is None:
                raise MappingError(f"{origin}: [scales.nps] needs bottom_to (detractors up to)")
        return cls(
            columns={str(k): str(v) for k, v in dict(data.get("columns", {})).items()},
            constants={str(k): str(v) for k, v in dict(data.get("constants", {})).items()},
            timestamp_format=fmt,
            timezone=zone,
            scales=scales,
            ignore=tuple(ignore),
            encoding=encoding,
            earliest=earliest,
            latest=latest,
            order=order,
            redaction=Redaction.from_dict(data.get("redact", {}), origin),
            origin=origin,
        )

    def check(self, spec: TableSpec) -> None:
        """Check the mapping against the canonical table it loads.

        Raises
        ------
        MappingError
            If it maps onto a column the table does not have, maps two columns onto one, or
            sets a constant for an unknown column.
        """
        seen: dict[str, str] = {}
        for source, target in self.columns.items():
            if target in SYSTEM_COLUMNS:
                raise MappingError(f"{self.origin}: {target!r} is reserved for rox")
            if target not in spec.names:
                raise MappingError(
                    f"{self.origin}: column {source!r} maps to {target!r}, which table "
                    f"{spec.name!r} does not have; its columns are {', '.join(spec.names)}"
                )
            if target in seen:
                raise MappingError(
                    f"{self.origin}: columns {seen[target]!r} and {source!r} both map to {target!r}"
                )
            seen[target] = source
        for target in self.constants:
            if target not in spec.names:
                raise MappingError(
                    f"{self.origin}: constant for {target!r}, which table {spec.name!r} does "
                    f"not have; its columns are {', '.join(spec.names)}"
                )
        kept = self.redaction.keep_original
        if kept is not None and (kept in spec.names or kept.startswith("_")):
            raise MappingError(
                f"{self.origin}: [redact] keep_original {kept!r} must be a new column, not a "
                f"column of {spec.name!r} or a name starting with '_'"
            )
        if self.scales and spec.name != "responses":
            raise MappingError(f"{self.origin}: [scales] only applies to the responses table")


def load_mapping(
    mapping: ColumnMapping | str | os.PathLike[str] | Mapping[str, Any] | None,
) -> ColumnMapping:
    """Return ``mapping`` as a :class:`ColumnMapping`; a path is read as TOML.

    Raises
    ------
    MappingError
        If the file is missing or is not valid TOML, or the mapping is invalid.
    """
    if mapping is None:
        return ColumnMapping()
    if isinstance(mapping, ColumnMapping):
        return mapping
    if isinstance(mapping, Mapping):
        return ColumnMapping.from_dict(mapping)
    path = Path(mapping)
    data = _toml.read(path, what="mapping", error=MappingError)
    return ColumnMapping.from_dict(data, origin=str(path))


def check_encoding(encoding: object, origin: str = "encoding") -> str:
    """Return the canonical name of text encoding ``encoding`` (a Python codec).

    Raises
    ------
    MappingError
        If Python knows no such text encoding.
    """
    try:
        info = codecs.lookup(str(encoding))
    except LookupError:
        info = None
    if not isinstance(encoding, str) or info is None or not info._is_text_encoding:
        raise MappingError(
            f"{origin}: unknown text encoding {encoding!r}; expected a name such as 'utf-8', "
            "'cp1252' (Windows Western Europe), 'latin-1' or 'utf-16'"
        )
    return info.name


def _day(value: object, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise MappingError(f"{where}: {value!r} is not a date (expected YYYY-MM-DD)") from None
