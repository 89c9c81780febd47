"""API keys of the service: scopes, creation, listing, revocation; only hashes are stored.

A key reads ``rox_<key id>_<secret>``; the table ``rox_api_keys`` keeps its id, name, scopes and
the SHA-256 of the whole key (the secret has 192 random bits, so a fast hash suffices: nothing
can be guessed from it). Revoking appends a row with ``revoked_at`` set; the last row of a key
id wins, so the table is only ever appended to, on any engine.

Scopes: ``read`` (metrics, cases, exports), ``write`` (intake), ``admin`` (keys, erasure; it
includes read and write).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rox.errors import ServiceError
from rox.schema import API_KEYS_TABLE

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rox.workspace import Workspace

__all__ = ["SCOPES", "ApiKey", "create_key", "key_hash", "list_keys", "revoke_key"]

SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class ApiKey:
    """A key as stored (never the key itself)."""

    key_id: str
    name: str
    scopes: frozenset[str]
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        """Whether the key may act in ``scope`` (``admin`` allows everything)."""
        return self.revoked_at is None and (scope in self.scopes or "admin" in self.scopes)

    def public(self) -> dict[str, object]:
        """The key as listed: id, name, scopes, times (ISO 8601)."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "scopes": sorted(self.scopes, key=SCOPES.index),
            "created_at": self.created_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }


def key_hash(key: str) -> str:
    """SHA-256 of a key, in hex: what ``rox_api_keys`` stores."""
    return hashlib.sha256(key.encode()).hexdigest()


def _checked_scopes(scopes: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(s.strip().lower() for s in scopes if s.strip())
    unknown = sorted(chosen - set(SCOPES))
    if unknown or not chosen:
        raise ServiceError(
            f"unknown scope(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"expected one or more of {', '.join(SCOPES)}"
        )
    return chosen


def create_key(ws: Workspace, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """Create a key; return it and the key text (shown once, stored only as its hash).

    Raises
    ------
    ServiceError
        If a scope is not read, write or admin, or the name is empty.
    """
    chosen = _checked_scopes(scopes)
    if not name.strip():
        raise ServiceError("a key needs a name (who or what uses it)")
    key_id = secrets.token_hex(4)
    text = f"rox_{key_id}_{secrets.token_urlsafe(24)}"
    key = ApiKey(key_id, name.strip(), chosen, key_hash(text), datetime.now(UTC))
    _append(ws, key)
    return key, text


def list_keys(ws: Workspace) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    df = ws.table(API_KEYS_TABLE).execute()
    latest: dict[str, ApiKey] = {}
    for r in df.itertuples(index=False):
        revoked = None if r.revoked_at is None or r.revoked_at != r.revoked_at else r.revoked_at
        key = ApiKey(
            str(r.key_id),
            str(r.name),
            frozenset(str(r.scopes).split(",")),
            str(r.key_hash),
            r.created_at.to_pydatetime(),
            None if revoked is None else revoked.to_pydatetime(),
        )
        old = latest.get(key.key_id)
        if old is None or (key.revoked_at is not None and old.revoked_at is None):
            latest[key.key_id] = key
    return sorted(latest.values(), key=lambda k: k.created_at)


def revoke_key(ws: Workspace, key_id: str) -> ApiKey:
    """Revoke key ``key_id`` (it stops working at once); revoking twice changes nothing.

    Raises
    ------
    ServiceError
        If no key has that id.
    """
    for key in list_keys(ws):
        if key.key_id == key_id:
            if key.revoked_at is not None:
                return key
            revoked = ApiKey(
                key.key_id,
                key.name,
                key.scopes,
                key.key_hash,
                key.created_at,
                datetime.now(UTC),
            )
            _append(ws, revoked)
            return revoked
    raise ServiceError(f"no API key {key_id!r}; `rox keys list` shows the keys")


def _append(ws: Workspace, key: ApiKey) -> None:
    import pyarrow as pa

    when = pa.timestamp("us", tz="UTC")
    ws.append_rows(
        {
            API_KEYS_TABLE: pa.table(
                {
                    "key_id": [key.key_id],
                    "name": [key.name],
                    "scopes": [",".join(sorted(key.scopes, key=SCOPES.index))],
                    "key_hash": [key.key_hash],
                    "created_at": pa.array([key.created_at], when),
                    "revoked_at": pa.array([key.revoked_at], when),
                }
            )
        }
    )
