"""The public names of rox.impact (httpx: changes to the API are deliberate)."""

from __future__ import annotations

import rox


def test_impact_api():
    expected = sorted(
        [
            "Change",
            "ChurnHazard",
            "ChurnRisk",
            "Counterfactual",
            "DiD",
            "ExperienceProfile",
            "Initiative",
            "KeyDrivers",
            "NonResponse",
            "OUTCOMES",
            "ROI",
            "ROXModel",
            "Target",
            "ValueModel",
            "Worth",
            "audit",
            "breslow",
            "churn_hazard",
            "churn_risk",
            "counterfactual",
            "customer_values",
            "did",
            "e_value",
            "friction",
            "key_drivers",
            "nonresponse",
            "profile",
            "read_initiative",
            "roi",
            "rox_model",
            "step_rox",
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
