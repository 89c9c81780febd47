"""Fits reach the same outcome (refused, noted as a limit, or fitted) on every CPU's float paths.

Whether a nearly flat likelihood was refused once depended on the sign of a variance that
floating point decides, and that differed between machines with and without AVX-512. The edge
cases of the model tests run again here in child processes with numpy's AVX-512 kernels off and
with OpenBLAS's Haswell kernels, so that a machine of either kind checks both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EDGE_CASES = "no_dropout or single_customer or no_repeat or geometric or fader or newton"
#: Each test starts a pytest in a child process (11-15 s): with the slow tests, CI runs them (#14).
pytestmark = pytest.mark.slow


def _avx512_dispatch() -> str:
    """numpy's AVX-512 dispatch targets on this machine (empty where it has none)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    on = [
        f
        for f in __cpu_dispatch__
        if __cpu_features__.get(f) and f.startswith(("AVX512", "X86_V4"))
    ]
    return " ".join(on)


@pytest.mark.parametrize(
    "env",
    [
        {"NPY_DISABLE_CPU_FEATURES": "avx512"},
        {"OPENBLAS_CORETYPE": "Haswell"},
    ],
    ids=["numpy without AVX-512", "OpenBLAS Haswell kernels"],
)
def test_edge_cases_on_other_float_paths(env):
    env = dict(env)
    if env.get("NPY_DISABLE_CPU_FEATURES") == "avx512":
        features = _avx512_dispatch()
        if features:
            env["NPY_DISABLE_CPU_FEATURES"] = features
        else:
            del env["NPY_DISABLE_CPU_FEATURES"]  # nothing to turn off: the default paths
    tests = Path(__file__).with_name("test_models.py")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tests),
            "-k",
            EDGE_CASES,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "12 passed" in done.stdout, done.stdout[-500:]  # the edge cases ran, none skipped
