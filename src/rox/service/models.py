"""The shapes of what the service receives and answers (pydantic models, shown in ``/docs``).

The models check only the shape of a request: which fields exist, which are required, that a
value is text or a number. What a value must mean (a timestamp that parses and is plausible, a
known metric, a score on its scale, an id that is exact, a key not stored with other values) is
checked by ingestion's rules (:mod:`rox.ingest.rules`), the same as for files, when the request's
batch is written (:mod:`rox.service.writer`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

__all__ = [
    "MAX_ITEMS",
    "CaseMoveIn",
    "EventIn",
    "IntakeAnswer",
    "KeyCreated",
    "KeyIn",
    "KeyOut",
    "Replayed",
    "ResponseIn",
]

#: Most rows one request may carry.
MAX_ITEMS = 1000

Id = StrictStr | StrictInt
Number = StrictFloat | StrictInt
Text = Annotated[str, Field(max_length=10_000)]
Time = Annotated[
    str,
    Field(
        max_length=64,
        description="ISO 8601; without an offset it is read as UTC",
        examples=["2026-05-01T14:30:00+02:00"],
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResponseIn(_Strict):
    """One survey response (the ``responses`` table of docs/ingest.md)."""

    ts: Time
    metric: Annotated[str, Field(max_length=16, examples=["nps"])]
    score: Number
    response_id: Id | None = Field(
        None, description="your id of the response: a retry with it never stores it twice"
    )
    customer_id: Id | None = None
    scale: Annotated[str, Field(max_length=32)] | None = None
    touchpoint: Text | None = None
    channel: Text | None = None
    comment: Text | None = None
    language: Annotated[str, Field(max_length=16)] | None = None
    weight: Number | None = None


class EventIn(_Strict):
    """One journey event (the ``events`` table)."""

    customer_id: Id
    ts: Time
    step: Text
    channel: Text | None = None
    session_id: Id | None = None
    journey: Text | None = None


Responses = ResponseIn | Annotated[list[ResponseIn], Field(min_length=1, max_length=MAX_ITEMS)]
Events = EventIn | Annotated[list[EventIn], Field(min_length=1, max_length=MAX_ITEMS)]


class IntakeAnswer(BaseModel):
    """What a committed request stored."""

    received: int = Field(description="rows in the request")
    stored: int = Field(description="rows written now")
    duplicates: int = Field(description="rows already stored with the same content (not again)")
    load_id: int = Field(description="the batch's load in rox_loads")


Scope = Literal["read", "write", "admin"]


class KeyIn(_Strict):
    """A key to create."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3)]


class KeyOut(BaseModel):
    """A key as listed: never the key itself."""

    key_id: str
    name: str
    scopes: list[str]
    created_at: str
    revoked_at: str | None


class KeyCreated(KeyOut):
    """A new key: ``key`` is shown this once and stored only as a hash."""

    key: str


class InvitationIn(_Strict):
    """A survey invitation to make (``POST /v1/invitations``)."""

    customer_id: Annotated[str, Field(min_length=1, max_length=200)]
    touchpoint: Annotated[str, Field(min_length=1, max_length=200)]
    metric: Literal["nps", "csat", "ces"] = "nps"
    language: Literal["en", "it"] = "en"
    hours: Annotated[float, Field(gt=0, le=24 * 365, description="how long it stays valid")] = 168


class InvitationOut(BaseModel):
    """A survey invitation: send ``url`` (relative to the service) to the customer."""

    invitation_id: str
    token: str
    url: str
    expires_at: str


class CaseMoveIn(_Strict):
    """A move of a closed-loop case (docs/actions.md): who takes it, how it was closed."""

    owner: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="assign: the new owner (required); start: optionally the owner"
    )
    resolution: Literal["resolved", "unreachable", "declined"] | None = Field(
        None, description="close: how the case ended (required)"
    )


class Replayed(BaseModel):
    """Deliveries replayed: the new deliveries' ids (each a new ``webhook-id``)."""

    replayed: list[str]
