"""README.md opens with the two commands a newcomer runs; CI runs exactly the second one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must open with a ```bash block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def _commands(script: str) -> list[str]:
    """The commands of a bash script: its lines less comments, blank lines and continuations."""
    lines = [line.strip() for line in script.replace("\\\n", " ").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_opens_with_demo_and_test_commands():
    demo, tests = _readme_commands()
    assert demo.endswith("rox demo")
    assert tests.endswith("&& scripts/test")
    assert "pip install -e '.[test]'" in tests


def test_ci_runs_the_readme_test_command_and_nothing_else():
    _, tests = _readme_commands()
    ci = _commands((ROOT / ".ci" / "run").read_text())
    # the shell's settings, the repository root, a fresh venv, then the README's line as is: no
    # apt-get or other step that a newcomer's run of the README line would not do
    assert ci == [
        "set -euo pipefail",
        'cd "$(dirname "$0")/.."',
        "rm -rf .venv",
        tests,
    ]


def test_the_test_script_is_executable_and_provisions_chromium_itself():
    script = ROOT / "scripts" / "test"
    assert script.stat().st_mode & 0o111, "scripts/test must be executable"
    commands = _commands(script.read_text())
    assert any("apt-get install" in c and "chromium" in c for c in commands)
    assert any(c.startswith("pytest -n 2 --dist loadgroup") for c in commands)
    assert any("-m slow" in c for c in commands)
