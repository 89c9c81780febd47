"""Every docstring example (``>>>``) in ``src/rox`` runs and prints what it shows.

Modules are found by walking the package, and only those whose source holds an example are
imported, each example in a fresh folder (some write a workspace).
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import io
import pkgutil
from pathlib import Path

import pytest

import rox


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(rox.__path__, "rox."):
        if info.name.endswith("__main__"):
            continue
        spec = importlib.util.find_spec(info.name)
        if spec is not None and spec.origin and ">>>" in Path(spec.origin).read_text("utf-8"):
            names.append(info.name)
    top = Path(rox.__file__).read_text("utf-8")
    return (["rox"] if ">>>" in top else []) + sorted(names)


MODULES = _modules_with_examples()
#: Modules whose examples take more than ~10 s: run with the slow tests (CI runs them) (#14).
SLOW_MODULES = {
    "rox.impact.counterfactual",
    "rox.impact.roi",
    "rox.impact.worth",
    "rox.value.clv",
}


def test_examples_are_found():
    # the walk itself works: these modules are known to carry examples
    assert {"rox", "rox._sql", "rox.value.models.base", "rox.journey.events"} <= set(MODULES)
    assert set(MODULES) >= SLOW_MODULES


@pytest.mark.parametrize(
    "name", [pytest.param(m, marks=[pytest.mark.slow] * (m in SLOW_MODULES)) for m in MODULES]
)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    assert tests, f"{name} mentions >>> but no example was collected"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = io.StringIO()
    for test in tests:
        runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()
