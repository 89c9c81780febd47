"""``rox keys create|list|revoke`` on a workspace file (in this process)."""

from __future__ import annotations

import json
import sys

import rox
from rox.errors import EXIT_CODES, ServiceError
from rox.service.keys import key_hash, list_keys


def run(args, monkeypatch, capsys):
    from rox.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["rox", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_create_list_revoke(tmp_path, monkeypatch, capsys):
    ws = str(tmp_path / "keys.duckdb")
    code, out, err = run(["keys", "create", "etl", "-s", "write", "-s", "read", "-w", ws],
                         monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    token = out.strip()
    assert token.startswith("rox_")
    with rox.open(ws, read_only=True) as opened:
        (key,) = list_keys(opened)
    assert key.key_hash == key_hash(token)
    assert key.scopes == frozenset({"read", "write"})
    code, out, _ = run(["keys", "list", "-w", ws, "-f", "json"], monkeypatch, capsys)
    (listed,) = json.loads(out)
    assert listed["name"] == "etl"
    assert listed["scopes"] == "read,write"
    assert token not in out
    code, out, _ = run(["keys", "revoke", key.key_id, "-w", ws], monkeypatch, capsys)
    assert code == 0
    assert f"revoked key {key.key_id}" in out
    code, out, _ = run(["keys", "list", "-w", ws, "-f", "json"], monkeypatch, capsys)
    assert json.loads(out)[0]["revoked_at"] is not None
    code, _, err = run(["keys", "create", "x", "-s", "root", "-w", ws], monkeypatch, capsys)
    assert code == EXIT_CODES[ServiceError]
    assert "unknown scope(s) 'root'" in err
    code, _, err = run(["keys", "revoke", "nosuch", "-w", ws], monkeypatch, capsys)
    assert code == EXIT_CODES[ServiceError]
