"""The public API is what ``__all__`` says; guard it so that changes are deliberate (httpx)."""

from __future__ import annotations

import rox


def test_public_names():
    result = sorted(rox.__all__)
    expected = sorted(["RoxError", "Workspace", "__version__", "errors", "open"])
    assert result == expected
    for name in rox.__all__:
        assert hasattr(rox, name)


def test_analysis_packages_load_on_first_use():
    assert rox.experience.nps.__module__ == "rox.experience.metrics"
    assert callable(rox.demo.build)
    assert "experience" in dir(rox)


def test_experience_api():
    expected = sorted(
        [
            "DEFAULT_MIN_N",
            "Comparison",
            "ExperienceResult",
            "SampleSizePlan",
            "adjust_pvalues",
            "ces",
            "compare",
            "counts",
            "csat",
            "measure",
            "nps",
            "sample_size",
            "scorecard",
        ]
    )
    assert sorted(rox.experience.__all__) == expected


def test_voice_api():
    expected = sorted(
        [
            "DEFAULT_LANGUAGES",
            "Comments",
            "Redaction",
            "Sentiment",
            "ThemeModel",
            "ThemeTable",
            "analyse",
            "contradictions",
            "detect",
            "load_rules",
            "redact",
            "score",
            "themes",
        ]
    )
    assert sorted(rox.voice.__all__) == expected


def test_package_ships_type_information():
    from importlib.resources import files

    assert files("rox").joinpath("py.typed").is_file()
