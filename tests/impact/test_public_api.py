"""The public names of rox.impact (httpx: changes to the API are deliberate)."""

from __future__ import annotations

import rox


def test_impact_api():
    expected = sorted(
        [
            "OUTCOMES",
            "ChurnHazard",
            "Counterfactual",
            "ExperienceProfile",
            "KeyDrivers",
            "ROXModel",
            "Worth",
            "churn_hazard",
            "counterfactual",
            "e_value",
            "key_drivers",
            "profile",
            "rox_model",
            "worth",
        ]
    )
    assert sorted(rox.impact.__all__) == expected
    assert "impact" in dir(rox)


def test_no_analysis_imports_impact():
    # impact sits above experience, value and journey (docs/architecture.md)
    import subprocess
    import sys

    code = (
        "import sys, rox.experience, rox.value, rox.journey; "
        "print(any(m.startswith('rox.impact') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
