"""The public names of rox.actions for the lifecycle and the at-risk list (#17).

(The cases and the next best action add their own names to the same package.)
"""

from __future__ import annotations

import subprocess
import sys

import rox


def test_lifecycle_and_at_risk_names_are_public():
    names = {"AtRisk", "Lifecycle", "LifecycleRules", "at_risk", "lifecycle"}
    assert names <= set(rox.actions.__all__)
    assert all(hasattr(rox.actions, n) for n in names)
    assert "actions" in dir(rox)


def test_no_lower_layer_imports_actions():
    code = (
        "import sys, rox.impact, rox.value, rox.experience, rox.journey; "
        "print(any(m.startswith('rox.actions') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
