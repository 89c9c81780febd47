"""The public API is what ``__all__`` says; guard it so that changes are deliberate (httpx)."""

from __future__ import annotations

import rox


def test_public_names():
    result = sorted(rox.__all__)
    expected = sorted(["RoxError", "Workspace", "__version__", "open"])
    assert result == expected
    for name in rox.__all__:
        assert hasattr(rox, name)


def test_package_ships_type_information():
    from importlib.resources import files

    assert files("rox").joinpath("py.typed").is_file()
