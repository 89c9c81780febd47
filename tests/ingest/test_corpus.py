"""Every bad input of issue #15 through the ``rox`` command: its exit code and its message.

The corpus is ``tests/ingest/corpus/make.py``; none of its cases may end in exit 70 (a bug).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from rox.cli import INTERNAL_ERROR_EXIT_CODE, main

_spec = importlib.util.spec_from_file_location(
    "corpus", Path(__file__).parent / "corpus" / "make.py"
)
assert _spec is not None and _spec.loader is not None
corpus = importlib.util.module_from_spec(_spec)
sys.modules["corpus"] = corpus  # dataclasses look their module up
_spec.loader.exec_module(corpus)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run ``rox ARGS`` in this process; return its exit code and its output (both streams)."""
    saved = sys.argv
    sys.argv = ["rox", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = saved
    out = capsys.readouterr()
    return code, " ".join((out.out + out.err).split())


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda c: c.name)
def test_corpus_case(case, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    case.write(tmp_path)
    ws = str(tmp_path / "ws.duckdb")
    for table, name in case.before:
        code, text = run(["ingest", table, name, "-w", ws], capsys)
        assert code == 0, text
    args = [a.replace("{dir}", str(tmp_path)) for a in case.args]
    result, text = run(["ingest", case.table, case.target, *args, "-w", ws], capsys)
    assert result != INTERNAL_ERROR_EXIT_CODE, text
    assert (result, case.says in text) == (case.exit, True), text
