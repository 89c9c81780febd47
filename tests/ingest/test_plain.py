"""``rox.ingest.plain``: a batch typed in Python is stored exactly as the rules store it (#19).

Every expectation comes from the rules' own path (:class:`BatchWriter` with ``plain = False``,
the SQL of :mod:`rox.ingest.rules`), never from :mod:`rox.ingest.plain`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import rox
from rox.ingest.batch import BatchWriter
from rox.ingest.mapping import ColumnMapping
from rox.ingest.plain import typed_plainly
from rox.schema import table_spec
from rox.service.writer import _arrow_schema, _to_arrow

SPEC = table_spec("responses")
SCHEMA = _arrow_schema("responses")


def _rows(rows: list[dict[str, object]]) -> pa.Table:
    return _to_arrow(rows, SCHEMA)


def _plain(rows: list[dict[str, object]]) -> pa.Table | None:
    return typed_plainly(SPEC, _rows(rows), ColumnMapping(), {})


def _random_plain(rng: np.random.Generator, n: int, start: int) -> list[dict[str, object]]:
    """Plain responses of every shape the module accepts (times, cases, bounds, empty texts)."""
    out = []
    for i in range(start, start + n):
        metric = ["nps", "csat", "ces", "NPS", "Csat"][rng.integers(5)]
        low, high = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[metric.lower()]
        score: object = [low, high, int(rng.integers(low, high + 1)),
                         float(rng.uniform(low, high))][rng.integers(4)]  # fmt: skip
        day = f"20{rng.integers(10, 30)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
        clock = f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:{rng.integers(0, 60):02d}"
        fraction = ["", ".5", ".123456"][rng.integers(3)]
        offset = ["", "Z", "+02:00", "-05:30", "+14:00", "-00:00"][rng.integers(6)]
        row: dict[str, object] = {
            "ts": f"{day}{'T' if rng.random() < 0.7 else ' '}{clock}{fraction}{offset}",
            "metric": metric,
            "score": score,
            "response_id": f"r{i}" if rng.random() < 0.8 else i,
        }
        if rng.random() < 0.5:
            row["customer_id"] = f"c{rng.integers(100)}" if rng.random() < 0.5 else int(i)
        if rng.random() < 0.3:
            row["scale"] = {"nps": "0-10", "csat": "1-5", "ces": "1-7"}[metric.lower()]
        for name in ("touchpoint", "channel", "language"):
            if rng.random() < 0.4:
                row[name] = ["app", "", "web shop", "négozio"][rng.integers(4)]
        if rng.random() < 0.3:
            row["comment"] = "fine, thanks"
        if rng.random() < 0.3:
            row["weight"] = float(rng.uniform(0.1, 3))
        out.append(row)
    return out


def _stored(ws: rox.Workspace) -> list[tuple[object, ...]]:
    return [tuple(r) for r in ws.backend.con.execute(
        "SELECT * EXCLUDE (_load_id) FROM responses ORDER BY _seq").fetchall()]  # fmt: skip


def test_plain_batches_are_stored_as_the_rules_store_them(tmp_path):
    rng = np.random.default_rng(19)
    batches = [_random_plain(rng, 40, 40 * b) for b in range(6)]
    with (
        rox.open(str(tmp_path / "p.duckdb")) as plain,
        rox.open(str(tmp_path / "r.duckdb")) as ruled,
    ):
        fast, slow = BatchWriter(plain), BatchWriter(ruled)
        slow.plain = False
        for rows in batches:
            assert _plain(rows) is not None  # (the batch takes the Python path)
            a, b = fast.append("responses", _rows(rows)), slow.append("responses", _rows(rows))
            assert (a.problems, a.skipped) == (b.problems, b.skipped) == ([], frozenset())
        assert _stored(plain) == _stored(ruled)
        assert len(_stored(plain)) == 240


GOOD = {"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": 9, "response_id": "r1"}


@pytest.mark.parametrize(
    ("accepted", "refused_or_ruled"),
    [
        ({"score": 10}, {"score": 10.5}),  # the scale's top, included
        ({"score": 0}, {"score": -0.5}),
        ({"metric": "csat", "score": 1}, {"metric": "csat", "score": 0}),
        ({"ts": "1900-01-01T00:00:00Z"}, {"ts": "1899-12-31T23:59:59Z"}),  # plausible range
        ({"ts": "2100-12-31T23:59:59.999999Z"}, {"ts": "2101-01-01T00:00:00Z"}),
        ({"ts": "2026-05-01T10:00:00+14:59"}, {"ts": "2026-05-01T10:00:00+15:00"}),
        ({"ts": "2026-02-28T10:00:00"}, {"ts": "2026-02-29T10:00:00"}),  # no such day
        ({"ts": "2026-05-01 10:00:00.123456"}, {"ts": "2026-05-01 10:00:00.1234567"}),
        ({"ts": "2026-05-01T10:00:00Z"}, {"ts": "2026-05-01T10:00Z"}),  # the rules' to read
        ({"ts": "2026-05-01T10:00:00Z"}, {"ts": " 2026-05-01T10:00:00Z"}),  # to trim
        ({"weight": 0.01}, {"weight": 0.0}),
        ({"metric": "NPS"}, {"metric": "nps "}),
        ({"metric": "ces", "score": 7}, {"metric": "nope"}),
        ({"scale": "0-10"}, {"scale": "0 - 10"}),  # a label to clean
        ({"response_id": "r1"}, {"response_id": "r1\u00a0"}),  # a Unicode blank to trim
        ({"response_id": 7}, {"response_id": None}),  # no natural key: hashed by the rules
        ({"channel": ""}, {"channel": " "}),
    ],
)
def test_the_boundaries_of_plain_and_the_rules_answer_beyond(tmp_path, accepted, refused_or_ruled):
    """Each pair: the first value is plain (typed in Python, stored as the rules store it); the
    second is not, and the batch gets exactly the rules' answer (the same problems, or the same
    rows stored)."""
    for n, change in enumerate((accepted, refused_or_ruled)):
        row = {**GOOD, **change}
        assert (_plain([row]) is not None) == (n == 0)
        got = []
        for plain in (True, False):
            with rox.open(str(tmp_path / f"{n}{plain}.duckdb")) as ws:
                writer = BatchWriter(ws)
                writer.plain = plain
                result = writer.append("responses", _rows([row]))
                got.append((result.problems, result.skipped, _stored(ws)))
        assert got[0] == got[1]


def test_a_repeated_key_or_a_stored_one_goes_through_the_rules(tmp_path):
    row = dict(GOOD)
    assert _plain([row, row]) is None  # repeated in the batch
    other = {**GOOD, "score": 3}
    for plain in (True, False):
        with rox.open(str(tmp_path / f"k{plain}.duckdb")) as ws:
            writer = BatchWriter(ws)
            writer.plain = plain
            assert writer.append("responses", _rows([row])).load_id == 1
            again = writer.append("responses", _rows([row, {**GOOD, "response_id": "r2"}]))
            assert (again.load_id, again.skipped) == (2, frozenset({1}))  # stored: skipped
            refused = writer.append("responses", _rows([other]))
            assert [p.rule.split(";")[0] for p in refused.problems] == [
                "response_id already loaded with different values"
            ]
            stored = _stored(ws)
            assert [r[3] for r in stored] == ["r1", "r2"]
            assert [r[-1] for r in stored] == [1, 3]  # _seq: the skipped row's number unused
            loads = ws.backend.con.execute(
                "SELECT rows_read, rows_loaded, rows_skipped FROM rox_loads ORDER BY load_id"
            ).fetchall()
            assert loads == [(1, 1, 0), (2, 1, 1)]


def test_only_responses_with_the_default_mapping():
    rows = _rows([GOOD])
    assert typed_plainly(SPEC, rows, ColumnMapping(), {}) is not None
    assert typed_plainly(SPEC, rows, ColumnMapping(timezone="Europe/Paris"), {}) is None
    assert typed_plainly(table_spec("events"), rows, ColumnMapping(), {}) is None
