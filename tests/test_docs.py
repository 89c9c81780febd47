"""The documentation's examples run, and its tables agree with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rox.errors import EXIT_CODES

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text(encoding="utf-8"))


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_python_examples_run(page, tmp_path, monkeypatch):
    """Every python block of a page runs, in order, in one namespace (as a reader would)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs.{page.stem}"}
    for block in _python_blocks(page):
        exec(compile(block, str(page), "exec"), namespace)


def test_cli_exit_codes_table_matches_the_code():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| +(\d+) \| ([^|]+) \|$", text, flags=re.M))
    assert {int(code) for code in table} >= set(EXIT_CODES.values()) | {2, 70}
