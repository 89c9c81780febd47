"""``rox themes`` and ``rox comments`` on the demo (#18)."""

from __future__ import annotations

import json

from rox.testing import run_cli as rox


def test_themes_and_comments_commands(demo_path):
    result = rox("themes", "--format", "json", workspace=demo_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {"theme", "comments", "nps_difference"} <= set(rows[0])
    table = rox("themes", "--language", "it", "--value", workspace=demo_path)
    assert table.returncode == 0, table.stderr
    assert "NPS difference" in table.stdout and "value at risk" in table.stdout
    theme = rows[0]["theme_id"]
    listed = rox("comments", "--theme", theme, "--limit", "3", "-f", "json", workspace=demo_path)
    assert listed.returncode == 0, listed.stderr
    comments = json.loads(listed.stdout)
    assert len(comments) == 3
    assert {c["theme_id"] for c in comments} == {theme}
    missing = rox("comments", "--theme", "no such theme", workspace=demo_path)
    assert missing.returncode == 10
    assert "no theme 'no such theme'" in missing.stderr
