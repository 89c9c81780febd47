"""The layers of docs/architecture.md hold (import-linter), and src/ type-checks (mypy --strict).

Both tools read their configuration from pyproject.toml and analyse this checkout's ``src/rox``
(``PYTHONPATH`` points at it, ahead of any installed copy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def test_mypy_strict_on_src():
    result = _run(sys.executable, "-m", "mypy", "src")
    assert result.returncode == 0, result.stdout + result.stderr
