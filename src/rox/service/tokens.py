"""Signed tokens: a small JSON payload with an expiry, signed with HMAC-SHA256.

The dashboard's session cookie is such a token. A token reads ``<payload>.<signature>``, both
base64url without padding; the payload is JSON with ``exp`` (Unix seconds). The signature is
HMAC-SHA256 (RFC 2104) of the payload's base64url text under the service's secret, compared in
constant time (:func:`hmac.compare_digest`). The payload is signed, not encrypted: it holds ids,
never secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from typing import Any

from rox.errors import ServiceError

__all__ = ["TokenExpired", "sign", "subkey", "unsign"]


class TokenExpired(ServiceError):
    """The token's signature holds but its expiry has passed."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())


def sign(secret: bytes, payload: dict[str, Any], *, ttl: float, now: float | None = None) -> str:
    """Return a token carrying ``payload`` that expires ``ttl`` seconds from ``now``."""
    if not secret:
        raise ServiceError("the signing secret is empty")
    issued = time.time() if now is None else now
    # (rounded up: a token with a positive ttl is valid when it is made)
    expiry = math.ceil(issued + ttl)
    body = _b64(json.dumps({**payload, "exp": expiry}, separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, body)}"


def unsign(secret: bytes, token: str, *, now: float | None = None) -> dict[str, Any]:
    """Return the payload of ``token`` if its signature holds and it has not expired.

    Raises
    ------
    ServiceError
        The token is malformed or its signature does not hold.
    TokenExpired
        The signature holds but ``exp`` has passed.
    """
    body, dot, mac = token.partition(".")
    if not dot or not body or not mac:
        raise ServiceError("malformed token: expected <payload>.<signature>")
    if not hmac.compare_digest(_mac(secret, body), mac):
        raise ServiceError("the token's signature does not hold")
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        raise ServiceError("malformed token payload") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        raise ServiceError("malformed token payload: no expiry")
    current = time.time() if now is None else now
    if current >= payload["exp"]:
        raise TokenExpired("the token has expired")
    return payload


def subkey(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose derived from ``secret`` (HMAC-SHA256 of the purpose's name).

    Sessions and invitations sign with different subkeys, so that neither kind of token can
    stand for the other.
    """
    return hmac.new(secret, f"rox:{purpose}".encode(), hashlib.sha256).digest()
