"""The FastAPI application: intake, API keys, admin reads, cases, webhooks, export and erasure.

``create_app(config)`` builds it; ``rox serve`` runs it on uvicorn. Every route but ``/healthz``
and the docs needs an API key (``Authorization: Bearer rox_...``) with the route's scope: 401
without a valid key, 403 without the scope. See docs/service.md.
"""

# (no `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime, and
# the scope dependencies are local to create_app)
import asyncio
import contextlib
import gc
import json
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter
from starlette.background import BackgroundTask
from starlette.middleware import Middleware

from rox.errors import (
    ActionError,
    CaseStateError,
    MetricError,
    RoxError,
    ServiceError,
    WorkspaceUnavailableError,
)
from rox.schema import METRICS, TABLES
from rox.service.arrival import Arrival, announce_move, case_event
from rox.service.delivery import Dispatcher
from rox.service.erase import erase_customer
from rox.service.intake import DirectIntake, IntakeRoute, idempotent, rows_of
from rox.service.invitations import cooldown_until, invite
from rox.service.keys import ApiKey, create_key, key_hash, list_keys, revoke_key
from rox.service.limits import BodyLimit, ClientRateLimit, RateLimiter, too_many
from rox.service.models import (
    CaseMoveIn,
    EventIn,
    Events,
    IntakeAnswer,
    InvitationIn,
    InvitationOut,
    KeyCreated,
    KeyIn,
    KeyOut,
    Replayed,
    ResponseIn,
    Responses,
)
from rox.service.outbox import (
    DeliveryNotFound,
    Hooks,
    jsonable,
    list_deliveries,
    replay,
)
from rox.service.reconnect import retry_after
from rox.service.survey import add_survey
from rox.service.telemetry import telemetry_config
from rox.service.waiters import BatchWaiters
from rox.service.web import add_dashboard
from rox.service.webhooks import formbricks_response, verified
from rox.service.writer import IdempotencyConflict, Idempotent, RowsRefused, Writer

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["CONFIG_VARIABLE", "ServiceConfig", "app_from_environment", "create_app"]

#: The environment variable ``rox serve --workers N`` hands each worker process its configuration
#: in (JSON of :class:`ServiceConfig`)
CONFIG_VARIABLE = "ROX_SERVICE_CONFIG"


@dataclass(frozen=True)
class ServiceConfig:
    """How the service runs (``rox serve`` options).

    Attributes
    ----------
    workspace : str
        The workspace URL or DuckDB file (the service is its one writer).
    max_body : int
        Largest request body, in bytes (413 above).
    client_rate, client_burst : float
        Requests per second, and at once, per client IP address (429 above; 0: no limit).
    key_rate, key_burst : float
        Requests per second, and at once, per API key (429 above; 0: no limit).
    webhook_secret : str, optional
        The ``whsec_`` secret inbound webhooks are signed with (Standard Webhooks); without it
        the webhook routes answer 404.
    secret : str, optional
        The key that signs the dashboard's session cookies and the survey invitations
        (HMAC-SHA256); without it, a random one per process (sessions and invitations then end
        when the service restarts).
    session_hours : float
        How long a dashboard session lasts.
    dashboard_refresh : float
        Least seconds between two computations of a dashboard page while data keeps arriving.
    dashboard_expensive_refresh : float
        Least seconds between two computations of a page's expensive part (the overview's worth
        of experience: customer value models fitted to every customer) while data keeps
        arriving; it is computed in the background and the page shows the last one meanwhile.
    dashboard_wait : float
        Most seconds a page load that starts a computation waits for it before showing the page
        it has (without the expensive part, or from older data: it says so); later loads do
        not wait. The first load of a page waits for it whole.
    secure_cookie : bool, optional
        Whether the session cookie is ``Secure`` (sent over HTTPS only); by default, when the
        request came over HTTPS.
    survey_cooldown_days : float
        Days after a customer's response at a touchpoint before they may be invited there again
        (0: no cooldown).
    switch_interval : float
        The process's thread switch interval while the app runs (:func:`sys.setswitchinterval`),
        in seconds: short, so that the writer thread is not kept waiting by the event loop.
    case_rules : str, optional
        The case rules' TOML file (:mod:`rox.actions.case_rules`) applied to responses as they
        arrive; by default the built-in rules.
    cases_on_arrival : bool
        Whether arriving responses open cases (:mod:`rox.service.arrival`).
    webhooks : str, optional
        The outbound webhooks' TOML file (:mod:`rox.service.outbox`); without it nothing is
        announced.
    key_refresh : float
        On a PostgreSQL workspace (shared by several processes), seconds a process trusts the
        API keys it read before reading them again: a key revoked at another process is refused
        here within that time (a key created there is read at its first use here).
    """

    workspace: str
    max_body: int = 1_048_576
    client_rate: float = 200.0
    client_burst: float = 400.0
    key_rate: float = 1000.0
    key_burst: float = 2000.0
    switch_interval: float = 0.0001
    webhook_secret: str | None = None
    secret: str | None = None
    session_hours: float = 8.0
    dashboard_refresh: float = 10.0
    dashboard_expensive_refresh: float = 600.0
    dashboard_wait: float = 1.0
    secure_cookie: bool | None = None
    survey_cooldown_days: float = 30.0
    case_rules: str | None = None
    cases_on_arrival: bool = True
    webhooks: str | None = None
    key_refresh: float = 5.0


#: Ids in paths and filters: no control characters (DuckDB's parser refuses a NUL in a literal).
_PRINTABLE = r"^[^\x00-\x1f]*$"

_bearer = HTTPBearer(
    auto_error=False, description="an API key: `rox keys create NAME --scope write`"
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=255,
        description="any unique text per request: a retry with the same key returns the first "
        "answer and stores nothing again; the same key with another body is 422",
    ),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no API key, or an unknown or revoked one"},
    403: {"description": "the key lacks the scope this route needs"},
    413: {"description": "the body is over the size limit"},
    429: {"description": "over the rate limit; see the Retry-After header"},
}


def create_app(config: ServiceConfig) -> FastAPI:
    """Build the service for ``config`` (the workspace opens when the app starts)."""
    state: dict[str, Any] = {}
    secret = config.secret.encode() if config.secret else secrets.token_bytes(32)
    # a body of responses as the intake route validates it, built once (building one is costly):
    # the direct intake's and the generic webhook's
    responses_body: TypeAdapter[Any] = TypeAdapter(Responses)
    key_limiter = RateLimiter(config.key_rate, config.key_burst)
    hooks = Hooks.load(config.webhooks) if config.webhooks else Hooks()
    if config.cases_on_arrival and config.case_rules is not None:
        from rox.actions.case_rules import CaseRules

        CaseRules.load(config.case_rules)  # (bad rules stop the service before it starts)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import sys

        import rox

        # The writer thread takes the GIL back after each DuckDB statement, and DuckDB's Python
        # client takes it after each task of a statement (to look for Ctrl-C): with the default
        # switch interval (5 ms) it waits up to that long each time while the event loop parses
        # requests, which made a batch cost four times its work under load here; at 0.1 ms a
        # BEGIN and ROLLBACK waited 0.3 ms beside a busy thread, 1.6 ms at 0.5 ms
        # (docs/benchmarks.md).
        sys.setswitchinterval(config.switch_interval)
        writer = Writer(rox.open(config.workspace))
        state["writer"] = writer
        waiters = BatchWaiters(asyncio.get_running_loop())  # (one wake-up of the loop a batch)
        state["waiters"] = waiters
        writer.on_settled = waiters.wake
        dispatcher = Dispatcher(hooks, lambda fn: _run(writer, fn))
        state["dispatcher"] = dispatcher
        rules = config.case_rules if config.cases_on_arrival else False
        writer.arrival = await _run(writer, lambda ws: Arrival(ws, rules, hooks))
        writer.on_delivery = dispatcher.wake
        state["keys"] = {k.key_hash: k for k in await _run(writer, list_keys)}
        state["keys_read"] = time.monotonic()
        delivering = asyncio.create_task(dispatcher.run())  # (resumes what is pending)
        # A full collection walks every object of the process (pandas, pyarrow, Ibis and FastAPI
        # make millions): it held the GIL 120-145 ms every 2 s at 1,000 requests/s, stopping the
        # event loop and the writer together (docs/benchmarks.md). What exists once the service
        # has started lives as long as it: kept out of the collector's walks until it stops.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            delivering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivering
            for stop in state.get("on_stop", ()):  # (the dashboard's readers)
                stop()
            await asyncio.to_thread(writer.stop)

    app = RoxAPI(
        title="rox intake and admin API",
        version="1",
        description="Listens for responses and events, and serves metrics, exports and erasure. "
        "See docs/service.md.",
        lifespan=lifespan,
        telemetry=telemetry_config(),
    )

    def writer() -> Writer:
        w: Writer = state["writer"]
        return w

    @app.exception_handler(WorkspaceUnavailableError)
    async def unavailable(request: Request, exc: WorkspaceUnavailableError) -> JSONResponse:
        """The database server is down (PostgreSQL): 503, and when to try again."""
        return JSONResponse(
            {"detail": f"{exc}; retry later"},
            status_code=503,
            headers={"Retry-After": retry_after(exc)},
        )

    async def known_key(digest: str) -> ApiKey | None:
        """The key with hash ``digest``; on a shared workspace, as the database has it lately.

        Other processes create and revoke keys on PostgreSQL: a key not known here, or known
        for longer than ``key_refresh`` seconds, is looked up again (all keys, one small table).
        """
        key: ApiKey | None = state["keys"].get(digest)
        if not writer().shared:
            return key
        now = time.monotonic()
        if key is None or now - state["keys_read"] > config.key_refresh:
            state["keys"] = {k.key_hash: k for k in await _run(writer(), list_keys)}
            state["keys_read"] = now
            key = state["keys"].get(digest)
        return key

    def scoped(scope: str) -> Callable[[Credentials], Awaitable[ApiKey]]:
        async def check(credentials: Credentials) -> ApiKey:
            if credentials is None:
                raise HTTPException(
                    401, "an API key is needed: Authorization: Bearer rox_...", _challenge()
                )
            key = await known_key(key_hash(credentials.credentials))
            if key is None or key.revoked_at is not None:
                raise HTTPException(401, "unknown or revoked API key", _challenge())
            if not key.allows(scope):
                raise HTTPException(403, f"this API key lacks the {scope!r} scope")
            wait = key_limiter.wait(key.key_id)
            if wait:
                raise HTTPException(429, "too many requests with this API key", too_many(wait))
            return key

        return check

    Read = Annotated[ApiKey, Depends(scoped("read"))]
    Write = Annotated[ApiKey, Depends(scoped("write"))]
    Admin = Annotated[ApiKey, Depends(scoped("admin"))]

    async def stored(
        table: str, rows: list[dict[str, Any]], single: bool, idem: Idempotent | None,
        conflict: Callable[[IdempotencyConflict], Any],
    ) -> JSONResponse:  # fmt: skip
        """Rows written by the writer: 201 once committed, 422 if refused, 503 if not stored."""
        try:
            answer = await state["waiters"].result(
                writer().submit(table, rows, single=single, idem=idem)
            )
        except RowsRefused as exc:
            return JSONResponse({"detail": exc.errors}, status_code=422)
        except IdempotencyConflict as exc:
            return JSONResponse({"detail": conflict(exc)}, status_code=422)
        except RoxError as exc:  # the workspace refused the batch: nothing stored
            return JSONResponse(
                {"detail": f"not stored ({exc}); retry later"},
                status_code=503,
                headers={"Retry-After": retry_after(exc)},
            )
        return JSONResponse(answer, status_code=201)

    def _conflict(exc: IdempotencyConflict) -> list[dict[str, Any]]:
        return [{"loc": ["header", "idempotency-key"], "msg": str(exc), "type": "idempotency"}]

    async def intake(
        table: str,
        body: Any,
        one: type,
        request: Request,
        key: ApiKey,
        idempotency_key: str | None,
    ) -> JSONResponse:
        """``body`` (one ``one`` or a list of them) stored in ``table`` for API key ``key``."""
        raw = b"" if idempotency_key is None else await request.body()
        idem = idempotent(key.key_id, idempotency_key, request.url.path, raw)
        rows, single = rows_of(body, one)
        return await stored(table, rows, single, idem, _conflict)

    @app.post(
        "/v1/responses",
        status_code=201,
        response_model=IntakeAnswer,
        tags=["intake"],
        responses=_ERRORS,
        summary="Store one survey response or a batch (a JSON array)",
    )
    async def post_responses(
        body: Responses, request: Request, key: Write, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        """Store responses; answered 201 only once they are committed to the workspace."""
        return await intake("responses", body, ResponseIn, request, key, idempotency_key)

    @app.post(
        "/v1/events",
        status_code=201,
        response_model=IntakeAnswer,
        tags=["intake"],
        responses=_ERRORS,
        summary="Store one journey event or a batch (a JSON array)",
    )
    async def post_events(
        body: Events, request: Request, key: Write, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        """Store events; answered 201 only once they are committed to the workspace."""
        return await intake("events", body, EventIn, request, key, idempotency_key)

    # -- inbound webhooks (signed, no API key) ---------------------------------------------------
    async def signed(request: Request) -> Any:
        if config.webhook_secret is None:
            raise HTTPException(404, "no webhook secret is configured (rox serve --webhook-secret)")
        body = await request.body()
        try:
            return verified(config.webhook_secret, body, dict(request.headers))
        except ServiceError as exc:
            raise HTTPException(401, str(exc)) from None

    async def webhook_idem(request: Request, source: str) -> Idempotent | None:
        message = request.headers.get("webhook-id")
        if message is None:
            return None
        return idempotent(f"webhook:{source}", message, request.url.path, await request.body())

    async def webhook_intake(
        rows: list[dict[str, Any]], single: bool, idem: Idempotent | None
    ) -> JSONResponse:
        return await stored("responses", rows, single, idem, str)

    unsigned: dict[int | str, dict[str, Any]] = {401: {"description": "signature not verified"}}

    @app.post("/v1/webhooks/responses", status_code=201, response_model=IntakeAnswer,
              tags=["webhooks"], responses=unsigned)  # fmt: skip
    async def webhook_responses(request: Request) -> JSONResponse:
        """Responses as ``POST /v1/responses`` takes them, signed (Standard Webhooks)."""
        from pydantic import ValidationError as ShapeError

        payload = await signed(request)
        try:
            body = responses_body.validate_python(payload)
        except ShapeError as exc:
            return JSONResponse({"detail": json.loads(exc.json())}, status_code=422)
        rows, single = rows_of(body, ResponseIn)
        return await webhook_intake(rows, single, await webhook_idem(request, "generic"))

    @app.post("/v1/webhooks/formbricks", tags=["webhooks"], responses=unsigned)
    async def webhook_formbricks(
        request: Request,
        score: Annotated[str, Query(max_length=200, description="question id of the score")],
        metric: Literal["nps", "csat", "ces"] = "nps",
        comment: Annotated[str | None, Query(max_length=200)] = None,
    ) -> JSONResponse:
        """A Formbricks webhook: the finished response is stored once; other events ignored."""
        payload = await signed(request)
        try:
            row = formbricks_response(payload, score=score, metric=metric, comment=comment)
        except ServiceError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        if row is None:
            return JSONResponse({"ignored": "not a finished response"}, status_code=200)
        return await webhook_intake([row], True, await webhook_idem(request, "formbricks"))

    # -- keys ------------------------------------------------------------------------------------
    @app.post("/v1/keys", status_code=201, response_model=KeyCreated, tags=["admin"],
              responses=_ERRORS)  # fmt: skip
    async def post_key(body: KeyIn, key: Admin) -> dict[str, Any]:
        """Create an API key; the key is in this answer only (stored as a hash)."""
        made, text = await _run(writer(), lambda ws: create_key(ws, body.name, body.scopes))
        state["keys"] = {**state["keys"], made.key_hash: made}
        return {**made.public(), "key": text}

    @app.get("/v1/keys", response_model=list[KeyOut], tags=["admin"], responses=_ERRORS)
    async def get_keys(key: Admin) -> list[dict[str, Any]]:
        """List the API keys (never the keys themselves)."""
        return [k.public() for k in await _run(writer(), list_keys)]

    @app.delete("/v1/keys/{key_id}", response_model=KeyOut, tags=["admin"],
                responses={**_ERRORS, 404: {"description": "no such key"}})  # fmt: skip
    async def delete_key(key_id: str, key: Admin) -> dict[str, Any]:
        """Revoke an API key: it is refused from now on."""
        try:
            revoked: ApiKey = await _run(writer(), lambda ws: revoke_key(ws, key_id))
        except ServiceError as exc:
            raise HTTPException(404, str(exc)) from None
        state["keys"] = {**state["keys"], revoked.key_hash: revoked}
        return revoked.public()

    # -- reads -----------------------------------------------------------------------------------
    @app.get("/v1/metrics/{metric}", tags=["admin"], responses=_ERRORS)
    async def get_metric(
        metric: Literal["nps", "csat", "ces"],
        key: Read,
        by: Annotated[list[str] | None, Query(description="columns to group by")] = None,
        period: Annotated[
            Literal["day", "week", "month", "quarter", "year"] | None,
            Query(description="time buckets"),
        ] = None,
        level: Annotated[float, Query(gt=0.5, lt=1)] = 0.95,
    ) -> list[dict[str, Any]]:
        """NPS, CSAT or CES with confidence intervals, by group and period (rox.experience)."""
        from rox.experience import measure

        assert metric in METRICS
        try:
            result = await _run(
                writer(), lambda ws: measure(ws, metric, by=by or None, period=period, level=level)
            )
        except MetricError as exc:
            raise HTTPException(422, str(exc)) from None
        records: list[dict[str, Any]] = json.loads(
            result.frame.to_json(orient="records", date_format="iso")
        )
        return records

    @app.get("/v1/cases", tags=["admin"], responses=_ERRORS)
    async def get_cases(
        key: Read,
        status: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        """Cases of the ``cases`` table, newest first (optionally of one status)."""

        def read(ws: "Workspace") -> Any:
            t = ws.table("cases").drop("_key", "_load_id")
            if status is not None:
                t = t.filter(t.status == status)
            return t.order_by(t.opened_at.desc()).limit(limit).execute()

        frame = await _run(writer(), read)
        records: list[dict[str, Any]] = json.loads(
            frame.to_json(orient="records", date_format="iso")
        )
        return records

    announce = announce_move(hooks)  # a move's webhooks, written in its transaction

    moving: dict[int | str, dict[str, Any]] = {
        **_ERRORS,
        404: {"description": "no such case"},
        409: {"description": "the case's state does not allow the move"},
    }

    @app.post("/v1/cases/{case_id}/{move}", tags=["admin"], responses=moving)
    async def move_case(
        case_id: Annotated[str, Path(max_length=300, pattern=_PRINTABLE)],
        move: Literal["start", "assign", "close"],
        body: CaseMoveIn,
        key: Write,
    ) -> dict[str, Any]:
        """Move a case: ``start`` work, ``assign`` (``owner``), ``close`` (``resolution``).

        Closing announces ``case.closed`` to the outbound webhooks (docs/service.md).
        """
        from rox.actions import assign, close, start

        def apply(ws: "Workspace") -> dict[str, Any]:
            if move == "start":
                return start(ws, case_id, owner=body.owner, announce=announce)
            if move == "assign":
                if body.owner is None:
                    raise ActionError("assign needs the owner")
                return assign(ws, case_id, body.owner, announce=announce)
            if body.resolution is None:
                raise ActionError("close needs the resolution: resolved, unreachable or declined")
            return close(ws, case_id, body.resolution, announce=announce)

        try:
            case = await _run(writer(), apply)
        except CaseStateError as exc:
            raise HTTPException(409, str(exc)) from None
        except ActionError as exc:
            raise HTTPException(404 if str(exc).startswith("no case") else 422, str(exc)) from None
        if move == "close":
            state["dispatcher"].wake()
        state["changes"] = state.get("changes", 0) + 1  # the dashboard's pages are stale
        out: dict[str, Any] = jsonable(case_event(move, case).data)
        return out

    # -- outbound webhooks: the delivery log and replay -------------------------------------------
    @app.get("/v1/deliveries", tags=["webhooks"], responses=_ERRORS)
    async def get_deliveries(
        key: Admin,
        status: Literal["pending", "delivered", "failed"] | None = None,
        response_id: Annotated[str | None, Query(max_length=300, pattern=_PRINTABLE)] = None,
        endpoint: Annotated[str | None, Query(max_length=200, pattern=_PRINTABLE)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        """The outbound webhooks' delivery log, newest first (status, attempts, last error)."""
        frame = await _run(
            writer(),
            lambda ws: list_deliveries(
                ws, status=status, response_id=response_id, endpoint=endpoint, limit=limit
            ),
        )
        records: list[dict[str, Any]] = json.loads(
            frame.to_json(orient="records", date_format="iso")
        )
        return records

    replaying: dict[int | str, dict[str, Any]] = {
        **_ERRORS,
        404: {"description": "no such delivery, or none for the response"},
        409: {"description": "the delivery's endpoint is not configured"},
    }

    async def replayed(delivery_id: str | None, response_id: str | None) -> dict[str, Any]:
        try:
            ids = await _run(
                writer(),
                lambda ws: replay(ws, hooks, delivery_id=delivery_id, response_id=response_id),
            )
        except DeliveryNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except ServiceError as exc:
            raise HTTPException(409, str(exc)) from None
        state["dispatcher"].wake()
        return {"replayed": ids}

    @app.post("/v1/deliveries/replay", status_code=202, response_model=Replayed,
              tags=["webhooks"], responses=replaying)  # fmt: skip
    async def replay_response(
        key: Admin,
        response_id: Annotated[str, Query(min_length=1, max_length=300, pattern=_PRINTABLE)],
    ) -> dict[str, Any]:
        """Send again every delivery announcing a response (and the cases it opened)."""
        return await replayed(None, response_id)

    @app.post("/v1/deliveries/{delivery_id}/replay", status_code=202, response_model=Replayed,
              tags=["webhooks"], responses=replaying)  # fmt: skip
    async def replay_delivery(
        delivery_id: Annotated[str, Path(max_length=300, pattern=_PRINTABLE)], key: Admin
    ) -> dict[str, Any]:
        """Send one delivery again, as a new delivery (a new ``webhook-id``)."""
        return await replayed(delivery_id, None)

    @app.get(
        "/v1/export/{table}",
        tags=["admin"],
        responses={**_ERRORS, 200: {"content": {"text/csv": {}, "application/octet-stream": {}}}},
        response_class=FileResponse,
    )
    async def export(
        table: Literal["customers", "transactions", "events", "responses", "cases"],
        key: Admin,
        format: Literal["csv", "parquet"] = "csv",
    ) -> FileResponse:
        """A canonical table as CSV or Parquet (admin: it holds personal data)."""
        assert table in TABLES
        folder = tempfile.mkdtemp(prefix="rox-export-")
        path = os.path.join(folder, f"{table}.{format}")

        def write(ws: "Workspace") -> None:
            t = ws.table(table).drop("_key", "_load_id")
            if format == "csv":
                t.to_csv(path)
            else:
                t.to_parquet(path)

        await _run(writer(), write)
        media = "text/csv" if format == "csv" else "application/octet-stream"
        return FileResponse(
            path,
            media_type=media,
            filename=os.path.basename(path),
            background=BackgroundTask(_remove, path, folder),
        )

    @app.post("/v1/customers/{customer_id}/erase", tags=["admin"], responses=_ERRORS)
    async def erase(customer_id: str, key: Admin) -> dict[str, Any]:
        """GDPR erasure: every row of the customer deleted, every reference to them cleared."""
        deleted, cleared = await _run(
            writer(), lambda ws: erase_customer(ws, customer_id, actor=key.key_id)
        )
        state["changes"] = state.get("changes", 0) + 1  # the dashboard's pages are stale
        return {"deleted": deleted, "cleared": cleared}

    cooling: dict[int | str, dict[str, Any]] = {409: {"description": "a cooldown is running"}}

    @app.post("/v1/invitations", status_code=201, response_model=InvitationOut, tags=["admin"],
              responses={**_ERRORS, **cooling})  # fmt: skip
    async def post_invitation(body: InvitationIn, key: Admin) -> dict[str, Any]:
        """A signed single-use survey invitation; its form is at ``url`` (docs/service.md)."""
        until = await _run(
            writer(),
            lambda ws: cooldown_until(
                ws, body.customer_id, body.touchpoint, config.survey_cooldown_days
            ),
        )
        if until is not None:
            raise HTTPException(
                409,
                f"customer {body.customer_id!r} answered at {body.touchpoint!r} lately: "
                f"in a cooldown until {until.isoformat()}",
            )
        made, token = invite(
            secret, body.customer_id, body.touchpoint, body.metric,
            language=body.language, hours=body.hours,
        )  # fmt: skip
        return {
            "invitation_id": made.invitation_id,
            "token": token,
            "url": f"/s/{token}",
            "expires_at": made.expires_at.isoformat(),
        }

    @app.get("/healthz", tags=["health"])
    async def health() -> dict[str, Any]:
        """Whether the service is up, which process answered, how many batches it committed."""
        return {"status": "ok", "process": os.getpid(), "commits": writer().commits}

    add_dashboard(app, config, state, writer, secret)
    add_survey(app, secret, writer)

    async def store_intake(
        table: str, rows: list[dict[str, Any]], single: bool, idem: Idempotent | None
    ) -> JSONResponse:
        return await stored(table, rows, single, idem, _conflict)

    # outermost first: the per-client rate, the body size, then the intake's direct path, all in
    # front of FastAPI's own middleware (RoxAPI)
    app.outer_middleware = [
        Middleware(ClientRateLimit, limiter=RateLimiter(config.client_rate, config.client_burst)),
        Middleware(BodyLimit, limit=config.max_body),
        Middleware(
            DirectIntake,
            routes={
                "/v1/responses": IntakeRoute("responses", responses_body, ResponseIn),
                "/v1/events": IntakeRoute("events", TypeAdapter(Events), EventIn),
            },
            known_key=known_key,
            limiter=key_limiter,
            store=store_intake,
        ),
    ]
    return app


class RoxAPI(FastAPI):
    """FastAPI, with middleware in front of its own (:attr:`outer_middleware`).

    FastAPI puts every middleware added by ``add_middleware`` inside three of its own (errors,
    telemetry, a body limit). rox's limits and the intake's direct path
    (:class:`rox.service.intake.DirectIntake`) go in front of them instead: the direct path
    then skips three layers a request, some 7% of the event loop's time at saturation
    (docs/benchmarks.md). What they refuse or serve is answered by them alone, as before;
    an exception escaping them is answered 500 by the server (uvicorn), as FastAPI's error
    layer answered it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Middleware in front of FastAPI's own, outermost first
        self.outer_middleware: list[Middleware] = []

    def build_middleware_stack(self) -> Any:
        """FastAPI's stack, behind :attr:`outer_middleware`."""
        app = super().build_middleware_stack()
        for middleware in reversed(self.outer_middleware):
            app = middleware.cls(app, *middleware.args, **middleware.kwargs)
        return app


def app_from_environment() -> FastAPI:
    """The app of a worker process of ``rox serve --workers N`` (uvicorn's factory).

    uvicorn starts each worker by importing ``rox.service.app:app_from_environment``; the
    configuration comes in the environment variable :data:`CONFIG_VARIABLE`.

    Raises
    ------
    ServiceError
        If the variable is missing or does not hold a configuration.
    """
    text = os.environ.get(CONFIG_VARIABLE)
    if not text:
        raise ServiceError(f"{CONFIG_VARIABLE} is not set: start the workers with rox serve")
    try:
        return create_app(ServiceConfig(**json.loads(text)))
    except (TypeError, ValueError) as exc:
        raise ServiceError(f"{CONFIG_VARIABLE} holds no service configuration ({exc})") from None


async def _run(writer: Writer, fn: Callable[["Workspace"], Any]) -> Any:
    """Run ``fn(workspace)`` on the writer's thread and wait for it."""
    return await asyncio.wrap_future(writer.call(fn))


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": "Bearer"}


def _remove(path: str, folder: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
        os.rmdir(folder)
