"""What a reader could not read cleanly, as messages and per-row problems.

DuckDB's readers are fast and forgiving; this module turns what they stumble on into what a user
can act on:

- a read that fails (:func:`read_error`): the reason DuckDB gives (a line longer than the maximum,
  a file that is not UTF-8, malformed JSON) with the line, not only its first sentence;
- CSV lines the reader had to set aside (:func:`line_problems`): a field too many or too few (a
  cut-off last line), each becoming a problem of its row, so that a quarantining load puts it in
  ``rejects`` and loads the rest; a file that is not UTF-8 is refused whole, with the encoding
  option to use;
- JSON lines that are not JSON (:func:`jsonl_by_lines`): DuckDB's reader refuses the whole file,
  so the file is read again line by line, and each broken line becomes a problem of its row;
- values that read but are broken (:func:`text_problems`): a NUL byte, a quote never closed;
- repeated header names (:func:`csv_header_notes`), which DuckDB renames (``score``, ``score_1``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import duckdb

from rox.errors import SourceError
from rox.ingest.sources import CSV_REJECTS, Source

__all__ = [
    "LINE_COLUMN",
    "csv_header_notes",
    "jsonl_by_lines",
    "line_problems",
    "read_error",
    "text_problems",
    "text_problems_condition",
]

#: The ``column`` of a problem about a whole line of a file (it could not be split into fields).
LINE_COLUMN = "<line>"

_ENCODING_HINT = (
    'give its encoding: encoding = "cp1252" at the top of the mapping, or --encoding cp1252 '
    "(Windows exports from Western Europe are usually cp1252; also latin-1, utf-16, ...)"
)
# the parts of a DuckDB reader error worth showing (it also prints the whole dialect it sniffed)
_REASONS = re.compile(
    r"(Maximum line size of [0-9]+ bytes exceeded\. Actual Size:\s*[0-9]+ bytes\.)"
    r"|(not utf-8 encoded)"
    r"|(Malformed JSON[^\n]*)"
    r"|(CSV Error on Line: [0-9]+)"
)
_LINE_RULES = {
    "TOO MANY COLUMNS": "the line has more fields than the header",
    "MISSING COLUMNS": "the line has fewer fields than the header (is it cut off?)",
    "UNQUOTED VALUE": "a value is badly quoted",
    "LINE SIZE OVER MAXIMUM": "the line is longer than the maximum line size",
    "CAST": "a value does not fit its column",
}


def read_error(src: Source, exc: Exception) -> SourceError:
    """A :class:`SourceError` saying why DuckDB could not read ``src``."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    found = {m.group(0) for m in _REASONS.finditer(text)}
    where = next((f for f in found if f.startswith("CSV Error on Line")), None)
    line = f" (line {where.rsplit(' ', 1)[-1]})" if where else ""
    if "not utf-8 encoded" in found:
        return SourceError(f"{src.name}: is not UTF-8 text{line}; {_ENCODING_HINT}")
    size = next((f for f in found if f.startswith("Maximum line size")), None)
    if size is not None:
        return SourceError(
            f"{src.name}: a line is too long to read{line}: {size} A field of several MB is "
            "usually a broken quote, or data that does not belong in a CSV column"
        )
    malformed = next((f for f in found if f.startswith("Malformed JSON")), None)
    if malformed is not None:
        return SourceError(f"{src.name}: cannot read it as JSON lines: {malformed.strip()}")
    return SourceError(f"{src.name}: cannot read it as {src.kind}: {first}")


def line_problems(con: Any, src: Source, table: str) -> int:
    """Write the lines DuckDB's CSV reader set aside to temp table ``table``; return how many.

    ``table`` gets (``row``, ``column``, ``value``, ``rule``) like the other problems, plus
    ``before``: how many rows the reader did keep before the line, to renumber them.

    Raises
    ------
    SourceError
        If a line is not valid UTF-8: the whole file is in another encoding.
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} "
        '(row BIGINT, "column" VARCHAR, value VARCHAR, rule VARCHAR, before BIGINT)'
    )
    if src.kind != "csv":
        return 0
    listed = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if CSV_REJECTS[0] not in listed:
        return 0
    bad = con.execute(
        f"SELECT line, error_type, csv_line, error_message FROM {CSV_REJECTS[0]} ORDER BY line"
    ).fetchall()
    if not bad:
        return 0
    encoding = next((b for b in bad if b[1] == "INVALID ENCODING"), None)
    if encoding is not None:
        raise SourceError(f"{src.name}: is not UTF-8 text (line {encoding[0]}); {_ENCODING_HINT}")
    by_line: dict[int, tuple[str, str, str]] = {}
    for line, kind, text, message in bad:
        by_line.setdefault(int(line), (str(kind), text or "", message or ""))
    rows = []
    for i, (line, (kind, text, message)) in enumerate(sorted(by_line.items()), start=1):
        row = line - 1  # the header is line 1; rows are counted without it
        rule = f"line {line}: {_LINE_RULES.get(kind, kind.lower())} ({message})"
        rows.append((row, LINE_COLUMN, text, rule, row - i))
    con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)


def jsonl_by_lines(
    con: Any, src: Source, staged: str, table: str, row: str, is_id: Callable[[str], bool]
) -> int:
    """Stage the valid lines of JSON-lines file ``src`` in ``staged``, its broken ones in ``table``.

    The slow path, taken only when DuckDB's reader refused the file: each line is parsed on its
    own, the valid ones are typed by the structure of them all (ids as JSON values, as
    :func:`rox.ingest.sources.json_with_text_columns` does), and each line that is not JSON is a
    problem of its row. Rows are line numbers (blank lines count, and hold no row). Returns the
    number of broken lines.

    Raises
    ------
    SourceError
        If no line is valid JSON, or the file cannot be read as text.
    """
    path = "'" + str(src.path).replace("'", "''") + "'"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rox_jsonl AS SELECT n, l[n] AS line "
        f"FROM (SELECT string_split(content, chr(10)) AS l FROM read_text({path})), "
        "range(1, len(l) + 1) AS r(n) WHERE trim(l[n]) <> ''"
    )
    (structure,) = con.execute(
        "SELECT json_group_structure(CAST(line AS JSON)) FROM _rox_jsonl WHERE json_valid(line)"
    ).fetchone()
    shape = json.loads(structure) if structure else None
    if not isinstance(shape, dict) or not shape:
        raise SourceError(f"{src.name}: cannot read it as JSON lines: no line is a JSON object")
    shape = {k: ("JSON" if is_id(k) or v == "NULL" else v) for k, v in shape.items()}
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {staged} AS SELECT n AS {row}, "
        "unnest(json_transform(line, ?)) FROM _rox_jsonl WHERE json_valid(line) ORDER BY n",
        [json.dumps(shape)],
    )
    con.execute(
        f"INSERT INTO {table} SELECT n, '{LINE_COLUMN}', line, 'line ' || n || ' is not valid "
        "JSON (is it cut off?)', NULL FROM _rox_jsonl WHERE NOT json_valid(line)"
    )
    (n,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    con.execute("DROP TABLE _rox_jsonl")
    return int(n)


def text_problems(types: Mapping[str, str], kind: str, staged: str, row: str) -> str | None:
    """SELECT of (row, column, value, rule) for broken text in the staged rows, or None.

    - any text value holding a NUL byte (``chr(0)``): no id or label legitimately does;
    - in a CSV, a value that opens a quote and never closes it (an odd number of ``"`` after an
      opening one): the reader took the rest of the line literally.

    One scan of the staged rows finds both, in every text column; the rows that may have them
    are those where :func:`text_problems_condition` holds.
    """
    found = []
    for c in _texts(types):
        q = '"' + c.replace('"', '""') + '"'
        name = "'" + c.replace("'", "''") + "'"
        found.append(
            f"CASE WHEN {_nul(q)} THEN {{'column': {name}, 'value': replace({q}, chr(0), '\\0'), "
            "'rule': 'contains a NUL byte (\\0): not text'} END"
        )
        if kind == "csv":
            odd = f"(length({q}) - length(replace({q}, '\"', ''))) % 2 = 1"
            found.append(
                f"CASE WHEN {_opened(q)} AND {odd} THEN {{'column': {name}, 'value': {q}, 'rule': "
                "'a quote opened here is never closed; the rest of the line was read as text'} "
                "END"
            )
    condition = text_problems_condition(types, kind)
    if condition is None:
        return None
    return (
        'SELECT row, p."column", p.value, p.rule FROM ('
        f"SELECT {row} AS row, unnest(list_filter([{', '.join(found)}], x -> x IS NOT NULL)) AS p "
        f"FROM {staged} WHERE {condition})"
    )


def text_problems_condition(types: Mapping[str, str], kind: str) -> str | None:
    """A condition over the staged rows: a row may have broken text (:func:`text_problems`).

    None when the source has no text column.
    """
    any_found = []
    for c in _texts(types):
        q = '"' + c.replace('"', '""') + '"'
        any_found.append(_nul(q))
        if kind == "csv":
            any_found.append(_opened(q))
    return " OR ".join(any_found) if any_found else None


def _texts(types: Mapping[str, str]) -> list[str]:
    return [c for c, t in types.items() if t.upper() == "VARCHAR"]


def _nul(q: str) -> str:
    return f"contains({q}, chr(0))"


def _opened(q: str) -> str:
    return f"prefix({q}, '\"')"  # (half the time of starts_with, measured)


def csv_header_notes(con: Any, src: Source, names: list[str]) -> list[str]:
    """Notes on header names of a CSV that DuckDB renamed because they repeat an earlier one.

    ``names`` are the columns as DuckDB read them; the header itself is read again as a row.
    """
    if src.kind != "csv" or src.path is None:
        return []
    quoted = "'" + src.path.replace("'", "''") + "'"
    try:
        first = con.execute(
            f"SELECT * FROM read_csv({quoted}, all_varchar = true, header = false, "
            "ignore_errors = true) LIMIT 1"
        ).fetchone()
    except duckdb.Error:  # the file was read already; a note is not worth a failure
        return []
    if first is None or len(first) != len(names):
        return []
    header = [str(v) if v is not None else "" for v in first]
    notes = []
    seen: dict[str, str] = {}
    for given, read in zip(header, names, strict=True):
        earlier = seen.get(given.strip().lower())
        if earlier is not None and read != given:
            same = "the same name" if earlier == given else f"{earlier!r} (names ignore case)"
            notes.append(
                f"{src.name}: header name {given!r} repeats {same}; that column was read as "
                f"{read!r}"
            )
        seen.setdefault(given.strip().lower(), given)
    return notes
