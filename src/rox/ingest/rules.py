"""The rules a row must satisfy to enter a canonical table, as DuckDB SQL over the staged rows.

A :class:`LoadPlan` matches a source's columns to a canonical table and writes, for each canonical
column, the expression that parses its value (``typed``), the raw text shown in messages, and the
checks it must pass. Every check is a ``(condition, rule)`` pair of SQL expressions, so that one
scan of the staged rows finds every problem of every row without pulling rows into Python.

Rules
-----
- a required column is missing from the source: the whole source is refused (:class:`SchemaError`)
- a required value is empty: ``missing value for required column``
- a number does not parse or is not finite: ``not a number``
- a timestamp does not parse, or is a special value (``infinity``, ``epoch``):
  ``not a timestamp (expected ...)``; it lies outside the plausible range (default 1900-01-01 to
  2100-12-31, set in the mapping): ``outside the plausible range ...``
- an id (a ``*_id`` column) is not text or an exact whole number (a float such as ``1.5e16``):
  ``not an exact id ...``; ids are always stored as text, so ``123`` from JSON equals ``"123"``
- ``metric`` is not nps, csat or ces: ``unknown metric``
- a ``score`` lies outside the metric's scale (declared in the mapping, the workspace, or default)
- ``quantity`` is negative; ``weight`` is not positive
- two rows share a natural key with different values (identical repeats are skipped)
- a key is already in the workspace with different values (identical rows are skipped)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from rox._sql import ident, literal
from rox.errors import MappingError, SchemaError
from rox.ingest.mapping import ColumnMapping
from rox.schema import DEFAULT_SCALES, KEY_COLUMN, METRICS, SYSTEM_COLUMNS, Scale, TableSpec

__all__ = [
    "FLAG_COLUMN",
    "ROW_COLUMN",
    "TEXT_FLAG_COLUMN",
    "LoadPlan",
    "compare_hash_sql",
    "duplicate_key_rule",
    "hash_sql",
    "loaded_key_rule",
    "spark_ready",
    "spark_sql",
]

#: Column of the staged rows holding each row's 1-based position in its source.
ROW_COLUMN = "_rox_row"
#: Column of the typed rows: the row breaks a rule (see :meth:`LoadPlan.typed_select`).
FLAG_COLUMN = "_rox_bad"
#: Column of the typed rows: the row has broken text (see :meth:`LoadPlan.typed_select`).
TEXT_FLAG_COLUMN = "_rox_text_bad"

SQL_TYPES = {
    "string": "VARCHAR",
    "float64": "DOUBLE",
    "int64": "BIGINT",
    "timestamp": "TIMESTAMPTZ",
}
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_UNSIGNED = ("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_NAIVE_TIMES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE")
_RESERVED = {*SYSTEM_COLUMNS, ROW_COLUMN, FLAG_COLUMN, TEXT_FLAG_COLUMN, "_rox_low", "_rox_high"}
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UHUGEINT", *_UNSIGNED)
#: 2**53: every whole number below it is exact in a double, and no larger one is known to be.
_EXACT_IN_DOUBLE = 9007199254740992
#: The digit test of a timestamp read from text (:meth:`LoadPlan._timestamp`).
_DIGIT = "[0-9]"


def compare_hash_sql(spec: TableSpec, alias: str) -> str:
    """A 64-bit hash of the canonical content of row ``alias``, to tell equal rows from others.

    DuckDB's ``hash`` of the typed values (about 3x faster than :func:`hash_sql`'s MD5 of their
    text, measured): staged and loaded rows are compared inside one database, so the hash need
    not be stable across versions, and two different rows with the same key pass as equal only
    by a collision of 64-bit hashes (a chance of 2^-64 per pair compared).
    """
    return f"hash({', '.join(f'{alias}.{ident(c.name)}' for c in spec.columns)})"


def hash_sql(spec: TableSpec) -> str:
    """MD5 of a row's canonical content; the same expression over staged and loaded rows."""
    # timestamps enter as epoch microseconds: formatting them with a time zone is slow
    values = [
        f"epoch_us({ident(c.name)})" if c.dtype == "timestamp" else ident(c.name)
        for c in spec.columns
    ]
    parts = ", ".join(f"coalesce(CAST({v} AS VARCHAR), chr(0))" for v in values)
    return f"md5(concat_ws(chr(31), {parts}))"


def _exact_id(value: str, raw: str, src_type: str) -> str:
    """An id read from a non-text column, as exact text, or NULL where it is not exact.

    Integers are written in full; a floating-point value only when it is a whole number below
    2^53 (``123.0`` -> ``'123'``); a JSON value by its type (text, integer or such a float).
    """

    def from_float(v: str) -> str:
        return (
            f"CASE WHEN isfinite({v}) AND {v} = trunc({v}) AND abs({v}) < {_EXACT_IN_DOUBLE} "
            f"THEN CAST(CAST({v} AS BIGINT) AS VARCHAR) END"
        )

    if src_type == "JSON":
        return (
            f"CASE json_type({value}) WHEN 'VARCHAR' THEN {raw} WHEN 'BIGINT' THEN {raw} "
            f"WHEN 'UBIGINT' THEN {raw} "
            f"WHEN 'DOUBLE' THEN {from_float(f'CAST({value} AS DOUBLE)')} END"
        )
    if src_type.startswith(_INTEGERS):
        return f"CAST({value} AS VARCHAR)"
    if src_type.startswith("DECIMAL"):
        return (
            f"CASE WHEN {value} = trunc({value}) THEN CAST(CAST({value} AS HUGEINT) AS VARCHAR) END"
        )
    if src_type.startswith(("FLOAT", "DOUBLE", "REAL")):
        return from_float(f"CAST({value} AS DOUBLE)")
    return raw


def _trimmed(text: str) -> str:
    """``trim(text)``, computed only where it may change the text.

    DuckDB's ``trim`` removes spaces, ASCII and Unicode ones (U+00A0, U+3000, ...), and costs
    some 0.6 s per column and million rows even where there is nothing to remove; a text of
    ASCII characters (as many characters as bytes) without a space at either end is its own
    trim, and those tests cost a tenth of it (measured).
    """
    changed = f"prefix({text}, ' ') OR suffix({text}, ' ') OR length({text}) <> strlen({text})"
    return f"CASE WHEN {changed} THEN trim({text}) ELSE {text} END"


@dataclass
class ColumnRule:
    """How one canonical column is filled and checked."""

    name: str
    origin: str | None  # the source column, or None (constant or absent)
    raw: str  # the value as text (NULL when empty), for messages
    typed: str  # the parsed value, of the canonical type
    checks: list[tuple[str, str]] = field(default_factory=list)  # (condition, rule), SQL
    #: For a select that only flags (:meth:`LoadPlan.typed_select` with ``quick``): a cheaper
    #: parse, equal to ``typed`` wherever none of ``quick_checks`` holds, ...
    quick: str | None = None
    #: ... and the conditions (over the typed rows) where it may differ: such rows are flagged.
    quick_checks: list[str] = field(default_factory=list)


@dataclass
class LoadPlan:
    """How the rows of one source become rows of a canonical table.

    Parameters
    ----------
    spec : TableSpec
        The canonical table.
    mapping : ColumnMapping
        The user's mapping (may be empty).
    source_types : dict of str to str
        The staged source's columns and their DuckDB types.
    source_name : str
        For error messages.
    known_scales : mapping of (metric, label) to Scale
        Scales the workspace declares already.
    """

    spec: TableSpec
    mapping: ColumnMapping
    source_types: Mapping[str, str]
    source_name: str
    known_scales: Mapping[tuple[str, str], Scale] = field(default_factory=dict)
    columns: dict[str, ColumnRule] = field(init=False)
    extras: dict[str, str] = field(init=False)  # source column -> DuckDB type
    #: Values the checks share, computed once per row over the typed rows (name -> SQL).
    shared: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.mapping.check(self.spec)
        origins = self._match_columns()
        self.columns = {name: self._rule(name, origins.get(name)) for name in self.spec.names}
        used = set(origins.values()) | set(self.mapping.ignore)
        self.extras = {c: t for c, t in self.source_types.items() if c not in used}
        for c in self.extras:
            if c in _RESERVED or c in self.spec.names:
                raise MappingError(
                    f"{self.source_name}: column {c!r} clashes with a column rox writes; "
                    "rename it in the mapping or list it under ignore"
                )
        if self.spec.name == "responses":
            self._add_scale_rules()

    # -- matching ---------------------------------------------------------------------------------
    def _match_columns(self) -> dict[str, str]:
        """Canonical column -> source column: the mapping first, then names (case-insensitive)."""
        origins: dict[str, str] = {}
        for source, target in self.mapping.columns.items():
            if source not in self.source_types:
                raise SchemaError(
                    f"{self.source_name}: the mapping {self.mapping.origin} names column "
                    f"{source!r}, which is not in the source (columns: {self._found()})"
                )
            origins[target] = source
        by_lower = {c.strip().lower(): c for c in self.source_types}
        for name in self.spec.names:
            if name in origins or name in self.mapping.constants:
                continue
            found = by_lower.get(name)
            if found is not None and found not in self.mapping.columns:
                origins[name] = found
        missing = [
            n for n in self.spec.required if n not in origins and n not in self.mapping.constants
        ]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            raise SchemaError(
                f"{self.source_name}: missing required column(s) {names} for table "
                f"{self.spec.name!r} (columns found: {self._found()}); map yours in a mapping "
                f'file, e.g. [columns] "Your name" = "{missing[0]}"'
            )
        return origins

    def _found(self) -> str:
        return ", ".join(repr(c) for c in self.source_types) or "none"

    # -- per-column rules -------------------------------------------------------------------------
    def _rule(self, name: str, origin: str | None) -> ColumnRule:
        column = self.spec.column(name)
        sql_type = SQL_TYPES[column.dtype]
        if origin is None and name not in self.mapping.constants:
            null = f"CAST(NULL AS {sql_type})"
            return ColumnRule(name, None, "CAST(NULL AS VARCHAR)", null)
        if origin is None:
            src_type = "VARCHAR"
            value = literal(self.mapping.constants[name])
        else:
            src_type = self.source_types[origin].upper()
            value = ident(origin)
        # a JSON value (ids read from JSON lines) shows as its text: "abc" -> abc
        text_of = f"({value} ->> '$')" if src_type == "JSON" else f"CAST({value} AS VARCHAR)"
        raw = f"NULLIF({_trimmed(text_of)}, '')"
        where = "" if origin is None or origin == name else f" [source column {origin!r}]"
        rule = ColumnRule(name, origin, raw, "")
        # Checks run over the typed rows: the parsed value is the column itself, the text as read
        # is ``_raw_<name>``.
        got, text = ident(name), ident("_raw_" + name)
        if column.dtype == "string" and name.endswith("_id") and src_type != "VARCHAR":
            rule.typed = _exact_id(value, raw, src_type)
            rule.checks.append(
                (
                    f"{text} IS NOT NULL AND {got} IS NULL",
                    literal(
                        "not an exact id: an id is text or a whole number; a floating-point id "
                        f"must be a whole number below 2^53 ({_EXACT_IN_DOUBLE}) to be exact, "
                        f"so store ids as text{where}"
                    ),
                )
            )
        elif column.dtype == "string":
            rule.typed = f"lower({raw})" if name == "metric" else raw
        elif column.dtype == "float64":
            numeric = src_type.startswith(_NUMERIC + _UNSIGNED)
            rule.typed = f"CAST({value} AS DOUBLE)" if numeric else f"TRY_CAST({raw} AS DOUBLE)"
            rule.checks.append(
                (
                    f"{text} IS NOT NULL AND ({got} IS NULL OR NOT isfinite({got}))",
                    literal("not a number" + where),
                )
            )
        elif column.dtype == "int64":
            number = f"TRY_CAST({raw} AS DOUBLE)"
            rule.typed = (
                f"CASE WHEN {number} = round({number}) AND abs({number}) < 9.0e15 "
                f"THEN CAST({number} AS BIGINT) END"
            )
            rule.checks.append(
                (f"{text} IS NOT NULL AND {got} IS NULL", literal("not a whole number" + where))
            )
        elif column.dtype == "timestamp":
            rule.typed = self._timestamp(value, raw, src_type)
            if not src_type.startswith(("TIMESTAMP", "DATE")) and self._utc_iso():
                # The digit test costs a regular expression per row. Text without a digit that
                # the cast reads is a special value: 'infinity' and '-infinity' (not finite,
                # broken by the range rule) or 'epoch'; a quick select flags the epoch instant
                # instead (a row truly at it is left to the full rules).
                rule.quick = self._parse_timestamp(value, raw, src_type)
                rule.quick_checks.append(f"{got} = TIMESTAMPTZ '1970-01-01 00:00:00+00'")
            expected = (
                f"the format {self.mapping.timestamp_format!r}"
                if self.mapping.timestamp_format
                else "ISO 8601, e.g. 2024-03-01 14:30:00 or 2024-03-01T14:30:00+01:00"
            )
            rule.checks.append(
                (
                    f"{text} IS NOT NULL AND {got} IS NULL",
                    literal(f"not a timestamp (expected {expected}){where}"),
                )
            )
            first, last = self.mapping.earliest, self.mapping.latest
            rule.checks.append(
                (
                    f"{got} IS NOT NULL AND (NOT isfinite({got}) "
                    f"OR {got} < TIMESTAMPTZ '{first.isoformat()} 00:00:00+00' "
                    f"OR {got} >= TIMESTAMPTZ '{last.isoformat()} 00:00:00+00' + INTERVAL 1 DAY)",
                    literal(
                        f"outside the plausible range {first} to {last} (UTC); set [timestamps] "
                        f"earliest and latest in the mapping to widen it{where}"
                    ),
                )
            )
        if column.required:
            rule.checks.insert(
                0, (f"{text} IS NULL", literal("missing value for required column" + where))
            )
        if name == "metric":
            allowed = ", ".join(literal(m) for m in METRICS)
            rule.checks.append(
                (
                    f"{got} IS NOT NULL AND {got} NOT IN ({allowed})",
                    literal(f"unknown metric; expected one of {', '.join(METRICS)}{where}"),
                )
            )
        elif name == "quantity":
            rule.checks.append((f"{got} < 0", literal("negative quantity" + where)))
        elif name == "weight":
            rule.checks.append((f"{got} <= 0", literal("weight must be positive" + where)))
        return rule

    def _timestamp(self, value: str, raw: str, src_type: str) -> str:
        parsed = self._parse_timestamp(value, raw, src_type)
        if src_type.startswith(("TIMESTAMP", "DATE")):
            return parsed
        # text without a digit is no date, whatever DuckDB makes of it ('epoch', 'infinity')
        return f"CASE WHEN regexp_matches({raw}, {literal(_DIGIT)}) THEN {parsed} END"

    def _parse_timestamp(self, value: str, raw: str, src_type: str) -> str:
        tz = literal(self.mapping.timezone)
        if src_type.startswith("TIMESTAMP WITH TIME ZONE"):  # (DuckDB names TIMESTAMPTZ so)
            return value
        if src_type in _NAIVE_TIMES:
            return f"timezone({tz}, CAST({value} AS TIMESTAMP))"
        fmt = self.mapping.timestamp_format
        if self._utc_iso():
            # the session is in UTC: one cast reads naive times as UTC and honours offsets; the
            # regular expressions only run on what it cannot read
            return f"coalesce(TRY_CAST({raw} AS TIMESTAMPTZ), {self._offset_timestamp(raw)})"
        if fmt:
            parsed = f"try_strptime({raw}, {literal(fmt)})"
            return parsed if "%z" in fmt or "%Z" in fmt else f"timezone({tz}, {parsed})"
        offset = r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"
        has_offset = f"regexp_matches({raw}, {literal(offset)})"
        return (
            f"CASE WHEN {has_offset} THEN {self._offset_timestamp(raw)} "
            f"ELSE timezone({tz}, TRY_CAST({raw} AS TIMESTAMP)) END"
        )

    def _utc_iso(self) -> bool:
        """Whether times in text are read by the cast, in UTC (no format, no other zone)."""
        return not self.mapping.timestamp_format and self.mapping.timezone.upper() == "UTC"

    @staticmethod
    def _offset_timestamp(raw: str) -> str:
        """Parse a time written with an offset, normalised to what DuckDB reads."""
        # DuckDB wants seconds and no blank before an offset: "10:00 +02:00" -> "10:00:00+02:00".
        seconds = r"([T\s][0-9]{1,2}:[0-9]{2})\s*([zZ]|[+-][0-9])"
        blank = r"\s+([zZ]|[+-][0-9]{2}:?[0-9]{2})$"
        unblanked = f"regexp_replace({raw}, {literal(blank)}, '\\1')"
        with_seconds = f"regexp_replace({unblanked}, {literal(seconds)}, '\\1:00\\2')"
        return f"TRY_CAST({with_seconds} AS TIMESTAMPTZ)"

    # -- scales -----------------------------------------------------------------------------------
    def declared_scales(self) -> dict[tuple[str, str], Scale]:
        """Scales the mapping declares, checked against those the workspace knows."""
        out = {}
        for metric, scale in self.mapping.scales.items():
            known = self.known_scales.get((metric, scale.label))
            if known is not None and known != scale:
                raise MappingError(
                    f"{self.mapping.origin}: scale {scale.label} of {metric} is already declared "
                    f"in the workspace with top_from={known.top_from}, bottom_to={known.bottom_to}"
                )
            out[(metric, scale.label)] = scale
        return out

    def _add_scale_rules(self) -> None:
        given = self.columns["scale"]
        label_of = {m: s.label for m, s in DEFAULT_SCALES.items()}
        label_of.update({m: s.label for m, s in self.mapping.scales.items()})
        default = " ".join(f"WHEN {literal(m)} THEN {literal(lab)}" for m, lab in label_of.items())
        given_label = f"replace({given.raw}, ' ', '')"
        given.typed = f"coalesce({given_label}, CASE {self.columns['metric'].typed} {default} END)"
        known = (
            {(m, s.label): s for m, s in DEFAULT_SCALES.items()}
            | dict(self.known_scales)
            | self.declared_scales()
        )
        # Over the typed rows: "metric" and "scale" are parsed, "score" is a number.
        metric, label, score = ident("metric"), ident("scale"), ident("score")
        bounds = {}
        for group, side in enumerate(("low", "high"), start=1):
            cases = " ".join(
                f"WHEN {metric} = {literal(m)} AND {label} = {literal(lab)} THEN {getattr(s, side)}"
                for (m, lab), s in known.items()
            )
            parsed = (
                f"TRY_CAST(regexp_extract({label}, "
                f"'^(-?[0-9]+(?:\\.[0-9]+)?)-(-?[0-9]+(?:\\.[0-9]+)?)$', {group}) AS DOUBLE)"
            )
            bounds[side] = f"(CASE {cases} WHEN {metric} <> 'nps' THEN {parsed} END)"
        # each bound is computed once per row, and the checks read it (five uses each)
        self.shared = {"_rox_low": bounds["low"], "_rox_high": bounds["high"]}
        low, high = ident("_rox_low"), ident("_rox_high")
        known_metric = f"{metric} IN ({', '.join(literal(m) for m in METRICS)})"
        given.checks.append(
            (
                f"{known_metric} AND ({low} IS NULL OR {high} IS NULL OR {low} >= {high})",
                f"CASE WHEN {metric} = 'nps' THEN 'unknown scale for nps; NPS is on 0-10 unless "
                "the mapping declares [scales.nps]' ELSE 'not a scale; expected low-high, "
                "e.g. 1-5' END",
            )
        )
        self.columns["score"].checks.append(
            (
                f"{score} IS NOT NULL AND {low} < {high} AND ({score} < {low} OR {score} > {high})",
                f"'outside the ' || {metric} || ' scale ' || {label}",
            )
        )

    # -- SQL --------------------------------------------------------------------------------------
    def typed_select(
        self,
        staged: str,
        *,
        keys_complete: bool = False,
        flag: str | None = None,
        quick: bool = False,
    ) -> str:
        """SELECT turning staged rows into typed canonical rows, with raw text and keys.

        ``keys_complete``: every staged row has its natural key, so no row needs the content key
        (and neither its hash nor its window over the whole source are computed).
        ``flag``: a condition over the staged rows (broken text); when given, the rows also get
        :data:`TEXT_FLAG_COLUMN` (that condition) and :data:`FLAG_COLUMN` (it, or any check of
        the plan, holds), so that the checks need spelling out only on the flagged rows.
        ``quick`` (with ``flag``): for a pass that writes only rows no rule flags and spells out
        no problem (:func:`rox.ingest.one_pass.load_one_pass`): each column's cheaper parse where it
        has one (``ColumnRule.quick``), with the rows where it may differ from the full one
        flagged too. The rows not flagged are those of the full select, with the same values.
        """
        if quick and flag is None:
            raise ValueError("a quick select flags its rows: give flag")
        cols = [ROW_COLUMN]
        cols += [
            f"{(r.quick or r.typed) if quick else r.typed} AS {ident(n)}"
            for n, r in self.columns.items()
        ]
        # the text as read is kept only where a rule may need to show it
        cols += [f"{r.raw} AS {ident('_raw_' + n)}" for n, r in self.columns.items() if r.checks]
        cols += [ident(c) for c in self.extras]
        if flag is not None:
            cols.append(f"coalesce({flag}, false) AS {TEXT_FLAG_COLUMN}")
        select = f"SELECT {', '.join(cols)} FROM {staged}"
        if keys_complete and self.spec.key:
            key = f"CAST({ident(self.spec.key[0])} AS VARCHAR)"
        else:
            select = f"SELECT *, {hash_sql(self.spec)} AS _rox_hash FROM ({select}) AS t"
            key = self._key_sql()
        select = f"SELECT *, {key} AS {ident(KEY_COLUMN)} FROM ({select}) AS h"
        if self.shared:
            shared = ", ".join(f"{sql} AS {ident(name)}" for name, sql in self.shared.items())
            select = f"SELECT *, {shared} FROM ({select}) AS s"
        if flag is None:
            return select
        checks = [cond for r in self.columns.values() for cond, _ in r.checks]
        if quick:
            checks += [cond for r in self.columns.values() for cond in r.quick_checks]
        broken = [TEXT_FLAG_COLUMN, *(f"coalesce({cond}, false)" for cond in checks)]
        return f"SELECT *, {' OR '.join(broken)} AS {FLAG_COLUMN} FROM ({select}) AS k"

    def natural_key_origin(self) -> str | None:
        """The source expression of the natural key, if the source carries it."""
        if not self.spec.key:
            return None
        rule = self.columns[self.spec.key[0]]
        return rule.raw if rule.origin is not None else None

    def _key_sql(self) -> str:
        """The row key: the natural key, else the content hash and the occurrence number.

        Identical rows of one source (two equal purchases on a day) are distinct rows, numbered
        1, 2, ... in source order, so none is lost; loading the same source again gives the same
        keys, so nothing is added twice.
        """
        occurrence = f"row_number() OVER (PARTITION BY _rox_hash ORDER BY {ROW_COLUMN})"
        content = f"'h:' || _rox_hash || ':' || {occurrence}"
        if not self.spec.key:
            return content
        return f"coalesce(CAST({ident(self.spec.key[0])} AS VARCHAR), {content})"

    def problems_select(self, typed: str) -> str:
        """SELECT of (row, column, value, rule): one row per rule broken, over the typed rows."""
        parts = [
            f'SELECT {ROW_COLUMN} AS row, {literal(n)} AS "column", '
            f"{ident('_raw_' + n)} AS value, {rule} AS rule FROM {typed} WHERE {cond}"
            for n, r in self.columns.items()
            for cond, rule in r.checks
        ]
        if not parts:
            return (
                'SELECT NULL::BIGINT AS row, NULL AS "column", NULL AS value, NULL AS rule LIMIT 0'
            )
        return "\nUNION ALL\n".join(parts)

    def key_label(self) -> str:
        """Name of the key in messages: the natural key column or 'content'."""
        return self.spec.key[0] if self.spec.key else "content"

    def insert_columns(self) -> list[str]:
        """Columns written to the canonical table (canonical, extras, key)."""
        return [*self.spec.names, *self.extras, KEY_COLUMN]


#: The spaces of every kind (Unicode's category Zs: U+0020, U+00A0, U+1680, U+2000 to U+200A,
#: U+202F, U+205F, U+3000) that :func:`spark_sql` trims from either end of a text.
_SPACES = (
    "\u0020\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u202f\u205f\u3000"
)
#: DuckDB functions of the rules that Spark SQL spells otherwise (see :func:`spark_sql`).
_SPARK_NAMES = {"prefix": "startswith", "suffix": "endswith", "strlen": "octet_length"}


def spark_sql(sql: str, timestamps: Collection[str] = ()) -> str:
    """The same rules in Spark SQL: ``sql`` (the DuckDB SQL of a plan) translated by sqlglot.

    The rules are written once, in DuckDB's SQL (:class:`LoadPlan`); a Spark-validated load
    (:mod:`rox.ingest.native`) runs this translation of them, so that both engines apply the
    same conditions and give the same messages. sqlglot translates the syntax; the few DuckDB
    functions it passes through unchanged are rewritten here: ``prefix``/``suffix``/``strlen``
    become ``startswith``/``endswith``/``octet_length``, ``epoch_us`` becomes
    ``unix_micros``, and ``isfinite`` becomes a test for NaN and the infinities (true for the
    columns named in ``timestamps``: Spark has no infinite timestamps).
    ``timezone(zone, t)`` and ``try_strptime`` have no Spark form here: :func:`spark_ready`
    refuses mappings that need them.

    Two of the DuckDB rules' expressions get a Spark form that gives the same values for less
    work per row (#20 §2):

    - :func:`_trimmed`'s trim of the spaces of every kind (Unicode's category Zs, as DuckDB's
      ``trim``) becomes Spark's ``trim`` where the text is ASCII (as many characters as bytes:
      the only space it can hold is U+0020, the one Spark's ``trim`` removes, returning the text
      itself when there is none), and a trim of the characters of :data:`_SPACES` elsewhere
      (each value cut into characters, each looked up in the list);
    - :meth:`LoadPlan._timestamp`'s digit test is dropped: DuckDB's cast reads words without a
      digit (``epoch``, ``infinity``), which the test refuses; Spark's cast reads none (it reads
      ``epoch``, ``now``, ``today`` as typed literals only, since Spark 3.2), nor do the offset
      fallbacks change a text without a digit, so every such text is already NULL.
    """
    import sqlglot
    from sqlglot import exp

    def rewrite(node: Any) -> Any:
        if isinstance(node, exp.Case) and _is_trimmed(node):
            # (_trimmed's DuckDB shortcut, translated as it is, made Spark's generated code too
            # large: over 64 KB per row)
            text = node.args["default"].sql("spark")
            return sqlglot.parse_one(
                f"CASE WHEN OCTET_LENGTH({text}) = LENGTH({text}) THEN TRIM({text}) "
                f"ELSE TRIM(BOTH '{_SPACES}' FROM {text}) END",
                read="spark",
            )
        if isinstance(node, exp.Case) and _is_digit_test(node):
            # (what replaces a node is not visited: its own parts are rewritten here)
            return node.args["ifs"][0].args["true"].transform(rewrite)
        if not isinstance(node, exp.Anonymous):
            return node
        name = str(node.this).lower()
        if name in _SPARK_NAMES:
            return exp.Anonymous(this=_SPARK_NAMES[name], expressions=node.expressions)
        if name == "epoch_us":
            return exp.Anonymous(this="unix_micros", expressions=node.expressions)
        if name == "isfinite":
            (arg,) = node.expressions
            if isinstance(arg, exp.Column) and arg.name in timestamps:
                return exp.true()
            inner = arg.sql("spark")
            return sqlglot.parse_one(
                f"(NOT isnan({inner}) AND abs({inner}) <> double('infinity'))", read="spark"
            )
        return node

    tree = sqlglot.parse_one(sql, read="duckdb").transform(rewrite)
    return str(tree.sql("spark"))


def _is_trimmed(node: Any) -> bool:
    """Whether ``node`` is the expression :func:`_trimmed` writes."""
    from sqlglot import exp

    ifs = node.args.get("ifs") or []
    if len(ifs) != 1 or node.args.get("default") is None:
        return False
    then = ifs[0].args.get("true")
    return isinstance(then, exp.Trim) and then.this == node.args["default"]


def _is_digit_test(node: Any) -> bool:
    """Whether ``node`` is the digit test :meth:`LoadPlan._timestamp` writes around a parse."""
    from sqlglot import exp

    ifs = node.args.get("ifs") or []
    if len(ifs) != 1 or node.args.get("default") is not None:
        return False
    test = ifs[0].this
    return (
        isinstance(test, exp.RegexpLike)
        and isinstance(test.expression, exp.Literal)
        and test.expression.this == _DIGIT
    )


def spark_ready(mapping: ColumnMapping) -> str | None:
    """Why ``mapping``'s rules cannot run as Spark SQL (:func:`spark_sql`), or None if they can."""
    if mapping.timezone.upper() != "UTC":
        return f"[timestamps] timezone {mapping.timezone!r} (only UTC is translated)"
    if mapping.timestamp_format:
        return f"[timestamps] format {mapping.timestamp_format!r} (DuckDB's strptime)"
    if mapping.order is not None:
        return f"order = {mapping.order!r}"
    return None


def duplicate_key_rule(key: str, first_row: str) -> str:
    """SQL of the rule broken by a row repeating ``key`` of row ``first_row`` with other values."""
    return (
        f"{literal(f'duplicate {key}: row ')} || CAST({first_row} AS VARCHAR) || "
        f"{literal(f' has the same {key} with different values')}"
    )


def loaded_key_rule(key: str) -> str:
    """The rule broken by a row whose ``key`` is already loaded with other values."""
    return f"{key} already loaded with different values; rox does not overwrite loaded rows"
