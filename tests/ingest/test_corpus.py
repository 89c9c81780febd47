"""Every bad input of issue #15 through the ``rox`` command: its exit code and its message.

The corpus is ``tests/ingest/corpus/make.py``; none of its cases may end in exit 70 (a bug).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from rox.cli import INTERNAL_ERROR_EXIT_CODE

_spec = importlib.util.spec_from_file_location(
    "corpus", Path(__file__).parent / "corpus" / "make.py"
)
assert _spec is not None and _spec.loader is not None
corpus = importlib.util.module_from_spec(_spec)
sys.modules["corpus"] = corpus  # dataclasses look their module up
_spec.loader.exec_module(corpus)


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda c: c.name)
def test_corpus_case(case, tmp_path, rox_here):
    def run(args: list[str]) -> tuple[int, str]:
        """``rox ARGS`` in ``tmp_path``: its exit code and its output (both streams, one line)."""
        code, out, err = rox_here(*args, cwd=tmp_path)
        return code, " ".join((out + err).split())

    case.write(tmp_path)
    ws = str(tmp_path / "ws.duckdb")
    for table, name in case.before:
        code, text = run(["ingest", table, name, "-w", ws])
        assert code == 0, text
    args = [a.replace("{dir}", str(tmp_path)) for a in case.args]
    result, text = run(["ingest", case.table, case.target, *args, "-w", ws])
    assert result != INTERNAL_ERROR_EXIT_CODE, text
    assert (result, case.says in text) == (case.exit, True), text
