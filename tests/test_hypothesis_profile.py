"""The Hypothesis profile the suite runs under (#22): fixed examples, no timing checks."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings


@pytest.mark.skipif(
    os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci", reason="another profile was asked for"
)
def test_the_ci_profile_is_loaded_by_default():
    assert settings.default.derandomize is True
    assert settings.default.deadline is None
    assert settings.default.database is None
