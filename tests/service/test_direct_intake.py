"""The intake's direct path (rox.service.intake) and the writer's one wake-up per batch.

The direct path serves a well-formed intake request without FastAPI's request machinery and
hands every other request to the app with its body intact, so that each refusal stays the
route's own; the waiters hand a batch's answers to its requests in one call into the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.responses import JSONResponse

from rox.service.intake import DirectIntake, IntakeRoute
from rox.service.keys import ApiKey, key_hash
from rox.service.limits import BodyLimit, ClientRateLimit, RateLimiter
from rox.service.models import ResponseIn, Responses
from rox.service.waiters import BatchWaiters
from rox.service.writer import Idempotent

_NOW = datetime(2026, 5, 1, tzinfo=UTC)
_KEYS = {
    key_hash("rox_w"): ApiKey("kw", "w", frozenset({"write"}), key_hash("rox_w"), _NOW),
    key_hash("rox_r"): ApiKey("kr", "r", frozenset({"read"}), key_hash("rox_r"), _NOW),
    key_hash("rox_x"): ApiKey("kx", "x", frozenset({"write"}), key_hash("rox_x"), _NOW, _NOW),
}
_BODY = json.dumps({"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": 3}).encode()


class _Recorder:
    """The app behind the middleware, and the store: what each was given."""

    def __init__(self) -> None:
        self.passed: list[bytes] = []  # bodies the app read
        self.stored: list[tuple[str, list[dict[str, Any]], bool, Idempotent | None]] = []

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.passed.append(body)
        await JSONResponse({"by": "app"}, status_code=299)(scope, receive, send)

    async def store(
        self, table: str, rows: list[dict[str, Any]], single: bool, idem: Idempotent | None
    ) -> JSONResponse:
        self.stored.append((table, rows, single, idem))
        return JSONResponse({"by": "direct"}, status_code=201)


def _post(
    headers: dict[str, str],
    chunks: tuple[bytes, ...] = (_BODY,),
    path: str = "/v1/responses",
    limiter: RateLimiter | None = None,
    **extra: Any,
) -> tuple[int, _Recorder]:
    """Post ``chunks`` with ``headers`` through the middleware; the status and what ran."""
    seen = _Recorder()

    async def known_key(digest: str) -> ApiKey | None:
        return _KEYS.get(digest)

    middleware = DirectIntake(
        seen.app,
        routes={"/v1/responses": IntakeRoute("responses", TypeAdapter(Responses), ResponseIn)},
        known_key=known_key,
        limiter=limiter or RateLimiter(0, 1),
        store=seen.store,
    )
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        **extra,
    }
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"], seen


_JSON = {"Content-Type": "application/json"}


def test_a_well_formed_request_is_stored_directly():
    status, seen = _post({**_JSON, "Authorization": "Bearer rox_w"})
    assert (status, seen.passed) == (201, [])
    [(table, rows, single, idem)] = seen.stored
    assert (table, single, idem) == ("responses", True, None)
    assert rows == [{"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": 3}]
    # a batch in two chunks, with an idempotency key: the hash of the whole body, its path
    batch = json.dumps([json.loads(_BODY), json.loads(_BODY)]).encode()
    headers = {**_JSON, "Authorization": "bearer  rox_w ", "Idempotency-Key": "k1"}
    status, seen = _post(headers, chunks=(batch[:10], batch[10:]))
    assert (status, seen.passed) == (201, [])
    [(_, rows, single, idem)] = seen.stored
    assert (len(rows), single) == (2, False)
    assert idem == Idempotent("kw", "k1", "/v1/responses", hashlib.sha256(batch).hexdigest())


@pytest.mark.parametrize(
    ("headers", "chunks", "extra"),
    [
        ({**_JSON}, (_BODY,), {}),  # no key
        ({**_JSON, "Authorization": "Bearer rox_nope"}, (_BODY,), {}),  # unknown key
        ({**_JSON, "Authorization": "Bearer rox_r"}, (_BODY,), {}),  # no write scope
        ({**_JSON, "Authorization": "Bearer rox_x"}, (_BODY,), {}),  # revoked
        ({**_JSON, "Authorization": "Basic rox_w"}, (_BODY,), {}),  # another scheme
        ({"Authorization": "Bearer rox_w"}, (_BODY,), {}),  # no content type
        ({"Authorization": "Bearer rox_w", "Content-Type": "text/plain"}, (_BODY,), {}),
        ({**_JSON, "Authorization": "Bearer rox_w"}, (b'{"ts": ',), {}),  # bad JSON
        ({**_JSON, "Authorization": "Bearer rox_w"}, (b"",), {}),  # no body
        ({**_JSON, "Authorization": "Bearer rox_w"}, (b'{"score": 3}',), {}),  # invalid
        ({**_JSON, "Authorization": "Bearer rox_w"}, (b"[]",), {}),  # an empty batch
        ({**_JSON, "Authorization": "Bearer rox_w", "Idempotency-Key": "k" * 256}, (_BODY,), {}),
        ({**_JSON, "Authorization": "Bearer rox_w"}, (_BODY,), {"root_path": "/api"}),
        ({**_JSON, "Authorization": "Bearer rox_w"}, (_BODY,), {"raw_path": b"/v1/%72esponses"}),
        ({**_JSON, "Authorization": "Bearer rox_w"}, (_BODY,), {"method": "PUT"}),
    ],
)
def test_any_other_request_goes_to_the_app_with_its_body(headers, chunks, extra):
    status, seen = _post(headers, chunks, **extra)
    assert (status, seen.stored) == (299, [])
    assert seen.passed == [b"".join(chunks)]


_SHAPE = '{"ts":"2026-05-01T10:00:00Z","metric":"nps","score":%s,"response_id":%s}'
_NUMBERS = (
    "7", "7.0", "-0", "-0.0", "1E2", "0.1", "NaN", "Infinity", "-Infinity", "1e400",
    "2.2250738585072011e-308", "4.9e-324", "9007199254740993", "123456789012345678901234567890",
    "0.30000000000000004", "true", "null", '"7"',
)  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        *(_SHAPE % (n, '"r1"') for n in _NUMBERS),
        _SHAPE % ("1", "12345678901234567890123"),
        _SHAPE % ("1", '"\\ud83d\\ude00"'),  # an escaped surrogate pair
        _SHAPE % ("1", '"nul\\u0000"'),
        '{"ts":"2026-05-01T10:00:00Z","metric":"nps","score":1,"score":"x"}',  # the last wins
        '{"ts":"2026-05-01T10:00:00Z","metric":"nps","score":"x","score":2}',
        "[" + _SHAPE % ("1", '"a"') + "," + _SHAPE % ("2.5", '"b"') + "]",
        "  \n" + _SHAPE % ("1", '"r1"') + " \n",
    ],
)
def test_a_body_the_direct_path_takes_is_the_routes_body(body):
    """JSON mode (one pass) against the route's json.loads and Python validation: where the
    direct path takes a body, the route takes it too, with the same values."""
    from rox.service.intake import _valid

    adapter = TypeAdapter(Responses)
    raw = body.encode()
    result = _valid(adapter, raw)
    try:
        expected = adapter.validate_python(json.loads(raw))
    except ValueError:  # (the route refuses it: so must the direct path)
        expected = None
    dump = TypeAdapter(Any).dump_python
    assert repr(dump(result)) == repr(dump(expected))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + (_SHAPE % ("1", '"r1"')).encode(),  # a byte-order mark
        (_SHAPE % ("1", '"r1"')).encode("utf-16"),
        (_SHAPE % ("1", '"r1"')).encode() + b"x",  # something after the value
        (_SHAPE % ("1", '"r\x01"')).encode(),  # a control character in a string
        (_SHAPE % ("1", '"\\ud800"')).encode(),  # an escaped lone surrogate (the route takes it)
        (_SHAPE % ("1", '"\xed\xa0\x80"')).encode("latin-1"),  # an encoded surrogate
        (_SHAPE % ("1", '"\xff"')).encode("latin-1"),  # not UTF-8
        b"{'ts': 1}",
    ],
)
def test_a_body_json_mode_refuses_goes_to_the_route(raw):
    from rox.service.intake import _valid

    assert _valid(TypeAdapter(Responses), raw) is None


@settings(max_examples=300, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["{!r}", "{:.17g}", "{:e}", "{:.3E}"]),
)
def test_a_number_is_read_as_the_route_reads_it(number, form):
    from rox.service.intake import _valid

    raw = (_SHAPE % (form.format(number), '"r1"')).encode()
    result = _valid(TypeAdapter(Responses), raw)
    expected = TypeAdapter(Responses).validate_python(json.loads(raw))
    assert repr(result.score) == repr(expected.score)


def test_a_key_over_its_rate_goes_to_the_app_and_a_refused_request_takes_no_token():
    limiter = RateLimiter(rate=0.001, burst=1)  # one request, then none for a long while
    auth = {**_JSON, "Authorization": "Bearer rox_w"}
    assert _post(auth, chunks=(b"{}",), limiter=limiter)[0] == 299  # invalid: no token taken
    assert _post(auth, limiter=limiter)[0] == 201
    status, seen = _post(auth, limiter=limiter)
    assert (status, seen.passed) == (299, [_BODY])  # (the app answers its 429)


def test_the_app_refuses_a_valid_body_as_the_route_does(service, response):
    """Through the whole app: the route's answers, where the body alone would be served."""
    body = response(1)
    client = service.client
    r = client.post("/v1/responses", json=body, headers=service.auth("read"))
    assert (r.status_code, r.json()) == (403, {"detail": "this API key lacks the 'write' scope"})
    r = client.post("/v1/responses", json=body, headers={"Authorization": "Bearer rox_nope"})
    assert (r.status_code, r.headers["www-authenticate"]) == (401, "Bearer")
    r = client.post("/v1/responses", json=body,
                    headers={**service.auth("write"), "Idempotency-Key": "k" * 256})  # fmt: skip
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    r = client.post("/v1/events", json=body, headers=service.auth("write"))  # (not an event)
    assert r.status_code == 422
    ok = client.post("/v1/responses", json=body, headers=service.auth("write"))
    assert ok.status_code == 201
    assert ok.json()["stored"] == 1
    # (the direct path is in the app: inside the body and client limits, in front of FastAPI's
    # own middleware, which starts with its error layer)
    stack, layer = [], client.app.middleware_stack
    while layer is not None and len(stack) < 4:
        stack.append(type(layer))
        layer = getattr(layer, "app", None)
    assert stack == [ClientRateLimit, BodyLimit, DirectIntake, ServerErrorMiddleware]


def test_one_wake_settles_every_waiter_of_a_batch():
    async def main() -> None:
        waiters = BatchWaiters(asyncio.get_running_loop())
        futures: list[Future[Any]] = [Future() for _ in range(5)]
        shared = futures[0]  # (two requests with one idempotency key wait on one future)
        tasks = [asyncio.ensure_future(waiters.result(f)) for f in [*futures, shared]]
        gone = asyncio.ensure_future(waiters.result(futures[1]))
        await asyncio.sleep(0)
        gone.cancel()
        scheduled = []
        real = asyncio.get_running_loop().call_soon_threadsafe

        def counted(*args: Any) -> Any:
            scheduled.append(args)
            return real(*args)

        asyncio.get_running_loop().call_soon_threadsafe = counted  # type: ignore[method-assign]

        def batch() -> None:
            for i, f in enumerate(futures):
                if i == 3:
                    f.set_exception(RuntimeError("refused"))
                else:
                    f.set_result({"n": i})
            for _ in range(3):  # (the writer wakes the loop once a batch; extra wakes merge)
                waiters.wake()

        thread = threading.Thread(target=batch)
        thread.start()
        thread.join()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert len(scheduled) == 1
        assert [r if isinstance(r, dict) else str(r) for r in results] == [
            {"n": 0}, {"n": 1}, {"n": 2}, "refused", {"n": 4}, {"n": 0},
        ]  # fmt: skip
        assert gone.cancelled()
        # settled before waiting: answered at once, no wake needed
        done: Future[Any] = Future()
        done.set_result({"n": 9})
        assert await waiters.result(done) == {"n": 9}
        # a later batch wakes again
        later: Future[Any] = Future()
        task = asyncio.ensure_future(waiters.result(later))
        await asyncio.sleep(0)
        later.set_result({"n": 10})
        waiters.wake()
        assert await task == {"n": 10}
        assert len(scheduled) == 2

    asyncio.run(main())


def test_what_exists_once_the_service_started_is_kept_out_of_the_collectors_walks(tmp_path):
    import gc

    from fastapi.testclient import TestClient

    from rox.service import ServiceConfig, create_app

    app = create_app(ServiceConfig(str(tmp_path / "w.duckdb")))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # (given back when the service stops)
