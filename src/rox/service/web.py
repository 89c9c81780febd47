"""The browser side of the service: sign-in, the session cookie, the dashboard, static files.

Sign-in exchanges an API key with the ``admin`` scope, typed into the form at ``/login``, for a
session cookie: a token signed with HMAC-SHA256 (:mod:`rox.service.tokens`) that carries the
key's id and an expiry, set ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict`` (no other
site's page can make the browser send it, which is what stops cross-site request forgery here)
and ``Secure`` over HTTPS. The key itself is never stored in the browser. Each page checks the
signature, the expiry and that the key is still valid and admin: revoking the key through the
API ends its sessions at once.

Pages send a Content-Security-Policy that allows scripts from this server only (no inline
script runs, so text that slipped through unescaped still could not run), no framing, and
``Cache-Control: no-store`` (they show personal data).
"""

# (no `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime)
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from rox.errors import ServiceError
from rox.service.dashboard import (
    PAGES,
    PageCache,
    Reader,
    login_page,
    render_page,
    second_connection,
)
from rox.service.keys import ApiKey, key_hash
from rox.service.tokens import sign, subkey, unsign

if TYPE_CHECKING:
    from rox.service.app import ServiceConfig
    from rox.service.writer import Writer
    from rox.workspace import Workspace

__all__ = ["COOKIE", "HEADERS", "add_dashboard"]

#: The session cookie's name.
COOKIE = "rox_session"

#: Headers of every HTML page.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}


def _static_files() -> dict[str, Path]:
    import plotly

    here = Path(str(files("rox.service").joinpath("static")))
    found = {p.name: p for p in here.iterdir() if p.suffix in _STATIC_TYPES}
    # plotly.js as the installed plotly package ships it: no CDN, the version plotly.py expects
    found["plotly.min.js"] = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return found


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _local(path: str) -> str:
    """``path`` if it is a dashboard page of this server, else the overview (no open redirect)."""
    if path.startswith("/dashboard/") and "//" not in path and "\\" not in path:
        return path
    return "/dashboard/overview"


def add_dashboard(
    app: FastAPI,
    config: "ServiceConfig",
    state: dict[str, Any],
    writer: Callable[[], "Writer"],
    service_secret: bytes,
) -> None:
    """Add the sign-in, dashboard and static routes to ``app`` (none is in the OpenAPI schema)."""
    secret = subkey(service_secret, "session")
    ttl = config.session_hours * 3600

    def connect() -> "Workspace":
        url = config.workspace
        made: Workspace = writer().call(lambda ws: second_connection(ws, url)).result(300)
        return made

    # a reader per page (a long page never holds up another), and one, niced, for what is expensive
    readers = {slug: Reader(connect, f"rox-dashboard-{slug}") for slug in PAGES}
    background = Reader(connect, "rox-dashboard-expensive", nice=10)
    state.setdefault("on_stop", []).extend([r.stop for r in (*readers.values(), background)])
    cache = PageCache(
        config.dashboard_refresh,
        live=lambda slug, fn: readers[slug].call(fn),
        background=lambda slug, fn: background.call(fn),
        expensive_refresh=config.dashboard_expensive_refresh,
        wait=config.dashboard_wait,
    )
    static = _static_files()

    def admin_by_id(key_id: str) -> ApiKey | None:
        for key in state["keys"].values():
            if key.key_id == key_id and key.allows("admin"):
                found: ApiKey = key
                return found
        return None

    def signed_in(request: Request) -> ApiKey | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            payload = unsign(secret, token)
        except ServiceError:  # forged, damaged or expired: sign in again
            return None
        return admin_by_id(str(payload.get("k", "")))

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(name: str) -> FileResponse:
        path = static.get(name)
        if path is None:
            raise HTTPException(404, "no such file")
        return FileResponse(
            path,
            media_type=_STATIC_TYPES[path.suffix],
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/overview", status_code=303)

    @app.get("/login", include_in_schema=False)
    async def login_form(
        target: Annotated[str, Query(alias="next", max_length=500)] = "/dashboard/overview",
    ) -> HTMLResponse:
        return _page(login_page(next_path=_local(target)))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        text = (form.get("key") or [""])[0].strip()
        target = _local((form.get("next") or [""])[0])
        key = state["keys"].get(key_hash(text)) if text else None
        if key is None or not key.allows("admin"):
            error = "That is not a valid API key with the admin scope."
            return _page(login_page(error=error, next_path=target), 401)
        answer = RedirectResponse(target, status_code=303)
        secure = config.secure_cookie
        if secure is None:
            secure = request.url.scheme == "https"
        answer.set_cookie(
            COOKIE,
            sign(secret, {"k": key.key_id}, ttl=ttl),
            max_age=int(ttl),
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )
        return answer

    @app.post("/logout", include_in_schema=False)
    async def logout() -> RedirectResponse:
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return answer

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_root() -> RedirectResponse:
        return RedirectResponse("/dashboard/overview", status_code=303)

    @app.get("/dashboard/{slug}", include_in_schema=False)
    async def dashboard(slug: str, request: Request) -> Response:
        page = PAGES.get(slug)
        if page is None:
            raise HTTPException(404, "no such page")
        if signed_in(request) is None:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        version = writer().commits + state.get("changes", 0)
        started = time.perf_counter()
        body, at, note = await cache.get(page, version)
        took = time.perf_counter() - started
        stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        meta = f"Computed at {stamp} (data version {version}); this load took {took:.2f} s"
        meta += f"; {note}." if note else "."
        return _page(render_page(page.title, body, current=slug, meta=meta))
