"""Reading TOML settings (``rox._toml``): one set of messages, every loader, no internal error."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rox import _toml
from rox.actions import CaseRules, Policy
from rox.actions.lifecycle import LifecycleRules
from rox.errors import ActionError, MappingError, MetricError, RoxError, ServiceError
from rox.impact import read_initiative
from rox.ingest.mapping import load_mapping
from rox.service.outbox import Hooks
from rox.voice import load_rules

# every TOML loader of rox: (what its messages call the file, its error class, the loader)
LOADERS: list[tuple[str, type[RoxError], Callable[[Any], object]]] = [
    ("mapping", MappingError, load_mapping),
    ("lifecycle rules", MetricError, LifecycleRules.from_toml),
    ("theme rules", MetricError, load_rules),
    ("initiative", MetricError, read_initiative),
    ("policy", ActionError, Policy.load),
    ("case rules", ActionError, CaseRules.load),
    ("webhooks", ServiceError, Hooks.load),
]


def test_text_and_file_parse_the_same(tmp_path):
    text = "[a]\nx = 1\ny = 'two'\n"
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    expected = {"a": {"x": 1, "y": "two"}}
    assert _toml.read(text, what="w", error=MetricError) == expected
    assert _toml.read(tmp_path / "s.toml", what="w", error=MetricError) == expected
    assert _toml.read(str(tmp_path / "s.toml"), what="w", error=MetricError) == expected


def _bad_files(tmp_path: Path) -> list[tuple[Path, str]]:
    missing = tmp_path / "missing.toml"
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes("name = 'caffè'\n".encode("latin-1"))
    under_a_file = tmp_path / "latin1.toml" / "x.toml"
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n", encoding="utf-8")
    return [
        (missing, f"file {re.escape(str(missing))} does not exist$"),
        (folder, f"file {re.escape(str(folder))} is a directory, not a TOML file$"),
        (latin1, r"is not UTF-8 text \(byte 0xe8 at offset 12\); TOML files are UTF-8"),
        (under_a_file, f"^cannot read .* file {re.escape(str(under_a_file))}: Not a directory$"),
        (broken, f"file {re.escape(str(broken))} is not valid TOML: "),
    ]


@pytest.mark.parametrize(("what", "error", "loader"), LOADERS, ids=[w for w, _, _ in LOADERS])
def test_every_loader_names_what_is_wrong_with_the_file(tmp_path, what, error, loader):
    for path, message in _bad_files(tmp_path):
        with pytest.raises(error, match=message) as caught:
            loader(path)
        assert what in str(caught.value)


def test_malformed_text_is_named_as_text():
    with pytest.raises(ActionError, match=r"^the policy is not valid TOML: "):
        _toml.read("[nba\nx = 1\n", what="policy", error=ActionError)
