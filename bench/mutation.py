"""Mutation testing of rox's core modules: plant classic small bugs one at a time, run the tests.

A mutant survives when the tests mapped to its module all pass with the bug in place; the score
of a module is the share of its mutants the tests kill. Why not mutmut 3: it rewrites every
function into a trampoline and first runs the whole test suite to learn which tests reach which
function, which this project's shared 2-core machine does not allow (never the whole suite), and
it cannot be told "this module, these few test files". This runner is small and does one thing:

- **Operators** (classic, as in mutmut / PIT), applied with :mod:`ast` to the code inside
  functions (not docstrings, annotations, decorators or string literals):
  comparison boundary (``<`` <-> ``<=``, ``>`` <-> ``>=``) and negation (``<`` -> ``>=``,
  ``==`` <-> ``!=``, ``in`` <-> ``not in``, ``is`` <-> ``is not``); arithmetic swaps
  (``+`` <-> ``-``, ``*`` <-> ``/``, ``**`` -> ``*``, ``//`` -> ``/``, ``&`` <-> ``|``, and the
  augmented forms); number constants ``c -> c + 1``; ``True`` <-> ``False``; ``and`` <-> ``or``;
  dropping a unary ``not`` / ``-`` / ``~``.
- **Isolation**: ``src/`` is copied once to a temporary folder; each mutant is written over its
  module there (never in the checkout) and bytecode is never written, so no stale ``.pyc`` can
  serve an earlier mutant.
- **Speed**: the runner imports the heavy third-party libraries (ibis, DuckDB, pandas, pyarrow,
  scipy, pytest, hypothesis) once, compiles the copy of ``src/`` once
  (except the module mutated), then forks one child per mutant; the child imports rox from the
  copy and runs ``pytest -x --assert=plain`` without the plugins the tests do not use. A child
  that runs longer than ``--timeout-factor`` times the unmutated run is killed and counted as
  killed (timeout). A first, traced run of the unmutated tests records which tests run which
  lines of the module: a mutant runs only the tests that run its line (``--all-tests``: all the
  module's tests), in the order they ran (the files as listed in ``MODULES``); a mutant on a line
  no test runs survives without a run (marked so in the results). A test that does not run a
  line can still see its mutant through state shared with another test: a module-scoped fixture
  built by the module's code (its lines are counted to the first test that uses it). The tests
  of ``experience/*`` and ``journey/*`` share no such state; run modules whose tests share
  fitted models (``value/models/*``) with ``--all-tests``.
- **Which tests kill**: the first test that fails on each mutant is recorded (``killed_by``).
  With tests added to a module's map after its earlier files (``--new-tests FILE ...`` when
  printing the table), one run tells what the earlier tests kill and what the new ones add.
- **Re-runs**: ``--retry results.json`` runs only the mutants that survived a previous run (the
  module's source must be unchanged), after tests were added to kill them, and those a run cut
  short (stopped, or ``--limit``) never reached.

Usage (from the repository root, with the project's venv)::

    python bench/mutation.py --list                         # the modules and their test files
    python bench/mutation.py value/clv.py experience/intervals.py --out /tmp/mut.json
    python bench/mutation.py --from-json /tmp/mut.json      # the markdown table again
    python bench/mutation.py --from-json /tmp/mut.json --new-tests tests/x/test_new.py

Results are recorded in docs/benchmarks.md ("Mutation testing").
"""

from __future__ import annotations

import argparse
import ast
import compileall
import copy
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

#: Each core module (under src/rox) and the few test files (with an optional -k) that test it.
#: Tests that build the 5,000-customer demo are left out where a module has hand-built tests:
#: a demo build per mutant would cost minutes on the shared machine. So are the Hypothesis
#: property tests of estimates and maps (40 and 25 examples of several queries each: most of a
#: mutant's time on the shared machine), whose rules the hand-built tests check case by case.
MODULES: dict[str, tuple[list[str], str | None]] = {
    "value/clv.py": (["tests/value/test_analytics.py"], "clv"),
    "experience/intervals.py": (["tests/experience/test_intervals.py"], None),
    "experience/estimates.py": (
        ["tests/experience/test_metrics.py", "tests/experience/test_estimates_rules.py"],
        "not properties",
    ),
    "experience/compare.py": (
        ["tests/experience/test_compare.py", "tests/experience/test_compare_rules.py"],
        "not demo",
    ),
    "journey/funnels.py": (["tests/journey/test_journeys.py"], "funnel and not demo"),
    "journey/friction.py": (
        ["tests/journey/test_journeys.py"],
        "(friction or repeat or exit_rate or fitted_clv or audit) and not demo and not planted",
    ),
    "journey/maps.py": (
        ["tests/journey/test_journeys.py", "tests/journey/test_maps_rules.py"],
        "(map or variants or paths or cleaning or split or query or top_and_coverage) and not demo",
    ),
    "ingest/rules.py": (["tests/ingest/test_ingest.py"], None),
    "value/models/transactions.py": (
        [
            # the hand-computed rules first (2 s in all): most mutants fail there, and the fits
            # and property tests of the other files run only for the rest
            "tests/value/test_transactions_rules.py",
            "tests/value/test_models.py",
            "tests/value/test_common_dropout.py",
            "tests/value/test_model_rules.py",
        ],
        # not the fits on cdnow_rfm (a DuckDB load each), nor the two 7 s covariate fits on 80,000
        # simulated customers, nor test_cpu_paths.py (a pytest in a child process, 11-15 s)
        "not (covariates_recover or covariate_on_dropout or own_rfm or holdout_predictions "
        "or newton_and_the_general_path or spend or sbg or gamma_gamma)",
    ),
    "value/models/spend.py": (
        ["tests/value/test_models.py", "tests/value/test_model_rules.py"],
        "spend or gamma_gamma_totals or no_repeat",  # not the fits on cdnow_rfm: a DuckDB load each
    ),
    "value/models/sbg.py": (
        ["tests/value/test_models.py", "tests/value/test_model_rules.py"],
        "sbg",
    ),
    "value/models/purchase_base.py": (
        ["tests/value/test_models.py", "tests/value/test_model_rules.py"],
        "purchase or reproduces_fader_hardie_lee or compressed or no_dropout or sklearn "
        "or invalid_summaries or single_customer or prediction_invariants",
    ),
    "value/models/common_dropout.py": (
        ["tests/value/test_common_dropout.py", "tests/value/test_model_rules.py"],
        "common_dropout and not bgnbd_on_common_dropout_data",  # not BG/NBD's 4 s fit
    ),
    "value/models/pareto_gradient.py": (["tests/value/test_pareto_gradient.py"], None),
    "value/choice.py": (["tests/value/test_choice.py", "tests/value/test_choice_rules.py"], None),
    "impact/worth.py": (
        [
            "tests/impact/test_worth.py",
            "tests/impact/test_bootstrap.py",
            "tests/impact/test_worth_rules.py",
        ],
        "not demo",
    ),
    "impact/bootstrap.py": (  # worth's tests reach value_bin and bin_statistics
        [
            "tests/impact/test_bootstrap.py",
            "tests/impact/test_worth.py",
            "tests/impact/test_bootstrap_rules.py",
        ],
        "not demo",
    ),
    # the impact modules' fast tests: not the demo builds, the CLI runs on the demo or the
    # slow (demo-sized) fits
    # the rules first (hand-built, about 1 s a test: most mutants fail there), then the driver
    # tests (pingouin, the logistic references); not the Hypothesis property test of
    # _importance, which never runs drivers.py
    "impact/drivers.py": (
        ["tests/impact/test_drivers_rules.py", "tests/impact/test_drivers.py"],
        "not demo and not cli and not shares_sum_to_r2",
    ),
    "impact/_logistic.py": (
        ["tests/impact/test_drivers.py", "tests/impact/test_logistic_rules.py"],
        "not demo and not cli",
    ),
    "impact/counterfactual.py": (["tests/impact/test_counterfactual.py"], None),
    "impact/did.py": (
        ["tests/impact/test_roi.py", "tests/impact/test_did_rules.py"],
        "not slow and not demo and not cli",
    ),
    # not the two tests on the demo fixture (a 5,000-customer build per mutant): the hand rules
    # check the counting-process rows, the fits' wiring and the per-customer risk instead
    "impact/hazard.py": (
        ["tests/impact/test_hazard.py", "tests/impact/test_hazard_rules.py"],
        # "slow" is in "breslow": its tests are kept by name
        "(breslow or not slow) and not demo and not group_models_baseline "
        "and not refuses_a_horizon",
    ),
    "impact/nonresponse.py": (
        ["tests/impact/test_nonresponse.py", "tests/impact/test_nonresponse_rules.py"],
        "not demo and not cli",
    ),
    # the profile's hand-built tests (tests/impact/conftest.py's workspace) and its rules (a
    # fitted CLV's check on hand values in place of the fit); not the CLV fits
    "impact/profile.py": (
        ["tests/impact/test_profile.py", "tests/impact/test_profile_rules.py"],
        None,
    ),
    "impact/initiative.py": (
        ["tests/impact/test_roi.py", "tests/impact/test_initiative_rules.py"],
        "not slow and not demo and not cli",
    ),
    # roi()'s own arithmetic on the hand workspace (its CLV and differences in differences set
    # by hand): test_roi.py's fast tests do not call roi()
    "impact/roi.py": (
        ["tests/impact/test_roi.py", "tests/impact/test_roi_rules.py"],
        "not slow and not demo and not cli",
    ),
    # friction priced (#16): the journeys' hand-built friction and audit tests (not the demo's)
    "impact/friction_value.py": (
        ["tests/impact/test_friction_value_rules.py", "tests/journey/test_journeys.py"],
        "(friction or audit or step_rox or customer_values or touchpoint) and not demo "
        "and not planted",
    ),
    "impact/rox_model.py": (
        ["tests/impact/test_rox_model.py", "tests/impact/test_rox_model_rules.py"],
        "not slow and not demo",
    ),
    "impact/_importance.py": (
        ["tests/impact/test_drivers.py", "tests/impact/test_importance_rules.py"],
        "not demo and not cli",
    ),
    "value/models/fitting.py": (
        ["tests/value/test_fitting.py", "tests/value/test_models.py"],
        "fitting or reproduces_fader_hardie_lee or sbg_reproduces or no_dropout",  # no CDNOW load
    ),
    "value/models/base.py": (
        [
            "tests/value/test_models.py",
            "tests/value/test_model_rules.py",
            "tests/contracts/test_value_models.py",
        ],
        "base or estimator_contract or not_fitted or sklearn or invalid_summaries "
        "or single_customer or reproduces_fader_hardie_lee",
    ),
    "value/models/special.py": (["tests/value/test_fitting.py"], "special"),
    # rox.actions (#22): the hand-built tests, not those on the demo nor NBA's planted-past
    # ranking (18 s a run: the T-learner's rules are checked on hand counts instead)
    "actions/holdout.py": (
        ["tests/actions/test_cases.py", "tests/actions/test_holdout_rules.py"],
        "holdout",
    ),
    "actions/uplift.py": (
        ["tests/actions/test_nba.py", "tests/actions/test_uplift_rules.py"],
        "t_learner or uplift_rules",
    ),
    "actions/sla.py": (
        ["tests/actions/test_cases_sla.py", "tests/actions/test_sla_rules.py"],
        None,
    ),
    "actions/loop_return.py": (
        ["tests/actions/test_cases_sla.py", "tests/actions/test_loop_return_rules.py"],
        None,
    ),
    "actions/lifecycle.py": (
        ["tests/actions/test_lifecycle.py", "tests/actions/test_lifecycle_rules.py"],
        "not demo and not cli",
    ),
    "actions/at_risk.py": (
        [
            "tests/actions/test_at_risk.py",
            "tests/actions/test_at_risk_rules.py",
            "tests/actions/test_at_risk_hazard_rules.py",
        ],
        "not demo and not cli",
    ),
    # the cases' outcomes, the state machine and rules, NBA's policy (#22; scores in
    # docs/benchmarks.md); all but nba.py with their file of hand-computed rules last
    "actions/outcomes.py": (
        [
            "tests/actions/test_cases_sla.py",
            "tests/actions/test_sla_rules.py",
            "tests/actions/test_loop_return_rules.py",
            "tests/actions/test_outcomes_rules.py",
        ],
        None,
    ),
    "actions/cases.py": (
        [
            "tests/actions/test_cases.py",
            "tests/actions/test_cases_comments.py",
            "tests/actions/test_cases_rules.py",
        ],
        None,
    ),
    "actions/case_rules.py": (
        [
            "tests/actions/test_cases.py",
            "tests/actions/test_cases_comments.py",
            "tests/actions/test_case_rules_rules.py",
        ],
        None,
    ),
    "actions/policy.py": (
        ["tests/actions/test_nba.py", "tests/actions/test_policy_rules.py"],
        "policy",
    ),
    "actions/nba.py": (
        ["tests/actions/test_nba.py", "tests/actions/test_nba_rules.py"],
        "not slow and not features_at",
    ),
}

#: pytest plugins the mapped tests do not use: not loaded in each child (the last two only
#: collect garbage at the end of a run, which costs a child with the libraries preloaded ~1 s).
_UNUSED_PLUGINS = (
    "cacheprovider",
    "schemathesis",
    "xdist",
    "xdist.looponfail",
    "unraisableexception",
    "threadexception",
)
_NO_UNRAISABLE = "ignore::pytest.PytestUnraisableExceptionWarning"

_BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
_NEGATE = {
    ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_ARITH = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.Pow: ast.Mult, ast.FloorDiv: ast.Div, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
}  # fmt: skip
_SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+",
    ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//",
    ast.BitAnd: "&", ast.BitOr: "|", ast.And: "and", ast.Or: "or", ast.Not: "not ",
    ast.USub: "-", ast.Invert: "~",
}  # fmt: skip


@dataclass
class Mutant:
    """One planted bug: the ``index``-th mutable node of the module, changed by ``kind``."""

    index: int
    kind: str
    line: int
    description: str
    status: str = ""  # killed, survived, timeout
    seconds: float = 0.0
    killed_by: str = ""  # the first test that failed


@dataclass
class ModuleResult:
    module: str
    tests: list[str]
    select: str | None
    baseline_seconds: float
    mutants: list[Mutant] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return sum(m.status in ("killed", "timeout") for m in self.mutants)


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def _mutable_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """Nodes inside function bodies, in a fixed order, leaving out what is not behaviour."""

    def walk(node: ast.AST, in_function: bool) -> Iterator[ast.AST]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and _is_str(body[0].value):
                body = body[1:]  # the docstring
            # defaults are behaviour; annotations and decorators are not
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    yield from walk(default, True)
            for stmt in body:
                yield from walk(stmt, True)
            return
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                yield from walk(stmt, in_function)
            return
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.JoinedStr | ast.AnnAssign) and not in_function:
            return
        if isinstance(node, ast.JoinedStr):
            return  # messages: not mutated
        if isinstance(node, ast.AnnAssign):
            if node.value is not None:
                yield from walk(node.value, in_function)
            return
        if isinstance(node, ast.Raise):
            return  # the error raised is tested by message; its arguments are text
        if in_function:
            yield node
        for child in ast.iter_child_nodes(node):
            yield from walk(child, in_function)

    yield from walk(tree, False)


def _mutations(node: ast.AST) -> list[tuple[str, str]]:
    """(kind, description) of the mutations of one node."""
    out: list[tuple[str, str]] = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for table, name in ((_BOUNDARY, "boundary"), (_NEGATE, "negate")):
                new = table.get(type(op))
                if new is not None:
                    out.append((f"{name}:{i}", f"{_SYMBOL[type(op)]} -> {_SYMBOL[new]}"))
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
        if not (_is_str(node.left) or _is_str(node.right)):
            new = _ARITH[type(node.op)]
            out.append(("arith", f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}"))
    elif isinstance(node, ast.AugAssign) and type(node.op) in _ARITH:
        new = _ARITH[type(node.op)]
        out.append(("arith", f"{_SYMBOL[type(node.op)]}= -> {_SYMBOL[new]}="))
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            out.append(("flip", f"{node.value} -> {not node.value}"))
        elif isinstance(node.value, int | float) and not isinstance(node.value, complex):
            out.append(("plus1", f"{node.value!r} -> {node.value + 1!r}"))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        out.append(("boolop", f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}"))
    elif isinstance(node, ast.UnaryOp) and type(node.op) in (ast.Not, ast.USub, ast.Invert):
        out.append(("drop", f"drop {_SYMBOL[type(node.op)].strip()}"))
    return out


class _Apply(ast.NodeTransformer):
    def __init__(self, target: ast.AST, kind: str) -> None:
        self.target, self.kind = target, kind

    def visit(self, node: ast.AST) -> ast.AST:
        if node is not self.target:
            return super().visit(node)
        kind = self.kind
        if kind.startswith(("boundary", "negate")):
            name, i = kind.split(":")
            table = _BOUNDARY if name == "boundary" else _NEGATE
            node.ops[int(i)] = table[type(node.ops[int(i)])]()  # type: ignore[attr-defined]
        elif kind == "arith":
            node.op = _ARITH[type(node.op)]()  # type: ignore[attr-defined]
        elif kind == "plus1":
            node.value = node.value + 1  # type: ignore[attr-defined]
        elif kind == "flip":
            node.value = not node.value  # type: ignore[attr-defined]
        elif kind == "boolop":
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()  # type: ignore[attr-defined]
        elif kind == "drop":
            return node.operand  # type: ignore[attr-defined,no-any-return]
        return node


def enumerate_mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    mutants = []
    for index, node in enumerate(_mutable_nodes(tree)):
        for kind, description in _mutations(node):
            line = getattr(node, "lineno", 0)
            mutants.append(Mutant(index, kind, line, description))
    return mutants


def mutate(source: str, mutant: Mutant) -> str:
    tree = ast.parse(source)
    target = next(n for i, n in enumerate(_mutable_nodes(tree)) if i == mutant.index)
    tree = _Apply(target, mutant.kind).visit(copy.copy(tree))
    return ast.unparse(ast.fix_missing_locations(tree))


# -- running ---------------------------------------------------------------------------------
def _preload() -> None:
    """Import the heavy third-party libraries once, before forking (never rox itself)."""
    import duckdb  # noqa: F401
    import hypothesis.strategies  # noqa: F401
    import ibis
    import ibis.backends.duckdb  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import pytest  # noqa: F401
    import scipy.optimize
    import scipy.special
    import scipy.stats  # noqa: F401


def _trace_lines(path: Path, out: Path) -> tuple[Callable[[], None], object]:
    """Record which tests run which lines of ``path`` (in this process).

    Returns the function that saves ``{line: [test ids]}`` to ``out`` and the pytest plugin that
    tells the tracer which test is running (lines run outside a test go under ``""``).
    """
    import threading
    from collections import defaultdict

    import pytest

    target = str(path)
    lines: dict[int, set[str]] = defaultdict(set)
    order: list[str] = []

    class Current:
        test = ""

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):  # type: ignore[no-untyped-def]
            Current.test = item.nodeid
            order.append(item.nodeid)
            yield
            Current.test = ""

    def local(frame, event, arg):  # type: ignore[no-untyped-def]
        if event == "line":
            lines[frame.f_lineno].add(Current.test)
        return local

    def tracer(frame, event, arg):  # type: ignore[no-untyped-def]
        if frame.f_code.co_filename == target:
            lines[frame.f_lineno].add(Current.test)
            return local
        return None

    sys.settrace(tracer)
    threading.settrace(tracer)

    def dump() -> None:
        rank = {test: i for i, test in enumerate(order)}
        by_line = {
            line: sorted(tests, key=lambda t: rank.get(t, -1)) for line, tests in lines.items()
        }
        out.write_text(json.dumps(by_line))

    return dump, Current()


class _FirstFailure:
    """A pytest plugin writing the id of the first test that fails to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def pytest_runtest_logreport(self, report):  # type: ignore[no-untyped-def]
        if report.failed and not self.path.exists():
            self.path.write_text(report.nodeid)


def _run_tests(
    src: Path,
    tests: list[str],
    select: str | None,
    timeout: float,
    trace: tuple[Path, Path] | None = None,
) -> tuple[str, float, str]:
    """Fork, import rox from ``src`` and run the tests: 'passed', 'failed' or 'timeout', the
    seconds taken and the first test that failed.

    ``trace``: (module file, output file): record which tests run which lines of the module.
    """
    failure = src.parent / "first-failure.txt"
    failure.unlink(missing_ok=True)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            dump, plugin = _trace_lines(*trace) if trace is not None else (None, None)
            os.setpgid(0, 0)
            if not os.environ.get("ROX_MUTATION_DEBUG"):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            sys.path[:] = [str(src), str(ROOT), *[p for p in sys.path if "/src" not in p]]
            import pytest
            from hypothesis import Phase, settings

            import rox

            # a failing property needs no minimal example here, only the failure: without the
            # shrink phase a killed mutant costs one failing example, not minutes of shrinking
            # (conftest loads the profile HYPOTHESIS_PROFILE names, "ci" when unset)
            settings.register_profile(
                "mutation",
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
            )
            os.environ["HYPOTHESIS_PROFILE"] = "mutation"

            if not rox.__file__.startswith(str(src)):
                os._exit(4)  # rox must come from the mutated copy
            # plain asserts: pass or fail is all that counts, and assertion rewriting cannot
            # cache here (no bytecode is written), so it would recompile every rewritten module
            # (and the ~280 of the schemathesis plugin) in every child: 4 s of CPU a mutant
            args = [*tests, "-x", "-q", "--assert=plain", "-W", _NO_UNRAISABLE]
            for plugin_name in _UNUSED_PLUGINS:
                args += ["-p", f"no:{plugin_name}"]
            if select:
                args += ["-k", select]
            plugins = [_FirstFailure(failure)] + ([plugin] if plugin is not None else [])
            code = pytest.main(args, plugins=plugins)
            if dump is not None:
                dump()
        except BaseException:
            if os.environ.get("ROX_MUTATION_DEBUG"):
                import traceback

                traceback.print_exc()
            code = 3
        os._exit(int(code))
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            first = failure.read_text() if failure.exists() else ""
            return ("passed" if code == 0 else "failed"), time.monotonic() - start, first
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - start, ""
        time.sleep(0.05)


def run_module(
    module: str,
    work: Path,
    *,
    timeout_factor: float,
    limit: int | None,
    log: bool,
    previous: ModuleResult | None = None,
    full: bool = False,
    progress: Callable[[ModuleResult], None] | None = None,
    lines: set[int] | None = None,
) -> ModuleResult:
    """Run every mutant of ``module`` (or, given a ``previous`` run, only its survivors again;
    given ``lines``, only the mutants on those lines)."""
    tests, select = MODULES[module]
    path = work / "rox" / module
    for compiled in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        compiled.unlink()  # never read: the module is compiled from its (mutated) source
    original = path.read_text(encoding="utf-8")
    covered_file = work.parent / "covered.json"
    outcome, _, _ = _run_tests(work, tests, select, 3600, trace=(path, covered_file))
    if outcome != "passed":
        raise SystemExit(f"{module}: the unmutated tests do not pass ({outcome})")
    # line -> the tests that run it (a mutant runs only those: a test that never runs the
    # mutated line cannot see the bug, except through state a fixture shares with later tests)
    covered = {int(k): [t for t in v if t] for k, v in json.loads(covered_file.read_text()).items()}
    outcome, baseline, _ = _run_tests(work, tests, select, timeout=3600)  # timed, untraced
    result = ModuleResult(module, tests, select, round(baseline, 1))
    mutants = enumerate_mutants(original)[:limit]
    if lines:
        mutants = [m for m in mutants if m.line in lines]
    if previous is not None:
        # the source must be the one the previous run mutated: same mutants, same order
        before = [(m.index, m.kind, m.line) for m in previous.mutants]
        if before != [(m.index, m.kind, m.line) for m in mutants[: len(before)]]:
            raise SystemExit(f"{module}: the source changed since the previous run")
        # a run cut short (stopped, or --limit): the mutants it never reached run now
        done = {(m.index, m.kind): m for m in previous.mutants if m.status != "survived"}
    else:
        done = {}
    timeout = max(timeout_factor * baseline, baseline + 30)
    try:
        for n, mutant in enumerate(mutants, 1):
            kept = done.get((mutant.index, mutant.kind))
            if kept is not None:
                result.mutants.append(kept)  # killed before: the tests only grew
                continue
            if mutant.line not in covered:
                # the tests never run this line: the mutant survives without a run
                mutant.status, mutant.seconds = "survived", 0.0
                mutant.description += " (line not run by the tests)"
                result.mutants.append(mutant)
                continue
            path.write_text(mutate(original, mutant), encoding="utf-8")
            if covered[mutant.line] and not full:
                # in the order the tests ran: the files as listed in MODULES
                outcome, seconds, first = _run_tests(work, covered[mutant.line], None, timeout)
            else:  # run outside any test (at collection), or asked to run them all
                outcome, seconds, first = _run_tests(work, tests, select, timeout)
            mutant.status = {"passed": "survived", "failed": "killed"}.get(outcome, outcome)
            mutant.seconds, mutant.killed_by = round(seconds, 1), first
            result.mutants.append(mutant)
            if progress is not None:
                progress(result)
            if log:
                print(
                    f"[{module} {n}/{len(mutants)}] line {mutant.line}: {mutant.description}"
                    f" -> {mutant.status} ({seconds:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        path.write_text(original, encoding="utf-8")
    return result


def _save(path: Path, results: list[ModuleResult]) -> None:
    """Write the results so far (after each mutant: a run cut short keeps what it measured)."""
    path.write_text(json.dumps([asdict(r) for r in results], indent=1))


def _key(module: str, mutant: Mutant) -> str:
    """A mutant's name: module, line, node index and operator (stable while the source is)."""
    return f"{module}:{mutant.line}:{mutant.index}:{mutant.kind}"


def markdown(
    results: list[ModuleResult],
    equivalent: dict[str, str] | None = None,
    new_tests: Sequence[str] = (),
) -> str:
    """The score table and the surviving mutants.

    ``new_tests``: test files added to kill survivors; the table then also says how many mutants
    the other (earlier) tests kill, from the first test that failed on each (the tests run in the
    order of ``MODULES``, earlier files first, so a mutant the earlier tests kill fails there).
    """
    equivalent = equivalent or {}
    earlier = " killed by the earlier tests |" if new_tests else ""
    lines = [
        f"| module | tests | mutants |{earlier} killed | survived | judged equivalent "
        "| score (non-equivalent) |",
        "|---|---|---:|---:|---:|---:|---:|" + ("---:|" if new_tests else ""),
    ]
    survivors = []
    for r in results:
        alive = [m for m in r.mutants if m.status == "survived"]
        eq = [m for m in alive if _key(r.module, m) in equivalent]
        scored = len(r.mutants) - len(eq)
        score = r.killed / scored if scored else float("nan")
        tests = ", ".join(Path(t).name for t in r.tests) + (f" `-k {r.select}`" if r.select else "")
        first = ""
        if new_tests:
            before = sum(
                m.status in ("killed", "timeout")
                and not m.killed_by.startswith(tuple(f"{t}::" for t in new_tests))
                for m in r.mutants
            )
            first = f" {before} |"
        lines.append(
            f"| `{r.module}` | {tests} | {len(r.mutants)} |{first} {r.killed} | {len(alive)} | "
            f"{len(eq)} | {score:.0%} |"
        )
        for m in alive:
            why = equivalent.get(_key(r.module, m), "")
            survivors.append(
                f"- `{_key(r.module, m)}` `{m.description}`"
                + (f": equivalent, {why}" if why else "")
            )
    return "\n".join([*lines, "", "Surviving mutants:", "", *survivors])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "modules", nargs="*", help="paths under src/rox (default: all core modules)"
    )
    parser.add_argument("--list", action="store_true", help="show the modules and their tests")
    parser.add_argument("--out", type=Path, help="write the results as JSON (appended per module)")
    parser.add_argument("--from-json", type=Path, nargs="+", help="print tables of earlier runs")
    parser.add_argument("--equivalent", type=Path, help="JSON {module:line:index:kind: why}")
    parser.add_argument(
        "--new-tests",
        nargs="+",
        default=(),
        help="test files added to kill survivors: count what the earlier tests kill",
    )
    parser.add_argument("--timeout-factor", type=float, default=3.0)
    parser.add_argument("--limit", type=int, help="at most this many mutants per module")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--all-tests",
        action="store_true",
        help="run all the module's tests on each mutant, not only those that run its line",
    )
    parser.add_argument(
        "--retry", type=Path, help="a previous run's JSON: run its surviving mutants again"
    )
    parser.add_argument(
        "--lines",
        type=lambda text: {int(x) for x in text.split(",")},
        help="only the mutants on these lines (comma-separated): after a fix moved the lines of "
        "an earlier run's survivors, those and the lines the fix changed",
    )
    args = parser.parse_args(argv)
    equivalent = json.loads(args.equivalent.read_text()) if args.equivalent else {}
    if args.list:
        for module, (tests, select) in MODULES.items():
            n = len(enumerate_mutants((SRC / "rox" / module).read_text(encoding="utf-8")))
            print(
                f"{module}: {n} mutants; {' '.join(tests)}" + (f" -k {select!r}" if select else "")
            )
        return 0
    if args.from_json:
        results = []
        for path in args.from_json:
            for r in json.loads(path.read_text()):
                mutants = [Mutant(**m) for m in r.pop("mutants")]
                results.append(ModuleResult(**r, mutants=mutants))
        print(markdown(results, equivalent, args.new_tests))
        return 0
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    _preload()
    results: list[ModuleResult] = []
    with tempfile.TemporaryDirectory(prefix="rox-mutation-") as tmp:
        work = Path(tmp) / "src"
        shutil.copytree(SRC, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # bytecode of the unmutated modules, compiled once (children never write any); each
        # module's own is removed before its mutants run, so a mutant is always compiled afresh
        compileall.compile_dir(work, quiet=1, workers=1)
        os.chdir(ROOT)
        previous = {}
        if args.retry:
            for r in json.loads(args.retry.read_text()):
                mutants = [Mutant(**m) for m in r.pop("mutants")]
                for m in mutants:
                    m.description = m.description.removesuffix(" (line not run by the tests)")
                previous[r["module"]] = ModuleResult(**r, mutants=mutants)

        def partial_saver(done: list[ModuleResult]) -> Callable[[ModuleResult], None] | None:
            out = args.out
            return None if out is None else lambda partial: _save(out, [*done, partial])

        for module in args.modules or list(previous or MODULES):
            started = time.monotonic()
            result = run_module(
                module,
                work,
                timeout_factor=args.timeout_factor,
                limit=args.limit,
                log=not args.quiet,
                previous=previous.get(module),
                full=args.all_tests,
                progress=partial_saver(results),
                lines=args.lines,
            )
            results.append(result)
            print(
                f"{module}: {result.killed}/{len(result.mutants)} killed "
                f"in {time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            if args.out:
                _save(args.out, results)
    print(markdown(results, equivalent))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
