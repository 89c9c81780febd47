"""Without ``rox[service]``: what needs no web framework works; ``rox serve`` names the extra.

The extra's packages are hidden in a fresh interpreter (``sys.modules[name] = None`` makes their
import fail as if they were not installed).
"""

from __future__ import annotations

import json
import subprocess
import sys

from rox.errors import EXIT_CODES, MissingDependencyError

SCRIPT = """
import json, sys
for name in ("fastapi", "starlette", "uvicorn"):
    sys.modules[name] = None
from rox.cli import main

out = []
for args in json.loads(sys.argv[1]):
    sys.argv = ["rox", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out.append(code)
    print("--exit", code, flush=True)
"""


def run(*commands: list[str]) -> tuple[list[int], str, str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    codes = [int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("--exit")]
    return codes, done.stdout, done.stderr


def test_keys_and_deliveries_work_without_the_service_extra(tmp_path):
    ws = str(tmp_path / "keys.duckdb")
    codes, out, err = run(
        ["keys", "create", "etl", "-s", "write", "-w", ws],
        ["keys", "list", "-w", ws, "-f", "json"],
        ["deliveries", "list", "-w", ws, "-f", "json"],
    )
    assert codes == [0, 0, 0], err
    assert "rox_" in out
    assert '"name":"etl"' in out.replace(" ", "")


def test_serve_without_the_service_extra_names_it(tmp_path):
    path = tmp_path / "none.duckdb"
    codes, _, err = run(["serve", "-w", str(path)])
    assert codes == [EXIT_CODES[MissingDependencyError]], err
    assert "pip install 'rox[service]'" in err
    assert "bug" not in err
    assert not path.exists()  # refused before anything was opened


def test_the_application_without_the_extra_is_a_missing_dependency():
    done = subprocess.run(
        [sys.executable, "-c", "import sys\nsys.modules['fastapi'] = None\n"
         "from rox.errors import MissingDependencyError\n"
         "import rox.service.keys, rox.service.outbox, rox.service.arrival\n"
         "try:\n    from rox.service import create_app\n"
         "except MissingDependencyError as exc:\n    print('missing:', exc)\n"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("missing: the service needs its optional extra")
