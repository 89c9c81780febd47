"""The layers of docs/architecture.md hold (import-linter), and src/ type-checks (mypy --strict).

Both tools read their configuration from pyproject.toml and analyse this checkout's ``src/rox``
(``PYTHONPATH`` points at it, ahead of any installed copy).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.fail(f"{name} is not installed; it is part of the [test] extra")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    path = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, env=env)


def test_imports_point_down_the_layers():
    # layers (with optional ones for the layers still to come), viz computes nothing, no cycles
    result = _run(_tool("lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_documented_layers_are_the_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "layers")["layers"]
    expected = [{f"rox.{m.strip(' ()')}" for m in re.split(r"[|:]", layer)} for layer in layers]
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("## Layers", 1)[1].split("\n\n")[2]  # (after the heading and its intro)
    rows = [line.split(" | ")[1] for line in table.splitlines()[2:]]
    result = [set(re.findall(r"`(rox\.[\w.]+)`", row)) for row in rows]
    assert result == expected


def test_mypy_strict_on_src():
    result = _run(sys.executable, "-m", "mypy", "src")
    assert result.returncode == 0, result.stdout + result.stderr


def _test_imports(path: Path) -> list[str]:
    """The imports of ``path`` that load another module of tests/ (absolute or relative)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "") == "tests"):
            found.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
            found.append(f"line {node.lineno}: from {node.module}")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "tests"
            ]
    return found


def test_tests_do_not_import_one_another():
    # shared helpers live in rox.testing (and rox.testing.strategies), shared fixtures in a conftest
    result = {
        str(path.relative_to(ROOT)): found
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if (found := _test_imports(path))
    }
    assert result == {}
