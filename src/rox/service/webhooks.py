"""Inbound webhooks: Standard Webhooks signatures, and Formbricks' response payloads.

Webhooks carry no API key: a request is accepted when its ``webhook-signature`` verifies, under
the `Standard Webhooks <https://www.standardwebhooks.com/>`_ scheme (HMAC-SHA256 of
``id.timestamp.body`` with a ``whsec_`` secret, a timestamp within five minutes), with the
``standardwebhooks`` package. The ``webhook-id`` header is the request's idempotency key: a
sender's retry of one message stores nothing again.

Formbricks (its webhooks fire on response created, updated and finished) sends
``{"event": ..., "data": {"id", "createdAt", "updatedAt", "surveyId", "finished", "data":
{question id: answer}, "contact": {"id", "userId"}}}``. Which question holds the score and which
the comment is said in the webhook's URL (``?score=QUESTION&comment=QUESTION&metric=nps``), so one
endpoint serves any survey. A response is stored when it is finished (``responseFinished``, or
``finished`` true), once, as ``response_id`` ``formbricks:<id>``; other events are acknowledged and
ignored.
"""

from __future__ import annotations

from typing import Any

from rox.errors import ServiceError

__all__ = ["formbricks_response", "verified"]


def verified(secret: str, body: bytes, headers: dict[str, str]) -> Any:
    """The JSON of ``body`` if its Standard Webhooks signature verifies under ``secret``.

    Raises
    ------
    ServiceError
        If a header is missing, the timestamp is too old or new, or the signature is wrong.
    """
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    try:
        return Webhook(secret).verify(body, headers)
    except WebhookVerificationError as exc:
        raise ServiceError(f"webhook signature not verified: {exc}") from None
    except ValueError as exc:  # the body is not JSON
        raise ServiceError(f"webhook body is not JSON: {exc}") from None


def formbricks_response(
    payload: Any, *, score: str, metric: str = "nps", comment: str | None = None
) -> dict[str, Any] | None:
    """The response a Formbricks webhook payload holds, or None if it is not a finished one.

    Parameters
    ----------
    payload : dict
        The webhook's JSON.
    score, comment : str
        The ids of the questions holding the score and the comment.
    metric : str
        The metric the score question asks (nps, csat or ces).

    Raises
    ------
    ServiceError
        If the payload is not Formbricks' shape, or a finished response lacks the score.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise ServiceError("not a Formbricks webhook payload: expected an object with 'data'")
    data = payload["data"]
    if payload.get("event") != "responseFinished" and data.get("finished") is not True:
        return None
    answers = data.get("data") or {}
    if not isinstance(answers, dict) or score not in answers:
        raise ServiceError(
            f"the finished response has no answer to question {score!r} (the score); "
            f"its questions: {', '.join(map(str, answers)) or 'none'}"
        )
    value = answers[score]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ServiceError(f"the answer to question {score!r} is {value!r}, not a number")
    contact = data.get("contact") or {}
    customer = contact.get("userId") or contact.get("id") if isinstance(contact, dict) else None
    row: dict[str, Any] = {
        "ts": data.get("updatedAt") or data.get("createdAt"),
        "metric": metric,
        "score": value,
        "response_id": f"formbricks:{data.get('id')}",
        "touchpoint": data.get("surveyId"),
        "channel": "formbricks",
    }
    if customer is not None:
        row["customer_id"] = customer
    if comment is not None and isinstance(answers.get(comment), str):
        row["comment"] = answers[comment]
    return row
