"""The corpus of bad inputs of issue #15: each file, the command run on it, and what it must say.

Each :class:`Case` holds its files' bytes (written here by hand, or generated for the one 10 MB
line), the ``rox ingest`` arguments, the exit code and a fragment of the message expected.
``tests/ingest/test_corpus.py`` runs every case through the ``rox`` command; run this script to
write the files out for a look (``python tests/ingest/corpus/make.py FOLDER``).
"""

from __future__ import annotations

import gzip
import json
import sys
from dataclasses import dataclass
from pathlib import Path

HEADER = b"response_id,ts,metric,score\n"
GOOD = HEADER + b"r1,2024-01-01 10:00,nps,9\nr2,2024-01-02 10:00,nps,7\nr3,2024-01-03 10:00,nps,3\n"


@dataclass(frozen=True)
class Case:
    """One bad input: files, the command's arguments, and what it must end with.

    ``before`` lists (table, file) loads run first (they must succeed); ``{dir}`` in ``args``
    stands for the folder the files are written to.
    """

    name: str
    table: str
    files: dict[str, bytes]
    exit: int
    says: str
    args: tuple[str, ...] = ()
    before: tuple[tuple[str, str], ...] = ()
    source: str = ""  # the file given to rox ingest (default: the first of ``files``)

    def write(self, folder: Path) -> None:
        """Write the case's files into ``folder``."""
        for name, data in self.files.items():
            path = folder / name
            if name.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.write_bytes(data)

    @property
    def target(self) -> str:
        return self.source or next(iter(self.files))


def _jsonl(*records: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


_TOML_OK = b'[columns]\n"Q" = "score"\n'
CASES: list[Case] = [
    # -- 1. nothing lost, nothing corrupted -----------------------------------------------------
    Case(
        "json_ids_exact",
        "customers",
        {"c.jsonl": _jsonl({"customer_id": 9007199254740993}, {"customer_id": 9007199254740992})},
        0,
        "Loaded 2 of 2 rows",
    ),
    Case(
        "json_float_id",
        "customers",
        {"c.jsonl": _jsonl({"customer_id": 12345678901234567}, {"customer_id": 1.5e16})},
        9,
        "row 2, column 'customer_id'",
    ),
    Case(
        "json_id_equals_csv_id",
        "customers",
        {"c.jsonl": _jsonl({"customer_id": 123}), "c.csv": b"customer_id\n123\n"},
        0,
        "1 skipped as already loaded",
        before=(("customers", "c.csv"),),
    ),
    Case(
        "ts_infinity",
        "responses",
        {"r.csv": HEADER + b"r1,infinity,nps,9\nr2,2024-01-02,nps,7\n"},
        9,
        "'infinity': not a timestamp",
    ),
    Case("ts_epoch", "responses", {"r.csv": HEADER + b"r1,epoch,nps,9\n"}, 9, "not a timestamp"),
    Case(
        "ts_minus_infinity",
        "responses",
        {"r.csv": HEADER + b"r1,-infinity,nps,9\n"},
        9,
        "not a timestamp",
    ),
    Case(
        "ts_out_of_range",
        "responses",
        {"r.csv": HEADER + b"r1,1850-06-01,nps,9\nr2,2101-01-01,nps,9\n"},
        9,
        "outside the plausible range 1900-01-01 to 2100-12-31",
    ),
    Case(
        "ts_range_widened",
        "responses",
        {
            "r.csv": HEADER + b"r1,1850-06-01,nps,9\n",
            "m.toml": b'[timestamps]\nearliest = "1800-01-01"\n',
        },
        0,
        "Loaded 1 of 1 rows",
        args=("--mapping", "{dir}/m.toml"),
    ),
    # -- 2. every failure a clear error ---------------------------------------------------------
    Case(
        "mapping_timezone_path",
        "responses",
        {"r.csv": GOOD, "m.toml": b'[timestamps]\ntimezone = "../../../etc/passwd"\n'},
        7,
        "is not a time zone name",
        args=("--mapping", "{dir}/m.toml"),
    ),
    Case(
        "mapping_timezone_unknown",
        "responses",
        {"r.csv": GOOD, "m.toml": b'[timestamps]\ntimezone = "Mars/Olympus_Mons"\n'},
        7,
        "is not a time zone DuckDB knows",
        args=("--mapping", "{dir}/m.toml"),
    ),
    Case(
        "mapping_format_unknown",
        "responses",
        {"r.csv": GOOD, "m.toml": b'[timestamps]\nformat = "%Q"\n'},
        7,
        "format '%Q' is not a strptime format DuckDB knows",
        args=("--mapping", "{dir}/m.toml"),
    ),
    Case(
        "mapping_not_utf8",
        "responses",
        {"r.csv": GOOD, "m.toml": '[columns]\n"Qualité" = "score"\n'.encode("latin-1")},
        7,
        "is not UTF-8 text (byte 0xe9",
        args=("--mapping", "{dir}/m.toml"),
    ),
    Case(
        "mapping_is_a_directory",
        "responses",
        {"r.csv": GOOD, "m.toml/": b""},
        7,
        "is a directory, not a TOML file",
        args=("--mapping", "{dir}/m.toml"),
    ),
    Case(
        "mapping_ignore_as_string",
        "responses",
        {"r.csv": GOOD, "m.toml": b'ignore = "comment"\n'},
        7,
        'ignore must be a list of column names, e.g. ignore = ["comment"]',
        args=("--mapping", "{dir}/m.toml"),
    ),
    Case(
        "attribute_differs_in_case",
        "responses",
        {
            "a.csv": HEADER[:-1] + b",store\nr1,2024-01-01,nps,9,Lyon\n",
            "b.csv": HEADER[:-1] + b",Store\nr2,2024-01-02,nps,7,Paris\n",
        },
        0,
        "Loaded 1 of 1 rows",
        before=(("responses", "a.csv"),),
        source="b.csv",
    ),
    Case(
        "attribute_type_conflict",
        "responses",
        {
            "a.jsonl": _jsonl({"ts": "2024-01-01", "metric": "nps", "score": 9, "visits": 3}),
            "b.csv": HEADER[:-1] + b",visits\nr2,2024-01-02,nps,7,many\nr3,2024-01-03,nps,8,2\n",
        },
        9,
        "not a value of type BIGINT, which attribute column 'visits'",
        before=(("responses", "a.jsonl"),),
        source="b.csv",
    ),
    Case(
        "attribute_type_conflict_quarantined",
        "responses",
        {
            "a.jsonl": _jsonl({"ts": "2024-01-01", "metric": "nps", "score": 9, "visits": 3}),
            "b.csv": HEADER[:-1] + b",visits\nr2,2024-01-02,nps,7,many\nr3,2024-01-03,nps,8,2\n",
        },
        0,
        "Loaded 1 of 2 rows into responses (1 rejected",
        args=("--on-error", "quarantine"),
        before=(("responses", "a.jsonl"),),
        source="b.csv",
    ),
    Case(
        "latin1_file",
        "responses",
        {
            "r.csv": (HEADER[:-1] + b",comment\n")
            + "r1,2024-01-01,nps,9,très bien\n".encode("cp1252")
        },
        6,
        "is not UTF-8 text (line 2); give its encoding",
    ),
    Case(
        "latin1_file_with_encoding",
        "responses",
        {
            "r.csv": (HEADER[:-1] + b",comment\n")
            + "r1,2024-01-01,nps,9,très bien 5 €\n".encode("cp1252")
        },
        0,
        "Loaded 1 of 1 rows",
        args=("--encoding", "cp1252"),
    ),
    Case(
        "unknown_encoding",
        "responses",
        {"r.csv": GOOD},
        7,
        "unknown text encoding 'klingon'",
        args=("--encoding", "klingon"),
    ),
    Case(
        "field_of_10_mb",
        "responses",
        {"r.csv": HEADER[:-1] + b",comment\nr1,2024-01-01,nps,9," + b"x" * 10_000_000 + b"\n"},
        6,
        "a line is too long to read",
    ),
    Case(
        "gzip_named_csv",
        "responses",
        {"r.csv": gzip.compress(GOOD, mtime=0)},
        6,
        "is gzip-compressed, not csv text as its name says; name it r.csv.gz",
    ),
    Case(
        "gzip_named_csv_gz",
        "responses",
        {"r.csv.gz": gzip.compress(GOOD, mtime=0)},
        0,
        "Loaded 3 of 3",
    ),
    Case(
        "truncated_last_line",
        "responses",
        {"r.csv": GOOD + b"r4,2024-01-0"},
        9,
        "row 4, column '<line>': 'r4,2024-01-0': line 5: the line has fewer fields",
    ),
    Case(
        "truncated_last_line_quarantined",
        "responses",
        {"r.csv": GOOD + b"r4,2024-01-0"},
        0,
        "Loaded 3 of 4 rows into responses (1 rejected",
        args=("--on-error", "quarantine"),
    ),
    Case(
        "extra_field",
        "responses",
        {"r.csv": HEADER + b"r1,2024-01-01,nps,9\nr2,2024-01-02,nps,7,oops\nr3,2024-01-03,nps,3\n"},
        9,
        "row 2, column '<line>': 'r2,2024-01-02,nps,7,oops': line 3: the line has more fields",
    ),
    Case(
        "extra_field_quarantined",
        "responses",
        {"r.csv": HEADER + b"r1,2024-01-01,nps,9\nr2,2024-01-02,nps,7,oops\nr3,2024-01-03,nps,3\n"},
        0,
        "Loaded 2 of 3 rows into responses (1 rejected",
        args=("--on-error", "quarantine"),
    ),
    Case("directory_as_file", "responses", {"d/": b""}, 6, "is a directory, not a file"),
    Case("missing_file", "responses", {"r.csv": GOOD}, 6, "no such file", source="nope.csv"),
    Case(
        "nul_in_id",
        "responses",
        {"r.csv": HEADER + b"r\x001,2024-01-01,nps,9\nr2,2024-01-02,nps,7\n"},
        9,
        "column 'response_id': 'r\\\\01': contains a NUL byte",
    ),
    Case(
        "unterminated_quote",
        "responses",
        {
            "r.csv": HEADER[:-1]
            + b',comment\nr1,2024-01-01,nps,9,ok\nr2,2024-01-02,nps,7,"never closed\n'
        },
        9,
        "row 2, column 'comment': '\"never closed': a quote opened here is never closed",
    ),
    Case(
        "duplicate_header",
        "responses",
        {"r.csv": b"response_id,ts,metric,score,note,note\nr1,2024-01-01,nps,9,a,b\n"},
        0,
        "note: r.csv: header name 'note' repeats the same name; that column was read as 'note_1'",
    ),
    Case(
        "malformed_json_line",
        "responses",
        {
            "r.jsonl": b'{"ts": "2024-01-01", "metric": "nps", "score": 9}\n'
            b'{"ts": "2024-01-02", "metr\n'
            b'{"ts": "2024-01-03", "metric": "nps", "score": 7}\n'
        },
        9,
        'row 2, column \'<line>\': \'{"ts": "2024-01-02", "metr\': line 2 is not valid JSON',
    ),
    Case(
        "malformed_json_line_quarantined",
        "responses",
        {
            "r.jsonl": b'{"ts": "2024-01-01", "metric": "nps", "score": 9}\n'
            b'{"ts": "2024-01-02", "metr\n'
            b'{"ts": "2024-01-03", "metric": "nps", "score": 7}\n'
        },
        0,
        "Loaded 2 of 3 rows into responses (1 rejected",
        args=("--on-error", "quarantine"),
    ),
    Case(
        "malformed_json_gzipped",
        "responses",
        {
            "r.jsonl.gz": gzip.compress(
                b'{"ts": "2024-01-01", "metric": "nps", "score": 9}\n{"ts', mtime=0
            )
        },
        6,
        "cannot read it as JSON lines: Malformed JSON",
    ),
]


def main(folder: str) -> None:
    """Write every case's files under ``folder/<case name>/``."""
    for case in CASES:
        target = Path(folder) / case.name
        target.mkdir(parents=True, exist_ok=True)
        case.write(target)


if __name__ == "__main__":
    main(sys.argv[1])
