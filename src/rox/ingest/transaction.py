"""One load's transaction in a DuckDB database: every source, the load's record, the commit.

:func:`load_in_transaction` loads a job's sources into a DuckDB workspace (or the DuckDB staging
database of a load into another engine, :mod:`rox.ingest.stage_database`) in one transaction:
a source loaded whole before (by its fingerprint, :mod:`rox.ingest.fingerprint`) is skipped
unread; a CSV of valid, new rows takes the one pass (:mod:`rox.ingest.one_pass`); any other
source, or one the one pass gave back, takes the staged path (:mod:`rox.ingest.staged`). Then
the load's record goes into ``rox_loads``, and everything commits, or, on any failure, nothing
(:mod:`rox.ingest.failures`). A source given back by the one pass, or a JSON-lines file with a
malformed line, rolls the transaction back and the load runs again with that source staged.
The one pass's rows get their recorded order (``_seq``) in a second transaction, after the
commit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import duckdb

from rox.errors import MappingError, RowProblem
from rox.ingest.failures import rollback, translated
from rox.ingest.fingerprint import file_fingerprint, loaded_as, rows_checksum
from rox.ingest.job import LoadJob
from rox.ingest.one_pass import NotPlain, load_one_pass
from rox.ingest.order import number_rows, record_order
from rox.ingest.progress import Progress
from rox.ingest.reading import csv_header_notes
from rox.ingest.sources import Source, open_source
from rox.ingest.staged import ReadByLines, load_staged
from rox.ingest.temporary import SOURCE, drop_temporary
from rox.schema import LOADS_TABLE, SCALES_TABLE

if TYPE_CHECKING:
    from rox.ingest.mapping import ColumnMapping
    from rox.workspace import Workspace

__all__ = ["load_in_transaction"]


def load_in_transaction(
    ws: Workspace,
    job: LoadJob,
    existing: Callable[[Any], Any] | None = None,
    *,
    notes: list[str] | None = None,
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """Read, check and write ``job.sources`` into DuckDB workspace ``ws`` in one transaction.

    ``existing`` (for staged loads) returns the rows of the real table with the given keys, so
    that key checks see what the workspace already holds. ``notes`` receives what the report
    should say besides the counts.
    """
    start = len(notes) if notes is not None else 0
    by_lines: set[int] = set()
    staged: set[int] = set()
    while True:
        try:
            return _load_once(ws, job, existing, notes, by_lines, staged)
        except ReadByLines as exc:  # rolled back: load again, that source read line by line
            by_lines.add(exc.args[0])
            staged.add(exc.args[0])
        except NotPlain as exc:  # rolled back: load again, that source staged and checked
            staged.add(exc.args[0])
        if notes is not None:
            del notes[start:]


def _load_once(
    ws: Workspace,
    job: LoadJob,
    existing: Callable[[Any], Any] | None,
    notes: list[str] | None,
    by_lines: set[int],
    staged: set[int],
) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """One try of :func:`load_in_transaction`.

    ``staged`` lists the sources that may not take the one pass; ``by_lines``, those of them to
    read line by line.
    """
    con = ws.backend.con
    _check_mapping_on_engine(con, job.mapping)
    tracker = Progress(con, job.progress, len(job.sources))
    rows: list[dict[str, Any]] = []
    problems: list[RowProblem] = []
    views: list[str] = []
    temporary: list[str] = []
    con.execute("BEGIN TRANSACTION")
    try:
        record_order(con, job.table)
        fingerprints: list[str | None] = []
        # the one pass's rows, written with no recorded order: their _seq, as SQL over rowid
        unnumbered: str | None = None
        # the checksum the one pass computed of its rows, while they are all the load's rows
        folded: str | None = None
        for i, item in enumerate(job.sources):
            fingerprint = file_fingerprint(item, job.table, job.mapping, job.fmt)
            fingerprints.append(fingerprint)
            src = open_source(con, item, fmt=job.fmt, encoding=job.mapping.encoding)
            if src.kind == "frame":
                views.append(src.relation)
            if src.temporary and src.path:
                temporary.append(src.path)
            # the same file and mapping as a load whose rows are all still there: nothing new
            earlier = (
                loaded_as(con, job.table, fingerprint)
                if fingerprint is not None and existing is None
                else None
            )
            if earlier is not None:
                rows.append(_loaded_already(con, src, earlier, notes))
                continue
            if unnumbered is not None:  # later sources' rows come after the one pass's rows
                number_rows(con, job.table)
                unnumbered = None
            if i not in staged and existing is None:
                plain = load_one_pass(
                    con, ws, job, src, tracker.at(i), notes if notes is not None else []
                )
                if plain is not None:
                    rows.append(plain.counts)
                    unnumbered, folded = plain.seq, plain.checksum
                    continue
            counts, first = load_staged(
                con,
                ws,
                job,
                src,
                tracker.at(i),
                existing,
                notes if notes is not None else [],
                by_lines=i in by_lines,
            )
            rows.append(counts)
            problems.extend(first)
            if counts["rows_loaded"]:  # rows of the load that the one pass's checksum lacks
                folded = None
        if rows and job.mapping.scales:
            _declare_scales(con, job.mapping, job.known_scales)
        # the checksum of the rows written, where a later load of the same file may trust it
        # (a load that loaded every row of a file; staged loads' rows are the engine's)
        whole = any(r["rows_loaded"] == r["rows_read"] > 0 for r in rows)
        checksum = (
            (
                folded
                if folded is not None
                else rows_checksum(con, job.table, job.load_id, unnumbered)[1]
            )
            if whole and existing is None
            else None
        )
        con.executemany(
            f"INSERT INTO {LOADS_TABLE} (load_id, table_name, source, loaded_at, rows_read, "
            "rows_loaded, rows_rejected, rows_skipped, fingerprint, checksum) "
            "VALUES (?, ?, ?, now(), ?, ?, ?, ?, ?, ?)",
            [
                [
                    job.load_id,
                    job.table,
                    r["source"],
                    r["rows_read"],
                    r["rows_loaded"],
                    r["rows_rejected"],
                    r["rows_skipped"],
                    fingerprint,
                    checksum,
                ]
                for r, fingerprint in zip(rows, fingerprints, strict=True)
            ],
        )
        con.execute(f"DROP TABLE IF EXISTS {SOURCE}")
        con.execute("COMMIT")
    except ReadByLines:
        rollback(con)
        raise ReadByLines(i) from None
    except NotPlain:
        rollback(con)
        raise NotPlain(i) from None
    except BaseException as exc:
        rollback(con)
        error = translated(exc, ws)
        if error is exc:
            raise
        raise error from exc
    finally:
        tracker.stop()
        # after a failed commit the database may refuse everything: the cause is what matters
        with contextlib.suppress(duckdb.Error):
            con.execute("SET preserve_insertion_order = false")
            for view in views:
                con.unregister(view)
        drop_temporary(con)
        for path in temporary:
            with contextlib.suppress(OSError):
                os.unlink(path)
    if unnumbered is not None:
        _number_committed(con, job.table, job.load_id, notes)
    return rows, problems


def _number_committed(con: Any, table: str, load_id: int, notes: list[str] | None) -> None:
    """Number the rows a committed load wrote without a recorded order, in a transaction.

    The load is complete and recorded already: if this fails or is interrupted, the rows are
    numbered the same way the next time the workspace is opened for writing, or by the next load
    (:func:`rox.ingest.order.number_rows`, called by :func:`rox.ingest.reconcile`), and the
    report says so.
    """
    try:
        con.execute("BEGIN TRANSACTION")
        number_rows(con, table)
        con.execute("COMMIT")
    except (duckdb.Error, KeyboardInterrupt) as exc:
        rollback(con)
        if notes is not None:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc).splitlines()[0]
            notes.append(
                f"load {load_id} is complete, but the recorded order of its rows was not written "
                f"({why}); it is written when the workspace is next opened for writing"
            )


def _loaded_already(
    con: Any, src: Source, earlier: tuple[int, int], notes: list[str] | None
) -> dict[str, Any]:
    """The counts of a source that load ``earlier`` (id, rows) loaded whole: every row skipped.

    The source is not read, except its header (a CSV's repeated header names are still noted).
    """
    load_id, n = earlier
    if notes is not None:
        if src.kind == "csv":
            names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src.relation}").fetchall()]
            notes.extend(csv_header_notes(con, src, names))
        notes.append(
            f"{src.name}: already loaded as load {load_id} (the same bytes, with the same "
            f"mapping, and its {n:,} rows are unchanged): none of its rows is new"
        )
    return {
        "source": src.name,
        "rows_read": n,
        "rows_loaded": 0,
        "rows_rejected": 0,
        "rows_skipped": n,
    }


def _check_mapping_on_engine(con: Any, mapping: ColumnMapping) -> None:
    """Refuse a time zone or timestamp format that DuckDB does not know, before reading rows."""
    if mapping.timezone.upper() != "UTC":
        (known,) = con.execute(
            "SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [mapping.timezone]
        ).fetchone()
        if not known:
            raise MappingError(
                f"{mapping.origin}: [timestamps] timezone {mapping.timezone!r} is not a time zone "
                "DuckDB knows; expected an IANA name such as 'Europe/Paris' or 'America/New_York'"
            )
    if mapping.timestamp_format:
        try:
            con.execute("SELECT try_strptime('', ?)", [mapping.timestamp_format])
        except duckdb.Error as exc:
            reason = str(exc).strip().splitlines()[0].split("Error: ", 1)[-1]
            raise MappingError(
                f"{mapping.origin}: [timestamps] format {mapping.timestamp_format!r} is not a "
                f"strptime format DuckDB knows ({reason}); e.g. '%d/%m/%Y %H:%M'"
            ) from None


def _declare_scales(con: Any, mapping: ColumnMapping, known: Mapping[Any, Any]) -> None:
    """Add the mapping's scales that ``known`` lacks to ``rox_scales``."""
    for metric, scale in mapping.scales.items():
        if (metric, scale.label) not in known:
            con.execute(
                f"INSERT INTO {SCALES_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                [metric, scale.label, scale.low, scale.high, scale.top_from, scale.bottom_to],
            )
