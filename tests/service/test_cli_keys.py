"""``rox keys create|list|revoke`` on a workspace file (in this process)."""

from __future__ import annotations

import json

import rox
from rox.errors import EXIT_CODES, ServiceError
from rox.service.keys import key_hash, list_keys


def test_keys_create_list_revoke(tmp_path, rox_here):
    ws = str(tmp_path / "keys.duckdb")
    code, out, err = rox_here("keys", "create", "etl", "-s", "write", "-s", "read", "-w", ws)
    assert code == 0, err
    token = out.strip()
    assert token.startswith("rox_")
    with rox.open(ws, read_only=True) as opened:
        (key,) = list_keys(opened)
    assert key.key_hash == key_hash(token)
    assert key.scopes == frozenset({"read", "write"})
    code, out, _ = rox_here("keys", "list", "-w", ws, "-f", "json")
    (listed,) = json.loads(out)
    assert listed["name"] == "etl"
    assert listed["scopes"] == "read,write"
    assert token not in out
    code, out, _ = rox_here("keys", "revoke", key.key_id, "-w", ws)
    assert code == 0
    assert f"revoked key {key.key_id}" in out
    code, out, _ = rox_here("keys", "list", "-w", ws, "-f", "json")
    assert json.loads(out)[0]["revoked_at"] is not None
    code, _, err = rox_here("keys", "create", "x", "-s", "root", "-w", ws)
    assert code == EXIT_CODES[ServiceError]
    assert "unknown scope(s) 'root'" in err
    code, _, err = rox_here("keys", "revoke", "nosuch", "-w", ws)
    assert code == EXIT_CODES[ServiceError]


def test_serve_with_several_workers_needs_postgres(tmp_path):
    from typer.testing import CliRunner

    from rox.cli import app

    path = tmp_path / "one.duckdb"
    done = CliRunner().invoke(app, ["serve", "--workers", "2", "--workspace", str(path)])
    assert isinstance(done.exception, ServiceError)
    assert str(done.exception).startswith("--workers 2 needs a PostgreSQL workspace")
    assert not path.exists()  # refused before anything was opened
    assert "rox service on" not in done.output  # nor announced as serving
