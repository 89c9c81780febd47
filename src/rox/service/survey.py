"""Survey pages: the form of an invitation (NPS, CSAT or CES question and a comment).

``GET /s/{token}`` shows the form of the invitation (:mod:`rox.service.invitations`) and records
the impression; ``POST /s/{token}`` stores the answer through the service's writer, like any
response (acknowledged once committed). A used invitation answers 409, an expired one 410, a
token that is not an invitation 404. The pages are plain HTML forms: they work without
JavaScript (they carry none), group the scale as a ``fieldset`` with the question as its
``legend`` and a ``label`` on every choice, and fit a phone's screen. Strings are in English and
Italian (:data:`STRINGS`); the invitation says which.

Question wording: NPS as Reichheld (2003) asks it; CSAT on 1-5 (very dissatisfied to very
satisfied); CES 2.0 on 1-7 (strongly disagree to strongly agree that the company made it easy).
"""

# (no `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime)
import asyncio
import html
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from rox.errors import RoxError, ServiceError
from rox.schema import DEFAULT_SCALES
from rox.service.invitations import Invitation, answered, read_invitation, record_impression
from rox.service.models import ResponseIn
from rox.service.tokens import TokenExpired
from rox.service.writer import RowsRefused

if TYPE_CHECKING:
    from rox.service.writer import Writer

__all__ = ["STRINGS", "add_survey", "survey_form"]

#: Longest comment the form takes.
MAX_COMMENT = 2000

#: The form's text, by language.
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your opinion",
        "about": "About: {touchpoint}",
        "nps": "How likely are you to recommend us to a friend or colleague?",
        "nps_low": "Not at all likely",
        "nps_high": "Extremely likely",
        "csat": "How satisfied were you with {touchpoint}?",
        "csat_low": "Very dissatisfied",
        "csat_high": "Very satisfied",
        "ces": "The company made it easy for me to handle my issue.",
        "ces_low": "Strongly disagree",
        "ces_high": "Strongly agree",
        "comment": "Anything you would like to tell us? (optional)",
        "send": "Send",
        "thanks": "Thank you: your answer is recorded.",
        "used": "This invitation has already been answered. Thank you.",
        "expired": "This invitation has expired.",
        "invalid": "This link is not a valid survey invitation.",
        "no_score": "Please choose a score.",
        "retry": "Your answer could not be stored just now; please send it again.",
    },
    "it": {
        "title": "La tua opinione",
        "about": "Riguardo a: {touchpoint}",
        "nps": "Quanto è probabile che ci consiglieresti a un amico o a un collega?",
        "nps_low": "Per niente probabile",
        "nps_high": "Estremamente probabile",
        "csat": "Quanto sei soddisfatto di {touchpoint}?",
        "csat_low": "Molto insoddisfatto",
        "csat_high": "Molto soddisfatto",
        "ces": "L'azienda mi ha reso facile risolvere la mia richiesta.",
        "ces_low": "Per niente d'accordo",
        "ces_high": "Del tutto d'accordo",
        "comment": "C'è qualcosa che vorresti dirci? (facoltativo)",
        "send": "Invia",
        "thanks": "Grazie: la tua risposta è stata registrata.",
        "used": "Questo invito ha già ricevuto una risposta. Grazie.",
        "expired": "Questo invito è scaduto.",
        "invalid": "Questo link non è un invito valido a un sondaggio.",
        "no_score": "Scegli un punteggio.",
        "retry": "Non è stato possibile registrare la risposta; inviala di nuovo.",
    },
}

_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "Cache-Control": "no-store",
}


def _page(language: str, body: str, status: int) -> HTMLResponse:
    text = STRINGS[language]
    document = Template(
        files("rox.service").joinpath("templates/survey.html").read_text("utf-8")
    ).substitute(lang=language, title=html.escape(text["title"]), body=body)
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


def _message(language: str, key: str, status: int) -> HTMLResponse:
    return _page(language, f"<p>{html.escape(STRINGS[language][key])}</p>", status)


def survey_form(invitation: Invitation, token: str, *, error: str = "", comment: str = "") -> str:
    """The form's HTML (every piece of text escaped)."""
    s = STRINGS[invitation.language]
    m = invitation.metric
    scale = DEFAULT_SCALES[m]
    low, high = int(scale.low), int(scale.high)
    e = html.escape
    choices = []
    for v in range(low, high + 1):
        anchor = s[f"{m}_low"] if v == low else s[f"{m}_high"] if v == high else ""
        hint = f'<span class="sr"> ({e(anchor)})</span>' if anchor else ""
        choices.append(
            f'<label><input type="radio" name="score" value="{v}" required>{v}{hint}</label>'
        )
    question = s[m].format(touchpoint=invitation.touchpoint)
    alert = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    return (
        f'<p class="context">{e(s["about"].format(touchpoint=invitation.touchpoint))}</p>'
        f"{alert}"
        f'<form method="post" action="/s/{e(token)}">'
        f"<fieldset><legend>{e(question)}</legend>"
        f'<div class="scale">{"".join(choices)}</div>'
        f'<div class="anchors" aria-hidden="true"><span>{e(s[f"{m}_low"])}</span>'
        f"<span>{e(s[f'{m}_high'])}</span></div></fieldset>"
        f'<label for="comment">{e(s["comment"])}</label>'
        f'<textarea id="comment" name="comment" rows="4" maxlength="{MAX_COMMENT}">'
        f"{e(comment)}</textarea>"
        f'<button type="submit">{e(s["send"])}</button></form>'
    )


def add_survey(app: FastAPI, secret: bytes, writer: Callable[[], "Writer"]) -> None:
    """Add ``GET`` and ``POST /s/{token}`` to ``app`` (not in the OpenAPI schema)."""

    async def call(fn: Callable[[Any], Any]) -> Any:
        return await asyncio.wrap_future(writer().call(fn))

    def opened(token: str) -> Invitation | HTMLResponse:
        try:
            return read_invitation(secret, token)
        except TokenExpired:
            return _message("en", "expired", 410)
        except ServiceError:
            return _message("en", "invalid", 404)

    @app.get("/s/{token}", include_in_schema=False)
    async def show(token: str) -> HTMLResponse:
        invitation = opened(token)
        if isinstance(invitation, HTMLResponse):
            return invitation
        if await call(lambda ws: answered(ws, invitation)):
            return _message(invitation.language, "used", 409)
        await call(lambda ws: record_impression(ws, invitation))
        return _page(invitation.language, survey_form(invitation, token), 200)

    @app.post("/s/{token}", include_in_schema=False)
    async def answer(token: str, request: Request) -> HTMLResponse:
        invitation = opened(token)
        if isinstance(invitation, HTMLResponse):
            return invitation
        lang = invitation.language
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        comment = (form.get("comment") or [""])[0].strip()[:MAX_COMMENT]
        scale = DEFAULT_SCALES[invitation.metric]
        try:
            score = int((form.get("score") or [""])[0])
        except ValueError:
            score = -1
        if not scale.low <= score <= scale.high:
            body = survey_form(invitation, token, error=STRINGS[lang]["no_score"], comment=comment)
            return _page(lang, body, 422)
        try:
            row = ResponseIn(
                ts=datetime.now(UTC).isoformat(),
                metric=invitation.metric,
                score=score,
                scale=scale.label,
                response_id=invitation.response_id,
                customer_id=invitation.customer_id,
                touchpoint=invitation.touchpoint,
                channel="survey",
                comment=comment or None,
                language=lang,
            ).model_dump(exclude_none=True)
        except ValidationError:  # (an id or touchpoint too long for the intake's limits)
            return _message(lang, "invalid", 404)
        try:
            stored = await asyncio.wrap_future(writer().submit("responses", [row], single=True))
        except RowsRefused as exc:
            if any("response_id" in map(str, e.get("loc", ())) for e in exc.errors):
                return _message(lang, "used", 409)  # answered before, with another score
            return _page(lang, survey_form(invitation, token, error=str(exc.errors)), 422)
        except RoxError:
            return _page(lang, survey_form(invitation, token, error=STRINGS[lang]["retry"]), 503)
        if stored["stored"] == 0:
            return _message(lang, "used", 409)  # the same answer again
        return _message(lang, "thanks", 201)
