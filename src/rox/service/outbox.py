"""Outbound webhooks: the endpoints, the outbox and delivery log, and replay.

The service announces ``response.created``, ``case.opened`` and ``case.closed`` to the endpoints
of a TOML file (``rox serve --webhooks FILE``)::

    [delivery]                  # optional; these are the defaults
    max_attempts = 12           # attempts before a delivery is marked failed
    backoff = 5.0               # seconds before the first retry; doubled at each further one
    max_delay = 3600.0          # the longest wait between two attempts (and Retry-After's cap)
    timeout = 10.0              # seconds an attempt waits for an answer
    jitter = 0.1                # each wait is stretched by up to this share, at random

    [[endpoint]]
    name = "crm"                # letters, digits, - and _; kept in the delivery log
    url = "https://crm.example.com/hooks/rox"
    secret_env = "CRM_WEBHOOK_SECRET"   # or secret = "whsec_..."
    events = ["case.opened", "case.closed"]   # default: all three

Every message to one endpoint is one row of ``rox_webhook_deliveries`` (the outbox and the
delivery log at once), written **in the transaction of the event it announces**: the batch of
responses (and the cases they open), or the case's move. A message is therefore never announced
for an event that was not committed, and never lost for one that was: the delivery worker
(:mod:`rox.service.delivery`) sends the pending rows, and after a crash or a restart it resumes
them. The row's ``delivery_id`` is the ``webhook-id`` of every attempt, so a receiver drops a
retry it already has by that id. A replay (:func:`replay`) is a new row, with a new id and the
same payload, naming the delivery it replays: the receiver processes it again.

The body follows the Standard Webhooks recommendation: ``{"type": ..., "timestamp": ...,
"data": {...}}``; ``data`` is the response as stored (comments redacted), or the case.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from rox import _toml
from rox._sql import ident
from rox.errors import ServiceError
from rox.schema import DELIVERIES_TABLE, SYSTEM_TABLES

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from rox.workspace import Workspace

__all__ = [
    "EVENT_TYPES",
    "DeliveryNotFound",
    "Endpoint",
    "Event",
    "Hooks",
    "delivery_rows",
    "jsonable",
    "list_deliveries",
    "replay",
    "write_rows",
]

#: The events the service announces.
EVENT_TYPES: tuple[str, ...] = ("response.created", "case.opened", "case.closed")
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class DeliveryNotFound(ServiceError, LookupError):
    """No delivery of that id (or none for that response) is in the delivery log."""


@dataclass(frozen=True)
class Endpoint:
    """One receiver of webhooks.

    Attributes
    ----------
    name : str
        Its name in the delivery log (letters, digits, ``-``, ``_``).
    url : str
        Where messages are POSTed (http or https).
    secret : str
        The ``whsec_`` secret messages are signed with (Standard Webhooks).
    events : tuple of str
        The event types it receives.
    """

    name: str
    url: str
    secret: str = field(repr=False)
    events: tuple[str, ...] = EVENT_TYPES

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ServiceError(f"webhook endpoint name {self.name!r}: use letters, digits, - and _")
        if not self.url.startswith(("http://", "https://")):
            raise ServiceError(f"webhook endpoint {self.name!r}: url must be http(s)://, not "
                               f"{self.url!r}")  # fmt: skip
        if not self.secret.startswith("whsec_"):
            raise ServiceError(
                f"webhook endpoint {self.name!r}: the secret must be a whsec_ secret "
                "(Standard Webhooks: whsec_ and base64 of 24 to 64 random bytes)"
            )
        from standardwebhooks.webhooks import Webhook

        try:
            Webhook(self.secret)
        except Exception as exc:  # (binascii.Error: not base64)
            raise ServiceError(f"webhook endpoint {self.name!r}: bad secret ({exc})") from None
        unknown = set(self.events) - set(EVENT_TYPES)
        if unknown or not self.events:
            raise ServiceError(
                f"webhook endpoint {self.name!r}: events {sorted(unknown) or '[]'} unknown; "
                f"expected some of {', '.join(EVENT_TYPES)}"
            )


@dataclass(frozen=True)
class Hooks:
    """The webhook endpoints and how deliveries are retried (see the module docstring).

    Attributes
    ----------
    endpoints : tuple of Endpoint
    max_attempts : int
        Attempts before a delivery is marked ``failed`` (the first included).
    backoff : float
        Seconds before the first retry; the ``n``-th retry waits ``backoff * 2**(n-1)``.
    max_delay : float
        The longest wait between two attempts, in seconds (also caps ``Retry-After``).
    timeout : float
        Seconds an attempt waits to connect and for the answer.
    jitter : float
        Each wait is multiplied by a random factor in ``[1, 1 + jitter]`` (receivers that come
        back are not hit by every sender at once).
    """

    endpoints: tuple[Endpoint, ...] = ()
    max_attempts: int = 12
    backoff: float = 5.0
    max_delay: float = 3600.0
    timeout: float = 10.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise ServiceError(f"webhook endpoint names must be unique: {names}")
        if self.max_attempts < 1:
            raise ServiceError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("backoff", "max_delay", "timeout"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ServiceError(f"webhook {name} must be a positive number of seconds")
        if not 0 <= self.jitter <= 1:
            raise ServiceError(f"webhook jitter must be in [0, 1], got {self.jitter}")

    @classmethod
    def load(cls, source: str | os.PathLike[str]) -> Hooks:
        """The endpoints of a TOML file (or TOML text).

        Raises
        ------
        ServiceError
            If the file is missing, not TOML, or a setting is wrong (naming it).
        """
        data = _toml.read(source, what="webhooks", error=ServiceError)
        unknown = set(data) - {"delivery", "endpoint"}
        if unknown:
            raise ServiceError(f"unknown sections in the webhooks file: {sorted(unknown)}")
        delivery = dict(data.get("delivery", {}))
        known = {"max_attempts", "backoff", "max_delay", "timeout", "jitter"}
        if set(delivery) - known:
            raise ServiceError(f"unknown [delivery] settings: {sorted(set(delivery) - known)}")
        endpoints = [_endpoint(raw) for raw in data.get("endpoint", [])]
        try:
            return cls(endpoints=tuple(endpoints), **{k: type(getattr(cls, k))(v)
                                                      for k, v in delivery.items()})  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise ServiceError(f"a [delivery] setting has the wrong type: {exc}") from None

    def endpoint(self, name: str) -> Endpoint | None:
        """The endpoint called ``name``, if configured."""
        return next((e for e in self.endpoints if e.name == name), None)

    def subscribed(self, event_type: str) -> list[Endpoint]:
        """The endpoints receiving ``event_type``."""
        return [e for e in self.endpoints if event_type in e.events]


def _endpoint(raw: Mapping[str, Any]) -> Endpoint:
    name = str(raw.get("name", ""))
    bad = set(raw) - {"name", "url", "secret", "secret_env", "events"}
    if bad:
        raise ServiceError(f"webhook endpoint {name!r}: unknown settings {sorted(bad)}")
    if "url" not in raw:
        raise ServiceError(f"webhook endpoint {name!r} needs a url")
    secret = raw.get("secret")
    if "secret_env" in raw:
        secret = os.environ.get(str(raw["secret_env"]))
        if secret is None:
            raise ServiceError(
                f"webhook endpoint {name!r}: environment variable {raw['secret_env']} is not set"
            )
    if secret is None:
        raise ServiceError(f"webhook endpoint {name!r} needs secret or secret_env")
    events = raw.get("events", EVENT_TYPES)
    if isinstance(events, str) or not isinstance(events, list | tuple):
        raise ServiceError(f"webhook endpoint {name!r}: events must be a list")
    return Endpoint(name, str(raw["url"]), str(secret), tuple(str(e) for e in events))


@dataclass(frozen=True)
class Event:
    """Something to announce: its type, its data, and whom and what it is about."""

    type: str
    data: Mapping[str, Any]
    customer_id: str | None = None
    response_id: str | None = None
    case_id: str | None = None


def delivery_rows(
    hooks: Hooks, events: Iterable[Event], *, now: datetime | None = None
) -> pa.Table:
    """New pending deliveries: one row per event and endpoint receiving its type."""
    at = now or datetime.now(UTC)
    rows = []
    stamp = at.isoformat().replace("+00:00", "Z")
    for event in events:
        for endpoint in hooks.subscribed(event.type):
            body = {"type": event.type, "timestamp": stamp, "data": jsonable(event.data)}
            payload = json.dumps(body, separators=(",", ":"))
            ids = (event.customer_id, event.response_id, event.case_id)
            rows.append(_row(endpoint, event.type, payload, at, *ids))
    return _table(rows)


def _row(
    endpoint: Endpoint,
    event_type: str,
    payload: str,
    at: datetime,
    customer_id: str | None,
    response_id: str | None,
    case_id: str | None,
    replay_of: str | None = None,
) -> dict[str, Any]:
    return {
        "delivery_id": f"msg_{uuid.uuid4().hex}",
        "event_type": event_type,
        "endpoint": endpoint.name,
        "url": endpoint.url,
        "payload": payload,
        "customer_id": customer_id,
        "response_id": response_id,
        "case_id": case_id,
        "status": PENDING,
        "attempts": 0,
        "last_status_code": None,
        "last_error": None,
        "next_attempt_at": at,
        "replay_of": replay_of,
        "created_at": at,
        "updated_at": at,
        "delivered_at": None,
    }


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    import ibis
    import pyarrow as pa

    schema = ibis.schema(SYSTEM_TABLES[DELIVERIES_TABLE]).to_pyarrow()
    return pa.Table.from_pylist(rows, schema=schema)


def write_rows(con: Any, rows: pa.Table) -> None:
    """Append deliveries with connection ``con`` (inside the caller's transaction)."""
    insert_rows(con, DELIVERIES_TABLE, rows)


def insert_rows(con: Any, table: str, rows: pa.Table) -> None:
    """Append Arrow ``rows`` to ``table`` by name, in the transaction of ``con``.

    ``con`` is the DuckDB connection of a batch, or the PostgreSQL batch's
    :class:`rox.ingest.shared.Transaction`. On DuckDB the columns go in as list parameters of
    one ``INSERT … SELECT unnest(…)`` (the lists unnested side by side): a batch's few rows
    without registering them as a view, which cost twice as much (docs/benchmarks.md).
    """
    if len(rows) == 0:
        return
    if hasattr(con, "insert"):
        con.insert(table, rows)
        return
    names = rows.column_names
    con.execute(
        f"INSERT INTO {ident(table)} ({', '.join(ident(n) for n in names)}) "
        f"SELECT {', '.join(f'unnest(${i})' for i in range(1, len(names) + 1))}",
        [rows.column(n).to_pylist() for n in names],
    )


def jsonable(value: Any) -> Any:
    """``value`` with times as ISO 8601 text, missing values as null, numpy scalars as Python."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, datetime | date):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    if hasattr(value, "item"):  # numpy and pandas scalars
        import pandas as pd

        if pd.isna(value):
            return None
        if isinstance(value, pd.Timestamp):
            return jsonable(value.to_pydatetime())
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def list_deliveries(
    ws: Workspace,
    *,
    status: str | None = None,
    response_id: str | None = None,
    endpoint: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """The delivery log, newest first (without the payloads), optionally filtered."""
    t = ws.table(DELIVERIES_TABLE)
    if status is not None:
        if status not in (PENDING, DELIVERED, FAILED):
            raise ServiceError(f"delivery status {status!r}: expected pending, delivered or failed")
        t = t.filter(t.status == status)
    if response_id is not None:
        t = t.filter(t.response_id == response_id)
    if endpoint is not None:
        t = t.filter(t.endpoint == endpoint)
    t = t.order_by([t.created_at.desc(), t.delivery_id]).limit(limit)
    frame: pd.DataFrame = t.drop("payload").execute()
    return frame


def replay(
    ws: Workspace,
    hooks: Hooks,
    *,
    delivery_id: str | None = None,
    response_id: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Send again one delivery, or every delivery announcing a response (and its cases).

    Each replay is a new pending delivery with a new id (the ``webhook-id`` the receiver sees),
    the original's payload and endpoint, and ``replay_of`` naming the original. Replays of
    replays are not replayed again with a response: its original deliveries are.

    Returns
    -------
    list of str
        The new deliveries' ids.

    Raises
    ------
    DeliveryNotFound
        If there is no such delivery (or none for the response).
    ServiceError
        If its endpoint is no longer configured.
    """
    if (delivery_id is None) == (response_id is None):
        raise ServiceError("replay one delivery (its id) or the deliveries of one response")
    t = ws.table(DELIVERIES_TABLE)
    if delivery_id is not None:
        t = t.filter(t.delivery_id == delivery_id)
        what = f"delivery {delivery_id!r}"
    else:
        t = t.filter((t.response_id == response_id) & t.replay_of.isnull())
        what = f"deliveries for response {response_id!r}"
    found = t.order_by(t.created_at).execute()
    if found.empty:
        raise DeliveryNotFound(f"no {what} in the delivery log")
    at = now or datetime.now(UTC)
    rows = []
    for r in found.to_dict("records"):
        endpoint = hooks.endpoint(str(r["endpoint"]))
        if endpoint is None:
            raise ServiceError(
                f"webhook endpoint {r['endpoint']!r} of delivery {r['delivery_id']} is not "
                "configured (rox serve --webhooks FILE); nothing replayed"
            )
        rows.append(_row(endpoint, str(r["event_type"]), str(r["payload"]), at,
                         _text(r["customer_id"]), _text(r["response_id"]), _text(r["case_id"]),
                         replay_of=str(r["delivery_id"])))  # fmt: skip
    ws.append_rows({DELIVERIES_TABLE: _table(rows)})
    return [str(r["delivery_id"]) for r in rows]


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
