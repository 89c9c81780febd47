"""Survey invitations: signed single-use tokens, cooldowns, impressions and the response rate.

An invitation is a token (:mod:`rox.service.tokens`, signed with the service secret's
``invitation`` subkey) carrying its id, the customer, the touchpoint, the metric asked, the
language of the form and its expiry. It is single-use because the response it brings is stored
with ``response_id = "inv-<invitation id>"``: the responses table keeps one row per id, so a
second submission finds it (409), even across restarts or two submissions at once.

Every time the form is shown, a row goes to ``rox_impressions`` (no IP address or user agent),
kept apart from the responses: the response rate is invitations answered over invitations
whose form was shown at least once, per touchpoint.

A cooldown keeps a customer from being asked again at a touchpoint too soon after they answered
there (survey fatigue): an invitation is refused until ``days`` after their last response at
that touchpoint.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox.errors import ServiceError
from rox.schema import IMPRESSIONS_TABLE
from rox.service.tokens import sign, subkey, unsign

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = [
    "Invitation",
    "answered",
    "cooldown_until",
    "invite",
    "read_invitation",
    "record_impression",
    "response_rate",
]

#: Languages the survey form is written in.
LANGUAGES = ("en", "it")


@dataclass(frozen=True)
class Invitation:
    """What an invitation token carries."""

    invitation_id: str
    customer_id: str
    touchpoint: str
    metric: str
    language: str
    expires_at: datetime

    @property
    def response_id(self) -> str:
        """The id its response is stored with (what makes the invitation single-use)."""
        return f"inv-{self.invitation_id}"


def invite(
    secret: bytes,
    customer_id: str,
    touchpoint: str,
    metric: str,
    *,
    language: str = "en",
    hours: float = 168.0,
) -> tuple[Invitation, str]:
    """Make an invitation valid for ``hours``; return it and its token."""
    if metric not in ("nps", "csat", "ces"):
        raise ServiceError(f"unknown metric {metric!r}; expected nps, csat or ces")
    if language not in LANGUAGES:
        raise ServiceError(f"no survey strings for language {language!r}; expected en or it")
    if hours <= 0:
        raise ServiceError("an invitation must be valid for more than 0 hours")
    payload = {
        "i": secrets.token_hex(8),
        "c": customer_id,
        "t": touchpoint,
        "m": metric,
        "l": language,
    }
    issued = time.time()
    token = sign(subkey(secret, "invitation"), payload, ttl=hours * 3600, now=issued)
    return read_invitation(secret, token, now=issued), token


def read_invitation(secret: bytes, token: str, *, now: float | None = None) -> Invitation:
    """The invitation of ``token``.

    Raises
    ------
    ServiceError
        The token is not an invitation of this service (malformed or badly signed).
    TokenExpired
        The invitation has expired.
    """
    p = unsign(subkey(secret, "invitation"), token, now=now)
    try:
        return Invitation(
            str(p["i"]),
            str(p["c"]),
            str(p["t"]),
            str(p["m"]),
            str(p["l"]),
            datetime.fromtimestamp(int(p["exp"]), UTC),
        )
    except KeyError:
        raise ServiceError("malformed invitation") from None


def answered(ws: Workspace, invitation: Invitation) -> bool:
    """Whether the invitation's response is stored."""
    t = ws.table("responses")
    return bool(t.filter(t.response_id == invitation.response_id).count().execute() > 0)


def cooldown_until(
    ws: Workspace, customer_id: str, touchpoint: str, days: float, *, now: datetime | None = None
) -> datetime | None:
    """When the customer may be asked again at ``touchpoint``; None if they may be now.

    The cooldown runs ``days`` from their last response at the touchpoint (any metric).
    """
    if days <= 0:
        return None
    t = ws.table("responses")
    last = (
        t.filter((t.customer_id == customer_id) & (t.touchpoint == touchpoint)).ts.max().execute()
    )
    if last is None or pd.isna(last):
        return None
    until = pd.Timestamp(last).to_pydatetime() + timedelta(days=days)
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return until if until > current else None


def record_impression(ws: Workspace, invitation: Invitation) -> None:
    """Record that the invitation's form was shown, now."""
    import pyarrow as pa

    ws.append_rows(
        {
            IMPRESSIONS_TABLE: pa.table(
                {
                    "invitation_id": [invitation.invitation_id],
                    "customer_id": [invitation.customer_id],
                    "touchpoint": [invitation.touchpoint],
                    "metric": [invitation.metric],
                    "language": [invitation.language],
                    "shown_at": pa.array([datetime.now(UTC)], pa.timestamp("us", tz="UTC")),
                }
            )
        }
    )


def response_rate(ws: Workspace) -> pd.DataFrame:
    """Per touchpoint: invitations shown, answered, and the rate (answered / shown).

    Computed in the engine: the distinct invitations of ``rox_impressions`` left-joined to the
    responses stored with their ``inv-`` ids. Empty when no form was shown.
    """
    imp = ws.table(IMPRESSIONS_TABLE)
    shown = imp.select("invitation_id", "touchpoint").distinct()
    r = ws.table("responses")
    got = (
        r.filter(r.response_id.startswith("inv-"))
        .select(answered_id=r.response_id.substr(4))
        .distinct()
    )
    joined = shown.left_join(got, shown.invitation_id == got.answered_id)
    out: Any = (
        joined.group_by("touchpoint")
        .aggregate(shown=joined.count(), answered=joined.answered_id.count())
        .order_by("touchpoint")
        .execute()
    )
    frame = pd.DataFrame(out)
    frame["rate"] = frame["answered"] / frame["shown"]
    return frame
